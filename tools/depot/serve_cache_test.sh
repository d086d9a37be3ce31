#!/usr/bin/env bash
# depot serve --cache in front of the Ceph RADOS Gateway of CTest's S3 fixture, driven by curl
# (presigned URLs) and awscli. What RGW itself sent is read from its own counter (perf dump over
# its admin socket: rgw.get_b, the bytes of every GET it answered), so "read once" is RGW's word.
#   1. 8 concurrent cold GETs of one 64 MiB object (4 whole, 4 ranged): every client gets the
#      right bytes, and RGW sends the object once.
#   2. Warm GETs: RGW sends nothing more.
#   3. An object overwritten on RGW directly is served new once --cache-revalidate (2 s) passed;
#      a write through depot serve is seen at once.
#   4. The cache directory deleted under the running server: every GET still right.
#   5. Restart on the same directory: served from it (RGW sends nothing more).
#   6. kill -9 while a 128 MiB object is being fetched, restart: its GET is right.
#   serve_cache_test.sh DEPOT
# The gateway comes from DEPOT_TEST_S3_ENDPOINT and its keys, its admin socket from
# DEPOT_TEST_CEPH_DIR (cmake/DepotS3Fixture.cmake). Without an endpoint: exit 77 (skipped), or 1
# under DEPOT_TEST_INTEGRATION=1.
set -euo pipefail
depot="$(realpath "$1")"
endpoint="${DEPOT_TEST_S3_ENDPOINT:-}"
if [[ -z "$endpoint" ]]; then
  echo "serve_cache_test: DEPOT_TEST_S3_ENDPOINT is not set (no S3 gateway)" >&2
  [[ "${DEPOT_TEST_INTEGRATION:-}" == 1 ]] && exit 1
  exit 77
fi
asok="$DEPOT_TEST_CEPH_DIR/run/client.rgw.gw.asok"
work="$(mktemp -d /tmp/depot-serve-cache-test.XXXXXX)"
bucket="depot-cache-$$-$RANDOM"
server_pid=""
fail() {
  echo "serve_cache_test: FAIL: $*" >&2
  [[ -f "$work/serve.log" ]] && tail -n 20 "$work/serve.log" >&2
  exit 1
}

# The backing store's keys (RGW) are depot serve's AWS_* variables; the clients of depot serve
# use its own pair, from private awscli files.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
export NO_PROXY='127.0.0.1,localhost' no_proxy='127.0.0.1,localhost'
rgw_env=(AWS_ACCESS_KEY_ID="$DEPOT_TEST_S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$DEPOT_TEST_S3_SECRET_KEY"
         AWS_ENDPOINT_URL_S3="$endpoint")
