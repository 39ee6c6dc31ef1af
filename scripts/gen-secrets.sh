#!/usr/bin/env bash
# Generates the secrets docker-compose.yml requires into an env file (default: .env next
# to docker-compose.yml). Never overwrites a value that is already set: run it again at
# any time to fill in what is missing. The file is created with mode 600.
#
#   scripts/gen-secrets.sh --pds-hostname pds.example.com        # first run
#   scripts/gen-secrets.sh                                         # later runs
#   scripts/gen-secrets.sh --pds-hostname pds.example.com /tmp/x.env
#
# PDS_HOSTNAME is the PDS's public DNS name (its DID documents point at
# https://PDS_HOSTNAME); it cannot be generated, so the first run needs it (or export
# PDS_HOSTNAME). Needs openssl; node (any version) for the PowerSync signing key.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
file=""
hostname="${PDS_HOSTNAME:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --pds-hostname) hostname="${2:-}"; shift 2 ;;
    --pds-hostname=*) hostname="${1#*=}"; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gen-secrets: unknown option $1" >&2; exit 2 ;;
    *) file="$1"; shift ;;
  esac
done
file="${file:-$ROOT/.env}"

command -v openssl >/dev/null || { echo "gen-secrets: openssl is required" >&2; exit 1; }

umask 077
[[ -e "$file" ]] || : >"$file"
chmod 600 "$file"

# The current non-empty value of NAME in the file ('' if absent or empty).
current() {
  local line
  line="$(grep -E "^$1=" "$file" | tail -n 1 || true)"
  line="${line#*=}"
  line="${line#\'}"; line="${line%\'}"
  printf '%s' "$line"
}

added=()
# set NAME VALUE [COMMENT]: writes NAME=VALUE unless NAME already has a value.
set_var() {
  local name="$1" value="$2" comment="${3:-}"
  [[ -n "$(current "$name")" ]] && return 0
  # Drop an empty `NAME=` line so the value is defined once.
  if grep -qE "^$name=" "$file"; then
    grep -vE "^$name=" "$file" >"$file.tmp" || true
    cat "$file.tmp" >"$file" && rm -f "$file.tmp"
  fi
  [[ -n "$comment" ]] && printf '# %s\n' "$comment" >>"$file"
  printf '%s=%s\n' "$name" "$value" >>"$file"
  added+=("$name")
}

hex() { openssl rand -hex "$1"; }

k256_hex() {
  # The PDS installer's command (bluesky-social/pds installer.sh), with od instead of xxd.
  local k
  k="$(openssl ecparam -name secp256k1 -genkey -noout -outform DER 2>/dev/null | tail -c +8 | head -c 32 | od -An -tx1 | tr -d ' \n' || true)"
  if [[ ! "$k" =~ ^[0-9a-f]{64}$ ]] && command -v node >/dev/null; then
    k="$(node -e "const c=require('crypto');const k=c.generateKeyPairSync('ec',{namedCurve:'secp256k1'});process.stdout.write(Buffer.from(k.privateKey.export({format:'jwk'}).d,'base64url').toString('hex'))")"
  fi
  [[ "$k" =~ ^[0-9a-f]{64}$ ]] || { echo "gen-secrets: could not make a secp256k1 key (openssl without secp256k1 and no node)" >&2; exit 1; }
  printf '%s' "$k"
}

if [[ -z "$(current PDS_HOSTNAME)" ]]; then
  if [[ -z "$hostname" ]]; then
    echo "gen-secrets: PDS_HOSTNAME is not set in $file: pass --pds-hostname <the PDS's public DNS name> (e.g. pds.example.com; not localhost, not an IP)" >&2
    exit 2
  fi
  if [[ "$hostname" == localhost || "$hostname" =~ ^[0-9.]+$ || "$hostname" != *.* ]]; then
    echo "gen-secrets: PDS_HOSTNAME must be a DNS name with a dot (e.g. pds.example.com), not localhost or an IP address" >&2
    exit 2
  fi
  set_var PDS_HOSTNAME "$hostname" "the PDS's public DNS name; DID documents point at https://PDS_HOSTNAME"
fi

set_var POSTGRES_PASSWORD "$(hex 24)" "password of the one_agents Postgres user (the app's)"
set_var PLC_DB_PASSWORD "$(hex 24)" "password of the Postgres role plc (the PLC directory; made on an empty volume)"
set_var POWERSYNC_DB_PASSWORD "$(hex 24)" "password of the Postgres role powersync (the PowerSync Service; made on an empty volume)"
set_var PDS_JWT_SECRET "$(hex 16)" "the PDS's JWT secret"
set_var PDS_ADMIN_PASSWORD "$(hex 16)" "the PDS's admin password (pdsadmin, com.atproto.admin.*)"
set_var PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX "$(k256_hex)" "the PDS's PLC rotation key: 32-byte secp256k1 private key, hex"
set_var IPFS_CLUSTER_SECRET "$(hex 32)" "IPFS Cluster shared secret (every peer of the cluster uses the same)"
set_var API_KEYS "sk-one-$(hex 24):ops" "the app's API keys (key:user,...); required because the app listens on 0.0.0.0"
set_var ADMIN_USERS "ops" "key owners allowed on Mastra's /api routes"
set_var ATPROTO_PASSWORD_SOCIAL "$(hex 16)" "password of the social agent's account on the PDS (scripts/create-pds-account.sh creates it)"
if [[ -z "$(current POWERSYNC_JWT_PRIVATE_KEY)" ]]; then
  if command -v node >/dev/null; then
    jwk="$(node -e "const c=require('crypto');const {privateKey}=c.generateKeyPairSync('rsa',{modulusLength:2048});process.stdout.write(JSON.stringify(privateKey.export({format:'jwk'})))")"
    set_var POWERSYNC_JWT_PRIVATE_KEY "'$jwk'" "RS256 private JWK that signs PowerSync tokens (every app replica must use the same)"
  else
    echo "gen-secrets: node not found: POWERSYNC_JWT_PRIVATE_KEY not generated (the app then makes one in its /data volume)" >&2
  fi
fi

if [[ ${#added[@]} -eq 0 ]]; then
  echo "gen-secrets: $file already has every secret; nothing changed"
else
  echo "gen-secrets: wrote ${added[*]} to $file (mode 600)"
fi
