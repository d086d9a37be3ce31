#!/usr/bin/env bash
# cas_put_bench.sh: `depot cas put` of a file into a cas store (local objects, RocksDB index)
# against `depot cp` of the same file into a local store, both in /dev/shm, in one run: reps
# interleaved, each into a fresh store; the median wall times are compared: ratio = cp time / cas
# put time (1.00: as fast). cas put also hashes every byte and writes the outboard tree; the
# target (issue 15) is >= 0.8x, which needs the hashing to overlap the writing.
#   bench/cas_put_bench.sh [DEPOT [SIZE_MIB [REPS]]]     # build/release/tools/depot/depot 1024 7
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
depot="${1:-$here/build/release/tools/depot/depot}"
mib="${2:-1024}"
reps="${3:-7}"
dir="$(mktemp -d /dev/shm/depot-cas-bench.XXXXXX)"
trap 'rm -rf "$dir"' EXIT
head -c $((mib << 20)) /dev/urandom >"$dir/in"

source "$here/bench/bench_lib.sh"

echo "cas_put_bench: $mib MiB in /dev/shm, $reps interleaved reps, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
cas_times=() cp_times=()
for _ in $(seq "$reps"); do
  rm -rf "$dir/cas" "$dir/store" && "$depot" init "$dir/store" >/dev/null
  cas_times+=("$(seconds "$depot" cas put "cas://$dir/cas" "$dir/in")")
  cp_times+=("$(seconds "$depot" cp "$dir/in" "$dir/store/in")")
done
[[ "$("$depot" cas put "cas://$dir/cas" "$dir/in" | cut -c1-64)" == "$(b3sum --no-names "$dir/in")" ]] ||
  { echo "cas_put_bench: the id is not the file's BLAKE3 hash" >&2; exit 1; }
c="$(printf '%s\n' "${cas_times[@]}" | median)"
p="$(printf '%s\n' "${cp_times[@]}" | median)"
printf '| operation | depot cas put | depot cp | cp / cas put | target |\n|---|---:|---:|---|---|\n'
awk -v c="$c" -v p="$p" -v mib="$mib" 'BEGIN {
  r = p / c
  printf "| put %d MiB | %.3f s (%.0f MiB/s) | %.3f s (%.0f MiB/s) | **%.2fx** | >= 0.8x: %s |\n",
         mib, c, mib / c, p, mib / p, r, (r >= 0.8 ? "met" : "MISSED")
}'
