#!/usr/bin/env bash
# Opt-in compatibility check: `llmorch generate` (plain, --stream, --json)
# and `llmorch batch` against an OpenAI-compatible server that is not ours,
# the npm package @dwmkerr/mock-llm (an echo server: the reply is the last
# user message; it streams SSE chat.completion.chunk events).
#
# Not part of CI: it installs the server from the npm registry.  Needs node,
# npm and the llmorch CLI of a build.  Usage:
#   tests/compat/run.sh BUILD_DIR
# Environment: MOCK_LLM_VERSION (default 0.1.29), NPM (default npm),
# NODE (default node), CMAKE (default cmake; used to read JSON when there is
# no python3).  Everything listens on 127.0.0.1 only; all temporary files
# (the npm install included) go in one temporary folder, removed at exit.
#
# mock-llm pastes the prompt into its JSON template unescaped, so prompts
# here avoid '"', '\' and control characters (the server answers 500
# otherwise; that is its bug, not ours).
set -uo pipefail

BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd) || exit 2
HERE=$(cd "$(dirname "$0")" && pwd)
MOCK_LLM_VERSION=${MOCK_LLM_VERSION:-0.1.29}
NPM=${NPM:-npm}
NODE=${NODE:-node}
CMAKE=${CMAKE:-cmake}
LLMORCH=""
for c in "$BUILD/bin/llmorch" "$BUILD/tools/llmorch" "$BUILD/llmorch"; do
  if [ -x "$c" ]; then LLMORCH=$c; break; fi
done

passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { # description, then a command that must succeed
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
  echo "compat: $passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit $?
}

T=$(mktemp -d "${TMPDIR:-/tmp}/llmorch-compat.XXXXXX")
SERVER_PID=""
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "$LLMORCH" ]; then
  fail "no llmorch binary under $BUILD (bin/llmorch)"
  finish
fi
for tool in "$NODE" "$NPM"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    fail "$tool not found (this check needs node and npm)"
    finish
  fi
done
echo "llmorch: $LLMORCH ($("$LLMORCH" --version 2>&1 | head -n1))"
echo "node:    $("$NODE" --version)"

# ---- install and start the server ------------------------------------------------
SRV=$T/server
mkdir -p "$SRV"
if (cd "$SRV" && "$NPM" install --no-audit --no-fund --no-save --loglevel=error \
      --prefix "$SRV" "@dwmkerr/mock-llm@$MOCK_LLM_VERSION") >"$T/npm.log" 2>&1 &&
   [ -x "$SRV/node_modules/.bin/mock-llm" ]; then
  pass "npm install @dwmkerr/mock-llm@$MOCK_LLM_VERSION"
else
  sed 's/^/  npm: /' "$T/npm.log" | tail -n 20
  fail "npm install @dwmkerr/mock-llm@$MOCK_LLM_VERSION"
  finish
fi
version=$("$NODE" -p "require('$SRV/node_modules/@dwmkerr/mock-llm/package.json').version")
echo "server:  @dwmkerr/mock-llm $version"

# The default echo rule, as shipped; streaming in 8-character chunks (the
# default is 50) so that a reply spans several SSE events; and one rule
# answering OpenAI's 401 body, to see an error classified.
cat >"$T/mock-llm.yaml" <<'EOF'
streaming:
  chunkSize: 8
  chunkIntervalMs: 5
rules:
  - path: "/v1/chat/completions"
    method: "POST"
    match: "@"
    response:
      status: 200
      content: |
        {
          "id": "chatcmpl-{{timestamp}}",
          "object": "chat.completion",
          "model": "{{jmes request body.model}}",
          "choices": [{
            "message": {
              "role": "assistant",
              "content": "{{jmes request body.messages[-1].content}}"
            },
            "finish_reason": "stop"
          }]
        }
  - path: "/v1/chat/completions"
    method: "POST"
    match: "contains(body.messages[-1].content, 'error-401')"
    response:
      status: 401
      content: |
        {"error": {"message": "Incorrect API key provided.",
                   "type": "invalid_request_error", "param": null,
                   "code": "invalid_api_key"}}
EOF

