#!/bin/sh
# Entry point of `npm start` and `npm test`: installs npm dependencies when they are missing or
# stale (this also brings the repo's own Node 22), then hands over to the stack runner on that Node.
set -e
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/node ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[flotilla] installing npm dependencies"
  npm install --no-audit --no-fund --loglevel=error
fi
node_bin="$PWD/node_modules/.bin/node"
major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 22 ]; then
  echo "[flotilla] node_modules/.bin/node is Node $major; Flotilla needs 22 or newer (npm install should have brought it)" >&2
  exit 1
fi
PATH="$PWD/node_modules/.bin:$PATH"
export PATH
exec "$node_bin" tools/stack/src/main.ts "$@"
