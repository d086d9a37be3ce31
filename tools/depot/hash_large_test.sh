#!/usr/bin/env bash
# depot hash against b3sum on inputs of a few GiB: a 3 GiB + 1 byte file (AES-CTR keystream,
# generated at memory speed), hashed by depot on every thread, on one, and from standard input;
# each must equal b3sum's line.
#   hash_large_test.sh DEPOT        (CTest: cli_hash_large_test, labels cli;integration)
set -euo pipefail
depot="$(realpath "$1")"
command -v b3sum >/dev/null || { echo "hash_large_test: b3sum is not installed" >&2; exit 1; }
command -v openssl >/dev/null || { echo "hash_large_test: openssl is not installed" >&2; exit 1; }
dir="${TMPDIR:-/tmp}"
file="$(mktemp "$dir/depot-hash-large.XXXXXX")"
trap 'rm -f "$file"' EXIT
size=$(((3 << 30) + 1))
head -c "$size" /dev/zero |
  openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 0 >"$file" 2>/dev/null
[[ "$(stat -c %s "$file")" == "$size" ]] || { echo "hash_large_test: could not write $size bytes" >&2; exit 1; }
want="$(b3sum --no-names "$file")"
for args in "" "--num-threads 1"; do
  # shellcheck disable=SC2086
  got="$("$depot" hash --no-names $args "$file")"
  [[ "$got" == "$want" ]] || { echo "hash_large_test: depot hash $args: $got, b3sum: $want" >&2; exit 1; }
done
got="$("$depot" hash --no-names - <"$file")"
[[ "$got" == "$want" ]] || { echo "hash_large_test: from standard input: $got, b3sum: $want" >&2; exit 1; }
echo "hash_large_test: 3 GiB + 1 byte, three ways, equal to b3sum ($want)"
