#!/usr/bin/env bash
# depot cas on a blob of 3 GiB + 1 byte (AES-CTR keystream): put from a file and read back whole
# (verified) and by range; the id must equal b3sum's hash, the bytes must come back equal, and
# each command's peak resident memory (GNU time's %M) must stay under 64 MiB: the blob streams
# through a few windows, both ways.
#   cas_large_test.sh DEPOT        (CTest: cli_cas_large_test, labels cli;integration)
set -euo pipefail
depot="$(realpath "$1")"
for tool in b3sum openssl /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "cas_large_test: $tool is not installed" >&2; exit 1; }
done
dir="$(mktemp -d "${TMPDIR:-/tmp}/depot-cas-large.XXXXXX")"
trap 'rm -rf "$dir"' EXIT
size=$(((3 << 30) + 1))
limit_kib=$((64 << 10))
head -c "$size" /dev/zero |
  openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 0 >"$dir/in" 2>/dev/null
want="$(b3sum --no-names "$dir/in")"
cas="cas://$dir/cas"

# peak COMMAND...: runs it (stdout to $dir/out) and prints its peak RSS in KiB.
peak() {
  /usr/bin/time -f %M -o "$dir/rss" "$@" >"$dir/out"
  cat "$dir/rss"
}
check_peak() {  # check_peak WHAT KIB
  [[ "$2" -lt "$limit_kib" ]] || { echo "cas_large_test: $1 peaked at $2 KiB (limit $limit_kib)" >&2; exit 1; }
}

rss="$(peak "$depot" cas put "$cas" "$dir/in")"
check_peak "cas put" "$rss"
[[ "$(cut -c1-64 "$dir/out")" == "$want" ]] || { echo "cas_large_test: cas put gave $(cat "$dir/out"), b3sum $want" >&2; exit 1; }
rm -f "$dir/in"  # the store holds the only copy now

rss_get="$(/usr/bin/time -f %M -o "$dir/rss" "$depot" cas get "$cas" "$want" | b3sum --no-names)"
check_peak "cas get" "$(cat "$dir/rss")"
[[ "$rss_get" == "$want" ]] || { echo "cas_large_test: cas get read back $rss_get, not $want" >&2; exit 1; }

# The last bytes, across the final leaf, against the keystream's own.
expected_tail="$(head -c "$size" /dev/zero | openssl enc -aes-128-ctr -nosalt \
  -K 000102030405060708090a0b0c0d0e0f -iv 0 2>/dev/null | tail -c 100000 | b3sum --no-names)"
got_tail="$("$depot" cas get "$cas" "$want" --range -100000 | b3sum --no-names)"
[[ "$got_tail" == "$expected_tail" ]] || { echo "cas_large_test: the last 100000 bytes differ" >&2; exit 1; }
echo "cas_large_test: 3 GiB + 1 byte, id equal to b3sum ($want); peak RSS put $rss KiB, get $(cat "$dir/rss") KiB"
