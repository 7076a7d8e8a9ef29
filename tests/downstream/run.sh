#!/usr/bin/env bash
# Install a libllmorch build into a temporary prefix, then build and run
# tiny downstream C and C++ programs against it both ways: a CMake project
# with find_package(llmorch) (shared and static targets) and a Makefile with
# pkg-config.  Usage: tests/downstream/run.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")" && pwd)
CMAKE=${CMAKE:-cmake}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/llmorch-downstream.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
PREFIX=$TMP/prefix

# A sanitizer build's library needs the sanitizer runtime in its users too.
SAN=$(sed -n 's/^LLM_SANITIZE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
SANFLAGS=""
if [ -n "$SAN" ]; then SANFLAGS="-fsanitize=$SAN"; fi
CC=${CC:-$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")}
CXX=${CXX:-$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")}
export CC=${CC:-cc} CXX=${CXX:-c++}

echo "== install into $PREFIX"
"$CMAKE" --install "$BUILD" --prefix "$PREFIX" >/dev/null
for f in include/llmorch/llmorch.h include/llmorch/engine.h; do
  test -f "$PREFIX/$f" || { echo "missing $f"; exit 1; }
done
LIBDIR=$(dirname "$(find "$PREFIX" -name 'libllmorch.so' | head -n1)")
test -f "$LIBDIR/libllmorch.a" || { echo "missing libllmorch.a"; exit 1; }
test -f "$LIBDIR/pkgconfig/llmorch.pc" || { echo "missing llmorch.pc"; exit 1; }
test -f "$LIBDIR/cmake/llmorch/llmorchConfig.cmake" || { echo "missing llmorchConfig.cmake"; exit 1; }
soname=$(objdump -p "$LIBDIR/libllmorch.so" | awk '/SONAME/ {print $2}')
echo "   SONAME $soname"
# The ABI rule (README "ABI"): until 1.0 the SONAME carries the minor.
ver=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
major=${ver%%.*}; minor=${ver#*.}; minor=${minor%%.*}
if [ "$major" = 0 ]; then want=libllmorch.so.0.$minor; else want=libllmorch.so.$major; fi
[ "$soname" = "$want" ] || { echo "bad SONAME '$soname' for version $ver (want $want)"; exit 1; }
if [ -x "$PREFIX/bin/llmorch" ]; then
  env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY "$PREFIX/bin/llmorch" --version
fi

echo "== CMake: find_package(llmorch)"
"$CMAKE" -S "$SRC" -B "$TMP/cmake-build" -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$SANFLAGS" -DCMAKE_CXX_FLAGS="$SANFLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS="$SANFLAGS" >/dev/null
"$CMAKE" --build "$TMP/cmake-build" >/dev/null
for p in hello_c hello_cxx hello_c_static hello_cxx_static; do
  "$TMP/cmake-build/$p"
done
# The shared programs really use the installed shared library.
# (ldd's output is captured first: with pipefail, `ldd | grep -q` fails
# whenever grep exits before ldd has finished writing.)
deps=$(ldd "$TMP/cmake-build/hello_c")
grep -q "$LIBDIR/libllmorch.so" <<<"$deps" ||
  { echo "hello_c does not load $LIBDIR/libllmorch.so"; ldd "$TMP/cmake-build/hello_c"; exit 1; }
deps=$(ldd "$TMP/cmake-build/hello_c_static")
if grep -q libllmorch <<<"$deps"; then
  echo "hello_c_static loads libllmorch.so"; exit 1
fi

echo "== pkg-config + make"
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
echo "   pkg-config --cflags --libs llmorch: $(pkg-config --cflags --libs llmorch)"
mkdir -p "$TMP/make-build"
make -s -C "$TMP/make-build" -f "$SRC/Makefile" SRCDIR="$SRC" \
  CFLAGS="$SANFLAGS" CXXFLAGS="$SANFLAGS" LDFLAGS="$SANFLAGS"
for p in hello_c hello_cxx hello_c_static; do
  "$TMP/make-build/$p"
done
echo "downstream builds OK"
