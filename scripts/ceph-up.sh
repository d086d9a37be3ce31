#!/usr/bin/env bash
# Starts a single-node Ceph cluster (1 monitor, 1 bluestore OSD on a sparse file, 1 RADOS Gateway)
# for depot's S3 tests, and prints its S3 endpoint.
#
#   CEPH_DIR=/tmp/depot-ceph RGW_PORT=7480 MON_PORT=40789 scripts/ceph-up.sh
#   scripts/ceph-up.sh --check     # only checks that the Ceph programs are installed
#
# Environment (defaults in brackets):
#   CEPH_DIR       [${TMPDIR:-/tmp}/depot-ceph] everything lives here: data, logs, pid files,
#                  admin sockets. A cluster still running from an earlier run in this directory
#                  is stopped and the directory recreated.
#   RGW_PORT       [7480]  the S3 endpoint: http://127.0.0.1:RGW_PORT
#   MON_PORT       [40789] the monitor's msgr v1 port; msgr v2 uses MON_PORT+1.
#   S3_ACCESS_KEY / S3_SECRET_KEY [TESTACCESS / TESTSECRET] the S3 user's keys.
#   CEPH_UP_TIMEOUT [120]  seconds allowed for each wait (monitor, OSD, gateway).
#   RGW_MIN_PART_SIZE [1024] the gateway's smallest multipart part (S3's own is 5 MiB: 5242880).
#   RGW_LC_DEBUG_INTERVAL [-1] seconds a day of lifecycle rules lasts (-1: a real day).
#
# Everything binds to 127.0.0.1 (the OSD picks its own ports in 6800-7300); no systemd, no
# cephx (auth none), no ceph-mgr (the cluster reports HEALTH_WARN "no active mgr", harmlessly).
# Every daemon gets "-c CEPH_DIR/ceph.conf" on its command line: scripts/ceph-down.sh finds the
# daemons of one CEPH_DIR by that argument and never touches another cluster's.
# CEPH_DIR/cluster.env records the ports and keys for ceph-restart-gateway.sh and the tests.
#
# Exit status: 0 when the gateway answers signed S3 requests; 2 when the Ceph programs are not
# installed; 1 on any other failure (with the tail of the log concerned).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
started=$EPOCHREALTIME

