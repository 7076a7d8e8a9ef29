#!/usr/bin/env bash
# Install the build and test dependencies on Debian 12 (idempotent: does
# nothing when everything is already there).
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config libcurl4-openssl-dev libcjson-dev
      libcmocka-dev libmicrohttpd-dev curl clang libssl-dev libhiredis-dev redis-server
      nghttp2-proxy openssl libclang-rt-14-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
