#!/usr/bin/env bash
# CLI tests for `llmorch` (CTest label `cli`).  Usage:
#   tests/cli/run_cli_tests.sh path/to/llmorch [path/to/cmake]
# Everything runs on the in-process mock provider (no network).  No timing
# assertions: interrupted runs are checked only by the final counts.
set -uo pipefail
LLMORCH=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
CMAKE=${2:-cmake}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/llmorch-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
failures=0
n=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok - $*"; }
check() { # description, then a command that must succeed
  local what=$1; shift
  n=$((n + 1))
  if "$@"; then pass "$what"; else fail "$what"; fi
}
# The CLI with no provider key in its environment.  (env execs the program,
# so `bg_cli ... &` gives the pid of llmorch itself, which the signal tests
# need: a shell function in the background would be a subshell.)
NOKEY=(env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY)
cli() { "${NOKEY[@]}" "$LLMORCH" "$@"; }
json_get() { "$CMAKE" -DFILE="$1" -DKEYS="$2" -P "$HERE/json_get.cmake"; }
# custom_id of each output line (our writer puts it second, after "id").
custom_ids() { sed -n 's/^{"id":"[^"]*","custom_id":"\([^"]*\)".*/\1/p' "$1"; }
quiet() { "$@" >/dev/null; }
lines() { wc -l < "$1" | tr -d ' '; }

# ---- generate -----------------------------------------------------------------
out=$(cli generate "hi" 2>"$T/err"); rc=$?
check "generate with no key and no provider answers from the mock (rc=$rc)" \
  test "$rc" = 0 -a "$out" = "mock reply to: hi"
check "generate says it falls back on the mock provider" \
  grep -q "no provider given and no API key found; using the in-process mock provider" "$T/err"

cli generate --json "hi" >"$T/gen.json" 2>/dev/null; rc=$?
vals=$(json_get "$T/gen.json" "success;content;provider;usage/known" 2>&1 | tr '\n' '|')
check "generate --json prints the result JSON (rc=$rc: $vals)" \
  test "$rc" = 0 -a "$vals" = "ON|mock reply to: hi|mock|ON|"
check "generate --json has a trace id and timestamps" \
  quiet json_get "$T/gen.json" "trace_id;timestamps/requested;timestamps/completed;attempts/0/http_status"

out2=$(cli generate --stream "hi" 2>/dev/null); rc=$?
check "generate --stream prints the same text (rc=$rc)" test "$rc" = 0 -a "$out2" = "$out"

out3=$(echo "from stdin" | cli generate - 2>/dev/null)
check "generate - reads the prompt from stdin" test "$out3" = "mock reply to: from stdin"

cli generate --mock-script 401 "hi" >"$T/o" 2>"$T/e"; rc=$?
check "a failed request exits 1 with 'error: TYPE: message' (rc=$rc)" \
  test "$rc" = 1 -a "$(lines "$T/e")" = 1
check "  ... naming the error type" grep -q "^error: AUTHENTICATION: " "$T/e"

# ---- usage errors: one line on stderr, exit 2 --------------------------------------
usage_case() { # description, args...
  local what=$1; shift
  cli "$@" >"$T/o" 2>"$T/e"; local rc=$?
  check "$what -> exit 2, one line (rc=$rc, $(lines "$T/e") lines)" \
    test "$rc" = 2 -a "$(lines "$T/e")" = 1 -a ! -s "$T/o"
}
usage_case "unknown option" generate --bogus hi
usage_case "unknown short option" generate -Z hi
usage_case "missing option value" generate hi --max-tokens
usage_case "non-numeric --max-tokens" generate --max-tokens abc hi
usage_case "negative --rpm" generate --rpm -5 hi
usage_case "zero --concurrency" batch -i x -o y --concurrency 0
usage_case "out-of-range --temperature" generate --temperature 7 hi
usage_case "unknown provider" generate --provider nope hi
usage_case "bad --mock-script" generate --mock-script 'what,ever' hi
usage_case "missing prompt" generate
usage_case "batch without -o" batch -i x
usage_case "unknown command" frobnicate
usage_case "mock options with another provider" generate --provider openai --mock-latency-ms 5 hi
usage_case "unknown --redis-fail policy" batch -i x -o y --redis-fail maybe
usage_case "empty --quota" generate --quota '' hi