elapsed() { awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[ceph-up %5ss] %s\n' "$(elapsed)" "$*"; }
die() {
  printf '[ceph-up %5ss] ERROR: %s\n' "$(elapsed)" "$1" >&2
  if [[ -n "${2:-}" && -f "$2" ]]; then
    printf -- '--- last lines of %s ---\n' "$2" >&2
    tail -n 30 "$2" >&2
  fi
  if [[ -f "${ceph_dir:-}/.depot-ceph" ]]; then
    echo "ceph-up: stopping what was started; logs kept in $ceph_dir/log" >&2
    CEPH_DIR="$ceph_dir" KEEP=1 "$here/ceph-down.sh" >&2 || true
  fi
  exit 1
}

missing=()
for program in ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool uuidgen curl; do
  command -v "$program" >/dev/null 2>&1 || missing+=("$program")
done
if ((${#missing[@]} > 0)); then
  cat >&2 <<EOF
**********************************************************************************************
*** ceph-up: Ceph is not installed (missing: ${missing[*]}).
*** The S3 integration tests need a local RADOS Gateway. Install it with
***     apt-get install -y --no-install-recommends ceph radosgw uuid-runtime curl
*** (or run scripts/install-deps), then re-run cmake and the tests.
**********************************************************************************************
EOF
  exit 2
fi
if [[ "${1:-}" == --check ]]; then
  exit 0
fi

ceph_dir="${CEPH_DIR:-${TMPDIR:-/tmp}/depot-ceph}"
ceph_dir="$(realpath -m -- "$ceph_dir")"
rgw_port="${RGW_PORT:-7480}"
mon_port="${MON_PORT:-40789}"
access_key="${S3_ACCESS_KEY:-TESTACCESS}"
secret_key="${S3_SECRET_KEY:-TESTSECRET}"
timeout_s="${CEPH_UP_TIMEOUT:-120}"
conf="$ceph_dir/ceph.conf"
log="$ceph_dir/log"
endpoint="http://127.0.0.1:$rgw_port"

[[ "$rgw_port" =~ ^[0-9]+$ && "$mon_port" =~ ^[0-9]+$ ]] ||
  die "RGW_PORT '$rgw_port' and MON_PORT '$mon_port' must be port numbers"
case "$ceph_dir" in
  / | /tmp | /var | /home | /root | /usr | /work) die "refusing to use CEPH_DIR '$ceph_dir'" ;;
esac

# A directory from an earlier run: stop its daemons and start afresh. Only a directory that
# ceph-up.sh made (it has the marker) is ever deleted.
if [[ -e "$ceph_dir" ]]; then
  if [[ -f "$ceph_dir/.depot-ceph" ]]; then
    say "stopping the cluster left in $ceph_dir"
    CEPH_DIR="$ceph_dir" KEEP=0 "$here/ceph-down.sh"
  elif [[ -n "$(ls -A -- "$ceph_dir")" ]]; then
    die "CEPH_DIR '$ceph_dir' exists, is not empty and was not made by ceph-up.sh; not touching it"
  fi
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$rgw_port" "$mon_port" "$((mon_port + 1))"; do
  if port_in_use "$port"; then
    die "port $port on 127.0.0.1 is already in use (another cluster? set RGW_PORT / MON_PORT)"
  fi
done

mkdir -p "$ceph_dir"/{mon,osd,log,run,rgw,crash}
touch "$ceph_dir/.depot-ceph" "$ceph_dir/keyring"
fsid="$(uuidgen)"
mon_addrs="[v2:127.0.0.1:$((mon_port + 1)),v1:127.0.0.1:$mon_port]"

cat >"$conf" <<EOF
# Written by depot's scripts/ceph-up.sh: a throwaway single-node cluster on 127.0.0.1.
[global]
fsid = $fsid
mon host = $mon_addrs
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv6 = false
# No cephx. Daemons that are monitor clients (radosgw) default to the "secure" connection mode,
# which auth none cannot satisfy ("failed to fetch mon config", EACCES): crc mode fixes that.
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
# One OSD: pools of size 1, few placement groups, no autoscaler (it needs ceph-mgr).
mon allow pool size one = true
mon warn on pool no redundancy = false
mon allow pool delete = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon data avail warn = 2
mon data avail crit = 1
# Everything under CEPH_DIR; without "mon cluster log file" the monitor writes /var/log/ceph.
mon data = $ceph_dir/mon/\$cluster-\$id
osd data = $ceph_dir/osd/\$cluster-\$id
log file = $log/\$name.log
mon cluster log file = $log/cluster.log
run dir = $ceph_dir/run
exec dir = $ceph_dir/run
admin socket = $ceph_dir/run/\$name.asok
pid file = $ceph_dir/run/\$name.pid
crash dir = $ceph_dir/crash
keyring = $ceph_dir/keyring
[osd]
osd objectstore = bluestore
# A 20 GiB sparse file: it uses only what is written (about 40 MB after mkfs). Not named
# "block": bluestore makes a symlink of that name to it.
bluestore block path = $ceph_dir/osd/\$cluster-\$id/block.img
bluestore block create = true
bluestore block size = 21474836480
bluestore fsck on mount = false
bluestore cache autotune = false
bluestore cache size = 268435456
osd memory target = 939524096
[client.rgw.gw]
# tcp_nodelay: without it a small response's second write waits for the client's delayed ACK.
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw data = $ceph_dir/rgw
rgw thread pool size = 64
# Virtual-hosted addressing: BUCKET.localhost names a bucket (curl resolves *.localhost to
# loopback itself, so no DNS is needed).
rgw dns name = localhost
# Tests upload multipart objects with 1 KiB parts; S3's own minimum (5 MiB) is tested by
# the client's part-size policy, not by the gateway.
rgw multipart min part size = ${RGW_MIN_PART_SIZE:-1024}
rgw lc debug interval = ${RGW_LC_DEBUG_INTERVAL:--1}
EOF

cat >"$ceph_dir/cluster.env" <<EOF
RGW_PORT=$rgw_port
MON_PORT=$mon_port
S3_ENDPOINT=$endpoint
S3_ACCESS_KEY=$access_key
S3_SECRET_KEY=$secret_key
EOF

# Runs a `ceph` command against this cluster, bounded in time.
cephcli() { timeout 20 ceph -c "$conf" --connect-timeout 10 "$@"; }

# wait_until WHAT LOG COMMAND...: runs COMMAND every 0.2 s until it succeeds or the timeout.
wait_until() {
  local what="$1" logfile="$2"
  shift 2
  local deadline=$((SECONDS + timeout_s))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what: not done after ${timeout_s}s" "$logfile"
    sleep 0.2
  done
}

say "writing $conf (RGW $endpoint, monitor 127.0.0.1:$mon_port)"
monmaptool --create --addv a "$mon_addrs" --fsid "$fsid" "$ceph_dir/monmap" \
  >"$log/setup.log" 2>&1 ||
  die "monmaptool failed" "$log/setup.log"
ceph-mon -c "$conf" --mkfs -i a --monmap "$ceph_dir/monmap" >>"$log/setup.log" 2>&1 ||
  die "ceph-mon --mkfs failed" "$log/setup.log"
ceph-mon -c "$conf" -i a </dev/null >>"$log/setup.log" 2>&1 ||
  die "ceph-mon did not start" "$log/mon.a.log"
wait_until "the monitor answering" "$log/mon.a.log" cephcli mon stat
say "monitor up"

osd_uuid="$(uuidgen)"
osd_id="$(cephcli osd new "$osd_uuid" 2>>"$log/setup.log")" ||
  die "ceph osd new failed" "$log/setup.log"
mkdir -p "$ceph_dir/osd/ceph-$osd_id"
ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >>"$log/setup.log" 2>&1 ||
  die "ceph-osd --mkfs failed" "$log/setup.log"
{
  cephcli osd crush add-bucket localhost host
  cephcli osd crush move localhost root=default
  cephcli osd crush add "osd.$osd_id" 1.0 host=localhost
} >>"$log/setup.log" 2>&1 || die "placing osd.$osd_id in the CRUSH map failed" "$log/setup.log"
say "osd.$osd_id created (bluestore on a sparse file)"
ceph-osd -c "$conf" -i "$osd_id" </dev/null >>"$log/setup.log" 2>&1 ||
  die "ceph-osd did not start" "$log/osd.$osd_id.log"
osd_is_up() { cephcli osd dump | grep -q "^osd\.$osd_id up"; }
wait_until "osd.$osd_id coming up" "$log/osd.$osd_id.log" osd_is_up
say "osd.$osd_id up"

# The first start creates the gateway's pools, which takes most of its start-up time.
radosgw -c "$conf" -n client.rgw.gw </dev/null >>"$log/setup.log" 2>&1 ||
  die "radosgw did not start" "$log/client.rgw.gw.log"
wait_until "the gateway answering on $endpoint" "$log/client.rgw.gw.log" \
  curl -s -o /dev/null --max-time 2 "$endpoint/"
say "gateway answers on $endpoint"

timeout 60 radosgw-admin -c "$conf" user create --uid=depot-test --display-name="depot tests" \
  --access-key="$access_key" --secret-key="$secret_key" >>"$log/setup.log" 2>&1 ||
  die "radosgw-admin user create failed" "$log/setup.log"
# A signed ListBuckets proves the user is visible to the gateway. curl's SigV4 needs the
# payload hash header added by hand.
signed_list_buckets() {
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --aws-sigv4 aws:amz:us-east-1:s3 \
    --user "$access_key:$secret_key" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    "$endpoint/")" == 200 ]]
}
wait_until "a signed S3 request succeeding" "$log/client.rgw.gw.log" signed_list_buckets
# The first bucket and the first object create the gateway's index and data pools (seconds):
# done here, so that the tests' first requests take no longer than their later ones.
signed() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 60 --aws-sigv4 aws:amz:us-east-1:s3 \
    --user "$access_key:$secret_key" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}
printf x >"$ceph_dir/run/warm-up"
[[ "$(signed -X PUT -H 'Content-Length: 0' "$endpoint/depot-warm-up")" == 200 &&
  "$(signed -T "$ceph_dir/run/warm-up" "$endpoint/depot-warm-up/x")" == 200 &&
  "$(signed -X DELETE "$endpoint/depot-warm-up/x")" == 204 &&
  "$(signed -X DELETE "$endpoint/depot-warm-up")" == 204 ]] ||
  die "creating and deleting a first bucket and object failed" "$log/client.rgw.gw.log"
say "bucket pools created"

say "ready: S3 endpoint $endpoint (access key $access_key), CEPH_DIR $ceph_dir"
printf 'daemons:'
for pidfile in "$ceph_dir"/run/*.pid; do
  printf ' %s=%s' "$(basename "$pidfile" .pid)" "$(cat "$pidfile")"
done
printf '\nceph-up: started in %ss\n' "$(elapsed)"
