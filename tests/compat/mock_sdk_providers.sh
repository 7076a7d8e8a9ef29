#!/usr/bin/env bash
# Opt-in fidelity check of the mock server's Gemini, Azure OpenAI, Bedrock
# and Ollama formats: the official npm clients (@google/genai, openai's
# AzureOpenAI, @aws-sdk/client-bedrock-runtime with an HTTP/1.1 handler,
# ollama) against llmorch-mock-server started with --aws-secret-key, so the
# AWS SDK's own SigV4 signatures (session token included) go through the
# mock's verifier: plain and streamed replies, usage, a wrong secret
# (InvalidSignatureException 403), and each API's 429/500 error classes.
#
# Not part of CI: it installs the packages from the npm registry into a
# temporary folder (removed at exit).  Needs node and npm.  Usage:
#   tests/compat/mock_sdk_providers.sh BUILD_DIR
# Environment: NPM (default npm), NODE (default node).
set -uo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd) || exit 2
HERE=$(cd "$(dirname "$0")" && pwd)
NPM=${NPM:-npm}
NODE=${NODE:-node}
SERVER=$BUILD/tools/llmorch-mock-server
[ -x "$SERVER" ] || { echo "FAIL: no $SERVER"; exit 1; }
# AWS's documented example secret key: not a secret.
SECRET='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
T=$(mktemp -d "${TMPDIR:-/tmp}/llmorch-mock-sdk-prov.XXXXXX")
SPID=""
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi
  rm -rf "$T"
}
trap cleanup EXIT
(cd "$T" && timeout 300 "$NPM" install --no-save --no-package-lock --no-audit --no-fund \
   --loglevel=error @google/genai ollama openai @aws-sdk/client-bedrock-runtime \
   @smithy/node-http-handler >/dev/null 2>"$T/npm.err") ||
  { echo "SKIP: npm install failed: $(tail -1 "$T/npm.err")"; exit 0; }
cp "$HERE/mock_sdk_providers.mjs" "$T/"
"$SERVER" --port 0 --aws-secret-key "$SECRET" >"$T/server.out" 2>"$T/server.err" &
SPID=$!
URL=""
for _ in $(seq 100); do
  URL=$(grep -o "http://[0-9.:]*" "$T/server.out" 2>/dev/null | head -1)
  [ -n "$URL" ] && break
  sleep 0.05
done
[ -n "$URL" ] || { cat "$T/server.err"; echo "FAIL: the mock server did not start"; exit 1; }
(cd "$T" && timeout 120 "$NODE" --no-warnings mock_sdk_providers.mjs "$URL" "$SECRET")
