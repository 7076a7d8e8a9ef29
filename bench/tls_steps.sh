# Sourced by bench/run.sh (needs its B, BB, WORK, start_server, stop_server,
# note): the steps of issue 15, each writing JSON lines into $WORK:
#   tls_h1        HTTPS HTTP/1.1 keep-alive through nghttpx: CPU/request,
#                 llmorch vs raw libcurl with the same TLS settings
#                 (tls_h1.jsonl);
#   h2            10,000 streams held open over HTTPS HTTP/2 through nghttpx:
#                 success, connections, TLS handshakes, RSS per stream, then
#                 a reconnect round after the server closed every idle
#                 connection (h2.jsonl, nghttpx's access log counts);
#   sse           2,000 streams delivering tokens (HTTPS HTTP/2): CPU per
#                 SSE event, llmorch vs a raw libcurl client that only splits
#                 events (sse.jsonl);
#   latency       llm_generate at concurrency 1 vs the raw client, p50/p99,
#                 with and without a CPU hog on one core (latency.jsonl);
#   instructions  callgrind instructions per request of the overhead clients
#                 (instructions.jsonl).
# The TLS front: nghttpx (Debian nghttp2-proxy) terminating TLS for the mock
# server, with a certificate made by openssl at bench time and trusted
# through the engine's ca_file option (raw clients: CURLOPT_CAINFO).

TLS_N=${TLS_N:-10000}
TLS_CONC=${TLS_CONC:-64}
TLS_REPS=${TLS_REPS:-7}
H2_N=${H2_N:-10000}
H2_HOLD_MS=${H2_HOLD_MS:-20000}
H2_MAX_STREAMS=${H2_MAX_STREAMS:-100}
H2_IDLE_S=${H2_IDLE_S:-2}
H2_RECONNECT=${H2_RECONNECT:-200}
SSE_N=${SSE_N:-2000}
SSE_TTFT_MS=${SSE_TTFT_MS:-200}
SSE_INTER_TOKEN_MS=${SSE_INTER_TOKEN_MS:-20}
SSE_REPS=${SSE_REPS:-3}
LAT_N=${LAT_N:-2000}
LAT_REPS=${LAT_REPS:-3}
INSTR_N1=${INSTR_N1:-1000}
INSTR_N2=${INSTR_N2:-5000}
# Rounds per client: the count moves by ~2% between rounds (how the
# server's replies and curl's timers interleave with the client's events
# differs), so the row takes the median of the per-round figures.
INSTR_REPS=${INSTR_REPS:-5}
TLS_PID=""

