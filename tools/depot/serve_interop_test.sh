#!/usr/bin/env bash
# depot serve against clients nobody here wrote: awscli, boto3 and s3cmd (Debian packages, called as
# /usr/bin/aws, /usr/bin/python3 and /usr/bin/s3cmd) on a local store, over loopback. Buckets,
# puts and gets, ranges, listing with delimiters and pages, presigned URLs, multipart uploads and
# aborts, deletes, a wrong secret refused, and a clean stop on SIGINT.
# Usage: serve_interop_test.sh /path/to/depot
set -euo pipefail

depot="$(realpath "$1")"
work="$(mktemp -d /tmp/depot-serve-test.XXXXXX)"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
fail() { echo "serve_interop_test: FAIL: $*" >&2; exit 1; }

export DEPOT_ACCESS_KEY=SERVETESTKEY DEPOT_SECRET_KEY=serve-test-secret
"$depot" serve "$work/store" --listen 127.0.0.1:0 >serve.log 2>&1 &
server_pid=$!
for _ in $(seq 50); do
  grep -q "on http://" serve.log && break
  sleep 0.1
done
endpoint="$(grep -o 'http://127.0.0.1:[0-9]*' serve.log | head -1)"
[[ -n "$endpoint" ]] || fail "depot serve did not start: $(cat serve.log)"

# Every AWS tool: explicit credentials in private files, no instance metadata, path addressing.
mkdir -p aws
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$DEPOT_ACCESS_KEY" "$DEPOT_SECRET_KEY" >aws/credentials
printf '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\nretry_mode = standard\nmax_attempts = 2\n' >aws/config
export AWS_SHARED_CREDENTIALS_FILE="$work/aws/credentials" AWS_CONFIG_FILE="$work/aws/config"
export AWS_EC2_METADATA_DISABLED=true
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
aws() { /usr/bin/aws --endpoint-url "$endpoint" "$@"; }

echo "== awscli"
aws s3 mb s3://interop >/dev/null
head -c 5000000 /dev/urandom >big.bin
printf 'hello depot' >small.txt
: >empty.bin
aws s3 cp --only-show-errors big.bin s3://interop/dir/big.bin
aws s3 cp --only-show-errors small.txt "s3://interop/dir/sub/a b+c.txt"
aws s3 cp --only-show-errors empty.bin s3://interop/empty.bin
aws s3 cp --only-show-errors s3://interop/dir/big.bin big.back
cmp big.bin big.back || fail "awscli read back different bytes"
aws s3 cp --only-show-errors "s3://interop/dir/sub/a b+c.txt" small.back
cmp small.txt small.back || fail "awscli: key with space and plus"
aws s3 cp --only-show-errors s3://interop/empty.bin empty.back
cmp empty.bin empty.back || fail "awscli: empty object"
listing="$(aws s3 ls s3://interop/dir/)"
grep -q "PRE sub/" <<<"$listing" || fail "no common prefix in: $listing"
grep -q "big.bin" <<<"$listing" || fail "no big.bin in: $listing"
etag="$(aws s3api head-object --bucket interop --key dir/big.bin --query ETag --output text)"
[[ "$etag" == "\"$(md5sum <big.bin | cut -d' ' -f1)\"" ]] || fail "ETag $etag is not the MD5"
aws s3api get-object --bucket interop --key dir/big.bin --range bytes=100-199 part.bin >/dev/null
cmp part.bin <(tail -c +101 big.bin | head -c 100) || fail "ranged get"
url="$(aws s3 presign s3://interop/dir/big.bin --expires-in 60)"
curl -sf -o presigned.bin "$url" || fail "presigned GET refused"
cmp big.bin presigned.bin || fail "presigned GET bytes"
head -c 20000000 /dev/urandom >multi.bin
aws s3 cp --only-show-errors multi.bin s3://interop/multi.bin
aws s3 cp --only-show-errors s3://interop/multi.bin multi.back
cmp multi.bin multi.back || fail "awscli multipart upload read back different bytes"
etag="$(aws s3api head-object --bucket interop --key multi.bin --query ETag --output text)"
[[ "$etag" == *-3\" ]] || fail "multipart ETag $etag is not md5-of-md5s-3"
if AWS_SECRET_ACCESS_KEY=wrong AWS_ACCESS_KEY_ID="$DEPOT_ACCESS_KEY" aws s3 ls s3://interop 2>err.txt; then
  fail "a wrong secret was accepted"
fi
grep -q SignatureDoesNotMatch err.txt || fail "wrong secret: $(cat err.txt)"
if aws s3 rb s3://interop 2>err.txt; then fail "a non-empty bucket was removed"; fi
grep -q BucketNotEmpty err.txt || fail "rb: $(cat err.txt)"

echo "== boto3"
/usr/bin/python3 - "$endpoint" <<'PY'
import sys
import boto3
from botocore.config import Config

s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"},
                                retries={"max_attempts": 2, "mode": "standard"}))
