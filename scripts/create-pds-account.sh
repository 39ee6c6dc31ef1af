#!/usr/bin/env bash
# Creates the social agent's account on the compose PDS once (the app does not create
# accounts on an external PDS): handle social.<ATPROTO_HANDLE_DOMAIN>, password
# ATPROTO_PASSWORD_SOCIAL from the env file (scripts/gen-secrets.sh generates it).
#
#   scripts/create-pds-account.sh [ENV_FILE]      # PDS at http://localhost:3000 (PDS_URL to change)
#
# The compose PDS requires invite codes (PDS_INVITE_REQUIRED=true): the script first makes
# a single-use code through the admin API (com.atproto.server.createInviteCode with basic
# auth admin:PDS_ADMIN_PASSWORD, as bluesky-social/pds pdsadmin/create-invite-code.sh does),
# unless PDS_INVITE_REQUIRED=false. Then restart the app (`docker compose restart app`) so
# it logs in.
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
invite=""
if [[ "${PDS_INVITE_REQUIRED:-true}" != "false" ]]; then
  : "${PDS_ADMIN_PASSWORD:?PDS_ADMIN_PASSWORD is not set in $file (needed for an invite code): run scripts/gen-secrets.sh}"
  code_out="$(curl -sS -X POST -u "admin:$PDS_ADMIN_PASSWORD" -H 'content-type: application/json' --data '{"useCount":1}' "$pds/xrpc/com.atproto.server.createInviteCode")"
  invite="$(printf '%s' "$code_out" | sed -n 's/.*"code":"\([^"]*\)".*/\1/p')"
  [[ -n "$invite" ]] || { echo "create-pds-account: no invite code from $pds: $code_out" >&2; exit 1; }
fi
if [[ -n "$invite" ]]; then
  body="$(printf '{"handle":"%s","email":"social@%s","password":"%s","inviteCode":"%s"}' "$handle" "$domain" "$ATPROTO_PASSWORD_SOCIAL" "$invite")"
else
  body="$(printf '{"handle":"%s","email":"social@%s","password":"%s"}' "$handle" "$domain" "$ATPROTO_PASSWORD_SOCIAL")"
fi
out="$(curl -sS -X POST -H 'content-type: application/json' --data "$body" "$pds/xrpc/com.atproto.server.createAccount")"
if [[ "$out" == *'"did"'* ]]; then
  did="$(printf '%s' "$out" | sed -n 's/.*"did":"\([^"]*\)".*/\1/p')"
  echo "create-pds-account: created @$handle ($did) on $pds"
else
  echo "create-pds-account: $pds answered: $out" >&2
  exit 1
fi
