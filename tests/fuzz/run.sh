#!/usr/bin/env bash
# Fuzz the allocation-free OpenAI reply reader against the cJSON reader
# (tests/fuzz/fuzz_openai_read.c) with libFuzzer + ASan + UBSan.
# Not part of CI (it runs for as long as you let it).  Usage:
#   tests/fuzz/run.sh [SECONDS]        (default 120)
# Seeds: the reply and chunk shapes of tests/unit/test_openai_read.c.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-120}
B=build/fuzz
command -v clang >/dev/null || { echo "clang is required" >&2; exit 1; }
CC=clang cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLLM_BUILD_TESTS=OFF \
  -DLLM_BUILD_EXAMPLES=OFF -DLLM_SANITIZE=address,undefined \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
cmake --build "$B" --target llmorch_static >/dev/null
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Iinclude -Isrc tests/fuzz/fuzz_openai_read.c "$B/libllmorch.a" \
  $(pkg-config --libs libcjson libcurl 2>/dev/null || echo "-lcjson -lcurl") -lpthread -lm \
  -o "$B/fuzz_openai_read"
mkdir -p "$B/corpus"
# Seeds: every string literal of the reply/chunk tables in the unit test.
python3 - "$B/corpus" <<'PY'
import re, sys, pathlib
src = pathlib.Path("tests/unit/test_openai_read.c").read_text()
for i, block in enumerate(re.findall(r'static const char \*const (?:replies|chunks)\[\] = \{(.*?)\n\};', src, re.S)):
    for j, entry in enumerate(re.split(r'",\s*\n', block)):
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', entry)
        if parts:
            body = "".join(parts).encode().decode("unicode_escape").encode("latin-1")
            (pathlib.Path(sys.argv[1]) / f"seed-{i}-{j}").write_bytes(body)
PY
"$B/fuzz_openai_read" -max_total_time="$SECS" -max_len=4096 "$B/corpus"
