#!/usr/bin/env bash
# `llmorch batch` with tools, streamed tools, structured output, image parts
# and tool turns, all in OpenAI's batch format, against `llmorch mock-server`
# on 127.0.0.1, once with --provider openai and once with --provider
# anthropic: the same JSONL must work with both, and the output bodies must
# carry tool_calls whose arguments hold the schema's required keys.
# Usage: tests/cli/run_cli_tools_test.sh path/to/llmorch [path/to/cmake]
set -uo pipefail
LLMORCH=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
CMAKE=${2:-cmake}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/llmorch-cli-tools.XXXXXX")
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  rm -rf "$T"
}
trap cleanup EXIT
failures=0

"$LLMORCH" mock-server --port 0 >"$T/server.out" 2>"$T/server.err" &
SERVER_PID=$!
url=
for _ in $(seq 1 100); do
  url=$(sed -n 's/^listening on \(http[^ ]*\).*/\1/p' "$T/server.out")
  [ -n "$url" ] && break
  sleep 0.1
done
if [ -z "$url" ]; then echo "FAIL: mock server did not start"; cat "$T/server.err"; exit 1; fi

TOOLS='[{"type":"function","function":{"name":"get_weather","description":"Weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["celsius","fahrenheit"]},"days":{"type":"integer"}},"required":["city","unit"]}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]'
SCHEMA='{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false}'
cat >"$T/in.jsonl" <<JSONL
{"custom_id":"tool-required","method":"POST","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"What's the weather?"}],"tools":$TOOLS,"tool_choice":"required"}}
{"custom_id":"tool-streamed","method":"POST","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"Use get_weather for Paris"}],"tools":$TOOLS,"stream":true}}
{"custom_id":"tool-named","body":{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Weather?"}],"tools":$TOOLS,"tool_choice":{"type":"function","function":{"name":"get_weather"}},"parallel_tool_calls":false,"max_completion_tokens":50}}
{"custom_id":"tool-streamed-named","body":{"messages":[{"role":"user","content":"Weather?"}],"tools":$TOOLS,"tool_choice":{"type":"function","function":{"name":"get_weather"}},"stream":true}}
{"custom_id":"schema-plain","body":{"messages":[{"role":"user","content":"A person"}],"response_format":{"type":"json_schema","json_schema":{"name":"person","strict":true,"schema":$SCHEMA}}}}
{"custom_id":"schema-streamed","body":{"messages":[{"role":"user","content":"A person"}],"response_format":{"type":"json_schema","json_schema":{"name":"person","schema":$SCHEMA}},"stream":true}}
{"custom_id":"result-turn","body":{"messages":[{"role":"user","content":"Weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"unit\":\"celsius\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"21 degrees"}],"tools":$TOOLS}}
{"custom_id":"image","body":{"messages":[{"role":"user","content":[{"type":"text","text":"Describe"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}}
JSONL

for provider in openai anthropic; do
  out="$T/out-$provider.jsonl"
  env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY "$LLMORCH" batch -i "$T/in.jsonl" -o "$out" \
    --provider "$provider" --base-url "$url" -m test-model --header "X-Test: tools" \
    >"$T/batch.out" 2>"$T/batch.err"
  rc=$?
  if [ "$rc" != 0 ]; then
    echo "FAIL: batch --provider $provider exited $rc"; cat "$T/batch.err"; head -c 2000 "$out"
    failures=$((failures + 1)); continue
  fi
  if [ "$(wc -l <"$out" | tr -d ' ')" != 8 ]; then
    echo "FAIL: --provider $provider: expected 8 output lines"; failures=$((failures + 1)); continue
  fi
  if "$CMAKE" -DFILE="$out" -P "$HERE/check_tool_batch.cmake" >"$T/check.out" 2>&1; then
    echo "ok - --provider $provider: $(grep -c checked "$T/check.out") lines: tool_calls with the required keys, schema content, tool results"
  else
    echo "FAIL: --provider $provider:"; cat "$T/check.out"; failures=$((failures + 1))
  fi
done
# generate: tools, tool choice, schema, image, header, endpoint.
echo "$TOOLS" >"$T/tools.json"
echo "$SCHEMA" >"$T/schema.json"
printf '\211PNG\r\n\032\n' >"$T/pixel.png"
gen() { env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY "$LLMORCH" generate "$@"; }
for provider in openai anthropic; do
  out=$(gen --provider "$provider" --base-url "$url" --tools "$T/tools.json" --tool-choice get_weather "hi" 2>&1)
  case "$out" in
    "tool_call "*" get_weather {"*'"city":"x"'*) echo "ok - generate --tools --tool-choice ($provider): $out" ;;
    *) echo "FAIL: generate --tools ($provider): $out"; failures=$((failures + 1)) ;;
  esac
  out=$(gen --provider "$provider" --base-url "$url" --stream --json-schema "$T/schema.json" "a person" 2>&1)
  if [ "$out" = '{"name":"x","age":1}' ]; then echo "ok - generate --json-schema --stream ($provider)"
  else echo "FAIL: generate --json-schema ($provider): $out"; failures=$((failures + 1)); fi
  out=$(gen --provider "$provider" --base-url "$url" --image "$T/pixel.png" --header "X-A: b" "look" 2>&1)
  if [ "$out" = "mock reply to: look" ]; then echo "ok - generate --image --header ($provider)"
  else echo "FAIL: generate --image ($provider): $out"; failures=$((failures + 1)); fi
done
out=$(gen --endpoint "$url/v1/chat/completions?api-version=1" "exact" 2>&1)
if [ "$out" = "mock reply to: exact" ]; then echo "ok - generate --endpoint URL with a query string"
else echo "FAIL: generate --endpoint: $out"; failures=$((failures + 1)); fi
for bad in "--header NoColon" "--header :empty-name" "--endpoint ftp://x" "--tool-choice auto" "--tools /nonexistent.json" "--image file.bmp"; do
  # shellcheck disable=SC2086  # the words are the options
  gen --provider openai --base-url "$url" $bad "hi" >/dev/null 2>"$T/err"; rc=$?
  if [ "$rc" = 2 ] && [ "$(wc -l <"$T/err" | tr -d ' ')" = 1 ]; then echo "ok - generate $bad is a usage error"
  else echo "FAIL: generate $bad: rc=$rc $(cat "$T/err")"; failures=$((failures + 1)); fi
done
[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
