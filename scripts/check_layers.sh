#!/bin/sh
# The folders of src/ stack, ground floor first (README "Layout"):
#   base core transport gates retry providers metrics pipeline engine
# A file includes only from its own folder and the folders below it.  This
# prints every #include that goes up the order and their count, and exits 1
# if there is any.  usage: scripts/check_layers.sh [SRC_DIR]
set -eu
src=${1:-$(dirname "$0")/../src}
order="base core transport gates retry providers metrics pipeline engine"

rank() {
    i=0
    for l in $order; do
        if [ "$l" = "$1" ]; then echo $i; return; fi
        i=$((i + 1))
    done
    echo -1
}

n=0
for f in $(cd "$src" && find . -name '*.[ch]' | sed 's|^\./||' | sort); do
    rf=$(rank "${f%%/*}")
    [ "$rf" -ge 0 ] || continue
    for inc in $(sed -n 's/^#include "\([a-z_]*\/[^"]*\)".*/\1/p' "$src/$f"); do
        if [ "$(rank "${inc%%/*}")" -gt "$rf" ]; then
            echo "up: $f -> $inc"
            n=$((n + 1))
        fi
    done
done
echo "include arrows up the layer order: $n"
[ "$n" -eq 0 ]
