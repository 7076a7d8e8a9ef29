#!/usr/bin/env bash
# The shared library exports the public API and nothing that is not llm_.
set -euo pipefail
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u)
bad=$(echo "$syms" | grep -v '^llm_' | grep -v '^$' || true)
internal=$(echo "$syms" | grep '^llm__' || true)
status=0
if [ -n "$bad" ]; then echo "non-llm_ symbols exported:"; echo "$bad"; status=1; fi
if [ -n "$internal" ]; then echo "internal llm__ symbols exported:"; echo "$internal"; status=1; fi
for s in llm_generate llm_generate_async llm_submit llm_future_wait llm_future_cancel \
         llm_future_free llm_result_free llm_result_to_json llm_engine_new llm_engine_free \
         llm_strerror; do
  grep -qx "$s" <<<"$syms" || { echo "missing export: $s"; status=1; }
done
n=$(echo "$syms" | grep -c . || true)
echo "$n symbols exported, all llm_"
exit $status
