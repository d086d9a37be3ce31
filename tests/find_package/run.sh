#!/usr/bin/env bash
# Installs the build tree into a fresh prefix, checks that only public headers went there (and
# that they include nothing left out), then configures, builds and runs the consumer project
# against it: find_package(depot) and depot::depot must work from an install alone.
set -euo pipefail
build_dir="$1"
source_dir="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
# Only public headers are installed, and they include only installed headers.
include="$work/prefix/include"
for internal in depot/server/exchange.h depot/server/operations.h depot/object/backend_util.h \
                depot/object/s3/client.h depot/object/s3/http_client.h depot/object/s3/client.h; do
  if [[ -e "$include/$internal" ]]; then
    echo "find_package test: internal header $internal was installed" >&2
    exit 1
  fi
done
[[ -e "$include/depot/object/store.h" ]] || { echo "find_package test: store.h missing" >&2; exit 1; }
while IFS= read -r header; do
  while IFS= read -r included; do
    if [[ ! -e "$include/$included" ]]; then
      echo "find_package test: ${header#"$include/"} includes $included, which is not installed" >&2
      exit 1
    fi
  done < <(sed -n 's|^#include "\(depot/[^"]*\)"|\1|p' "$header")
done < <(find "$include" -name '*.h')
cmake -S "$source_dir" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer"
