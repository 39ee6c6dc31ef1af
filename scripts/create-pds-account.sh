#!/usr/bin/env bash
# Creates the social agent's account on the compose PDS once (the app does not create
# accounts on an external PDS): handle social.<ATPROTO_HANDLE_DOMAIN>, password
# ATPROTO_PASSWORD_SOCIAL from the env file (scripts/gen-secrets.sh generates it).
#
#   scripts/create-pds-account.sh [ENV_FILE]      # PDS at http://localhost:3000 (PDS_URL to change)
#
# Needs PDS_INVITE_REQUIRED=false (the compose default). Then restart the app
# (`docker compose restart app`) so it logs in.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
file="${1:-$ROOT/.env}"
[[ -r "$file" ]] || { echo "create-pds-account: no $file: run scripts/gen-secrets.sh first" >&2; exit 1; }
set -a
# shellcheck disable=SC1090
. "$file"
set +a
: "${ATPROTO_PASSWORD_SOCIAL:?ATPROTO_PASSWORD_SOCIAL is not set in $file: run scripts/gen-secrets.sh}"
domain="${ATPROTO_HANDLE_DOMAIN:-agents.test}"
handle="${ATPROTO_IDENTIFIER_SOCIAL:-social.$domain}"
pds="${PDS_URL:-http://localhost:3000}"
body="$(printf '{"handle":"%s","email":"social@%s","password":"%s"}' "$handle" "$domain" "$ATPROTO_PASSWORD_SOCIAL")"
out="$(curl -sS -X POST -H 'content-type: application/json' --data "$body" "$pds/xrpc/com.atproto.server.createAccount")"
if [[ "$out" == *'"did"'* ]]; then
  did="$(printf '%s' "$out" | sed -n 's/.*"did":"\([^"]*\)".*/\1/p')"
  echo "create-pds-account: created @$handle ($did) on $pds"
else
  echo "create-pds-account: $pds answered: $out" >&2
  exit 1
fi