for sub in "" generate batch; do
  # shellcheck disable=SC2086
  cli $sub --help >"$T/help" 2>&1; rc=$?
  check "llmorch ${sub:+$sub }--help exits 0" test "$rc" = 0 -a -s "$T/help"
done
cli generate --help >"$T/help"
missing=""
for o in provider model base-url api-key-env rpm tpm window-ms concurrency max-attempts \
         timeout-ms pricing verbose system max-tokens temperature stream json \
         mock-latency-ms mock-script redis quota redis-fail; do
  grep -q -- "--$o" "$T/help" || missing="$missing --$o"
done
check "generate --help documents every option${missing:+ (missing:$missing)}" test -z "$missing"
cli batch --help >"$T/help"
missing=""
for o in input output quiet metrics-log fsync max-line-bytes concurrency rpm redis quota redis-fail; do
  grep -q -- "--$o" "$T/help" || missing="$missing --$o"
done
check "batch --help documents its options${missing:+ (missing:$missing)}" test -z "$missing"
check "--version" sh -c "'$LLMORCH' --version | grep -q '^llmorch [0-9]'"

# ---- a pricing file with an absurd rate is refused, naming the entry (issue 10 #9) --
printf '{"gpt-4o-mini": {"input_cost_per_token": 1e305, "output_cost_per_token": 1e-06}}' >"$T/absurd.json"
cli generate --provider mock --pricing "$T/absurd.json" "hi" >"$T/o" 2>"$T/e"; rc=$?
check "--pricing with a rate of 1e305 per token: exit 2, nothing printed (rc=$rc)" \
  test "$rc" = 2 -a ! -s "$T/o"
check "  ... the message names the entry and the field" \
  grep -q "entry 'gpt-4o-mini': input_cost_per_token is absurd" "$T/e"

# ---- API keys are never printed ----------------------------------------------------
CANARY="sk-canary-$$-do-not-print"
OPENAI_API_KEY=$CANARY "$LLMORCH" generate --verbose --max-attempts 1 --timeout-ms 2000 \
  --base-url http://127.0.0.1:9 "hi" >"$T/o" 2>"$T/e"; rc=$?
check "an OPENAI_API_KEY selects openai (connection refused here: rc=$rc)" \
  sh -c "test $rc = 1 && grep -q '^error: CONNECTION' '$T/e'"
check "the API key never appears in output or logs" \
  sh -c "! grep -q -- '$CANARY' '$T/o' '$T/e'"

# ---- batch: interrupt, resume, exact counts -------------------------------------------
IN=$T/in.jsonl
OUT=$T/out.jsonl
for i in $(seq 1 300); do
  if [ "$i" = 151 ]; then echo '{"custom_id": "broken", "body": ' >>"$IN"; fi
  printf '{"custom_id":"req-%d","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"question %d"}],"max_tokens":20}}\n' "$i" "$i" >>"$IN"
done
check "input has 301 lines" test "$(lines "$IN")" = 301

"${NOKEY[@]}" "$LLMORCH" batch -i "$IN" -o "$OUT" --mock-latency-ms 200 --concurrency 10 \
  2>"$T/b1.err" &
pid=$!
sleep 1
kill -INT "$pid" 2>/dev/null
wait "$pid"; rc=$?
first=$(lines "$OUT")
echo "   (first run: exit $rc, $first lines written before it stopped)"
check "SIGINT: exit 130 unless already finished (rc=$rc)" \
  sh -c "test $rc = 130 || test $rc = 3"
check "no custom_id written twice after the interrupt" \
  test -z "$(custom_ids "$OUT" | sort | uniq -d)"

