#!/usr/bin/env bash
# serve_crc_get_bench.sh: what the local store's block CRCs cost a 1 GiB GET through depot serve,
# with and without in the same run. One server over one local store holds two 1 GiB objects of
# the same bytes: "checked.bin" as depot wrote it (with its BLOCK CRCS) and "plain.bin", whose
# CRCs were taken out of its "user.depot" attribute (a file without them is read unchecked, as
# files of older depot versions are). Presigned GETs with curl to /dev/null alternate between the
# two; each line has the wall seconds and the server's CPU ticks (10 ms), and the summary the
# medians and their ratio.
#
#   bench/serve_crc_get_bench.sh DEPOT [REPS]      (default 9 GETs of each)
#
# Loopback only; the store lives in a new directory under /tmp, removed at the end.
set -euo pipefail
depot="${1:?usage: serve_crc_get_bench.sh DEPOT [REPS]}"
reps="${2:-9}"
work="$(mktemp -d /tmp/depot-crc-get-XXXXXX)"
server=""
cleanup() {
  [[ -n "$server" ]] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export DEPOT_ACCESS_KEY=CRCBENCHKEY DEPOT_SECRET_KEY=crc-bench-secret AWS_REGION=us-east-1 \
  AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=CRCBENCHKEY AWS_SECRET_ACCESS_KEY=crc-bench-secret

"$depot" serve "$work/store" --listen 127.0.0.1:0 >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do
  grep -q "on http://" "$work/serve.log" && break
  sleep 0.1
done
export AWS_ENDPOINT_URL_S3="$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1)"
head -c 1073741824 /dev/urandom >"$work/one.bin"
"$depot" mb s3://crc-bench >/dev/null
"$depot" cp "$work/one.bin" s3://crc-bench/checked.bin >/dev/null
"$depot" cp "$work/one.bin" s3://crc-bench/plain.bin >/dev/null
rm -f "$work/one.bin"
python3 - "$work/store/crc-bench/plain.bin" <<'EOF'
import json, os, sys
meta = json.loads(os.getxattr(sys.argv[1], "user.depot"))
del meta["crc32c"]
os.setxattr(sys.argv[1], "user.depot", json.dumps(meta).encode())
EOF
checked="$("$depot" presign s3://crc-bench/checked.bin)"
plain="$("$depot" presign s3://crc-bench/plain.bin)"
curl -sf -o /dev/null "$checked" && curl -sf -o /dev/null "$plain"  # warm the page cache

get() {  # get URL: "seconds ticks" of one GET
  local before after seconds
  before=$(awk '{print $14 + $15}' "/proc/$server/stat")
  seconds=$(curl -sf -o /dev/null -w '%{time_total}' "$1")
  after=$(awk '{print $14 + $15}' "/proc/$server/stat")
  echo "$seconds $((after - before))"
}
echo "object   seconds  cpu_ticks"
for _ in $(seq "$reps"); do
  read -r s t <<<"$(get "$checked")"
  echo "checked  $s  $t" | tee -a "$work/checked.txt"
  read -r s t <<<"$(get "$plain")"
  echo "plain    $s  $t" | tee -a "$work/plain.txt"
done
python3 - "$work/checked.txt" "$work/plain.txt" <<'EOF'
import statistics, sys
def load(path):
    rows = [line.split() for line in open(path)]
    return [float(r[1]) for r in rows], [int(r[2]) for r in rows]
cs, ct = load(sys.argv[1])
ps, pt = load(sys.argv[2])
print(f"median s: checked {statistics.median(cs):.3f}, plain {statistics.median(ps):.3f}, "
      f"checked/plain {statistics.median(cs) / statistics.median(ps):.3f}")
print(f"median ticks: checked {statistics.median(ct)}, plain {statistics.median(pt)}")
print(f"fastest s: checked {min(cs):.3f}, plain {min(ps):.3f}, ratio {min(cs) / min(ps):.3f}")
EOF
