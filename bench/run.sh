#!/usr/bin/env bash
# The [bench] suite in one command: builds what it needs (Release, into
# build/bench), starts the mock server, and measures
#   1. overhead  CPU per request, llmorch engine vs a raw libcurl-multi
#                client (20,000 small requests, 64 in flight), 15 rounds
#                alternating (more than 3: on 2 shared cores single runs
#                vary by up to 1.5x);
#   2. scale     100 / 1,000 / 10,000 streams held open at once: success,
#                RSS per in-flight request, CPU;
#   3. quota     bench/quota.sh (gated / adaptive / naive): utilisation and
#                the 429s the server sent;
#   4. peer      the official `openai` npm client on Node vs llmorch
#                (2,000 requests, 20 in flight);
#   5. cli batch `llmorch batch`, 200 requests at --concurrency 1 on the
#                in-process mock provider while a CPU hog spins on one core:
#                wall time per request (CLI_BATCH_REPS rounds);
#   6. shared quota  bench/shared_quota.sh: 4 `llmorch batch` processes, 500
#                requests, one 1500 rpm / 2 s quota shared through Redis:
#                utilisation, server 429s, Redis round trips per request;
#                and the same run without Redis (its 429s);
#   tls_h1, h2, sse, latency, instructions (bench/tls_steps.sh, issue 15):
#                HTTPS HTTP/1.1 overhead and 10,000 HTTP/2 streams through
#                nghttpx, CPU per SSE event, latency added at concurrency 1,
#                callgrind instructions per request;
# then prints a markdown table and writes bench/results/latest.json,
# bench/results/latest.md and bench/results/scale.svg.
#
# Loopback only (plus the npm registry for the peer step, which is skipped
# with a note when npm or the registry is unavailable).  Every step has a
# time limit; the whole run takes about 2 minutes on 2 cores.
#
# Environment knobs: OVERHEAD_N (20000), OVERHEAD_CONC (64), OVERHEAD_REPS (15),
# SCALE_NS ("100 1000 10000"), HOLD_MS (5000), PEER_N (2000), PEER_CONC (20),
# PEER_REPS (3), SKIP_QUOTA=1, SKIP_PEER=1, SKIP_SHARED=1, CLI_BATCH_N (200),
# CLI_BATCH_REPS (5).  ONLY=shared_quota runs step 6 alone and updates its
# rows (latest.json keys shared_quota_*, latest.md rows "| Shared quota").
# ONLY=tls_h1|h2|sse|latency|instructions runs that step of tls_steps.sh
# alone (ONLY=perf: all five) and updates its keys and rows in the existing
# results; knobs at the top of bench/tls_steps.sh.
# ONLY=cli_batch runs step 5 alone and updates its row in the existing
# results (latest.json key cli_batch_c1_busy_ms_per_request, latest.md row).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${B:-build/bench}
RES=bench/results
OVERHEAD_N=${OVERHEAD_N:-20000}
OVERHEAD_CONC=${OVERHEAD_CONC:-64}
OVERHEAD_REPS=${OVERHEAD_REPS:-15}
SCALE_NS=${SCALE_NS:-"100 1000 10000"}
HOLD_MS=${HOLD_MS:-5000}
PEER_N=${PEER_N:-2000}
PEER_CONC=${PEER_CONC:-20}
PEER_REPS=${PEER_REPS:-3}
CLI_BATCH_N=${CLI_BATCH_N:-200}
CLI_BATCH_REPS=${CLI_BATCH_REPS:-5}
ONLY=${ONLY:-}
T_START=$(date +%s)

WORK=$(mktemp -d /tmp/llmorch-bench.XXXXXX)
SPID=""
HOG=""
stop_server() {
  if [ -n "$SPID" ]; then
    kill -INT "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    SPID=""
  fi
}
stop_hog() { if [ -n "$HOG" ]; then kill "$HOG" 2>/dev/null || true; wait "$HOG" 2>/dev/null || true; HOG=""; fi; }
trap 'stop_server; stop_hog; stop_tls; rm -rf "$WORK"' EXIT
note() { echo "[bench $(($(date +%s) - T_START))s] $*" >&2; }