# Tools the steps need beyond scripts/install-deps.sh: nghttpx, openssl and
# valgrind (callgrind), from Debian.
tls_deps() {
  local missing=()
  command -v nghttpx >/dev/null || missing+=(nghttp2-proxy)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v valgrind >/dev/null || missing+=(valgrind)
  if ((${#missing[@]})); then
    note "installing ${missing[*]}"
    local sudo=""; [ "$(id -u)" != 0 ] && sudo=sudo
    ($sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 300 \
       $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null) ||
      note "could not install ${missing[*]}"
  fi
  mkdir -p "$WORK/tls"
  if [ ! -f "$WORK/tls/cert.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
      -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" -subj /CN=localhost \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
  fi
  CACERT=$WORK/tls/cert.pem
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_tls NAME ALPN: nghttpx on a free port in front of the mock server
# at $URL; sets TLS_URL and TLS_PID.  Access log: remote port, ALPN,
# session reused ("r") or not ("."), request body length, status.
start_tls() {
  local name=$1 alpn=$2 port hp
  hp=${URL#http://}
  port=$(free_port)
  nghttpx --conf=/dev/null --frontend="127.0.0.1,$port" --backend="${hp%:*},${hp##*:}" \
    --workers=1 --no-ocsp --npn-list="$alpn" \
    --frontend-http2-max-concurrent-streams="$H2_MAX_STREAMS" \
    --frontend-http2-read-timeout="${H2_IDLE_S}s" --rlimit-nofile="$(ulimit -Hn)" \
    --accesslog-file="$WORK/nghttpx-$name.log" \
    --accesslog-format='$remote_port $alpn $ssl_session_reused $http_content_length $status' \
    --errorlog-file="$WORK/nghttpx-$name.err" "$WORK/tls/key.pem" "$WORK/tls/cert.pem" 2>>"$WORK/nghttpx-$name.err" &
  TLS_PID=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  TLS_URL=https://127.0.0.1:$port
}
stop_tls() {
  if [ -n "$TLS_PID" ]; then
    kill -TERM "$TLS_PID" 2>/dev/null || true
    wait "$TLS_PID" 2>/dev/null || true
    TLS_PID=""
  fi
}

tls_h1_step() {
  note "tls_h1: $TLS_N requests, $TLS_CONC in flight, HTTPS HTTP/1.1 through nghttpx, $TLS_REPS rounds"
  start_server tls-h1
  start_tls tls-h1 http/1.1
  : >"$WORK/tls_h1.jsonl"
  for c in "$BB/bench_overhead_curl" "$BB/bench_overhead_llmorch"; do
    timeout 60 "$c" "$TLS_URL" 2000 "$TLS_CONC" --cacert "$CACERT" >/dev/null || true
  done
  for _ in $(seq "$TLS_REPS"); do
    timeout 120 "$BB/bench_overhead_curl" "$TLS_URL" "$TLS_N" "$TLS_CONC" --cacert "$CACERT" \
      >>"$WORK/tls_h1.jsonl" || note "tls_h1: raw client failed"
    timeout 120 "$BB/bench_overhead_llmorch" "$TLS_URL" "$TLS_N" "$TLS_CONC" --cacert "$CACERT" \
      >>"$WORK/tls_h1.jsonl" || note "tls_h1: llmorch client failed"
  done
  stop_tls
  stop_server
}

h2_step() {
  note "h2: $H2_N streams held ${H2_HOLD_MS} ms over HTTPS HTTP/2 (max $H2_MAX_STREAMS streams per connection), then a reconnect round"
  start_server h2 --ttft-ms "$H2_HOLD_MS" --inter-token-ms 1
  start_tls h2 h2,http/1.1
  : >"$WORK/h2.jsonl"
  timeout $((H2_HOLD_MS / 1000 + 120)) "$BB/bench_scale_llmorch" "$TLS_URL" "$H2_N" --cacert "$CACERT" \
    --reconnect "$H2_RECONNECT" $((H2_IDLE_S * 1000 + 2000)) >>"$WORK/h2.jsonl" 2>"$WORK/h2.err" ||
    { note "h2: not every request succeeded"; cat "$WORK/h2.err" >&2; }
  stop_tls
  stop_server
  # The server's view: streamed requests (the long body) and the reconnect
  # round's (the short one), by whether their connection resumed a session;
  # and the connections (client port, per round) of each kind.
  awk -v max="$H2_MAX_STREAMS" '
    { round = ($4 > 140 ? "streams" : "reconnect"); how = ($3 == "r" ? "resumed" : "full");
      n[round "_" how "_requests"]++;
      if (!((round, $1) in seen)) { seen[round, $1] = 1; n[round "_" how "_connections"]++ }
      if ($2 != "h2") non_h2++ }
    END { printf "{\"nghttpx\":true,\"max_concurrent_streams\":%d,\"non_h2_requests\":%d", max, non_h2;
          for (k in n) printf ",\"%s\":%d", k, n[k]; print "}" }' \
    "$WORK/nghttpx-h2.log" >>"$WORK/h2.jsonl"
}

sse_step() {
  note "sse: $SSE_N streams, --ttft-ms $SSE_TTFT_MS --inter-token-ms $SSE_INTER_TOKEN_MS, HTTPS HTTP/2, $SSE_REPS rounds"
  start_server sse --ttft-ms "$SSE_TTFT_MS" --inter-token-ms "$SSE_INTER_TOKEN_MS"
  start_tls sse h2,http/1.1
  : >"$WORK/sse.jsonl"
  for _ in $(seq "$SSE_REPS"); do
    timeout 120 "$BB/bench_overhead_curl" "$TLS_URL" "$SSE_N" "$SSE_N" --stream --cacert "$CACERT" \
      --max-host-conns $(((SSE_N + H2_MAX_STREAMS - 1) / H2_MAX_STREAMS)) \
      >>"$WORK/sse.jsonl" || note "sse: raw client failed"
    timeout 120 "$BB/bench_overhead_llmorch" "$TLS_URL" "$SSE_N" "$SSE_N" --stream --cacert "$CACERT" \
      >>"$WORK/sse.jsonl" || note "sse: llmorch client failed"
  done
  stop_tls
  stop_server
}

latency_step() {
  note "latency: $LAT_N requests at concurrency 1 (plain HTTP/1.1), without and with a CPU hog, $LAT_REPS rounds"
  start_server latency
  : >"$WORK/latency.jsonl"
  timeout 60 "$BB/bench_overhead_llmorch" "$URL" 200 1 --latency >/dev/null || true
  for hog in false true; do
    if [ "$hog" = true ]; then sh -c 'while :; do :; done' & HOG=$!; fi
    for _ in $(seq "$LAT_REPS"); do
      timeout 120 "$BB/bench_overhead_curl" "$URL" "$LAT_N" 1 --latency |
        sed "s/^{/{\"hog\":$hog,/" >>"$WORK/latency.jsonl" || note "latency: raw client failed"
      timeout 120 "$BB/bench_overhead_llmorch" "$URL" "$LAT_N" 1 --latency |
        sed "s/^{/{\"hog\":$hog,/" >>"$WORK/latency.jsonl" || note "latency: llmorch client failed"
    done
    stop_hog
  done
  stop_server
}

# Instructions per request: the difference between an INSTR_N2 and an
# INSTR_N1 run under callgrind (start-up and teardown cancel out), 64 in
# flight, plain HTTP (the same as bench/profile.sh).
instructions_step() {
  : >"$WORK/instructions.jsonl"
  if ! command -v valgrind >/dev/null; then
    note "instructions: valgrind not available, skipped"
    return
  fi
  note "instructions: callgrind, $INSTR_N1 and $INSTR_N2 requests per client"
  start_server instructions
  local refs c n a b
  refs() { grep -o 'refs: *[0-9,]*' "$1" | tr -dc '0-9'; }
  for rep in $(seq "$INSTR_REPS"); do
    for c in curl llmorch; do
      for n in "$INSTR_N1" "$INSTR_N2"; do
        timeout 300 valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$c.$n.out" \
          "$BB/bench_overhead_$c" "$URL" "$n" 64 >/dev/null 2>"$WORK/cg.$c.$n.err" ||
          note "instructions: $c $n failed"
      done
      a=$(refs "$WORK/cg.$c.$INSTR_N1.err"); b=$(refs "$WORK/cg.$c.$INSTR_N2.err")
      if [ -n "$a" ] && [ -n "$b" ]; then
        printf '{"client":"%s","rep":%d,"n1":%d,"n2":%d,"instructions_per_req":%d}\n' \
          "$([ $c = curl ] && echo raw_curl || echo llmorch)" "$rep" "$INSTR_N1" "$INSTR_N2" \
          $(((b - a) / (INSTR_N2 - INSTR_N1))) >>"$WORK/instructions.jsonl"
      fi
    done
  done
  # Where llmorch's instructions go: inclusive per request of the library's
  # functions (the same difference of the two runs).
  if command -v callgrind_annotate >/dev/null; then
    for n in "$INSTR_N1" "$INSTR_N2"; do
      callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$WORK/cg.llmorch.$n.out" 2>/dev/null |
        awk '/file:function/ {f = 1; next} f && /^ *[0-9,]+ / {v = $1; gsub(",", "", v); $1 = "";
             sub(/^ +/, ""); sub(/^\([^)]*\) +/, ""); lib = ($0 ~ /libllmorch/); sub(/ \[.*$/, "");
             if (lib) $0 = "libllmorch:" $0; print v "\t" $0}' >"$WORK/cg.incl.$n.txt"
    done
    python3 - "$WORK/cg.incl.$INSTR_N1.txt" "$WORK/cg.incl.$INSTR_N2.txt" $((INSTR_N2 - INSTR_N1)) \
      >>"$WORK/instructions.jsonl" <<'PY' || true
import json, sys
def load(f):
    d = {}
    for line in open(f):
        v, name = line.rstrip("\n").split("\t", 1)
        d[name] = d.get(name, 0) + int(v)
    return d
a, b, n = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
# Library functions: by source file with -g (bench/profile.sh's build),
# else by name (the Release build run.sh makes has no line tables).
def short(k):
    return k.split("/src/", 1)[1] if "/src/" in k else k.rsplit(":", 1)[-1]
per = {}
for k in b:
    if "/src/" in k or k.startswith("libllmorch:"):
        per[short(k)] = per.get(short(k), 0) + round((b.get(k, 0) - a.get(k, 0)) / n)
top = sorted(per.items(), key=lambda kv: -kv[1])[:25]
print(json.dumps({"llmorch_inclusive_per_req": dict(top)}))
PY
  fi
  stop_server
}

# Every step of this file, in order.
perf_steps() {
  tls_deps
  tls_h1_step
  h2_step
  sse_step
  latency_step
  instructions_step
}
