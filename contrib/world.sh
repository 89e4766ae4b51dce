#!/usr/bin/env bash
# The main job: installs everything, builds sideboltd and sidebolt-cli (Release), and runs a
# regtest world of daemons beside a regtest node (real bitcoind when BITCOIND is set or
# bitcoind is on PATH, else the bcoin stand-in). Extra arguments go to functional/world.py,
# e.g. `contrib/world.sh --nodes 5 --keep`.
set -euo pipefail
cd "$(dirname "$0")/.."
contrib/install-deps.sh
functional/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DSIDEBOLT_TESTS=OFF -DSIDEBOLT_BENCH=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target sideboltd sidebolt-cli
SIDEBOLT_BIN_DIR="$(pwd)/build/release/plugin" exec python3 functional/world.py "$@"