rgw_depot() { env "${rgw_env[@]}" "$depot" "$@"; }
cleanup() {
  [[ -n "$server_pid" ]] && kill -9 "$server_pid" 2>/dev/null || true
  rgw_depot rm --recursive "s3://$bucket/" >/dev/null 2>&1 || true
  rgw_depot rb "s3://$bucket" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
rgw_depot mb "s3://$bucket" >/dev/null

export DEPOT_ACCESS_KEY=CACHETESTKEY DEPOT_SECRET_KEY=cache-test-secret
mkdir -p aws
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$DEPOT_ACCESS_KEY" "$DEPOT_SECRET_KEY" >aws/credentials
printf '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n' >aws/config
serve_endpoint=""
start_server() {
  env "${rgw_env[@]}" "$depot" serve "s3://$bucket?endpoint=$endpoint" --listen 127.0.0.1:0 \
    --cache "$work/cache" --cache-size 512MiB --cache-revalidate 2 >serve.log 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q "on http://" serve.log && break
    sleep 0.1
  done
  serve_endpoint="$(grep -o ' on http://127.0.0.1:[0-9]*' serve.log | head -1 | cut -c5-)"
  [[ -n "$serve_endpoint" ]] || fail "depot serve did not start: $(cat serve.log)"
}
aws() {
  AWS_SHARED_CREDENTIALS_FILE="$work/aws/credentials" AWS_CONFIG_FILE="$work/aws/config" \
    /usr/bin/aws --endpoint-url "$serve_endpoint" "$@"
}
rgw_sent() {
  ceph --admin-daemon "$asok" perf dump | python3 -c 'import json,sys; print(json.load(sys.stdin)["rgw"]["get_b"])'
}
url() { aws s3 presign "s3://data/$1" --expires-in 600; }
sum() { md5sum | cut -d' ' -f1; }

start_server
aws s3 mb s3://data >/dev/null || fail "mb"
head -c $((64 << 20)) /dev/urandom >movie.bin
aws s3 cp --only-show-errors movie.bin s3://data/movie.bin
want="$(sum <movie.bin)"

echo "== 8 concurrent cold GETs"
before="$(rgw_sent)"
movie_url="$(url movie.bin)"
clients=()
for i in 0 1 2 3 4 5 6 7; do
  if ((i % 2 == 0)); then
    curl -sf "$movie_url" -o "got.$i" &
  else
    curl -sf -r "$((i * 7000000))-" "$movie_url" -o "got.$i" &
  fi
  clients+=($!)
done
for pid in "${clients[@]}"; do wait "$pid" || fail "a cold GET failed"; done
for i in 0 1 2 3 4 5 6 7; do
  if ((i % 2 == 0)); then
    [[ "$(sum <"got.$i")" == "$want" ]] || fail "cold GET $i: wrong bytes"
  else
    cmp <(tail -c +$((i * 7000000 + 1)) movie.bin) "got.$i" || fail "cold ranged GET $i: wrong bytes"
  fi
done
sent=$(($(rgw_sent) - before))
echo "RGW sent $sent bytes for a $((64 << 20))-byte object read by 8 clients at once"
# RGW's counter lags a little behind the last bytes sent: the object once is 64 MiB +/- 1 MiB.
((sent > (63 << 20) && sent < (65 << 20))) || fail "RGW sent $sent bytes, not the object once"

echo "== warm GETs"
before="$(rgw_sent)"
for i in 1 2 3; do
  [[ "$(curl -sf "$movie_url" | sum)" == "$want" ]] || fail "warm GET $i: wrong bytes"
done
aws s3 cp --only-show-errors s3://data/movie.bin back.bin
cmp movie.bin back.bin || fail "awscli through the cache: wrong bytes"
sent=$(($(rgw_sent) - before))
((sent < 1 << 20)) || fail "warm GETs made RGW send $sent bytes"

echo "== an overwrite on RGW directly, and one through depot serve"
printf 'version one' >v1.txt
printf 'version two, longer' >v2.txt
printf 'version three' >v3.txt
aws s3 cp --only-show-errors v1.txt s3://data/note.txt
[[ "$(curl -sf "$(url note.txt)")" == "version one" ]] || fail "note.txt: not version one"
rgw_depot cp v2.txt "s3://$bucket/data/note.txt" >/dev/null
sleep 2.5
[[ "$(curl -sf "$(url note.txt)")" == "version two, longer" ]] ||
  fail "an overwrite on RGW was not seen after the revalidation period"
aws s3 cp --only-show-errors v3.txt s3://data/note.txt
[[ "$(curl -sf "$(url note.txt)")" == "version three" ]] || fail "a write through depot serve was not seen at once"
rgw_depot rm "s3://$bucket/data/note.txt" >/dev/null
sleep 2.5
code="$(curl -s -o /dev/null -w '%{http_code}' "$(url note.txt)")"
[[ "$code" == 404 ]] || fail "an object deleted on RGW answered $code after revalidation"

echo "== the cache directory deleted under the server"
printf 'small one' >small.txt
aws s3 cp --only-show-errors small.txt s3://data/small.txt
[[ "$(curl -sf "$(url small.txt)")" == "small one" ]] || fail "small.txt"
rm -rf "$work/cache"
for round in 1 2; do
  [[ "$(curl -sf "$movie_url" | sum)" == "$want" ]] || fail "GET after the cache went ($round)"
  [[ "$(curl -sf "$(url small.txt)")" == "small one" ]] || fail "small.txt after the cache went"
  sleep 2.1  # past the revalidation: the entries find their files gone and are made again
done
[[ -d "$work/cache" ]] || fail "the cache directory was not made again"
before="$(rgw_sent)"
[[ "$(curl -sf "$movie_url" | sum)" == "$want" ]] || fail "GET from the remade cache"
sent=$(($(rgw_sent) - before))
((sent < 1 << 20)) || fail "the remade cache did not serve movie.bin (RGW sent $sent)"

echo "== restart"
kill "$server_pid"
wait "$server_pid" || true
server_pid=""
start_server
grep -q "cache $work/cache: 2 objects" serve.log || fail "the restarted server did not find 2 entries: $(cat serve.log)"
movie_url="$(url movie.bin)"
before="$(rgw_sent)"
[[ "$(curl -sf "$movie_url" | sum)" == "$want" ]] || fail "GET after the restart"
sent=$(($(rgw_sent) - before))
((sent < 1 << 20)) || fail "after a restart RGW sent $sent bytes for a cached object"

echo "== kill -9 during a fetch"
head -c $((128 << 20)) /dev/urandom >big.bin
aws s3 cp --only-show-errors big.bin s3://data/big.bin
big_url="$(url big.bin)"
curl -sf -r 0-1023 "$big_url" -o /dev/null  # starts the fetch of the whole object
sleep 0.2
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
start_server
before="$(rgw_sent)"
[[ "$(curl -sf "$(url big.bin)" | sum)" == "$(sum <big.bin)" ]] || fail "GET of big.bin after kill -9"
sent=$(($(rgw_sent) - before))
echo "after kill -9 mid-fetch, RGW sent $sent more bytes of a $((128 << 20))-byte object"
((sent <= (128 << 20) + (1 << 20))) || fail "the fetch after kill -9 read $sent bytes"
echo "serve_cache_test: OK"
