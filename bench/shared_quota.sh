#!/usr/bin/env bash
# Shared-quota benchmark ([shared-quota]): 4 `llmorch batch` processes, 500
# requests in total (125 each), against one mock server at --rpm 1500
# --window-ms 2000 (50 per 2 s; ideal 18 s from the first arrival to the
# last), each process configured with the whole quota, two ways:
#   shared_redis  the processes share the quota through one redis-server
#                 (--redis, --quota)
#   no_redis      the same run without Redis: each process gates alone
# The 429 count and the arrival times come from the server's ledger;
# utilisation = ideal / (last arrival - first arrival); Redis round trips
# per request = the processes' script calls / their shared admissions
# (from each process's last --metrics-log line).
# Usage: bench/shared_quota.sh [BUILD_DIR]   (prints one JSON line per mode)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build/release}
if [ ! -x "$B/tools/llmorch-mock-server" ] || [ ! -x "$B/bin/llmorch" ]; then
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLM_BUILD_TESTS=OFF >/dev/null
  cmake --build "$B" -j "$(nproc)" >/dev/null
fi
command -v redis-server >/dev/null || { echo "redis-server not installed (scripts/install-deps.sh)" >&2; exit 1; }
NPROC=4; N=${N:-500}; RPM=${RPM:-1500}; WIN=${WIN:-2000}
OUT=${OUT:-$(mktemp -d)}
SPID=""; RPID=""
cleanup() {
  [ -n "$SPID" ] && { kill -INT "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; }
  [ -n "$RPID" ] && { kill "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true; }
  SPID=""; RPID=""
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

per=$((N / NPROC))
for p in $(seq 0 $((NPROC - 1))); do
  : >"$OUT/in$p.jsonl"
  for i in $(seq "$per"); do
    printf '{"custom_id":"p%d-r%d","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"q%d"}],"max_tokens":16}}\n' \
      "$p" "$i" "$i" >>"$OUT/in$p.jsonl"
  done
done

for mode in shared_redis no_redis; do
  ledger="$OUT/ledger-$mode.jsonl"
  rm -f "$ledger" "$OUT"/out-$mode-*.jsonl "$OUT"/metrics-$mode-*.jsonl
  redis_args=()
  if [ "$mode" = shared_redis ]; then
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --logfile "$OUT/redis.log" >/dev/null &
    RPID=$!
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis_args=(--redis "redis://127.0.0.1:$port" --quota bench)
  fi
  "$B/tools/llmorch-mock-server" --port 0 --rpm "$RPM" --window-ms "$WIN" --ledger "$ledger" \
      >"$OUT/server-$mode.out" 2>"$OUT/server-$mode.err" &
  SPID=$!
  for _ in $(seq 100); do grep -q "http://" "$OUT/server-$mode.out" 2>/dev/null && break; sleep 0.05; done
  url=$(grep -o "http://[0-9.:]*" "$OUT/server-$mode.out" | head -1)
  t0=$(date +%s%N)
  pids=()
  for p in $(seq 0 $((NPROC - 1))); do
    OPENAI_API_KEY=sk-bench timeout 300 "$B/bin/llmorch" batch -q -i "$OUT/in$p.jsonl" \
      -o "$OUT/out-$mode-$p.jsonl" --base-url "$url" --rpm "$RPM" --window-ms "$WIN" \
      --max-attempts 10 --metrics-log "$OUT/metrics-$mode-$p.jsonl" "${redis_args[@]}" \
      2>"$OUT/stderr-$mode-$p.txt" &
    pids+=($!)
  done
  rc=0
  for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
  t1=$(date +%s%N)
  cleanup
  python3 - "$mode" "$OUT" "$ledger" "$N" "$RPM" "$WIN" "$NPROC" "$t0" "$t1" "$rc" <<'EOF'
import json, math, sys
mode, out, ledger, n, rpm, win, nproc, t0, t1, rc = sys.argv[1:]
n, rpm, win, nproc = int(n), float(rpm), int(win), int(nproc)
rows = [json.loads(l) for l in open(ledger) if l.strip()]
ok_t = sorted(r["t_ms"] for r in rows if r["status"] == 200)
s429 = sum(1 for r in rows if r["status"] == 429)
per_window = int(rpm * win / 60000)
ideal = (math.ceil(n / per_window) - 1) * win / 1000.0
span = (ok_t[-1] - ok_t[0]) / 1000.0 if len(ok_t) > 1 else 0.0
busiest = 0
j = 0
for i, t in enumerate(ok_t):
    while ok_t[j] <= t - win:
        j += 1
    busiest = max(busiest, i - j + 1)
ok = 0
for p in range(nproc):
    for l in open(f"{out}/out-{mode}-{p}.jsonl"):
        if '"error":null' in l:
            ok += 1
calls = admitted = 0
members = []
for p in range(nproc):
    lines = [l for l in open(f"{out}/metrics-{mode}-{p}.jsonl") if l.strip()]
    sh = json.loads(lines[-1]).get("engine", {}).get("shared") if lines else None
    if sh:
        calls += sh["redis_calls"]
        admitted += sh["admitted_shared"]
        members.append(sh["members"])
res = {"mode": mode, "processes": nproc, "n": n, "ok": ok, "server_requests": len(rows),
       "server_429": s429, "span_s": round(span, 3), "ideal_s": ideal,
       "utilization": round(ideal / span, 4) if span > 0 else None,
       "busiest_window": busiest, "limit_per_window": per_window,
       "wall_s": round((int(t1) - int(t0)) / 1e9, 3), "rc": int(rc)}
if admitted:
    res.update({"redis_calls": calls, "admitted_shared": admitted,
                "redis_round_trips_per_request": round(calls / admitted, 3)})
print(json.dumps(res))
EOF
done
