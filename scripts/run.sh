#!/usr/bin/env bash
# Build libllmorch and run the main job on the embedded default: the
# in-process mock provider (no API key, no network).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLM_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)"
exec build/release/examples/example_hello "$@"