# ---- dependencies and build --------------------------------------------------
note "dependencies"
scripts/install-deps.sh
SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
apt_missing=()
command -v gnuplot >/dev/null || apt_missing+=(gnuplot-nox)
command -v python3 >/dev/null || apt_missing+=(python3)
if ((${#apt_missing[@]})); then
  note "installing ${apt_missing[*]}"
  ($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 300 \
     $SUDO apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null) ||
    note "could not install ${apt_missing[*]}"
fi
command -v python3 >/dev/null || { echo "python3 is required for the summary" >&2; exit 1; }

note "building into $B"
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLM_BUILD_TESTS=OFF >/dev/null
cmake --build "$B" -j "$(nproc)" >/dev/null
SERVER="$B/tools/llmorch-mock-server"
BB="$B/bench"

# start_server NAME ARGS...: one mock server process; sets URL and SPID.
start_server() {
  local name=$1; shift
  "$SERVER" --port 0 "$@" >"$WORK/server-$name.out" 2>"$WORK/server-$name.err" &
  SPID=$!
  for _ in $(seq 100); do grep -q "http://" "$WORK/server-$name.out" 2>/dev/null && break; sleep 0.05; done
  URL=$(grep -o "http://[0-9.:]*" "$WORK/server-$name.out" | head -1)
  [ -n "$URL" ] || { cat "$WORK/server-$name.err" >&2; echo "mock server did not start" >&2; exit 1; }
}

# shellcheck source=bench/tls_steps.sh
. bench/tls_steps.sh
COMMIT_ID="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src tools 2>/dev/null || echo +local)"
case "$ONLY" in
  tls_h1 | h2 | sse | latency | instructions | perf)
    tls_deps
    if [ "$ONLY" = perf ]; then perf_steps; else "${ONLY}_step"; fi
    python3 bench/summarize.py "$WORK" "$RES" --only-perf --commit "$COMMIT_ID" \
      --load "$(cut -d' ' -f1-3 /proc/loadavg)"
    note "done in $(($(date +%s) - T_START)) s: $ONLY keys of $RES/latest.json, $RES/latest.md"
    exit 0
    ;;
esac

# ---- 5. CLI batch at low concurrency on a busy machine -----------------------
# Run first when alone (ONLY=cli_batch), else after the others (below).
cli_batch_step() {
  note "cli batch: $CLI_BATCH_N requests at --concurrency 1, CPU hog on one core, $CLI_BATCH_REPS rounds"
  local cli="$B/bin/llmorch" in="$WORK/cli-batch-in.jsonl" out="$WORK/cli-batch-out.jsonl"
  : >"$in"
  for i in $(seq "$CLI_BATCH_N"); do
    printf '{"custom_id":"r%d","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"q%d"}],"max_tokens":16}}\n' "$i" "$i" >>"$in"
  done
  # The hog: one busy shell on one core, for the whole step.
  sh -c 'while :; do :; done' &
  HOG=$!
  : >"$WORK/cli_batch.jsonl"
  for _ in $(seq "$CLI_BATCH_REPS"); do
    rm -f "$out"
    local t0 t1 rc=0
    t0=$(date +%s%N)
    timeout 120 env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY "$cli" batch --provider mock \
      --concurrency 1 -q -i "$in" -o "$out" 2>/dev/null || rc=$?
    t1=$(date +%s%N)
    printf '{"n":%d,"concurrency":1,"wall_s":%s,"ok":%d,"rc":%d}\n' "$CLI_BATCH_N" \
      "$(awk "BEGIN{printf \"%.6f\", ($t1 - $t0) / 1e9}")" \
      "$(grep -c '"error":null' "$out" 2>/dev/null || echo 0)" "$rc" >>"$WORK/cli_batch.jsonl"
  done
  stop_hog
}
# ---- 6. shared quota: 4 processes, one quota, through Redis -----------------
shared_quota_step() {
  if [ "${SKIP_SHARED:-0}" = 1 ]; then return; fi
  note "shared quota: bench/shared_quota.sh (4 batch processes through Redis, and without; about 45 s)"
  mkdir -p "$WORK/shared"
  OUT="$WORK/shared" timeout 300 bench/shared_quota.sh "$B" >"$WORK/shared_quota.jsonl" ||
    note "shared_quota.sh failed or timed out"
}
if [ "$ONLY" = shared_quota ]; then
  shared_quota_step
  python3 bench/summarize.py "$WORK" "$RES" --only-shared-quota \
    --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src tools 2>/dev/null || echo +local)"
  note "done in $(($(date +%s) - T_START)) s: shared quota rows of $RES/latest.json, $RES/latest.md"
  exit 0
elif [ "$ONLY" = cli_batch ]; then
  cli_batch_step
  python3 bench/summarize.py "$WORK" "$RES" --only-cli-batch \
    --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src tools 2>/dev/null || echo +local)"
  note "done in $(($(date +%s) - T_START)) s: cli batch row of $RES/latest.json, $RES/latest.md"
  exit 0
elif [ -n "$ONLY" ]; then
  echo "ONLY=$ONLY: only ONLY=cli_batch, shared_quota, tls_h1, h2, sse, latency, instructions or perf is supported" >&2
  exit 2
fi

# ---- 1. overhead -------------------------------------------------------------
note "overhead: $OVERHEAD_N requests, $OVERHEAD_CONC in flight, $OVERHEAD_REPS rounds"
start_server overhead
# The raw client must send what the provider sends, byte for byte.
if ! diff <("$BB/bench_overhead_llmorch" "$URL" 1 1 --dump-request) \
          <("$BB/bench_overhead_curl" "$URL" --dump-request) >"$WORK/request.diff"; then
  cat "$WORK/request.diff" >&2
  echo "bench_overhead_curl does not send the provider's request" >&2
  exit 1
