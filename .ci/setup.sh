#!/usr/bin/env bash
# Installs what Shallot needs on a fresh machine that has Node >= 20.19 and npm:
# the Debian packages the tests drive (Chromium for the browser tests, redis-server for the
# Redis store; wrk for the benchmarks), the pnpm pinned in
# package.json's packageManager (with npm: Corepack's signature check fails on some Node 20
# machines), then the workspace's dependencies from the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("Shallot needs Node >= 20.19, this is "+process.version); process.exit(1) }'

# Debian packages, installed only when missing (apt needs root, or sudo).
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v wrk >/dev/null || need+=(wrk)
command -v redis-server >/dev/null || need+=(redis-server)
command -v nginx >/dev/null || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} with apt-get"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

want=$(node -p "require('./package.json').packageManager.split('@')[1]")
have=$(pnpm --version 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  echo "setup: installing pnpm@$want with npm (found: ${have:-none})"
  npm install -g "pnpm@$want" --no-audit --no-fund --loglevel=error
fi

pnpm install --frozen-lockfile --prefer-offline
