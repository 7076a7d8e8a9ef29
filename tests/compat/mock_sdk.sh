#!/usr/bin/env bash
# Opt-in fidelity check of the mock server: the official `openai` and
# `@anthropic-ai/sdk` npm clients against llmorch-mock-server (models list,
# completion, stream, message, a missing max_tokens, tool calls, streamed tool
# calls, tool-result turns, structured output and refusals through the SDKs'
# own stream helpers, and the 529 / 504 /
# billing / 503 faults on both paths: each error must be the SDK's error
# class for that API, Anthropic's with the body's request_id = the header's).
#
# Not part of CI: it installs the two packages from the npm registry into a
# temporary folder (removed at exit).  Needs node and npm.  Usage:
#   tests/compat/mock_sdk.sh BUILD_DIR
# Environment: NPM (default npm), NODE (default node).
set -uo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd) || exit 2
HERE=$(cd "$(dirname "$0")" && pwd)
NPM=${NPM:-npm}
NODE=${NODE:-node}
SERVER=$BUILD/tools/llmorch-mock-server
[ -x "$SERVER" ] || { echo "FAIL: no $SERVER"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/llmorch-mock-sdk.XXXXXX")
SPID=""
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi
  rm -rf "$T"
}
trap cleanup EXIT
(cd "$T" && timeout 300 "$NPM" install --no-save --no-package-lock --no-audit --no-fund \
   --loglevel=error openai @anthropic-ai/sdk >/dev/null 2>"$T/npm.err") ||
  { echo "SKIP: npm install failed: $(tail -1 "$T/npm.err")"; exit 0; }
cp "$HERE/mock_sdk.mjs" "$T/"
"$SERVER" --port 0 >"$T/server.out" 2>"$T/server.err" &
SPID=$!
URL=""
for _ in $(seq 100); do
  URL=$(grep -o "http://[0-9.:]*" "$T/server.out" 2>/dev/null | head -1)
  [ -n "$URL" ] && break
  sleep 0.05
done
[ -n "$URL" ] || { cat "$T/server.err"; echo "FAIL: the mock server did not start"; exit 1; }
(cd "$T" && timeout 120 "$NODE" mock_sdk.mjs "$URL")