free_port() {
  "$NODE" -e 'const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

started=false
for _ in 1 2 3; do
  PORT=$(free_port) || break
  (cd "$T" && exec env HOST=127.0.0.1 PORT="$PORT" "$NODE" \
     "$SRV/node_modules/@dwmkerr/mock-llm/dist/main.js" --config "$T/mock-llm.yaml") \
     >"$T/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do # up to 20 s
    if grep -q "server running on" "$T/server.log" 2>/dev/null; then started=true; break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  $started && break
  kill "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
done
if ! $started; then
  sed 's/^/  server: /' "$T/server.log" | tail -n 20
  fail "start mock-llm on 127.0.0.1"
  finish
fi
pass "mock-llm serves http://127.0.0.1:$PORT"
BASE=http://127.0.0.1:$PORT

# ---- helpers ------------------------------------------------------------------------
# The CLI as a new user runs it: no provider key in the environment, the
# server named by --base-url only.  A bound on each run keeps a hang from
# stalling the script.
cli() {
  env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY timeout 60 "$LLMORCH" "$@"
}
HAVE_PY=false
if command -v python3 >/dev/null 2>&1 && python3 -c 'import json' 2>/dev/null; then HAVE_PY=true; fi
# json_get FILE "a;b/c": the values, one per line, as cmake's string(JSON GET)
# gives them (true/false as ON/OFF, null as an empty line); python3, when
# there is one, is made to print the same.
json_get() {
  if $HAVE_PY; then
    python3 - "$1" "$2" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
for key in sys.argv[2].split(";"):
    v = doc
    for part in key.split("/"):
        v = v[int(part)] if isinstance(v, list) else v[part]
    if v is True: v = "ON"
    elif v is False: v = "OFF"
    elif v is None: v = ""
    elif not isinstance(v, str): v = json.dumps(v)
    print(v)
EOF
  else
    "$CMAKE" -DFILE="$1" -DKEYS="$2" -P "$HERE/../cli/json_get.cmake" 2>/dev/null
  fi
}
show() { # quote a file in the log, indented
  sed 's/^/    /' "$1" | head -n 5
}

# ---- generate --------------------------------------------------------------------
P1="hi"
cli generate --base-url "$BASE" "$P1" >"$T/g1.out" 2>"$T/g1.err"; rc=$?
echo "\$ llmorch generate --base-url $BASE \"$P1\"   -> rc=$rc"; show "$T/g1.out"; show "$T/g1.err"
check "generate: exit 0 and the echoed reply" \
  test "$rc" = 0 -a "$(cat "$T/g1.out")" = "$P1"

# Several SSE events (8 characters each), non-ASCII characters among
# them, and the base URL with its /v1 (and a trailing slash).
P2="The quick brown fox jumps over the lazy dog, ünïcödé ✓ and 'single' quotes."
cli generate --base-url "$BASE/v1" "$P2" >"$T/g2.out" 2>"$T/g2.err"; rc2=$?
cli generate --base-url "$BASE/v1/" --stream "$P2" >"$T/s2.out" 2>"$T/s2.err"; rc=$?
echo "\$ llmorch generate --base-url $BASE/v1/ --stream \"$P2\"   -> rc=$rc"
show "$T/s2.out"; show "$T/s2.err"
check "generate --stream: exit 0 and non-empty text" test "$rc" = 0 -a -s "$T/s2.out"
check "generate --stream: same text as without --stream (rc=$rc2)" \
  cmp -s "$T/g2.out" "$T/s2.out"
check "generate --stream: the echoed prompt, whole" test "$(cat "$T/s2.out")" = "$P2"

cli generate --base-url "$BASE" --json "$P1" >"$T/g3.json" 2>"$T/g3.err"; rc=$?
echo "\$ llmorch generate --base-url $BASE --json \"$P1\"   -> rc=$rc"
vals=$(json_get "$T/g3.json" "success;content;provider;finish_reason;attempts/0/http_status" |
       tr '\n' '|')
echo "    success|content|provider|finish_reason|http_status = $vals"
check "generate --json: exit 0, parses, success with the reply" \
  test "$rc" = 0 -a "$vals" = "ON|$P1|openai|stop|200|"
rid=$(json_get "$T/g3.json" "response_id")
check "generate --json: response_id is the server's id ($rid)" \
  test "${rid#chatcmpl-}" != "$rid"

cli generate --base-url "$BASE" --stream --json "$P2" >"$T/s3.json" 2>"$T/s3.err"; rc=$?
vals=$(json_get "$T/s3.json" "success;content;finish_reason" | tr '\n' '|')
check "generate --stream --json: exit 0, parses, the whole reply" \
  test "$rc" = 0 -a "$vals" = "ON|$P2|stop|"
tt=$(json_get "$T/s3.json" "timestamps/first_token")
check "generate --stream --json: a first-token time ($tt)" test -n "$tt"

DUMMY_COMPAT_KEY=sk-compat-dummy-key-not-real
export DUMMY_COMPAT_KEY
out=$(cli generate --provider openai --base-url "$BASE" --api-key-env DUMMY_COMPAT_KEY "$P1" \
      2>"$T/k.err"); rc=$?
check "generate --provider openai --api-key-env VAR: exit 0, the reply" \
  test "$rc" = 0 -a "$out" = "$P1"
check "  ... and the key is not printed" \
  sh -c "! grep -q \"$DUMMY_COMPAT_KEY\" \"$T/k.err\""

for mode in "" --stream; do
  cli generate --base-url "$BASE" $mode "error-401" >"$T/e.out" 2>"$T/e.err"; rc=$?
  echo "\$ llmorch generate --base-url $BASE $mode error-401   -> rc=$rc"; show "$T/e.err"
  check "generate ${mode:-(no --stream)} on a 401 error: exit 1, one line on stderr" \
    test "$rc" = 1 -a "$(wc -l <"$T/e.err" | tr -d ' ')" = 1 -a ! -s "$T/e.out"
  check "  ... naming AUTHENTICATION and the server's message" \
    grep -q "^error: AUTHENTICATION: .*Incorrect API key provided" "$T/e.err"
done

# ---- batch -------------------------------------------------------------------------
cat >"$T/in.jsonl" <<'EOF'
{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"first request"}]}}
{"custom_id":"r2","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"second request"}],"max_tokens":16}}
{"custom_id":"r3","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"third request, streamed"}],"stream":true}}
{"model":"gpt-4o-mini","messages":[{"role":"user","content":"fourth request, a bare body"}]}
{"custom_id":"r5","method":"POST","url":"/v1/chat/completions","body":{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"fifth request"}]}}
EOF
cli batch --base-url "$BASE/v1" -i "$T/in.jsonl" -o "$T/out.jsonl" >"$T/b.out" 2>"$T/b.err"; rc=$?
echo "\$ llmorch batch --base-url $BASE/v1 -i in.jsonl -o out.jsonl   -> rc=$rc"
sed 's/^/    /' "$T/b.err"
n=$(wc -l <"$T/out.jsonl" 2>/dev/null | tr -d ' ')
check "batch: exit 0 and 5 result lines (got ${n:-none})" test "$rc" = 0 -a "${n:-0}" = 5
declare -A want=([r1]="first request" [r2]="second request" [r3]="third request, streamed"
                 [line-4]="fourth request, a bare body" [r5]="fifth request")
i=0
seen=()
if [ -f "$T/out.jsonl" ]; then
  while IFS= read -r line; do
    i=$((i + 1))
    printf '%s\n' "$line" >"$T/line$i.json"
    vals=$(json_get "$T/line$i.json" \
      "custom_id;response/status_code;response/body/choices/0/message/content;error;llmorch/success" |
      tr '\n' '|')
    id=${vals%%|*}
    seen+=("$id")
    check "batch line $i ($id): status 200, the echoed content, no error" \
      test "$vals" = "$id|200|${want[$id]:-?}||ON|"
  done <"$T/out.jsonl"
fi
ids=$(printf '%s\n' "${seen[@]}" | sort | tr '\n' ' ')
check "batch: each custom_id once ($ids)" test "$ids" = "line-4 r1 r2 r3 r5 "
check "batch: the summary reports 5 succeeded" grep -q "5 succeeded, 0 failed" "$T/b.err"

finish
