#!/usr/bin/env bash
# Quota benchmark ([resilience]): 500 requests against the mock server at
# --rpm 1500 --window-ms 2000 (50 per 2 s; ideal 18 s), three ways:
#   gated     client limits set to the server's
#   adaptive  no client limits; learned from the server's rate-limit headers
#   naive     no gates, no learning; retries only
# The 429 count comes from the server's ledger, not from the client.
# Usage: bench/quota.sh [BUILD_DIR]   (prints one JSON line per mode)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build/release}
if [ ! -x "$B/tools/llmorch-mock-server" ] || [ ! -x "$B/bench/bench_quota_client" ]; then
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLM_BUILD_TESTS=OFF >/dev/null
  cmake --build "$B" -j "$(nproc)" >/dev/null
fi
N=${N:-500}; RPM=${RPM:-1500}; WIN=${WIN:-2000}
OUT=${OUT:-$(mktemp -d)}
for mode in gated adaptive naive; do
  ledger="$OUT/ledger-$mode.jsonl"
  rm -f "$ledger"
  "$B/tools/llmorch-mock-server" --port 0 --rpm "$RPM" --window-ms "$WIN" --ledger "$ledger" \
      >"$OUT/server-$mode.out" 2>"$OUT/server-$mode.err" &
  spid=$!
  for _ in $(seq 100); do grep -q "http://" "$OUT/server-$mode.out" 2>/dev/null && break; sleep 0.05; done
  url=$(grep -o "http://[0-9.:]*" "$OUT/server-$mode.out" | head -1)
  client=$("$B/bench/bench_quota_client" "$url" "$mode" "$N" "$RPM" "$WIN" || true)
  kill -INT "$spid"; wait "$spid" 2>/dev/null || true
  s429=$(grep -c '"status":429' "$ledger" || true)
  served=$(grep -c . "$ledger" || true)
  echo "${client%\}},\"server_requests\":$served,\"server_429\":$s429}"
done
