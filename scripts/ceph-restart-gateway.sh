#!/usr/bin/env bash
# Restarts only the RADOS Gateway of the cluster that scripts/ceph-up.sh started in CEPH_DIR, for
# tests of a gateway that goes away in the middle of their work. The monitor and the OSD keep
# running, so the data stays; the gateway is stopped (SIGTERM, SIGKILL after
# CEPH_DOWN_TIMEOUT seconds [20]), started again, and awaited until it answers signed S3
# requests (at most CEPH_UP_TIMEOUT seconds [120]).
#
#   CEPH_DIR=/tmp/depot-ceph scripts/ceph-restart-gateway.sh
#
# Exit status: 0 when the gateway answers again; 1 otherwise (with the tail of its log).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
started=$EPOCHREALTIME
ceph_dir="$(realpath -m -- "${CEPH_DIR:-${TMPDIR:-/tmp}/depot-ceph}")"
conf="$ceph_dir/ceph.conf"
gateway_log="$ceph_dir/log/client.rgw.gw.log"
timeout_s="${CEPH_UP_TIMEOUT:-120}"

elapsed() { awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
die() {
  printf '[ceph-restart-gateway %5ss] ERROR: %s\n' "$(elapsed)" "$1" >&2
  if [[ -f "$gateway_log" ]]; then
    printf -- '--- last lines of %s ---\n' "$gateway_log" >&2
    tail -n 30 "$gateway_log" >&2
  fi
  exit 1
}

[[ -f "$conf" && -f "$ceph_dir/cluster.env" ]] ||
  die "no cluster in $ceph_dir (run scripts/ceph-up.sh first)"
# RGW_PORT, S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY as ceph-up.sh chose them.
# shellcheck source=/dev/null
source "$ceph_dir/cluster.env"

CEPH_DIR="$ceph_dir" ONLY=radosgw "$here/ceph-down.sh" >/dev/null || die "the gateway did not stop"
if (exec 3<>"/dev/tcp/127.0.0.1/$RGW_PORT") 2>/dev/null; then
  die "port $RGW_PORT still accepts connections after the gateway of $ceph_dir stopped"
fi
stopped=$(elapsed)
radosgw -c "$conf" -n client.rgw.gw </dev/null >>"$ceph_dir/log/setup.log" 2>&1 ||
  die "radosgw did not start"

signed_list_buckets() {
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --aws-sigv4 aws:amz:us-east-1:s3 \
    --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    "$S3_ENDPOINT/")" == 200 ]]
}
deadline=$((SECONDS + timeout_s))
until signed_list_buckets; do
  ((SECONDS < deadline)) || die "the gateway does not answer on $S3_ENDPOINT after ${timeout_s}s"
  sleep 0.1
done
printf 'ceph-restart-gateway: %s answers again after %ss (stopped after %ss)\n' \
  "$S3_ENDPOINT" "$(elapsed)" "$stopped"
