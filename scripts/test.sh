#!/usr/bin/env bash
# Build and run every test: a normal build, an ASan+UBSan build, and the
# engine's concurrency tests under TSan.  Installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
scripts/install-deps.sh
JOBS=$(nproc)
start=$(date +%s)

run_suite() { # name cmake-args... ; ctest args come from CTEST_ARGS
  local name=$1; shift
  echo "=== $name build ==="
  cmake -S . -B "build/$name" -G Ninja "$@" >/dev/null
  cmake --build "build/$name" -j "$JOBS"
  echo "=== $name tests ==="
  ctest --test-dir "build/$name" --output-on-failure -j "$JOBS" ${CTEST_ARGS:-} | tee "build/$name.ctest.log"
}

CTEST_ARGS="" run_suite normal -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  CTEST_ARGS="" run_suite asan -DCMAKE_BUILD_TYPE=Debug -DLLM_SANITIZE=address,undefined
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  CTEST_ARGS="-L concurrency" run_suite tsan -DCMAKE_BUILD_TYPE=Debug -DLLM_SANITIZE=thread \
  -DLLM_BUILD_EXAMPLES=ON

# Warnings are errors with clang too: build everything (tests run above).
echo "=== clang build (warnings as errors) ==="
CC=clang CXX=clang++ cmake -S . -B build/clang -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/clang -j "$JOBS" >/dev/null

# libFuzzer smoke: every tests/fuzz/fuzz_*.c (globbed by run.sh) for a
# short time under ASan+UBSan, about 2.5 minutes in all (5-20 s each).  A
# crash fails the run (after the closing line); each target counts as one
# test below.
echo "=== fuzz smoke ==="
nfuzz=$(find tests/fuzz -maxdepth 1 -name 'fuzz_*.c' | wc -l)
fsecs=$(( nfuzz > 0 ? 150 / nfuzz : 20 ))
fsecs=$(( fsecs > 20 ? 20 : fsecs < 5 ? 5 : fsecs ))
fuzz_rc=0
tests/fuzz/run.sh "$fsecs" > build/fuzz.smoke.log 2>&1 || fuzz_rc=$?
sed -n '/^=== fuzz summary/,$p' build/fuzz.smoke.log
fuzz_ok=$(sed -n '/^=== fuzz summary/,$p' build/fuzz.smoke.log | grep -c ', 0 crashes$' || true)
fuzz_bad=$(( nfuzz - fuzz_ok ))
if [ "$fuzz_rc" -ne 0 ] && [ "$fuzz_bad" -eq 0 ]; then
  fuzz_bad=1 # the build itself failed: see build/fuzz.smoke.log
  tail -20 build/fuzz.smoke.log
fi

# One closing line over the three runs (ctest counts test executables) and
# the fuzz smoke (one per target).
passed=$fuzz_ok; failed=$fuzz_bad
for name in normal asan tsan; do
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "build/$name.ctest.log" | tail -1)
  total=$(echo "$line" | sed -E 's/.*out of ([0-9]+).*/\1/')
  nfail=$(echo "$line" | sed -E 's/.*passed, ([0-9]+) tests failed.*/\1/')
  passed=$((passed + total - nfail)); failed=$((failed + nfail))
done
echo "wall time: $(( $(date +%s) - start )) s"
echo "tests: $passed passed, $failed failed"
[ "$fuzz_bad" -eq 0 ]
