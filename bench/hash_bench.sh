#!/usr/bin/env bash
# hash_bench.sh: `depot hash` against b3sum (Debian's, 1.2.0) on the same file in /dev/shm, in one
# run: one thread each (`--num-threads 1`), then every thread each (the defaults), then b3sum's
# fastest one-thread mode (`--no-mmap`: it reads instead of mapping) against depot on one. Reps are
# interleaved; the median wall time of each is compared: ratio = b3sum time / depot time (1.00:
# as fast, higher is faster). Targets (issue 15): >= 0.9x both ways.
#   bench/hash_bench.sh [DEPOT [SIZE_MIB [REPS]]]     # build/release/tools/depot/depot 1024 7
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
depot="${1:-$here/build/release/tools/depot/depot}"
mib="${2:-1024}"
reps="${3:-7}"
command -v b3sum >/dev/null || { echo "hash_bench: b3sum is not installed (scripts/install-deps)" >&2; exit 1; }
file="$(mktemp /dev/shm/depot-hash-bench.XXXXXX)"
trap 'rm -f "$file"' EXIT
head -c $((mib << 20)) /dev/urandom >"$file"
[[ "$("$depot" hash --no-names "$file")" == "$(b3sum --no-names "$file")" ]] ||
  { echo "hash_bench: depot hash and b3sum disagree" >&2; exit 1; }

source "$here/bench/bench_lib.sh"

echo "hash_bench: $mib MiB in /dev/shm, $reps interleaved reps, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '| threads | depot hash | b3sum | b3sum / depot | target |\n|---|---:|---:|---|---|\n'
for threads in 1 all "1 (b3sum --no-mmap)"; do
  flag=(--num-threads 1)
  b3sum_flag=(--num-threads 1)
  [[ "$threads" == all ]] && flag=() b3sum_flag=()
  [[ "$threads" == 1\ * ]] && b3sum_flag=(--no-mmap)
  depot_times=() b3sum_times=()
  for _ in $(seq "$reps"); do
    depot_times+=("$(seconds "$depot" hash "${flag[@]}" "$file")")
    b3sum_times+=("$(seconds b3sum "${b3sum_flag[@]}" "$file")")
  done
  d="$(printf '%s\n' "${depot_times[@]}" | median)"
  b="$(printf '%s\n' "${b3sum_times[@]}" | median)"
  awk -v t="$threads" -v d="$d" -v b="$b" -v mib="$mib" 'BEGIN {
    r = b / d
    printf "| %s | %.3f s (%.0f MiB/s) | %.3f s (%.0f MiB/s) | **%.2fx** | >= 0.9x: %s |\n",
           t, d, mib / d, b, mib / b, r, (r >= 0.9 ? "met" : "MISSED")
  }'
done