fi
# One unmeasured round first: the first runs after a build are noisy.
for c in "$BB/bench_overhead_curl" "$BB/bench_overhead_llmorch"; do
  timeout 60 "$c" "$URL" 4000 "$OVERHEAD_CONC" >/dev/null
done
: >"$WORK/overhead.jsonl"
for i in $(seq "$OVERHEAD_REPS"); do
  # Alternate the clients so drift on the machine hits all of them alike.
  timeout 60 "$BB/bench_overhead_curl" "$URL" "$OVERHEAD_N" "$OVERHEAD_CONC" >>"$WORK/overhead.jsonl"
  timeout 60 "$BB/bench_overhead_curl" "$URL" "$OVERHEAD_N" "$OVERHEAD_CONC" --perform >>"$WORK/overhead.jsonl"
  timeout 60 "$BB/bench_overhead_llmorch" "$URL" "$OVERHEAD_N" "$OVERHEAD_CONC" >>"$WORK/overhead.jsonl"
done
stop_server

# ---- 2. scale ----------------------------------------------------------------
: >"$WORK/scale.jsonl"
for n in $SCALE_NS; do
  note "scale: $n streams held ${HOLD_MS} ms"
  start_server "scale-$n" --ttft-ms "$HOLD_MS" --inter-token-ms 1
  timeout 120 "$BB/bench_scale_llmorch" "$URL" "$n" >>"$WORK/scale.jsonl" 2>"$WORK/scale-$n.err" ||
    { note "scale $n: not every request succeeded"; cat "$WORK/scale-$n.err" >&2; }
  stop_server
done

# ---- 3. quota ----------------------------------------------------------------
: >"$WORK/quota.jsonl"
if [ "${SKIP_QUOTA:-0}" != 1 ]; then
  note "quota: bench/quota.sh (about a minute)"
  mkdir -p "$WORK/quota"
  OUT="$WORK/quota" timeout 300 bench/quota.sh "$B" >"$WORK/quota.jsonl" ||
    note "quota.sh failed or timed out"
fi

# ---- 4. peer -----------------------------------------------------------------
: >"$WORK/peer.jsonl"
PEER_NOTE=""
PEER_DIR=bench/scratch/peer
if [ "${SKIP_PEER:-0}" = 1 ]; then
  PEER_NOTE="skipped (SKIP_PEER=1)"
elif ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PEER_NOTE="skipped: node/npm not available"
else
  if [ ! -f "$PEER_DIR/node_modules/openai/package.json" ]; then
    note "peer: installing the openai npm package into $PEER_DIR (not committed)"
    mkdir -p "$PEER_DIR"
    (cd "$PEER_DIR" && timeout 180 npm install --no-save --no-package-lock --no-audit --no-fund \
       --loglevel=error openai >/dev/null 2>"$WORK/npm.err") ||
      PEER_NOTE="skipped: npm install openai failed ($(tail -1 "$WORK/npm.err" 2>/dev/null))"
  fi
  if [ -z "$PEER_NOTE" ]; then
    note "peer: $PEER_N requests, $PEER_CONC in flight, $PEER_REPS rounds"
    start_server peer
    for i in $(seq "$PEER_REPS"); do
      timeout 120 node bench/peer/openai_node.mjs "$URL" "$PEER_N" "$PEER_CONC" "$PEER_DIR" \
        >>"$WORK/peer.jsonl" || PEER_NOTE="openai_node.mjs failed"
      timeout 60 "$BB/bench_overhead_llmorch" "$URL" "$PEER_N" "$PEER_CONC" >>"$WORK/peer.jsonl"
    done
    stop_server
  fi
fi

cli_batch_step
shared_quota_step
perf_steps

# ---- 7. results ----------------------------------------------------------------
mkdir -p "$RES"
cpu_model=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
python3 bench/summarize.py "$WORK" "$RES" \
  --nproc "$(nproc)" --cpu "$cpu_model" --kernel "$(uname -sr)" \
  --curl "$(curl-config --version 2>/dev/null || echo unknown)" \
  --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo +local)" \
  --elapsed "$(($(date +%s) - T_START))" --peer-note "$PEER_NOTE" \
  --overhead-n "$OVERHEAD_N" --overhead-conc "$OVERHEAD_CONC" --hold-ms "$HOLD_MS" \
  --load "$(cut -d' ' -f1-3 /proc/loadavg)"
if command -v gnuplot >/dev/null; then
  gnuplot -e "datafile='$WORK/scale.dat'; outfile='$RES/scale.svg'" bench/scale.gp
  note "plot: $RES/scale.svg"
else
  note "gnuplot not available: no plot"
fi
note "done in $(($(date +%s) - T_START)) s: $RES/latest.json, $RES/latest.md"
