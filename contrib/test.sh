#!/usr/bin/env bash
# The test command: installs what it needs, builds with ASan/UBSan, runs every unit test
# (ctest), a short libFuzzer run of every fuzz target, and every functional test against a
# regtest node (real bitcoind when BITCOIND is set or bitcoind is on PATH, else the bcoin
# stand-in). Exits non-zero on any failure.
#   FUZZ_SECONDS=N   seconds per fuzz target (default 15; 0 skips the libFuzzer runs)
#   JOBS=N           parallel build/test jobs (default: number of cores)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-15}

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
contrib/install-deps.sh
functional/install-deps.sh

step "build (Debug, ASan+UBSan)"
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DSIDEBOLT_SANITIZE=ON -DSIDEBOLT_BENCH=OFF >/dev/null
cmake --build build/test -j"$jobs"

step "unit tests and fuzz corpus replay (ctest)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build/test && ctest --output-on-failure -j"$jobs")

if [ "$fuzz_seconds" -gt 0 ]; then
  step "fuzz (libFuzzer, ${fuzz_seconds}s per target)"
  CC=clang CXX=clang++ cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIDEBOLT_FUZZ=ON \
    -DSIDEBOLT_TESTS=OFF -DSIDEBOLT_BENCH=OFF >/dev/null
  cmake --build build/fuzz -j"$jobs" --target $(cd fuzz && ls *.cpp | sed 's/\.cpp$//; s/^/fuzz_/')
  for src in fuzz/*.cpp; do
    name=$(basename "$src" .cpp)
    work=$(mktemp -d)
    [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/"
    echo "fuzz_$name"
    build/fuzz/fuzz/fuzz_"$name" -max_total_time="$fuzz_seconds" -print_final_stats=0 "$work" 2>"$work.log" || {
      tail -40 "$work.log"; echo "fuzz_$name FAILED"; exit 1; }
    grep -E '^(#[0-9]+\s+DONE|Done)' "$work.log" | tail -1 || true
    rm -rf "$work" "$work.log"
  done
fi

step "functional tests"
SIDEBOLT_BIN_DIR="$root/build/test" python3 functional/test_runner.py -j "$jobs"
