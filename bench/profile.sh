#!/usr/bin/env bash
# Profiles behind the bench figures (not run by bench/run.sh; a few minutes):
#   - callgrind on the overhead clients (instructions per request: the
#     difference between an N=5000 and an N=1000 run, so start-up cancels
#     out), plus the top functions of the llmorch client by inclusive cost;
#   - perf (cpu-clock sampling with DWARF call graphs) on the 10,000-stream
#     scale run, if perf works here (hardware counters are not needed).
# Builds a Release build with -g -fno-omit-frame-pointer into build/bench-prof.
# Output goes to build/bench-prof/profile/ (never committed).
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/bench-prof
OUT=$B/profile
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLM_BUILD_TESTS=OFF \
  -DCMAKE_C_FLAGS="-g -fno-omit-frame-pointer" >/dev/null
cmake --build "$B" -j "$(nproc)" >/dev/null
mkdir -p "$OUT"
SPID=""
trap '[ -n "$SPID" ] && kill -INT "$SPID" 2>/dev/null; wait 2>/dev/null || true' EXIT
start_server() {
  "$B/tools/llmorch-mock-server" --port 0 "$@" >"$OUT/server.out" 2>&1 &
  SPID=$!
  for _ in $(seq 100); do grep -q "http://" "$OUT/server.out" 2>/dev/null && break; sleep 0.05; done
  URL=$(grep -o "http://[0-9.:]*" "$OUT/server.out" | head -1)
}
stop_server() { kill -INT "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; SPID=""; }

refs() { grep -o 'refs: *[0-9,]*' "$1" | tr -dc '0-9'; }
start_server
echo "== instructions per request (callgrind, 64 in flight)"
for c in "curl" "curl --perform" "llmorch"; do
  set -- $c
  prog=$B/bench/bench_overhead_$1; shift
  for n in 1000 5000; do
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$n.out" "$prog" "$URL" "$n" 64 "$@" \
      >/dev/null 2>"$OUT/cg.$n.err"
  done
  a=$(refs "$OUT/cg.1000.err"); b=$(refs "$OUT/cg.5000.err")
  printf "  %-16s %8d instructions/request\n" "$c" $(( (b - a) / 4000 ))
  [ "$c" = llmorch ] && cp "$OUT/cg.5000.out" "$OUT/callgrind.llmorch.out"
done
stop_server
echo "== llmorch client, inclusive instructions per request (N=5000, top 40)"
{ callgrind_annotate --inclusive=yes "$OUT/callgrind.llmorch.out" 2>/dev/null || true; } |
  grep -E "^ *[0-9,]+ " | sed -E 's/^ *([0-9,]+) \([^)]*\) +([^ ]+).*/\1 \2/' |
  awk '!seen[$2]++ && $2 !~ /^src\// {gsub(",","",$1); printf "  %8.0f  %s\n", $1/5000, $2}' |
  head -40 || true

if perf record -e cpu-clock -o "$OUT/perf.probe" true >/dev/null 2>&1; then
  echo "== 10,000 streams held open: perf (cpu-clock), by symbol, with callers"
  start_server --ttft-ms 5000 --inter-token-ms 1
  perf record -e cpu-clock -F 500 --call-graph dwarf,16384 -o "$OUT/perf.scale.data" \
    "$B/bench/bench_scale_llmorch" "$URL" 10000 >/dev/null 2>&1 || true
  stop_server
  { perf report -i "$OUT/perf.scale.data" --children --sort sym -g none 2>/dev/null || true; } |
    grep -v "^#" | grep . | head -40 || true
else
  echo "== perf does not work here: skipped the scale profile"
fi
echo "files: $OUT"
