#!/usr/bin/env bash
# Installs the regtest stand-in's npm packages (bcoin, zeromq; native addons build with the
# system C compiler). Debian packages, python3-zmq among them, are contrib/install-deps.sh's.
# Idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ ! -f "$here/regtest-node/node_modules/.package-lock.json" ]; then
  # node-gyp must use the installed Node headers: there is no internet to fetch them.
  prefix="$(dirname "$(dirname "$(node -p process.execPath)")")"
  if [ -z "${npm_config_nodedir:-}" ] && [ -f "$prefix/include/node/node.h" ]; then
    export npm_config_nodedir="$prefix"
  fi
  (cd "$here/regtest-node" && npm ci --no-audit --no-fund)
fi
