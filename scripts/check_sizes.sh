#!/bin/sh
# Size rules of src/ (README "Layout"): no file over 800 lines, and in
# src/engine/ no function over 80 lines.  Prints what breaks them and exits
# 1 if anything does.  usage: scripts/check_sizes.sh [SRC_DIR]
set -eu
src=${1:-$(dirname "$0")/../src}
bad=0
for f in $(find "$src" -name '*.[ch]' | sort); do
    n=$(wc -l <"$f")
    if [ "$n" -gt 800 ]; then
        echo "too long: ${f#"$src"/} has $n lines (max 800)"
        bad=1
    fi
done
# A function body runs from a line that is just "{" to the next line that
# is just "}" (the project's style for function definitions).
for f in $(find "$src/engine" -name '*.c' | sort); do
    awk -v file="${f#"$src"/}" '
        /^\{$/ { start = NR; name = prev }
        /^\}$/ && start { if (NR - start + 1 > 80) { print "too long: " file ": " name " has " NR - start + 1 " lines (max 80)"; bad = 1 } start = 0 }
        { if ($0 != "" && $0 !~ /^[ \t]/) prev = $0 }
        END { exit bad }' "$f" || bad=1
done
[ "$bad" -eq 0 ] && echo "src/ sizes: every file <= 800 lines, every src/engine/ function <= 80"
exit "$bad"
