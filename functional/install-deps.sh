#!/usr/bin/env bash
# Installs what the functional tests need beyond contrib/install-deps.sh:
# Debian's python3-zmq (ZMQ subscriber in tests) and the regtest stand-in's
# npm packages (bcoin, zeromq; native addons build with the system C compiler).
# Idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

packages=(build-essential python3 python3-zmq)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from another source (e.g. nodesource bundles npm); only
# ask apt when the commands are missing, or its npm package would conflict.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -f "$here/regtest-node/node_modules/.package-lock.json" ]; then
  # node-gyp must use the installed Node headers: there is no internet to fetch them.
  prefix="$(dirname "$(dirname "$(node -p process.execPath)")")"
  if [ -z "${npm_config_nodedir:-}" ] && [ -f "$prefix/include/node/node.h" ]; then
    export npm_config_nodedir="$prefix"
  fi
  (cd "$here/regtest-node" && npm ci --no-audit --no-fund)
fi
