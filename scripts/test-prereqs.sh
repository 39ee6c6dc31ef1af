#!/usr/bin/env bash
# System packages the test suite uses as independent oracles (installed once, from Debian),
# headless Chromium for the Studio browser test (driven by playwright-core), and Debian's
# PostgreSQL server for the production-topology test (a separate server, not the embedded one).
set -uo pipefail
need=()
command -v ipfs_cid >/dev/null 2>&1 || need+=(ipfs-cid)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
[ -x /usr/bin/chromium ] || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[bootstrap] installing test prerequisites from Debian: ${need[*]}" >&2
  (apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; }) \
    || echo "[bootstrap] could not install ${need[*]}; tests that need it will fail with a clear message" >&2
else
  echo "[bootstrap] please install: ${need[*]} (apt-get install ${need[*]})" >&2
fi
exit 0