cli batch -i "$IN" -o "$OUT" --concurrency 20 -q 2>"$T/b2.err"; rc=$?
# Exit 3 when this run wrote the invalid line, 0 if the first run had.
check "resumed run finishes (rc=$rc)" sh -c "test $rc = 3 || test $rc = 0"
check "exactly 301 output lines" test "$(lines "$OUT")" = 301
check "300 result lines, each custom_id once" \
  test "$(custom_ids "$OUT" | grep -c '^req-')" = 300 -a "$(custom_ids "$OUT" | grep '^req-' | sort -u | wc -l)" = 300
check "all 300 requests succeeded" test "$(grep -c '"error":null' "$OUT")" = 300
check "one error line for the malformed line, naming line 151" \
  sh -c "test \$(grep -c '\"code\":\"invalid_input\"' '$OUT') = 1 && grep -q '\"message\":\"line 151: ' '$OUT'"
tail -n 1 "$OUT" >"$T/last.json"
check "output lines are JSON with the llmorch result" \
  quiet json_get "$T/last.json" "custom_id;llmorch"
head -n 1 "$OUT" >"$T/first.json"
check "first line has the Batch API shape" \
  quiet json_get "$T/first.json" "id;custom_id;response;error"

# A rerun on a complete output writes nothing.
sum=$(cksum <"$OUT")
cli batch -i "$IN" -o "$OUT" -q 2>"$T/b3.err"; rc=$?
check "rerun on a complete output exits 0 and writes nothing (rc=$rc)" \
  test "$rc" = 0 -a "$(cksum <"$OUT")" = "$sum"
check "  ... and says it skipped 301" grep -q "skipped *301" "$T/b3.err"

# A crash mid-write leaves half a line: the next run cuts it and redoes it.
victim=$(tail -n 1 "$OUT")
victim_id=$(tail -n 1 "$OUT" | sed -n 's/^{"id":"[^"]*","custom_id":"\([^"]*\)".*/\1/p')
head -n 300 "$OUT" >"$T/trunc" && printf '%s' "${victim:0:60}" >>"$T/trunc" && mv "$T/trunc" "$OUT"
cli batch -i "$IN" -o "$OUT" -q 2>"$T/b4.err"; rc=$?
check "a truncated last line is repaired (rc=$rc, $(lines "$OUT") lines)" \
  test "$(lines "$OUT")" = 301 -a -z "$(custom_ids "$OUT" | sort | uniq -d)"
check "  ... the cut request ($victim_id) is there exactly once" \
  test "$(custom_ids "$OUT" | grep -cx -- "$victim_id")" = 1
check "  ... and the file ends with a newline" test "$(tail -c 1 "$OUT" | od -An -c | tr -d ' ')" = '\n'

# Two signals: in-flight requests are cancelled and not written; a rerun
# completes the batch.
OUT2=$T/out2.jsonl
"${NOKEY[@]}" "$LLMORCH" batch -i "$IN" -o "$OUT2" --mock-latency-ms 3000 --concurrency 50 -q \
  2>"$T/b5.err" &
pid=$!
sleep 1
kill -INT "$pid" 2>/dev/null; sleep 0.3; kill -INT "$pid" 2>/dev/null
wait "$pid"; rc=$?
check "second SIGINT cancels in flight (rc=$rc), nothing cancelled is written" \
  sh -c "test $rc = 130 && ! grep -q CANCELLED '$OUT2'"
cli batch -i "$IN" -o "$OUT2" --concurrency 50 -q 2>/dev/null
check "  ... and a rerun completes it: 301 lines, no duplicate" \
  test "$(lines "$OUT2")" = 301 -a -z "$(custom_ids "$OUT2" | sort | uniq -d)"

# SIGTERM: exit 143.
OUT3=$T/out3.jsonl
"${NOKEY[@]}" "$LLMORCH" batch -i "$IN" -o "$OUT3" --mock-latency-ms 200 --concurrency 10 -q \
  2>/dev/null &
