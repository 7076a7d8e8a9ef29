#!/usr/bin/env bash
# Build every libFuzzer target tests/fuzz/fuzz_*.c (clang, ASan + UBSan, its
# own build directory) and run each for SECONDS, then print the executions
# per target.  Exits non-zero if any target crashed, leaked or tripped a
# sanitizer (the input is saved as <build>/artifacts/<target>-crash-*).
#
#   tests/fuzz/run.sh [SECONDS]          (default 120; scripts/test.sh runs a
#                                         short smoke of every target)
#   FUZZ_TARGETS="fuzz_sse fuzz_pricing" tests/fuzz/run.sh 60   (a subset)
#   FUZZ_BUILD=build/fuzz2 ...           (another build directory)
#   FUZZ_BUILD_ONLY=1 ...                (build, do not run)
#   FUZZ_CFLAGS="-DX=0" ...              (extra flags for the targets)
#   FUZZ_RUNS=10000000 ...               (also stop each target after that
#                                         many inputs)
# Run long sessions under `nice -n 19` (shared machine).
#
# A new target needs no edit here: drop tests/fuzz/fuzz_NAME.c defining
# LLVMFuzzerTestOneInput, and seeds in tests/fuzz/corpus/fuzz_NAME/.  Two
# optional comment lines in the target's source are read by this script:
#    * fuzz-sources: tools/cli/input.c      (more .c files to compile in;
#                                            their directories join -I)
#    * fuzz-max-len: 8192                   (libFuzzer -max_len; default 4096)
# New inputs found are kept in <build>/corpus/<target>/, not in the tree;
# copy the ones worth keeping into tests/fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-120}
B=${FUZZ_BUILD:-build/fuzz}
command -v clang >/dev/null || { echo "clang is required" >&2; exit 1; }

CC=clang cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLLM_BUILD_TESTS=OFF \
  -DLLM_BUILD_EXAMPLES=OFF -DLLM_SANITIZE=address,undefined \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link -O1" >/dev/null
cmake --build "$B" --target llmorch_static >"$B/build.log" 2>&1 || { cat "$B/build.log" >&2; exit 1; }
LIBS=$(pkg-config --libs libcjson libcurl libcrypto 2>/dev/null || echo "-lcjson -lcurl -lcrypto")

# Directive value of a target's source ("" if absent), without a comment's
# closing "*/" (unquoted, that would glob).
directive() { sed -n "s/^ \* $2: *//p" "$1" | head -1 | sed 's#\*/##; s/[[:space:]]*$//'; }

targets=()
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $name "* ]]; then
    continue
  fi
  extra=$(directive "$src" fuzz-sources)
  incs=()
  for e in $extra; do incs+=("-I$(dirname "$e")"); done
  # shellcheck disable=SC2086
  clang -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all ${FUZZ_CFLAGS:-} \
    -Iinclude -Isrc "${incs[@]}" "$src" $extra "$B/libllmorch.a" $LIBS -lpthread -lm \
    -o "$B/$name"
  targets+=("$name")
done
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

mkdir -p "$B/artifacts"
status=0
summary=""
for name in "${targets[@]}"; do
  src=tests/fuzz/$name.c
  maxlen=$(directive "$src" fuzz-max-len)
  mkdir -p "$B/corpus/$name" "tests/fuzz/corpus/$name"
  log="$B/$name.log"
  echo "=== $name (${SECS} s) ==="
  # The first corpus directory receives new inputs; the checked-in seeds are
  # only read.  Leaks are errors (detect_leaks), UBSan halts (built so).
  rc=0
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    "$B/$name" -max_total_time="$SECS" -max_len="${maxlen:-4096}" -timeout=10 \
    -rss_limit_mb=1024 ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -print_final_stats=1 -artifact_prefix="$B/artifacts/$name-" \
    "$B/corpus/$name" "tests/fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ "$rc" -ne 0 ]; then
    status=1
    grep -E "ERROR|SUMMARY|runtime error|Test unit written|==[0-9]+==" "$log" | head -20 >&2 || true
    line="$name: FAILED (exit $rc, log $log)"
  else
    line="$name: ${execs:-?} execs, ${rate:-?} execs/s, 0 crashes"
  fi
  echo "$line"
  summary+="$line"$'\n'
done
echo "=== fuzz summary (${SECS} s per target) ==="
printf '%s' "$summary"
exit $status
