#!/usr/bin/env bash
# The test command: installs what it needs, builds with ASan/UBSan, runs every unit test
# (ctest), the test suites that spawn threads again under ThreadSanitizer, a short libFuzzer
# run of every fuzz target, and every functional test on the bcoin stand-in and then on real
# bitcoind (with the Core Lightning interop tests). Exits non-zero on any failure.
# Real bitcoind and Core Lightning come from ../shared/anchors/ beside the checkout when it
# exists (BITCOIND / LIGHTNINGD override); without them only the stand-in pass runs.
#   FUZZ_SECONDS=N   seconds per fuzz target (default 15; 0 skips the libFuzzer runs)
#   JOBS=N           parallel build/test jobs (default: number of cores)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# With ccache installed, paths relative to the checkout let a fresh clone elsewhere reuse the
# objects of an earlier run on this machine.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-15}
anchors="$root/../shared/anchors"
# The unit-test suites whose code runs threads (RPC server and client, ZMQ listener, chain
# service, peer manager, LMDB readers, the channel worker and the idle pollers sharing a channel's
# signer): rebuilt and rerun under ThreadSanitizer.
tsan_suites=(test_util test_chain test_net test_rpc test_store test_plugin test_channel test_node)

timings=()
step_name=""
step_started=0
end_step() {
  [ -n "$step_name" ] && timings+=("$(printf '%6ds  %s' $((SECONDS - step_started)) "$step_name")")
  step_name=""
}
step() {
  end_step
  step_name="$*"
  step_started=$SECONDS
  printf '\n=== %s\n' "$*"
}
report_timings() {
  end_step
  printf '\n=== time per step\n'
  printf '%s\n' "${timings[@]}"
  printf '%6ds  total\n' "$SECONDS"
}
trap report_timings EXIT

if [ -z "${BITCOIND:-}" ] && [ -x "$anchors/bitcoin/bin/bitcoind" ]; then
  BITCOIND="$anchors/bitcoin/bin/bitcoind"
fi
if [ -z "${LIGHTNINGD:-}" ] && [ -x "$anchors/cln/bin/lightningd" ]; then
  LIGHTNINGD="$anchors/cln/bin/lightningd"
fi

step "dependencies"
contrib/install-deps.sh
functional/install-deps.sh
if [ -d "$anchors" ]; then
  bash "$anchors/install-runtime-deps.sh"
fi

# Every test build is clang's, with Ninja: clang compiles this code in half gcc's time at -O0
# with sanitizers, and checks the thread-safety annotations (-Wthread-safety, an error) as it
# goes. The daemon's own build (contrib/world.sh, bench/) stays the default compiler's.
configure() {
  local dir=$1
  shift
  CC=clang CXX=clang++ cmake -G Ninja -S . -B "$dir" -DSIDEBOLT_BENCH=OFF "$@" >/dev/null
}

step "build (Debug, ASan+UBSan)"
# The benchmarks are compiled here too, not run: nothing else would notice a change breaking them.
configure build/ci-asan -DCMAKE_BUILD_TYPE=Debug -DSIDEBOLT_SANITIZE=ON -DSIDEBOLT_BENCH=ON
cmake --build build/ci-asan -j"$jobs"

step "unit tests and fuzz corpus replay (ctest)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build/ci-asan && ctest --output-on-failure -j"$jobs")

step "build the threaded test suites with ThreadSanitizer (${tsan_suites[*]})"
configure build/ci-tsan -DCMAKE_BUILD_TYPE=Debug -DSIDEBOLT_TSAN=ON
cmake --build build/ci-tsan -j"$jobs" --target "${tsan_suites[@]}"

step "unit tests under ThreadSanitizer (${tsan_suites[*]})"
# halt_on_error: the first race fails the suite; second_deadlock_stack: both stacks of a
# lock-order inversion. tsan.supp only hides libzmq's internals (not built with TSan).
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp"
for suite in "${tsan_suites[@]}"; do
  echo "$suite"
  build/ci-tsan/tests/"$suite" --minimal
done

if [ "$fuzz_seconds" -gt 0 ]; then
  step "fuzz (libFuzzer, ${fuzz_seconds}s per target)"
  configure build/ci-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIDEBOLT_FUZZ=ON -DSIDEBOLT_TESTS=OFF
  cmake --build build/ci-fuzz -j"$jobs" --target $(cd fuzz && ls *.cpp | sed 's/\.cpp$//; s/^/fuzz_/')
  # One target per core at a time: each runs its full time, the step takes a share of it.
  fuzz_one() {
    local name=$1 work
    work=$(mktemp -d)
    [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/"
    if build/ci-fuzz/fuzz/fuzz_"$name" -max_total_time="$fuzz_seconds" -print_final_stats=0 "$work" 2>"$work.log"; then
      echo "fuzz_$name $(grep -E '^(#[0-9]+\s+DONE|Done)' "$work.log" | tail -1)"
      rm -rf "$work" "$work.log"
    else
      tail -40 "$work.log"; echo "fuzz_$name FAILED"; rm -rf "$work"; return 1
    fi
  }
  export -f fuzz_one
  export fuzz_seconds
  (cd fuzz && ls *.cpp | sed 's/\.cpp$//') | xargs -P "$jobs" -I{} bash -c 'fuzz_one "$1"' _ {}
fi

export SIDEBOLT_BIN_DIR="$root/build/ci-asan"
step "functional tests on the bcoin stand-in"
python3 functional/test_runner.py -j "$jobs" --backend standin

if [ -n "${BITCOIND:-}" ]; then
  step "functional tests on real bitcoind ($BITCOIND)"
  if [ -n "${LIGHTNINGD:-}" ]; then
    export LIGHTNINGD
    echo "Core Lightning interop with $LIGHTNINGD"
  else
    echo "LIGHTNINGD not set and no $anchors/cln: the Core Lightning interop tests are skipped"
  fi
  BITCOIND="$BITCOIND" python3 functional/test_runner.py -j "$jobs" --backend bitcoind
else
  step "functional tests on real bitcoind: SKIPPED"
  echo "no $anchors and BITCOIND unset: the real-bitcoind pass and the Core Lightning interop tests are skipped"
fi
