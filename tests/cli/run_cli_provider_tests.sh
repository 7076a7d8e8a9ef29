#!/usr/bin/env bash
# CLI tests of the gemini, azure, bedrock and ollama providers against the
# mock server (CTest label `cli`).  Usage:
#   tests/cli/run_cli_provider_tests.sh path/to/llmorch path/to/llmorch-mock-server [cmake]
# The mock runs on 127.0.0.1 (ephemeral port) and verifies Bedrock's SigV4
# signatures with AWS's documented example secret.  No timing assertions.
set -uo pipefail
LLMORCH=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
MOCK=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
CMAKE=${3:-cmake}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/llmorch-cli-prov.XXXXXX")
SECRET='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
mock_pid=
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
failures=0
n=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok - $*"; }
check() { local what=$1; shift; n=$((n + 1)); if "$@"; then pass "$what"; else fail "$what"; fi; }
json_get() { "$CMAKE" -DFILE="$1" -DKEYS="$2" -P "$HERE/json_get.cmake"; }
lines() { wc -l < "$1" | tr -d ' '; }

"$MOCK" --port 0 --aws-secret-key "$SECRET" >"$T/mock.out" 2>"$T/mock.err" &
mock_pid=$!
for _ in $(seq 1 100); do grep -q '^listening on ' "$T/mock.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$T/mock.out")
check "the mock server started ($URL)" test -n "$URL"

# Only what each provider needs; no other provider's key.
cli() {
  env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY \
    -u AZURE_OPENAI_API_KEY -u AZURE_OPENAI_ENDPOINT -u AWS_BEARER_TOKEN_BEDROCK \
    -u AWS_SESSION_TOKEN -u OLLAMA_HOST \
    AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY="${AWS_SECRET:-$SECRET}" \
    AWS_REGION=us-east-1 "$LLMORCH" "$@"
}

for P in gemini azure bedrock ollama; do
  out=$(cli generate --provider "$P" --base-url "$URL" "hi" 2>"$T/e"); rc=$?
  check "$P: generate prints the mock's reply (rc=$rc: $out $(head -c 200 "$T/e"))" \
    test "$rc" = 0 -a "$out" = "mock reply to: hi"
  out=$(cli generate --stream --provider "$P" --base-url "$URL" "hi" 2>"$T/e"); rc=$?
  check "$P: generate --stream prints the same text (rc=$rc: $out)" \
    test "$rc" = 0 -a "$out" = "mock reply to: hi"
  cli generate --json --provider "$P" --base-url "$URL" "hi" >"$T/$P.json" 2>/dev/null
  vals=$(json_get "$T/$P.json" "success;provider;usage/known;usage/output_tokens;cost/known" 2>&1 | tr '\n' '|')
  check "$P: --json has provider, usage and a known cost ($vals)" \
    test "$vals" = "ON|$P|ON|5|ON|"

  # The same batch file, unchanged, on every provider.
  IN=$T/batch.jsonl
  if [ ! -f "$IN" ]; then
    for i in 1 2 3 4 5; do
      printf '{"custom_id":"q-%d","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"question %d"}],"max_tokens":20}}\n' "$i" "$i" >>"$IN"
    done
  fi
  cli batch --provider "$P" --base-url "$URL" -i "$IN" -o "$T/$P.out.jsonl" -q 2>"$T/b.err"; rc=$?
  got=$(grep -c 'mock reply to: question' "$T/$P.out.jsonl" 2>/dev/null)
  check "$P: the batch file runs unchanged, 5 answers (rc=$rc, $got)" \
    test "$rc" = 0 -a "$got" = 5 -a "$(lines "$T/$P.out.jsonl")" = 5
done

# Provider-specific options.
out=$(cli generate --provider azure --base-url "$URL" --deployment prod-4o --api-version 2025-01-01-preview "hi" 2>/dev/null); rc=$?
check "azure: --deployment and --api-version (rc=$rc)" test "$rc" = 0 -a "$out" = "mock reply to: hi"
out=$(cli generate --provider azure --base-url "$URL" --api-version v1 "hi" 2>/dev/null); rc=$?
check "azure: --api-version v1 uses the v1 route (rc=$rc)" test "$rc" = 0 -a "$out" = "mock reply to: hi"
out=$(cli generate --provider bedrock --region eu-west-1 --base-url "$URL" "hi" 2>/dev/null); rc=$?
check "bedrock: --region scopes the signature (rc=$rc)" test "$rc" = 0 -a "$out" = "mock reply to: hi"

# A wrong AWS secret: refused by the mock's verifier, not retried, never printed.
AWS_SECRET='wrong-secret-do-not-print-0123456789' cli generate --verbose --provider bedrock \
  --base-url "$URL" "hi" >"$T/o" 2>"$T/e"; rc=$?
check "bedrock: a wrong secret exits 1 with an AUTHENTICATION error (rc=$rc)" \
  sh -c "test $rc = 1 && grep -q '^error: AUTHENTICATION: ' '$T/e'"
check "  ... and neither secret appears in output or logs" \
  sh -c "! grep -q -e 'wrong-secret-do-not-print' -e 'EXAMPLEKEY' '$T/o' '$T/e'"

cli generate --provider nope "hi" >"$T/o" 2>"$T/e"; rc=$?
check "an unknown provider is a usage error naming the known ones (rc=$rc)" \
  sh -c "test $rc = 2 && grep -q 'gemini, azure, bedrock, ollama' '$T/e'"
cli generate --provider bedrock --region 'us east' "hi" >"$T/o" 2>"$T/e"; rc=$?
check "a bad --region is a usage error (rc=$rc)" test "$rc" = 2

echo "$n checks, $failures failed"
[ "$failures" = 0 ]
