#!/usr/bin/env bash
# Build libllmorch and the `llmorch` CLI, then run the main job: a batch of
# the 50 sample requests in examples/requests.jsonl on the in-process mock
# provider (no API key, no network).  Prints the summary table (stderr) and
# the first output line.  Extra arguments go to `llmorch batch`; with none,
# provider keys are left out of the environment so the job stays offline.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLM_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)"

OUT=build/release/requests.out.jsonl
rm -f "$OUT" # a fresh run each time (the same command on an existing file resumes it)
rc=0
if (($#)); then
  echo "+ llmorch batch -i examples/requests.jsonl -o $OUT $*" >&2
  build/release/bin/llmorch batch -i examples/requests.jsonl -o "$OUT" "$@" || rc=$?
else
  echo "+ llmorch batch -i examples/requests.jsonl -o $OUT" >&2
  env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY \
    build/release/bin/llmorch batch -i examples/requests.jsonl -o "$OUT" || rc=$?
fi
echo "first line of $OUT:"
head -n 1 "$OUT" 2>/dev/null || true
exit "$rc"