s3.put_object(Bucket="interop", Key="boto/ü x", Body=b"from boto3", ContentType="text/plain",
              Metadata={"colour": "blue"})
got = s3.get_object(Bucket="interop", Key="boto/ü x")
assert got["Body"].read() == b"from boto3", "boto3 bytes"
assert got["ContentType"] == "text/plain", got["ContentType"]
assert got["Metadata"] == {"colour": "blue"}, got["Metadata"]
assert s3.get_object(Bucket="interop", Key="boto/ü x", Range="bytes=-5")["Body"].read() == b"boto3"
for i in range(7):
    s3.put_object(Bucket="interop", Key=f"page/{i:02}", Body=str(i).encode())
keys, pages = [], 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="interop", Prefix="page/",
                                                         PaginationConfig={"PageSize": 3}):
    keys += [o["Key"] for o in page.get("Contents", [])]
    pages += 1
assert keys == [f"page/{i:02}" for i in range(7)] and pages == 3, (keys, pages)
try:
    s3.get_object(Bucket="interop", Key="nope")
    raise SystemExit("missing key returned")
except s3.exceptions.NoSuchKey:
    pass
try:
    s3.put_object(Bucket="interop", Key="boto/ü x", Body=b"x", IfNoneMatch="*")
    raise SystemExit("If-None-Match: * overwrote")
except Exception as e:  # botocore 1.29 has no IfNoneMatch parameter; either way nothing changes
    pass
assert s3.get_object(Bucket="interop", Key="boto/ü x")["Body"].read() == b"from boto3"
s3.delete_object(Bucket="interop", Key="boto/ü x")
from boto3.s3.transfer import TransferConfig
import os
data = os.urandom(12 * 1024 * 1024 + 5)
with open("boto.bin", "wb") as f:
    f.write(data)
s3.upload_file("boto.bin", "interop", "boto/multi.bin",
               Config=TransferConfig(multipart_threshold=5 * 1024 * 1024,
                                     multipart_chunksize=5 * 1024 * 1024))
assert s3.get_object(Bucket="interop", Key="boto/multi.bin")["Body"].read() == data
upload = s3.create_multipart_upload(Bucket="interop", Key="boto/aborted")["UploadId"]
s3.upload_part(Bucket="interop", Key="boto/aborted", UploadId=upload, PartNumber=1, Body=b"x")
s3.abort_multipart_upload(Bucket="interop", Key="boto/aborted", UploadId=upload)
try:
    s3.upload_part(Bucket="interop", Key="boto/aborted", UploadId=upload, PartNumber=2, Body=b"y")
    raise SystemExit("a part went into an aborted upload")
except s3.exceptions.NoSuchUpload:
    pass
print("boto3 ok")
PY

echo "== s3cmd"
host="${endpoint#http://}"
printf '[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\nuse_https = False\nsignature_v2 = False\n' \
  "$DEPOT_ACCESS_KEY" "$DEPOT_SECRET_KEY" "$host" "$host" >s3cfg
s3c() { /usr/bin/s3cmd -c s3cfg --no-progress "$@"; }
s3c put small.txt s3://interop/s3cmd/small.txt >/dev/null
s3c get --force s3://interop/s3cmd/small.txt s3cmd.back >/dev/null
cmp small.txt s3cmd.back || fail "s3cmd read back different bytes"
s3c ls s3://interop/s3cmd/ | grep -q small.txt || fail "s3cmd ls"
s3c del s3://interop/s3cmd/small.txt >/dev/null

echo "== cleanup and stop"
aws s3 rm --only-show-errors --recursive s3://interop
aws s3 rb s3://interop >/dev/null
if aws s3 ls s3://interop 2>err.txt; then fail "the bucket is still there"; fi
grep -q NoSuchBucket err.txt || fail "ls of a removed bucket: $(cat err.txt)"
kill -INT "$server_pid"
wait "$server_pid" || fail "depot serve did not exit cleanly on SIGINT"
server_pid=""
grep -q "stopping" serve.log || fail "no stop message: $(cat serve.log)"
echo "serve_interop_test: all checks passed"
