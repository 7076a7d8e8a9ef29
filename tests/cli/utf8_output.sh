#!/usr/bin/env bash
# Batch output lines and `generate --json` are valid UTF-8 JSON whatever
# bytes the input and the replies hold (issue 10 #8): each line must pass
# Python's strict UTF-8 decoder and json.loads.  Usage:
#   tests/cli/utf8_output.sh path/to/llmorch
# Exits 77 (skipped) when python3 is not installed.
set -uo pipefail
LLMORCH=$1
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/llmorch-utf8.XXXXXX")
trap 'rm -rf "$T"' EXIT
cli() { env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY "$LLMORCH" "$@"; }

# Ill-formed UTF-8 in a custom_id and in prompts (the mock echoes the
# prompt into its reply): stray bytes, an overlong, a surrogate, a cut
# sequence; one streamed request; one invalid line quoting bytes.
printf '%s\n' \
  "{\"custom_id\":\"id-$(printf '\xff\xc0\x80')\",\"body\":{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"bad $(printf '\xed\xa0\x80 \xe2\x82') bytes $(printf '\xf0\x9f\x99\x82')\"}]}}" \
  "{\"custom_id\":\"s\",\"body\":{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"$(printf '\x80\x81\xfe')\"}]}}" \
  "{\"custom_id\":\"r$(printf '\xe2\x82')\",\"body\":{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}}" \
  "not json $(printf '\xff\xfe')" >"$T/in.jsonl"

cli batch -i "$T/in.jsonl" -o "$T/out.jsonl" -q 2>/dev/null
cli generate --json "prompt $(printf '\xff\xc3')" >"$T/gen.json" 2>/dev/null

python3 - "$T/out.jsonl" "$T/gen.json" <<'PY' || exit 1
import json, sys
out, gen = sys.argv[1], sys.argv[2]
lines = open(out, 'rb').read().splitlines()
assert len(lines) == 4, f"expected 4 output lines, got {len(lines)}"
ids = set()
for raw in lines:
    d = json.loads(raw.decode('utf-8', 'strict'))
    ids.add(d['custom_id'])
    if d['custom_id'].startswith('id-'):
        c = d['llmorch']['content']
        assert '\ufffd' in c and '\U0001F642' in c, repr(c)
        assert d['response']['body']['choices'][0]['message']['content'] == c
assert 'id-\ufffd\ufffd\ufffd' in ids, ids
assert 'r\ufffd' in ids, ids
g = json.loads(open(gen, 'rb').read().decode('utf-8', 'strict'))
assert g['success'] and '\ufffd' in g['content'], repr(g['content'])
print("ok - batch lines and generate --json are strict UTF-8 JSON")
PY

# Resume finds the repaired custom_ids: nothing is redone or written twice.
cli batch -i "$T/in.jsonl" -o "$T/out.jsonl" -q 2>/dev/null
n=$(wc -l <"$T/out.jsonl" | tr -d ' ')
[ "$n" = 4 ] || { echo "FAIL: resume wrote again ($n lines)"; exit 1; }
echo "ok - resume skips repaired custom_ids"