pid=$!
sleep 0.5
kill -TERM "$pid" 2>/dev/null
wait "$pid"; rc=$?
check "SIGTERM: exit 143 unless already finished (rc=$rc)" sh -c "test $rc = 143 || test $rc = 3"

# Bare request bodies (id = line-N), blank lines, stdin, a line over the bound.
{
  echo '{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}'
  echo
  printf '{"messages":[{"role":"user","content":"%s"}]}\n' "$(head -c 3000 /dev/zero | tr '\0' x)"
  echo '{"messages":[{"role":"user","content":"c"}],"stream":true,"seed":1}'
} | cli batch -i - -o "$T/bare.jsonl" --max-line-bytes 1024 -q 2>/dev/null; rc=$?
check "bare bodies from stdin: ids line-1 line-3 line-4 (rc=$rc)" \
  test "$(custom_ids "$T/bare.jsonl" | sort | tr '\n' ' ')" = "line-1 line-3 line-4 "
check "  ... the over-long line is an invalid_input line" \
  grep -q '"custom_id":"line-3".*"invalid_input".*"line 3: longer than 1024 bytes' "$T/bare.jsonl"

# ---- batch -o on something that is not a batch output: refused, untouched ----
# (issue 10 #7: a swapped -i/-o lost the input's last line; -o /dev/full was
# read without bound.)
refused() { # description, output path, then the batch arguments before -o
  local what=$1 out=$2; shift 2
  local before=""
  [ -f "$out" ] && before=$(cksum <"$out")
  timeout 60 "${NOKEY[@]}" "$LLMORCH" batch --provider mock -q "$@" -o "$out" >"$T/r.out" 2>"$T/r.err"; local rc=$?
  check "$what: exit 2 (rc=$rc)" test "$rc" = 2
  check "  ... says why in one line" \
    sh -c "test \$(wc -l <'$T/r.err') = 1 && grep -q 'refusing to use' '$T/r.err'"
  if [ -f "$out" ]; then
    check "  ... and leaves the file as it was" test "$(cksum <"$out")" = "$before"
  fi
}
SW_IN=$T/swap-in.jsonl
SW_OUT=$T/swap-out.jsonl
printf '{"custom_id":"s1","body":{"messages":[{"role":"user","content":"a"}]}}\n' >"$SW_IN"
printf '{"custom_id":"s2","body":{"messages":[{"role":"user","content":"b"}]}}\n' >>"$SW_IN"
printf '{"custom_id":"s3","body":{"messages":[{"role":"user","content":"c"}]}}' >>"$SW_IN"
cli batch -q -i "$SW_IN" -o "$SW_OUT" 2>/dev/null
check "a 3-line input without a final newline gives 3 results" test "$(lines "$SW_OUT")" = 3
refused "swapped -i and -o (the input's last line has no newline)" "$SW_IN" -i "$SW_OUT"
check "  ... the input still holds its 3 requests" \
  test "$(grep -c '"custom_id":"s' "$SW_IN")" = 3
