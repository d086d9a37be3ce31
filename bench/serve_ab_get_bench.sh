#!/usr/bin/env bash
# serve_ab_get_bench.sh: two builds of depot serve over one local store, one 1 GiB object, GETs
# alternating between them (presigned, curl to /dev/null), with each server's CPU ticks: for a
# change of the read path measured against the build before it in the same run (the local store's
# block CRCs were measured this way: BENCHMARKS.md).
#
#   bench/serve_ab_get_bench.sh NEW_DEPOT OLD_DEPOT [REPS]      (default 5 GETs each)
#
# The object is written through NEW_DEPOT's server. Loopback only; the store lives in a new
# directory under /tmp, removed at the end.
set -euo pipefail
new="${1:?usage: serve_ab_get_bench.sh NEW_DEPOT OLD_DEPOT [REPS]}"
old="${2:?usage: serve_ab_get_bench.sh NEW_DEPOT OLD_DEPOT [REPS]}"
reps="${3:-5}"
work="$(mktemp -d /tmp/depot-ab-get-XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export DEPOT_ACCESS_KEY=ABBENCHKEY DEPOT_SECRET_KEY=ab-bench-secret AWS_REGION=us-east-1 \
  AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=ABBENCHKEY AWS_SECRET_ACCESS_KEY=ab-bench-secret

serve() {  # serve BINARY LOG: starts it over the store (its pid joins pids)
  "$1" serve "$work/store" --listen 127.0.0.1:0 >"$2" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do
    grep -q "on http://" "$2" && break
    sleep 0.1
  done
}
port_of() { grep -o '127.0.0.1:[0-9]*' "$1" | head -1 | cut -d: -f2; }
serve "$new" "$work/new.log"
serve "$old" "$work/old.log"
new_port="$(port_of "$work/new.log")"
old_port="$(port_of "$work/old.log")"
head -c 1073741824 /dev/urandom >"$work/one.bin"
AWS_ENDPOINT_URL_S3="http://127.0.0.1:$new_port" "$new" mb s3://ab-bench >/dev/null
AWS_ENDPOINT_URL_S3="http://127.0.0.1:$new_port" "$new" cp "$work/one.bin" s3://ab-bench/one.bin
rm -f "$work/one.bin"
url_new="$(AWS_ENDPOINT_URL_S3="http://127.0.0.1:$new_port" "$new" presign s3://ab-bench/one.bin)"
url_old="$(AWS_ENDPOINT_URL_S3="http://127.0.0.1:$old_port" "$new" presign s3://ab-bench/one.bin)"
curl -sf -o /dev/null "$url_new" && curl -sf -o /dev/null "$url_old" # warm the page cache

echo "server  seconds  cpu_ticks"
for _ in $(seq "$reps"); do
  for side in new old; do
    if [[ $side == new ]]; then url="$url_new" pid="${pids[0]}"; else url="$url_old" pid="${pids[1]}"; fi
    before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    seconds=$(curl -sf -o /dev/null -w '%{time_total}' "$url")
    after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    echo "$side     $seconds  $((after - before))"
  done
done
