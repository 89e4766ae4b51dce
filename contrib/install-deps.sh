#!/usr/bin/env bash
# Installs every Debian package sidebolt needs to build, test, fuzz and benchmark (the npm
# packages of the regtest stand-in are functional/install-deps.sh's).
# Idempotent: skips apt when everything is already present.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev ccache
  libsecp256k1-dev libssl-dev libcurl4-openssl-dev nlohmann-json3-dev
  libzmq3-dev cppzmq-dev liblmdb-dev doctest-dev libasio-dev libspdlog-dev libfmt-dev
  libcpp-httplib-dev libbenchmark-dev zlib1g-dev
  python3-zmq
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and Python may come from elsewhere (nodesource, pyenv); Debian's npm conflicts with
# nodesource's nodejs, so ask apt for them only when the commands are missing.
command -v python3 >/dev/null || missing+=(python3)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