printf '{"custom_id":"only","body":{"messages":[{"role":"user","content":"a"}]}}' >"$T/one.jsonl"
refused "an input file of one unterminated line as -o" "$T/one.jsonl" -i "$SW_IN"
{ head -n 1 "$SW_OUT"; echo '{"not":"a batch line"}'; tail -n 2 "$SW_OUT"; } >"$T/mixed.jsonl"
refused "an output with a foreign line in the middle" "$T/mixed.jsonl" -i "$SW_IN"
{ cat "$SW_OUT"; printf 'garbage at the end'; } >"$T/tailjunk.jsonl"
refused "batch lines then an unterminated foreign last line" "$T/tailjunk.jsonl" -i "$SW_IN"
mkfifo "$T/fifo"
refused "a FIFO as -o (not opened for reading, no hang)" "$T/fifo" -i "$SW_IN"
# Memory-bounded: under a 1 GB address-space limit, a 300 MiB line of NULs
# (sparse) as -o and /dev/full are refused, not read into memory.  (Skipped
# where the limit cannot apply, e.g. under AddressSanitizer.)
if (ulimit -v 1000000 && "$LLMORCH" --version) >/dev/null 2>&1; then
  truncate -s 300M "$T/zeros.jsonl"
  (ulimit -v 1000000; timeout 60 "${NOKEY[@]}" "$LLMORCH" batch -q -i "$SW_IN" -o "$T/zeros.jsonl") \
    >/dev/null 2>"$T/z.err"; rc=$?
  check "a 300 MiB line with no newline as -o is refused within 1 GB (rc=$rc)" \
    sh -c "test $rc = 2 && grep -q 'line 1 is not a batch output line' '$T/z.err'"
  check "  ... and left as it was" test "$(stat -c %s "$T/zeros.jsonl")" = 314572800
  rm -f "$T/zeros.jsonl"
  if [ -c /dev/full ]; then
    (ulimit -v 1000000; timeout 60 "${NOKEY[@]}" "$LLMORCH" batch -q -i "$SW_IN" -o /dev/full) \
      >/dev/null 2>"$T/f.err"; rc=$?
    check "-o /dev/full is refused without reading it (rc=$rc)" \
      sh -c "test $rc = 2 && grep -q 'device' '$T/f.err'"
  fi
else
  echo "   (skipped the address-space-limited checks: ulimit -v does not apply here)"
fi
# A real output line longer than the scan holds (1 MiB) is still known by
# its start, and an unterminated last line that is whole is kept.
first=$(head -n 1 "$SW_OUT")
start=$(printf '%s' "$first" | sed -n 's/^\({"id":"[^"]*","custom_id":"[^"]*",\).*/\1/p')
{ printf '%s"pad":"' "$start"; head -c 1500000 /dev/zero | tr '\0' p
  printf '",%s\n' "${first:${#start}}"; } >"$T/long.jsonl"
check "  (the long line is 1.5 MB and still JSON)" \
  sh -c "test \$(wc -c <'$T/long.jsonl') -gt 1500000 && '$CMAKE' -DFILE='$T/long.jsonl' -DKEYS='custom_id;pad' -P '$HERE/json_get.cmake' >/dev/null"
sed -n 2p "$SW_OUT" | tr -d '\n' >>"$T/long.jsonl"
cli batch -i "$SW_IN" -o "$T/long.jsonl" 2>"$T/long.err"; rc=$?
check "a 1.5 MB output line and a whole unterminated last line are resumed from (rc=$rc)" \
  sh -c "test $rc = 0 && grep -q 'already holds 2 results' '$T/long.err'"
check "  ... each custom_id once, 3 lines" \
  test "$(custom_ids "$T/long.jsonl" | sort | tr '\n' ' ')" = "s1 s2 s3 " -a "$(lines "$T/long.jsonl")" = 3

# --metrics-log writes JSON lines.
cli batch -i "$IN" -o "$T/m.out" -q --metrics-log "$T/metrics.jsonl" >/dev/null 2>&1
head -n 1 "$T/metrics.jsonl" >"$T/m1.json"
check "--metrics-log writes JSON lines" sh -c "'$CMAKE' -DFILE='$T/m1.json' -DKEYS='done;in_flight' -P '$HERE/json_get.cmake' >/dev/null"

# --redis with nothing listening and --redis-fail fail: the request fails at
# once, naming Redis; the password is never printed.
cli generate --provider mock --redis 'redis://:cli-canary-pw-31@127.0.0.1:1' --redis-fail fail \
  hi >"$T/r.out" 2>"$T/r.err"; rc=$?
check "--redis-fail fail with Redis unreachable exits 1 (rc=$rc)" test "$rc" = 1
check "  ... with LIMITER_UNAVAILABLE naming Redis" \
  grep -q "^error: LIMITER_UNAVAILABLE: shared limiter unavailable: Redis at redis://:\*\*\*@127.0.0.1:1" "$T/r.err"
check "  ... and never the password" sh -c "! grep -q cli-canary-pw-31 '$T/r.out' '$T/r.err'"

echo "$n checks, $failures failed"
test "$failures" = 0
