#!/usr/bin/env bash
# depot serve against clients nobody here wrote: awscli, boto3 and s3cmd (Debian packages, called as
# /usr/bin/aws, /usr/bin/python3 and /usr/bin/s3cmd) on a local store, over loopback. Buckets,
# puts and gets, ranges, listing with delimiters and pages, presigned URLs, multipart uploads and
# aborts, deletes, a wrong secret refused, and a clean stop on SIGINT.
# Then sections that each run on their own (a failing one is reported, the others still run, and
# the script fails at the end): copies (CopyObject keeping or replacing metadata, multipart copies
# by UploadPartCopy), DeleteObjects, listings with a delimiter in pages of 7 (V2 and V1, awscli and
# boto3), ListParts and ListMultipartUploads, UploadPartCopy with ranges, a wrong secret for boto3
# and s3cmd, a PUT right after an empty PUT on one connection, range edges, and an object of 2 GiB
# and a bit up and down through awscli and boto3 (about 6 GiB of temporary disk at the peak).
# Usage: serve_interop_test.sh /path/to/depot
# DEPOT_SERVE_SECTIONS=REGEX runs only the sections whose names match (while working on one).
set -euo pipefail

depot="$(realpath "$1")"
repo="$(realpath "$(dirname "$0")/../..")"
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
"$depot" serve "$work/store" --listen 127.0.0.1:0 --access-log "$work/access.jsonl" >serve.log 2>&1 &
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
# depot presign: the same for curl, and with --put a URL curl uploads with.
depot_s3() {
  AWS_ENDPOINT_URL_S3="$endpoint" AWS_ACCESS_KEY_ID="$DEPOT_ACCESS_KEY" \
    AWS_SECRET_ACCESS_KEY="$DEPOT_SECRET_KEY" AWS_REGION=us-east-1 "$depot" "$@"
}
url="$(depot_s3 presign s3://interop/dir/big.bin --expires 5m)" || fail "depot presign"
curl -sf -o depot-presigned.bin "$url" && cmp big.bin depot-presigned.bin ||
  fail "depot presign: GET with its URL"
url="$(depot_s3 presign --put s3://interop/dir/presigned-put.txt)" || fail "depot presign --put"
curl -sf -T small.txt "$url" >/dev/null && [[ "$(depot_s3 cat s3://interop/dir/presigned-put.txt)" == "hello depot" ]] ||
  fail "depot presign --put: upload with its URL"
depot_s3 presign s3://interop/dir/big.bin --expires 8d 2>presign.err && fail "--expires 8d accepted"
grep -q '"8d"' presign.err || fail "--expires 8d: $(cat presign.err)"
depot_s3 presign s3://interop/dir/ 2>presign.err && fail "presign of a prefix accepted"
grep -q "not an S3 object" presign.err || fail "presign of a prefix: $(cat presign.err)"
head -c 20000000 /dev/urandom >multi.bin
aws s3 cp --only-show-errors multi.bin s3://interop/multi.bin
aws s3 cp --only-show-errors s3://interop/multi.bin multi.back
cmp multi.bin multi.back || fail "awscli multipart upload read back different bytes"
etag="$(aws s3api head-object --bucket interop --key multi.bin --query ETag --output text)"
[[ "$etag" == *-3\" ]] || fail "multipart ETag $etag is not md5-of-md5s-3"
# depot sync over S3, judged by aws s3 sync: after depot's sync either way, aws finds nothing to
# copy. --checksum reads and hashes the multipart object (its ETag is no MD5) and finds it equal.
mkdir -p synced/sub
cp big.bin synced/sub/ && cp small.txt multi.bin synced/
depot_s3 sync synced s3://interop/synced/ >sync.out 2>&1 && grep -q "3 copied" sync.out ||
  fail "depot sync to S3: $(cat sync.out)"
aws_plan="$(aws s3 sync --dryrun synced s3://interop/synced/)"
[[ -z "$aws_plan" ]] || fail "after depot sync, aws s3 sync would copy: $aws_plan"
depot_s3 sync s3://interop/synced/ synced.back >sync.out 2>&1 && diff -r synced synced.back ||
  fail "depot sync from S3: $(cat sync.out)"
aws_plan="$(aws s3 sync --dryrun s3://interop/synced/ synced.back)"
[[ -z "$aws_plan" ]] || fail "after depot sync from S3, aws s3 sync would copy: $aws_plan"
depot_s3 sync --checksum synced s3://interop/synced/ >sync.out 2>&1 &&
  grep -q "0 copied (0 B), 3 unchanged" sync.out || fail "sync --checksum: $(cat sync.out)"
depot_s3 sync s3://interop/synced/ s3://interop/copied/ >sync.out 2>&1 &&
  [[ "$(aws s3 ls --recursive s3://interop/copied/ | wc -l)" == 3 ]] ||
  fail "sync between two prefixes: $(cat sync.out)"
# Stored checksums over S3 (DEPOT_S3_CHECKSUMS=1): depot cp --checksum sends them, depot serve
# verifies and keeps them, and awscli and depot stat read them back.
crc32_of() {
  python3 -c 'import base64, sys, zlib
print(base64.b64encode(zlib.crc32(open(sys.argv[1], "rb").read()).to_bytes(4, "big")).decode())' "$1"
}
DEPOT_S3_CHECKSUMS=1 depot_s3 cp --checksum crc32 small.txt s3://interop/sums/small.txt >sum.out ||
  fail "cp --checksum crc32 over S3: $(cat sum.out)"
kept="$(aws s3api head-object --bucket interop --key sums/small.txt --checksum-mode ENABLED \
  --query ChecksumCRC32 --output text)"
[[ "$kept" == "$(crc32_of small.txt)" ]] || fail "the CRC32 kept over S3 is $kept"
DEPOT_S3_CHECKSUMS=1 depot_s3 cp --checksum sha256 --part-size 8MiB multi.bin \
  s3://interop/sums/multi.bin >sum.out || fail "cp --checksum sha256 over S3: $(cat sum.out)"
[[ "$(cut -d' ' -f1 sum.out)" == "$(sha256sum <multi.bin | cut -d' ' -f1)" ]] ||
  fail "cp --checksum sha256 printed $(cat sum.out)"
kept="$(aws s3api head-object --bucket interop --key sums/multi.bin --checksum-mode ENABLED \
  --query ChecksumSHA256 --output text)"
[[ "$kept" == *-3 ]] || fail "the composite SHA-256 kept over S3 is $kept"
DEPOT_S3_CHECKSUMS=1 depot_s3 stat s3://interop/sums/multi.bin >stat.out &&
  grep -q "SHA256 $kept (of its parts' checksums)" stat.out || fail "stat over S3: $(cat stat.out)"
DEPOT_S3_CHECKSUMS=yes depot_s3 ls s3://interop/sums/ 2>err.txt && fail "DEPOT_S3_CHECKSUMS=yes"
grep -q 'DEPOT_S3_CHECKSUMS="yes" must be 0 or 1' err.txt || fail "bad DEPOT_S3_CHECKSUMS: $(cat err.txt)"
# Bucket tags through awscli: put, got, deleted.
aws s3api put-bucket-tagging --bucket interop \
  --tagging 'TagSet=[{Key=team,Value=storage},{Key=cost center,Value=42}]'
[[ "$(aws s3api get-bucket-tagging --bucket interop --query 'TagSet[1].Value' --output text)" == 42 ]] ||
  fail "get-bucket-tagging: $(aws s3api get-bucket-tagging --bucket interop)"
aws s3api delete-bucket-tagging --bucket interop
aws s3api get-bucket-tagging --bucket interop 2>err.txt && fail "tags left after delete-bucket-tagging"
grep -q NoSuchTagSet err.txt || fail "get-bucket-tagging without tags: $(cat err.txt)"
# A key that cannot be a file name is a listed failure; the other keys are still copied.
depot_s3 cp small.txt "s3://interop/odd/a//b.txt" && depot_s3 cp small.txt s3://interop/odd/ok.txt
depot_s3 sync s3://interop/odd/ odd.back >sync.out 2>&1 && fail "sync of an odd key: exit 0"
grep -q "cannot be a file name" sync.out && cmp -s small.txt odd.back/ok.txt ||
  fail "sync of an odd key: $(cat sync.out)"
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

# ---------------------------------------------------------------------------------------------
# Sections: each runs in a subshell with errexit, so its first failure ends it alone; the names of
# those that failed are printed at the end and make the script fail.
failed_sections=()
section() {
  local name="$1" started=$SECONDS
  shift
  if [[ -n "${DEPOT_SERVE_SECTIONS:-}" && ! "$name" =~ $DEPOT_SERVE_SECTIONS ]]; then
    echo "== $name: not in DEPOT_SERVE_SECTIONS, not run"
    return
  fi
  echo "== $name"
  set +e
  (
    set -e
    "$@"
  )
  local status=$?
  set -e
  if ((status != 0)); then
    echo "serve_interop_test: section [$name] FAILED (exit $status," \
      "after $((SECONDS - started)) s)" >&2
    failed_sections+=("$name")
  else
    echo "   passed in $((SECONDS - started)) s"
  fi
}

# start_second OUT ERR STORE ARGS...: a second depot serve of STORE on a free port with ARGS, its
# stdout and stderr in OUT and ERR; sets second_pid and second_url (fails if it does not start).
start_second() {
  local out="$1" err="$2"
  shift 2
  "$depot" serve "$1" --listen 127.0.0.1:0 "${@:2}" >"$out" 2>"$err" &
  second_pid=$!
  second_url=""
  for _ in $(seq 50); do
    second_url="$(grep -ho 'http://127.0.0.1:[0-9]*' "$out" "$err" | head -1 || true)"
    [[ -n "$second_url" ]] && return 0
    sleep 0.1
  done
  kill "$second_pid"
  fail "depot serve $* did not start: $(cat "$err")"
}

# Shared by the boto3 sections (python3 - ENDPOINT <<'PY' ... PY, from $work): explicit
# credentials, path style, one attempt per request so that no retry hides an error.
cat >interop_common.py <<'PY'
import hashlib
import os
import sys

import boto3
import botocore.exceptions
from botocore.config import Config

ENDPOINT = sys.argv[1]
BUCKET = "interop"
MIB = 1024 * 1024


def client(access_key=None, secret_key=None, **config):
    return boto3.client(
        "s3", endpoint_url=ENDPOINT, region_name="us-east-1",
        aws_access_key_id=access_key or os.environ["DEPOT_ACCESS_KEY"],
        aws_secret_access_key=secret_key or os.environ["DEPOT_SECRET_KEY"],
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"mode": "standard", "total_max_attempts": 1}, **config))


def fail(message):
    raise SystemExit(f"serve_interop_test: FAIL: {message}")


def md5_etag(data):
    return '"' + hashlib.md5(data).hexdigest() + '"'


def multipart_etag(parts):
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def s3_error(call):
    """(HTTP status, S3 error code) of what call() raised, or None if it succeeded."""
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]
    return None


def expect_error(what, call, status, code):
    got = s3_error(call)
    if got != (status, code):
        fail(f"{what}: expected HTTP {status} {code}, got "
             f"{'success' if got is None else 'HTTP %s %s' % got}")


def run(main):
    """Runs main(); an S3 error nobody expected fails with the operation and the error."""
    try:
        main()
    except botocore.exceptions.ClientError as e:
        fail(f"{main.__name__}: {e}")
    except botocore.exceptions.BotoCoreError as e:
        fail(f"{main.__name__}: {type(e).__name__}: {e}")
PY
py() { /usr/bin/python3 - "$endpoint"; }

# same_json GOT WANT: GOT (awscli --output json) and WANT are the same JSON value.
same_json() {
  /usr/bin/python3 -c \
    'import json, sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' \
    "$1" "$2"
}

copy_awscli() {
  # Below the 8 MiB multipart threshold `aws s3 cp` between keys is one CopyObject.
  aws s3 cp --only-show-errors s3://interop/dir/big.bin s3://interop/copy/big.bin
  aws s3 cp --only-show-errors s3://interop/copy/big.bin copy.back
  cmp big.bin copy.back || fail "aws s3 cp s3->s3 (CopyObject): the copy holds other bytes"
  etag="$(aws s3api head-object --bucket interop --key copy/big.bin --query ETag --output text)"
  [[ "$etag" == "\"$(md5sum <big.bin | cut -d' ' -f1)\"" ]] ||
    fail "aws s3 cp s3->s3: the copy's ETag $etag is not the MD5 of its bytes"
  # Above it, a multipart copy: CreateMultipartUpload, UploadPartCopy with ranges, Complete.
  # (--copy-props default would add GetObjectTagging, which depot does not serve.)
  aws s3 cp --only-show-errors --copy-props metadata-directive \
    s3://interop/multi.bin s3://interop/copy/multi.bin
  aws s3 cp --only-show-errors s3://interop/copy/multi.bin copy-multi.back
  cmp multi.bin copy-multi.back || fail "aws s3 cp s3->s3 multipart (UploadPartCopy): other bytes"
  etag="$(aws s3api head-object --bucket interop --key copy/multi.bin --query ETag --output text)"
  [[ "$etag" == *-3\" ]] || fail "multipart copy of 20 MB in 8 MiB parts: ETag $etag, not ...-3"

  # s3api copy-object: COPY (the default) keeps content type and metadata; REPLACE takes new ones.
  aws s3api put-object --bucket interop --key "meta/src a+b.txt" --body small.txt \
    --content-type text/plain --metadata colour=blue >/dev/null
  small_etag="\"$(md5sum <small.txt | cut -d' ' -f1)\""
  etag="$(aws s3api copy-object --bucket interop --key meta/kept.txt \
    --copy-source "interop/meta/src a+b.txt" --query CopyObjectResult.ETag --output text)"
  [[ "$etag" == "$small_etag" ]] || fail "copy-object: CopyObjectResult ETag $etag, not $small_etag"
  got="$(aws s3api head-object --bucket interop --key meta/kept.txt \
    --query '{type: ContentType, meta: Metadata}' --output json)"
  same_json "$got" '{"type": "text/plain", "meta": {"colour": "blue"}}' ||
    fail "copy-object with the COPY directive should keep text/plain and colour=blue: $got"
  etag="$(aws s3api head-object --bucket interop --key meta/kept.txt --query ETag --output text)"
  [[ "$etag" == "$small_etag" ]] || fail "copy-object: the copy's ETag $etag, not $small_etag"
  aws s3api copy-object --bucket interop --key meta/replaced.txt \
    --copy-source "interop/meta/src a+b.txt" --metadata-directive REPLACE \
    --metadata colour=green,shape=round --content-type application/json >/dev/null
  got="$(aws s3api head-object --bucket interop --key meta/replaced.txt \
    --query '{type: ContentType, meta: Metadata}' --output json)"
  same_json "$got" '{"type": "application/json", "meta": {"colour": "green", "shape": "round"}}' ||
    fail "copy-object --metadata-directive REPLACE: head-object gives $got"
  aws s3 cp --only-show-errors s3://interop/meta/replaced.txt replaced.back
  cmp small.txt replaced.back || fail "copy-object REPLACE changed the bytes"
}

copy_boto3() {
  py <<'PY'
from interop_common import *


def copy_boto3():
    s3 = client()
    src = "copy/src ü+x %.txt"  # the copy source header is URL-encoded; the key must survive it
    body = b"copy me, boto3"
    s3.put_object(Bucket=BUCKET, Key=src, Body=body, ContentType="text/plain",
                  Metadata={"colour": "blue"})
    source = {"Bucket": BUCKET, "Key": src}
    result = s3.copy_object(Bucket=BUCKET, Key="copy/boto-kept", CopySource=source)
    if result["CopyObjectResult"]["ETag"] != md5_etag(body):
        fail(f"copy_object: CopyObjectResult ETag {result['CopyObjectResult']['ETag']}, "
             f"not {md5_etag(body)}")
    if "LastModified" not in result["CopyObjectResult"]:
        fail(f"copy_object: no LastModified in CopyObjectResult: {result['CopyObjectResult']}")
    got = s3.get_object(Bucket=BUCKET, Key="copy/boto-kept")
    if got["Body"].read() != body:
        fail("copy_object: the copy holds other bytes")
    if (got["ContentType"], got["Metadata"]) != ("text/plain", {"colour": "blue"}):
        fail(f"copy_object (COPY): content type {got['ContentType']!r} and metadata "
             f"{got['Metadata']}, not text/plain and colour=blue")

    s3.copy_object(Bucket=BUCKET, Key="copy/boto-replaced", CopySource=source,
                   MetadataDirective="REPLACE", Metadata={"shape": "round"},
                   ContentType="application/x-depot")
    head = s3.head_object(Bucket=BUCKET, Key="copy/boto-replaced")
    if (head["ContentType"], head["Metadata"]) != ("application/x-depot", {"shape": "round"}):
        fail(f"copy_object (REPLACE): content type {head['ContentType']!r} and metadata "
             f"{head['Metadata']}, not application/x-depot and shape=round")
    if head["ContentLength"] != len(body) or head["ETag"] != md5_etag(body):
        fail(f"copy_object (REPLACE): {head['ContentLength']} bytes {head['ETag']}")

    # Onto itself: S3 refuses a copy that changes nothing, and allows one that replaces metadata.
    expect_error("copy_object onto itself with nothing changed",
                 lambda: s3.copy_object(Bucket=BUCKET, Key=src, CopySource=source),
                 400, "InvalidRequest")
    s3.copy_object(Bucket=BUCKET, Key=src, CopySource=source, MetadataDirective="REPLACE",
                   Metadata={"colour": "red"}, ContentType="text/plain")
    got = s3.get_object(Bucket=BUCKET, Key=src)
    if got["Body"].read() != body or got["Metadata"] != {"colour": "red"}:
        fail(f"copy_object onto itself with REPLACE: metadata {got['Metadata']}")

    expect_error("copy_object from a missing key",
                 lambda: s3.copy_object(Bucket=BUCKET, Key="copy/never",
                                        CopySource={"Bucket": BUCKET, "Key": "copy/missing"}),
                 404, "NoSuchKey")
    expect_error("copy_object from a missing bucket",
                 lambda: s3.copy_object(Bucket=BUCKET, Key="copy/never",
                                        CopySource={"Bucket": "no-such-bucket", "Key": "x"}),
                 404, "NoSuchBucket")
    expect_error("copy_object with x-amz-copy-source-if-match of another ETag",
                 lambda: s3.copy_object(Bucket=BUCKET, Key="copy/never", CopySource=source,
                                        CopySourceIfMatch='"0123456789abcdef0123456789abcdef"'),
                 412, "PreconditionFailed")
    expect_error("get_object of a copy that was refused",
                 lambda: s3.get_object(Bucket=BUCKET, Key="copy/never"), 404, "NoSuchKey")
    s3.copy_object(Bucket=BUCKET, Key="copy/if-match", CopySource=source,
                   CopySourceIfMatch=md5_etag(body))
    print("boto3 copy ok")


run(copy_boto3)
PY
}

delete_objects() {
  mkdir -p delsrc
  for name in a b c "d e+f"; do printf '%s' "$name" >"delsrc/$name"; done
  aws s3 cp --only-show-errors --recursive delsrc s3://interop/del/
  got="$(aws s3api delete-objects --bucket interop --output json --delete \
    '{"Objects": [{"Key": "del/a"}, {"Key": "del/b"}, {"Key": "del/never-was"}], "Quiet": false}')"
  /usr/bin/python3 -c '
import json, sys
got = json.loads(sys.argv[1])
deleted = sorted(d["Key"] for d in got.get("Deleted", []))
sys.exit(deleted != ["del/a", "del/b", "del/never-was"] or bool(got.get("Errors")))' "$got" ||
    fail "aws s3api delete-objects: Deleted should list del/a, del/b, del/never-was: $got"
  left="$(aws s3api list-objects-v2 --bucket interop --prefix del/ --query 'Contents[].Key' \
    --output text)"
  [[ "$left" == "del/c"$'\t'"del/d e+f" ]] || fail "after delete-objects, del/ holds: $left"
  py <<'PY'
from interop_common import *


def delete_objects():
    s3 = client()
    keys = ["del/c", "del/d e+f", "del/ü <&>'\"", "del/x"]
    for key in keys[2:]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    result = s3.delete_objects(Bucket=BUCKET, Delete={
        "Objects": [{"Key": k} for k in keys] + [{"Key": "del/never-was"}], "Quiet": False})
    deleted = sorted(d["Key"] for d in result.get("Deleted", []))
    if deleted != sorted(keys + ["del/never-was"]) or result.get("Errors"):
        fail(f"delete_objects (Quiet False): Deleted {deleted}, Errors {result.get('Errors')}")
    left = s3.list_objects_v2(Bucket=BUCKET, Prefix="del/").get("Contents", [])
    if left:
        fail(f"delete_objects: still there: {[o['Key'] for o in left]}")
    for key in ("del/q1", "del/q2"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"q")
    result = s3.delete_objects(Bucket=BUCKET, Delete={
        "Objects": [{"Key": "del/q1"}, {"Key": "del/q2"}], "Quiet": True})
    if result.get("Deleted") or result.get("Errors"):
        fail(f"delete_objects (Quiet True) should list nothing: {result}")
    if s3.list_objects_v2(Bucket=BUCKET, Prefix="del/").get("KeyCount") != 0:
        fail("delete_objects (Quiet True) left keys behind")
    print("boto3 delete_objects ok")


run(delete_objects)
PY
}

# 25 keys under list/: 12 directly under it, 13 below 4 "directories" (a/, b/, c/, n/; c/ holds
# only c/d/). With Delimiter=/ that is 16 entries: 12 keys and 4 common prefixes, interleaved in
# key order, 3 pages of 7; without a delimiter, 25 keys in 4 pages of 7.
listing() {
  mkdir -p listing/a listing/b listing/c/d listing/n
  for i in 0 1 2 3; do
    printf 'x' >"listing/0k$i"
    printf 'x' >"listing/m0$i"
    printf 'x' >"listing/z0$i"
    printf 'x' >"listing/b/x0$i"
  done
  for i in 0 1 2 3 4; do printf 'x' >"listing/a/x0$i"; done
  for i in 0 1; do
    printf 'x' >"listing/c/d/x0$i"
    printf 'x' >"listing/n/x0$i"
  done
  aws s3 cp --only-show-errors --recursive listing s3://interop/list/
  cat >listing_expect.py <<'PY'
ALL = sorted([f"list/{p}{i}" for p in ("0k", "m0", "z0") for i in range(4)] +
             [f"list/b/x0{i}" for i in range(4)] + [f"list/a/x0{i}" for i in range(5)] +
             [f"list/{d}/x0{i}" for d in ("c/d", "n") for i in range(2)])
DIRECT = [k for k in ALL if "/" not in k[len("list/"):]]
PREFIXES = ["list/a/", "list/b/", "list/c/", "list/n/"]
PY
  # awscli: --max-items 10 in pages of 7, then the rest from the token it printed.
  first="$(aws s3api list-objects-v2 --bucket interop --prefix list/ --page-size 7 --max-items 10 \
    --output json)"
  token="$(/usr/bin/python3 -c \
    'import json, sys; print(json.loads(sys.argv[1]).get("NextToken", ""))' "$first")"
  [[ -n "$token" ]] || fail "list-objects-v2 --max-items 10 of 25 keys printed no NextToken: $first"
  rest="$(aws s3api list-objects-v2 --bucket interop --prefix list/ --page-size 7 \
    --starting-token "$token" --output json)"
  /usr/bin/python3 -c '
import json, sys
from listing_expect import ALL
first, rest = (json.loads(a) for a in sys.argv[1:3])
got = [o["Key"] for o in first.get("Contents", [])] + [o["Key"] for o in rest.get("Contents", [])]
if got != ALL:
    raise SystemExit(f"serve_interop_test: FAIL: list-objects-v2 --max-items 10 then "
                     f"--starting-token: {got}, expected {ALL}")' "$first" "$rest"
  for api in list-objects-v2 list-objects; do
    got="$(aws s3api "$api" --bucket interop --prefix list/ --delimiter / --page-size 7 \
      --output json)"
    /usr/bin/python3 -c '
import json, sys
from listing_expect import DIRECT, PREFIXES
got = json.loads(sys.argv[2])
keys = [o["Key"] for o in got.get("Contents", [])]
prefixes = [p["Prefix"] for p in got.get("CommonPrefixes", [])]
if keys != DIRECT or prefixes != PREFIXES:
    raise SystemExit(f"serve_interop_test: FAIL: aws s3api {sys.argv[1]} --delimiter / "
                     f"--page-size 7: keys {keys} and common prefixes {prefixes}, expected "
                     f"{DIRECT} and {PREFIXES}")' "$api" "$got"
  done
  py <<'PY'
from interop_common import *
from listing_expect import ALL, DIRECT, PREFIXES


def pages_of(s3, operation, **args):
    pages = list(s3.get_paginator(operation).paginate(
        Bucket=BUCKET, PaginationConfig={"PageSize": 7}, **args))
    what = f"{operation} {args} in pages of 7"
    entries, keys, prefixes = [], [], []
    for n, page in enumerate(pages):
        page_keys = [o["Key"] for o in page.get("Contents", [])]
        page_prefixes = [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if len(page_keys) + len(page_prefixes) > 7:
            fail(f"{what}: page {n} has {len(page_keys) + len(page_prefixes)} entries")
        entries_here = len(page_keys) + len(page_prefixes)
        if operation == "list_objects_v2" and page.get("KeyCount") != entries_here:
            fail(f"{what}: page {n} has KeyCount {page.get('KeyCount')} for "
                 f"{len(page_keys)} keys and {len(page_prefixes)} common prefixes")
        truncated = page.get("IsTruncated")
        if truncated != (n + 1 < len(pages)):
            fail(f"{what}: page {n} of {len(pages)} has IsTruncated {truncated}")
        if (operation == "list_objects" and truncated and "Delimiter" in args
                and not page.get("NextMarker")):
            fail(f"{what}: page {n} is truncated but has no NextMarker (S3 sends one when there "
                 "is a delimiter)")
        keys += page_keys
        prefixes += page_prefixes
        entries += sorted(page_keys + page_prefixes)
    if entries != sorted(entries) or len(set(entries)) != len(entries):
        fail(f"{what}: entries out of order or repeated across pages: {entries}")
    return keys, prefixes, len(pages)


def listing():
    s3 = client()
    for operation in ("list_objects_v2", "list_objects"):
        keys, prefixes, pages = pages_of(s3, operation, Prefix="list/", Delimiter="/")
        if (keys, prefixes, pages) != (DIRECT, PREFIXES, 3):
            fail(f"{operation} Prefix=list/ Delimiter=/ PageSize=7: keys {keys}, common prefixes "
                 f"{prefixes} in {pages} pages; expected {DIRECT} and {PREFIXES} in 3 pages")
        keys, prefixes, pages = pages_of(s3, operation, Prefix="list/")
        if (keys, prefixes, pages) != (ALL, [], 4):
            fail(f"{operation} Prefix=list/ PageSize=7: {keys} and {prefixes} in {pages} pages; "
                 f"expected the 25 keys in 4 pages")
        keys, prefixes, pages = pages_of(s3, operation, Prefix="list/c/", Delimiter="/")
        if (keys, prefixes) != ([], ["list/c/d/"]):
            fail(f"{operation} Prefix=list/c/ Delimiter=/: {keys} and {prefixes}, expected only "
                 "the common prefix list/c/d/")
    keys, prefixes, _ = pages_of(s3, "list_objects_v2", Prefix="list/", Delimiter="/",
                                 StartAfter="list/m01")
    want_keys = [k for k in DIRECT if k > "list/m01"]
    if (keys, prefixes) != (want_keys, ["list/n/"]):
        fail(f"list_objects_v2 StartAfter=list/m01 Delimiter=/: {keys} and {prefixes}, "
             f"expected {want_keys} and ['list/n/']")
    print("boto3 listing ok")


run(listing)
PY
}

multipart_listing() {
  py <<'PY'
from interop_common import *


def multipart_listing():
    s3 = client()
    key = "mp/listed ü+1"
    parts = [os.urandom(5 * MIB), os.urandom(1234)]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ContentType="application/x-parts",
                                        Metadata={"kind": "listed"})["UploadId"]
    other = s3.create_multipart_upload(Bucket=BUCKET, Key="mp/other")["UploadId"]
    done = False
    try:
        for number, part in enumerate(parts, start=1):
            etag = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number,
                                  Body=part)["ETag"]
            if etag != md5_etag(part):
                fail(f"upload_part {number}: ETag {etag}, not {md5_etag(part)}")
        want = [(n, len(p), md5_etag(p)) for n, p in enumerate(parts, start=1)]
        listed = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload)
        got = [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed.get("Parts", [])]
        if got != want or listed.get("IsTruncated"):
            fail(f"list_parts: {got} (truncated: {listed.get('IsTruncated')}), expected {want}")
        if (listed.get("Key"), listed.get("UploadId")) != (key, upload):
            fail(f"list_parts names key {listed.get('Key')!r} and upload {listed.get('UploadId')}")
        page = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload, MaxParts=1)
        numbers = [p["PartNumber"] for p in page.get("Parts", [])]
        if (numbers, page.get("IsTruncated"), page.get("NextPartNumberMarker")) != ([1], True, 1):
            fail(f"list_parts MaxParts=1: parts {numbers}, IsTruncated {page.get('IsTruncated')}, "
                 f"NextPartNumberMarker {page.get('NextPartNumberMarker')}; expected [1], True, 1")
        page = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload, PartNumberMarker=1)
        numbers = [p["PartNumber"] for p in page.get("Parts", [])]
        if numbers != [2]:
            fail(f"list_parts PartNumberMarker=1: parts {numbers}, expected [2]")

        uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="mp/").get("Uploads", [])
        got = sorted((u["Key"], u["UploadId"]) for u in uploads)
        if got != sorted([(key, upload), ("mp/other", other)]):
            fail(f"list_multipart_uploads Prefix=mp/: {got}, expected both uploads")
        uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="mp/l").get("Uploads", [])
        if [(u["Key"], u["UploadId"]) for u in uploads] != [(key, upload)]:
            fail(f"list_multipart_uploads Prefix=mp/l: {uploads}")
        s3.abort_multipart_upload(Bucket=BUCKET, Key="mp/other", UploadId=other)
        other = None

        result = s3.complete_multipart_upload(
            Bucket=BUCKET, Key=key, UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, _, e in want]})
        done = True
        if result.get("ETag") != multipart_etag(parts):
            fail(f"complete: ETag {result.get('ETag')}, not {multipart_etag(parts)}")
        got = s3.get_object(Bucket=BUCKET, Key=key)
        if got["Body"].read() != b"".join(parts):
            fail("the completed upload holds other bytes")
        if (got["ContentType"], got["Metadata"]) != ("application/x-parts", {"kind": "listed"}):
            fail(f"the completed upload lost what create_multipart_upload set: "
                 f"{got['ContentType']!r}, {got['Metadata']}")
        left = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="mp/").get("Uploads", [])
        if left:
            fail(f"list_multipart_uploads after complete and abort: {left}")
        expect_error("list_parts of a completed upload",
                     lambda: s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload),
                     404, "NoSuchUpload")
    finally:
        for k, u in ((key, None if done else upload), ("mp/other", other)):
            if u:
                s3_error(lambda: s3.abort_multipart_upload(Bucket=BUCKET, Key=k, UploadId=u))
    print("boto3 multipart listing ok")


run(multipart_listing)
PY
}

upload_part_copy() {
  py <<'PY'
from interop_common import *


def upload_part_copy():
    s3 = client()
    source = os.urandom(6 * MIB + 77)
    s3.put_object(Bucket=BUCKET, Key="mp/copy source", Body=source)
    copy_source = {"Bucket": BUCKET, "Key": "mp/copy source"}
    cut = 5 * MIB
    pieces = [source[:cut], source[cut:]]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mp/copied")["UploadId"]
    done = False
    try:
        etags = []
        for number, (first, last) in enumerate([(0, cut - 1), (cut, len(source) - 1)], start=1):
            result = s3.upload_part_copy(Bucket=BUCKET, Key="mp/copied", UploadId=upload,
                                         PartNumber=number, CopySource=copy_source,
                                         CopySourceRange=f"bytes={first}-{last}")
            etag = result["CopyPartResult"]["ETag"]
            if etag != md5_etag(pieces[number - 1]):
                fail(f"upload_part_copy bytes={first}-{last}: ETag {etag}, "
                     f"not {md5_etag(pieces[number - 1])}")
            etags.append(etag)
        listed = s3.list_parts(Bucket=BUCKET, Key="mp/copied", UploadId=upload).get("Parts", [])
        if [(p["PartNumber"], p["Size"]) for p in listed] != [(1, cut), (2, len(source) - cut)]:
            fail(f"list_parts after upload_part_copy: {listed}")
        s3.complete_multipart_upload(
            Bucket=BUCKET, Key="mp/copied", UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                       for n, e in enumerate(etags, start=1)]})
        done = True
        got = s3.get_object(Bucket=BUCKET, Key="mp/copied")
        if got["Body"].read() != source or got["ETag"] != multipart_etag(pieces):
            fail(f"upload_part_copy of two ranges: other bytes, or ETag {got['ETag']} and not "
                 f"{multipart_etag(pieces)}")
    finally:
        if not done:
            s3_error(lambda: s3.abort_multipart_upload(Bucket=BUCKET, Key="mp/copied",
                                                       UploadId=upload))

    # A whole object as part 1 (no range), then an ordinary part.
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mp/copied-whole")["UploadId"]
    done = False
    try:
        e1 = s3.upload_part_copy(Bucket=BUCKET, Key="mp/copied-whole", UploadId=upload,
                                 PartNumber=1, CopySource=copy_source)["CopyPartResult"]["ETag"]
        e2 = s3.upload_part(Bucket=BUCKET, Key="mp/copied-whole", UploadId=upload, PartNumber=2,
                            Body=b"tail")["ETag"]
        s3.complete_multipart_upload(
            Bucket=BUCKET, Key="mp/copied-whole", UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                       {"PartNumber": 2, "ETag": e2}]})
        done = True
        if s3.get_object(Bucket=BUCKET, Key="mp/copied-whole")["Body"].read() != source + b"tail":
            fail("upload_part_copy of a whole object, then a part: other bytes")
    finally:
        if not done:
            s3_error(lambda: s3.abort_multipart_upload(Bucket=BUCKET, Key="mp/copied-whole",
                                                       UploadId=upload))
    print("boto3 upload_part_copy ok")


run(upload_part_copy)
PY
}

wrong_secret() {
  py <<'PY'
from interop_common import *


def wrong_secret():
    bad = client(secret_key="not-the-secret")
    expect_error("boto3 list_objects_v2 with a wrong secret",
                 lambda: bad.list_objects_v2(Bucket=BUCKET), 403, "SignatureDoesNotMatch")
    expect_error("boto3 put_object with a wrong secret",
                 lambda: client(secret_key="not-the-secret").put_object(
                     Bucket=BUCKET, Key="bad/x", Body=b"x" * 1000),
                 403, "SignatureDoesNotMatch")
    expect_error("head_object of what a wrong secret tried to put",
                 lambda: client().head_object(Bucket=BUCKET, Key="bad/x"), 404, "404")
    expect_error("boto3 with an unknown access key",
                 lambda: client(access_key="NOSUCHKEY").list_objects_v2(Bucket=BUCKET),
                 403, "InvalidAccessKeyId")
    print("boto3 wrong secret refused")


run(wrong_secret)
PY
  sed "s/^secret_key = .*/secret_key = not-the-secret/" s3cfg >s3cfg-bad
  if /usr/bin/s3cmd -c s3cfg-bad --no-progress ls s3://interop/ >s3cmd-bad.txt 2>&1; then
    fail "s3cmd with a wrong secret listed the bucket: $(cat s3cmd-bad.txt)"
  fi
  grep -q "SignatureDoesNotMatch" s3cmd-bad.txt ||
    fail "s3cmd with a wrong secret: $(cat s3cmd-bad.txt)"
  grep -q "403" s3cmd-bad.txt || fail "s3cmd with a wrong secret, no 403: $(cat s3cmd-bad.txt)"
}

# botocore 1.29 sends `Expect: 100-continue` on every PutObject, even an empty one. If the server
# answers an empty one at once without a 100 Continue, botocore keeps that response's status line
# for the connection and misreads the next PUT's answer: a stall until its read timeout
# (boto/botocore#3755, minio/minio#5150). S3 sends 100 Continue whenever a request expects it.
put_after_empty_put() {
  py <<'PY'
from interop_common import *


def put_after_empty_put():
    s3 = client(read_timeout=5, max_pool_connections=1)
    for n in range(3):
        s3.put_object(Bucket=BUCKET, Key="edge/empty", Body=b"")
        try:
            s3.put_object(Bucket=BUCKET, Key="edge/after-empty", Body=b"y" * 100)
        except botocore.exceptions.ReadTimeoutError:
            fail("boto3: the PUT after an empty PUT on the same connection got no answer in 5 s. "
                 "depot serve answered the empty PUT's `Expect: 100-continue` without a "
                 "`100 Continue`, and botocore 1.29 then misreads the connection's next "
                 "response (boto/botocore#3755): send 100 Continue for every request that "
                 "expects it, empty bodies included")
    if s3.get_object(Bucket=BUCKET, Key="edge/after-empty")["Body"].read() != b"y" * 100:
        fail("the PUT after an empty PUT stored other bytes")
    print("boto3 PUT after an empty PUT ok")


run(put_after_empty_put)
PY
}

# S3 behaviours Ceph RGW gets right, as boto3 meets them: a bucket's LocationConstraint,
# ListObjectVersions of an unversioned bucket (what ceph/s3-tests' cleanup calls), V1 listings
# with encoding-type=url, and DeleteBucket of a bucket holding only an unfinished upload.
s3_behaviours() {
  py <<'PY'
from interop_common import *


def s3_behaviours():
    s3 = client()
    s3.create_bucket(Bucket="interop-eu",
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    got = s3.get_bucket_location(Bucket="interop-eu")["LocationConstraint"]
    if got != "eu-west-2":
        fail(f"GetBucketLocation of a bucket made in eu-west-2: {got!r}")
    if s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] is not None:
        fail("GetBucketLocation of a us-east-1 bucket is not the empty constraint")
    for key in ("v/a b", "v/c"):
        s3.put_object(Bucket="interop-eu", Key=key, Body=key.encode())
    listed = s3.list_object_versions(Bucket="interop-eu", Prefix="v/")
    versions = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed["Versions"]]
    if versions != [("v/a b", "null", True), ("v/c", "null", True)]:
        fail(f"ListObjectVersions: {versions}")
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket="interop-eu", PaginationConfig={"PageSize": 1})
    keys = [v["Key"] for page in pages for v in page.get("Versions", [])]
    if keys != ["v/a b", "v/c"]:
        fail(f"ListObjectVersions in pages of one: {keys}")
    v1 = s3.list_objects(Bucket="interop-eu", Prefix="v/a b", EncodingType="url")
    if v1["Prefix"] != "v/a b":  # S3 gives a V1 prefix back as sent
        fail(f"ListObjects V1 prefix with encoding-type=url: {v1['Prefix']!r}")
    for key in ("v/a b", "v/c"):
        s3.delete_object(Bucket="interop-eu", Key=key)
    s3.create_multipart_upload(Bucket="interop-eu", Key="unfinished")
    s3.delete_bucket(Bucket="interop-eu")
    expect_error("HEAD of the deleted bucket", lambda: s3.head_bucket(Bucket="interop-eu"),
                 404, "404")
    print("boto3 location, versions, V1 prefix, DeleteBucket with an upload ok")


run(s3_behaviours)
PY
}

# Cache-Control, Content-Disposition, Content-Encoding, Content-Language and Expires are kept
# with the object and come back on HEAD and GET; copies keep them (COPY) or replace them
# (REPLACE). awscli sets them on a multipart upload, boto3 on a single PUT.
web_headers() {
  head -c $((12 * 1024 * 1024)) /dev/urandom >web.bin
  aws s3 cp --only-show-errors --cache-control "max-age=600" \
    --content-disposition 'attachment; filename="web.bin"' --content-language de \
    web.bin s3://interop/web/big.bin
  got="$(aws s3api head-object --bucket interop --key web/big.bin \
    --query '[CacheControl, ContentDisposition, ContentLanguage, ETag]' --output text)"
  [[ "$got" == 'max-age=600'$'\t''attachment; filename="web.bin"'$'\t''de'$'\t'*'-2"' ]] ||
    fail "aws s3 cp (multipart) with web headers: head-object gives $got"
  rm -f web.bin
  py <<'PY'
from interop_common import *


def web_headers():
    s3 = client()
    given = {"CacheControl": "no-store", "ContentDisposition": "inline",
             "ContentEncoding": "gzip", "ContentLanguage": "en-GB"}
    expires = "Wed, 21 Oct 2099 07:28:00 GMT"
    s3.put_object(Bucket=BUCKET, Key="web/page", Body=b"<html/>", Expires=expires, **given)

    def check(what, answer, want):
        for name, value in want.items():
            if answer.get(name) != value:
                fail(f"{what}: {name} is {answer.get(name)!r}, not {value!r}")
        raw = answer["ResponseMetadata"]["HTTPHeaders"].get("expires")
        if "ContentLanguage" in want and raw != expires:
            fail(f"{what}: Expires is {raw!r}, not {expires!r}")

    check("HEAD", s3.head_object(Bucket=BUCKET, Key="web/page"), given)
    got = s3.get_object(Bucket=BUCKET, Key="web/page")
    check("GET", got, given)
    if got["Body"].read() != b"<html/>":
        fail("GET of web/page: the body changed")
    s3.copy_object(Bucket=BUCKET, Key="web/kept", CopySource={"Bucket": BUCKET, "Key": "web/page"})
    check("HEAD of a COPY copy", s3.head_object(Bucket=BUCKET, Key="web/kept"), given)
    s3.copy_object(Bucket=BUCKET, Key="web/replaced", MetadataDirective="REPLACE",
                   CopySource={"Bucket": BUCKET, "Key": "web/page"}, CacheControl="max-age=1")
    replaced = s3.head_object(Bucket=BUCKET, Key="web/replaced")
    check("HEAD of a REPLACE copy", replaced, {"CacheControl": "max-age=1"})
    for name in ("ContentDisposition", "ContentEncoding", "ContentLanguage"):
        if name in replaced:
            fail(f"HEAD of a REPLACE copy still has {name} {replaced[name]!r}")
    print("boto3 web headers ok")


run(web_headers)
PY
}

# Keys that are not plain paths, and an object beside keys below it, over the local store: boto3
# and awscli put, read, list (in pages, and with a delimiter) and delete each exactly, and
# nothing is written outside the store's directory.
every_key() {
  py <<'PY'
from interop_common import *


def every_key():
    s3 = client()
    bucket = "every-key"
    s3.create_bucket(Bucket=bucket)
    keys = ["e/", "e/x", "a/./b", "../x", "a/b/../c", "//d", "/", ".", "..", "foo/bar",
            "foo/bar/xyzzy", "foo/bar-baz", ".depot", "s" * 300, "long/" + "s" * 300 + "/end"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=("value of " + key).encode())
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if body != ("value of " + key).encode():
            fail(f"GET {key!r} gave {body[:40]!r}")
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 4}):
        listed += [o["Key"] for o in page.get("Contents", [])]
    if listed != sorted(keys):
        fail(f"ListObjectsV2 in pages of 4 gave {listed}, not {sorted(keys)}")
    got = s3.list_objects_v2(Bucket=bucket, Prefix="foo/", Delimiter="/")
    contents = [o["Key"] for o in got.get("Contents", [])]
    prefixes = [p["Prefix"] for p in got.get("CommonPrefixes", [])]
    if contents != ["foo/bar", "foo/bar-baz"] or prefixes != ["foo/bar/"]:
        fail(f"ListObjectsV2 foo/ with '/' gave {contents} and {prefixes}")
    s3.delete_object(Bucket=bucket, Key="foo/bar")
    if s3.get_object(Bucket=bucket, Key="foo/bar/xyzzy")["Body"].read() != b"value of foo/bar/xyzzy":
        fail("deleting foo/bar changed foo/bar/xyzzy")
    print("boto3 every key ok")


run(every_key)
PY
  aws s3api put-object --bucket every-key --key "../../escape" --body small.txt >/dev/null
  aws s3api put-object --bucket every-key --key "a/b/../../../up" --body small.txt >/dev/null
  aws s3api head-object --bucket every-key --key "../../escape" >/dev/null ||
    fail "awscli: ../../escape was not stored"
  keys="$(aws s3api list-objects-v2 --bucket every-key --prefix "../" --query 'Contents[].Key' \
    --output text)"
  [[ "$keys" == "../../escape"$'\t'"../x" ]] || fail "awscli: list of ../ gave $keys"
  # Nothing landed beside the store: its parent holds what it held before.
  [[ ! -e "$work/escape" && ! -e "$work/up" && ! -e "$work/x" && ! -e /tmp/escape ]] ||
    fail "a key escaped the store's directory"
  aws s3 rm --only-show-errors --recursive s3://every-key
  aws s3api delete-bucket --bucket every-key
}

# HTTPS: a second depot serve with a certificate from a CA made here. awscli, boto3, s3cmd and
# depot's own client trust it when told to (--ca-bundle, AWS_CA_BUNDLE, ca_certs_file) and put,
# read back and list through it, multipart included; told nothing, they refuse the server.
https_clients() {
  bash "$repo/src/depot/server/testing/make_test_ca.sh" "$work/tls"
  "$depot" serve "$work/tls-store" --listen 127.0.0.1:0 --tls-cert "$work/tls/server.pem" \
    --tls-key "$work/tls/server.key" >tls.log 2>&1 &
  tls_pid=$!
  trap 'kill "$tls_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do
    grep -q "on https://" tls.log && break
    sleep 0.1
  done
  local secure
  secure="$(grep -o 'https://127.0.0.1:[0-9]*' tls.log | head -1)"
  [[ -n "$secure" ]] || fail "depot serve --tls-cert did not start: $(cat tls.log)"
  grep -q "AWS_CA_BUNDLE=$work/tls/server.pem" tls.log || fail "no CA hint in: $(cat tls.log)"
  local ca="$work/tls/ca.pem"
  head -c $((13 * 1024 * 1024)) /dev/urandom >tls.bin
  /usr/bin/aws --endpoint-url "$secure" --ca-bundle "$ca" s3 mb s3://secure >/dev/null
  /usr/bin/aws --endpoint-url "$secure" --ca-bundle "$ca" s3 cp --only-show-errors tls.bin \
    s3://secure/aws.bin
  /usr/bin/aws --endpoint-url "$secure" --ca-bundle "$ca" s3 cp --only-show-errors \
    s3://secure/aws.bin tls.back
  cmp tls.bin tls.back || fail "awscli over HTTPS read back different bytes"
  if /usr/bin/aws --endpoint-url "$secure" s3 ls s3://secure 2>err.txt; then
    fail "awscli trusted a certificate from an unknown CA"
  fi
  grep -qi "certificate" err.txt || fail "awscli without the CA: $(cat err.txt)"
  AWS_CA_BUNDLE="$ca" /usr/bin/python3 - "$secure" <<'PY'
from interop_common import *
from boto3.s3.transfer import TransferConfig


def https():
    s3 = client()
    data = os.urandom(11 * MIB)
    with open("tls-boto.bin", "wb") as f:
        f.write(data)
    s3.upload_file("tls-boto.bin", "secure", "boto.bin",
                   Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))
    if s3.get_object(Bucket="secure", Key="boto.bin")["Body"].read() != data:
        fail("boto3 over HTTPS read back different bytes")
    s3.put_object(Bucket="secure", Key="small", Body=b"over tls")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="secure")["Contents"]]
    if keys != ["aws.bin", "boto.bin", "small"]:
        fail(f"boto3 over HTTPS lists {keys}")
    print("boto3 over HTTPS ok")


run(https)
PY
  printf '[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\nuse_https = True\nca_certs_file = %s\ncheck_ssl_certificate = True\nsignature_v2 = False\n' \
    "$DEPOT_ACCESS_KEY" "$DEPOT_SECRET_KEY" "${secure#https://}" "${secure#https://}" "$ca" >s3cfg-tls
  /usr/bin/s3cmd -c s3cfg-tls --no-progress get --force s3://secure/small s3cmd-tls.back >/dev/null
  [[ "$(cat s3cmd-tls.back)" == "over tls" ]] || fail "s3cmd over HTTPS"
  AWS_ENDPOINT_URL_S3="$secure" AWS_CA_BUNDLE="$ca" AWS_ACCESS_KEY_ID="$DEPOT_ACCESS_KEY" \
    AWS_SECRET_ACCESS_KEY="$DEPOT_SECRET_KEY" "$depot" cat s3://secure/small >depot-tls.back
  [[ "$(cat depot-tls.back)" == "over tls" ]] || fail "depot cat over HTTPS"
  kill -INT "$tls_pid"
  wait "$tls_pid" || fail "depot serve --tls-cert did not exit cleanly"
  rm -f tls.bin tls.back tls-boto.bin
}

# CORS: rules set, read and deleted with boto3; a preflight and a browser-style GET (with an
# Origin) answered from them.
cors_rules() {
  py <<'PY'
from interop_common import *
import urllib.error
import urllib.request


def cors_rules():
    s3 = client()
    rules = [{"ID": "app", "AllowedOrigins": ["https://app.example"],
              "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"],
              "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 120}]
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": rules})
    got = s3.get_bucket_cors(Bucket=BUCKET)["CORSRules"]
    if got != rules:
        fail(f"GetBucketCors: {got}")

    def answer(request):
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.headers

    preflight = urllib.request.Request(
        f"{ENDPOINT}/{BUCKET}/cors.txt", method="OPTIONS",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "content-type,x-amz-date"})
    status, headers = answer(preflight)
    if status != 200 or headers.get("Access-Control-Allow-Origin") != "https://app.example":
        fail(f"preflight: {status} {dict(headers)}")
    refused = urllib.request.Request(
        f"{ENDPOINT}/{BUCKET}/cors.txt", method="OPTIONS",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"})
    if answer(refused)[0] != 403:
        fail("a preflight from an origin no rule allows was not refused")
    s3.put_object(Bucket=BUCKET, Key="cors.txt", Body=b"shared")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "cors.txt"},
                                    ExpiresIn=60)
    status, headers = answer(urllib.request.Request(url, headers={"Origin": "https://app.example"}))
    if status != 200 or headers.get("Access-Control-Expose-Headers") != "ETag":
        fail(f"GET with an Origin: {status} {dict(headers)}")
    s3.delete_bucket_cors(Bucket=BUCKET)
    expect_error("GetBucketCors after DeleteBucketCors", lambda: s3.get_bucket_cors(Bucket=BUCKET),
                 404, "NoSuchCORSConfiguration")
    print("boto3 CORS rules, preflight and GET with an Origin ok")


run(cors_rules)
PY
}

# A range starting at or past the end is unsatisfiable: 416 InvalidRange. An empty object has no
# satisfiable range at all (AWS answers 416 there too), never a 206 "bytes 0-0/0".
range_edges() {
  py <<'PY'
from interop_common import *


def range_edges():
    s3 = client()
    s3.put_object(Bucket=BUCKET, Key="edge/ten", Body=b"0123456789")
    s3.put_object(Bucket=BUCKET, Key="edge/zero", Body=b"")
    got = s3.get_object(Bucket=BUCKET, Key="edge/ten", Range="bytes=9-20")
    if (got["ResponseMetadata"]["HTTPStatusCode"], got["ContentRange"], got["Body"].read()) != (
            206, "bytes 9-9/10", b"9"):
        fail(f"bytes=9-20 of 10 bytes: {got['ResponseMetadata']['HTTPStatusCode']} "
             f"{got.get('ContentRange')}")
    for key, spec in (("edge/ten", "bytes=10-"), ("edge/ten", "bytes=10-20"),
                      ("edge/zero", "bytes=0-"), ("edge/zero", "bytes=0-0"),
                      ("edge/zero", "bytes=-5")):
        def call():
            r = s3.get_object(Bucket=BUCKET, Key=key, Range=spec)
            fail(f"GET {key} {spec}: HTTP {r['ResponseMetadata']['HTTPStatusCode']} Content-Range "
                 f"{r.get('ContentRange')!r} with {len(r['Body'].read())} bytes; expected 416 "
                 "InvalidRange")
        expect_error(f"GET {key} {spec}", call, 416, "InvalidRange")
    print("boto3 range edges ok")


run(range_edges)
PY
}

# 2 GiB and a bit: offsets past 2^31, 257 parts of 8 MiB for awscli (the last short), 33 of
# 64 MiB for boto3. Random bytes, so a misplaced or repeated part cannot go unseen.
huge_object() {
  local size=$((2 * 1024 * 1024 * 1024 + 1024 * 1024 + 7))
  head -c "$size" /dev/urandom >huge.bin
  aws s3 cp --only-show-errors huge.bin s3://interop/huge/aws.bin
  got="$(aws s3api head-object --bucket interop --key huge/aws.bin \
    --query '[ContentLength, ETag]' --output text)"
  [[ "$got" == "$size"$'\t'*'-257"' ]] || fail "aws s3 cp of $size bytes: head-object gives $got"
  aws s3 cp --only-show-errors s3://interop/huge/aws.bin huge.back
  cmp huge.bin huge.back || fail "aws s3 cp: the 2 GiB object came back different"
  rm -f huge.back
  aws s3 rm --only-show-errors s3://interop/huge/aws.bin
  py <<'PY'
from interop_common import *
from boto3.s3.transfer import TransferConfig


def huge_object():
    s3 = client()
    size = os.path.getsize("huge.bin")
    config = TransferConfig(multipart_threshold=64 * MIB, multipart_chunksize=64 * MIB,
                            max_concurrency=4)
    s3.upload_file("huge.bin", BUCKET, "huge/boto3.bin", Config=config)
    head = s3.head_object(Bucket=BUCKET, Key="huge/boto3.bin")
    if head["ContentLength"] != size or not head["ETag"].endswith('-33"'):
        fail(f"boto3 upload_file of {size} bytes: head gives {head['ContentLength']} bytes, "
             f"ETag {head['ETag']} (expected ...-33)")
    s3.download_file(BUCKET, "huge/boto3.bin", "huge.back", Config=config)
    print("boto3 2 GiB up and down")


run(huge_object)
PY
  cmp huge.bin huge.back ||
    fail "boto3 upload_file/download_file: the 2 GiB object came back different"
  rm -f huge.back huge.bin
  aws s3 rm --only-show-errors s3://interop/huge/boto3.bin
}

# Everything boto3 can ask for that depot does not do is refused with 501 NotImplemented, on every
# operation whose API takes it, and a refused request stores nothing; x-amz-expected-bucket-owner
# is checked (the owner's ID is its access key).
unhonoured_boto3() {
  py <<'PY'
from interop_common import *


def unhonoured():
    s3 = client()
    s3.put_object(Bucket=BUCKET, Key="refused-source", Body=b"source")
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="refused/part")["UploadId"]
    # (SSE-S3 and SSE-C are served: see the encryption section; this server has no master key.)
    asks = {
        "SSE-S3 without a master key": dict(ServerSideEncryption="AES256"),
        "SSE-KMS": dict(ServerSideEncryption="aws:kms",
                        SSEKMSKeyId="arn:aws:kms:us-east-1:111122223333:key/k"),
        "storage class": dict(StorageClass="GLACIER"),
        "website redirect": dict(WebsiteRedirectLocation="/elsewhere"),
        "requester pays": dict(RequestPayer="requester"),
    }
    source = {"Bucket": BUCKET, "Key": "refused-source"}
    calls = {
        "PutObject": (s3.put_object, dict(Key="refused/put", Body=b"x" * 100)),
        "CreateMultipartUpload": (s3.create_multipart_upload, dict(Key="refused/mpu")),
        "CopyObject": (s3.copy_object, dict(Key="refused/copy", CopySource=source)),
        "CopyObject REPLACE": (s3.copy_object, dict(Key="refused/copy", CopySource=source,
                                                    MetadataDirective="REPLACE")),
        "UploadPart": (s3.upload_part, dict(Key="refused/part", UploadId=upload, PartNumber=1,
                                            Body=b"x" * 100)),
        "UploadPartCopy": (s3.upload_part_copy, dict(Key="refused/part", UploadId=upload,
                                                     PartNumber=1, CopySource=source)),
        "GetObject": (s3.get_object, dict(Key="refused-source")),
        "HeadObject": (s3.head_object, dict(Key="refused-source")),
    }
    tried = 0
    for operation, (call, base) in calls.items():
        takes = s3.meta.service_model.operation_model(operation.split()[0]).input_shape.members
        for name, extra in asks.items():
            if not all(param in takes for param in extra):
                continue
            want = (501, "NotImplemented") if operation != "HeadObject" else (501, "501")
            expect_error(f"{operation} with {name}",
                         lambda: call(Bucket=BUCKET, **base, **extra), *want)
            tried += 1
    if tried < 15:
        fail(f"only {tried} refusals tried")
    left = s3.list_objects_v2(Bucket=BUCKET, Prefix="refused/").get("Contents", [])
    if left:
        fail(f"refused requests stored {[o['Key'] for o in left]}")
    parts = s3.list_parts(Bucket=BUCKET, Key="refused/part", UploadId=upload).get("Parts", [])
    if parts:
        fail(f"refused UploadPart requests stored parts {parts}")
    uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="refused/").get("Uploads", [])
    if [u["UploadId"] for u in uploads] != [upload]:
        fail(f"refused CreateMultipartUpload requests started {uploads}")
    if s3.get_object(Bucket=BUCKET, Key="refused-source")["Body"].read() != b"source":
        fail("the copy source changed")
    s3.abort_multipart_upload(Bucket=BUCKET, Key="refused/part", UploadId=upload)

    # x-amz-expected-bucket-owner: checked, not ignored.
    owner = os.environ["DEPOT_ACCESS_KEY"]
    expect_error("GetObject with another expected owner",
                 lambda: s3.get_object(Bucket=BUCKET, Key="refused-source",
                                       ExpectedBucketOwner="123456789012"), 403, "AccessDenied")
    expect_error("PutObject with another expected owner",
                 lambda: s3.put_object(Bucket=BUCKET, Key="refused/owner", Body=b"x",
                                       ExpectedBucketOwner="123456789012"), 403, "AccessDenied")
    expect_error("head_object of what the refused put would have stored",
                 lambda: s3.head_object(Bucket=BUCKET, Key="refused/owner"), 404, "404")
    s3.put_object(Bucket=BUCKET, Key="refused/owner", Body=b"x", ExpectedBucketOwner=owner)
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "refused/owner"},
                                                         {"Key": "refused-source"}]})
    print(f"boto3: {tried} requests depot does not honour refused, nothing stored")


run(unhonoured)
PY
}

# A second server whose users come from a credentials file (two users and an admin), with its
# JSON access log on stdout: each user sees and uses only its own buckets, the admin every one.
credentials_file() {
  # A line that is not a user is refused, naming the word.
  printf 'CAROLKEY carol-secret owner\n' >bad-creds.txt
  "$depot" serve "$work/store2" --listen 127.0.0.1:0 --credentials bad-creds.txt 2>bad.err &&
    fail "a bad credentials line was accepted"
  grep -q '"owner" is not admin, id=ID or name=NAME' bad.err || fail "bad credentials line: $(cat bad.err)"
  local alice_id=79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be
  printf '# two users and an admin\nALICEKEY alice-secret id=%s name=alice\n\nBOBKEY   bob-secret   # trailing comment\nROOTKEY root-secret admin\n' \
    "$alice_id" >creds.txt
  chmod 600 creds.txt
  start_second json.out json.err "$work/store2" --credentials creds.txt --json
  local pid="$second_pid" second="$second_url"
  as() { # as USER SECRET aws-arguments...
    local user="$1" secret="$2"
    shift 2
    AWS_ACCESS_KEY_ID="$user" AWS_SECRET_ACCESS_KEY="$secret" /usr/bin/aws --endpoint-url "$second" "$@"
  }
  local checks=(
    "alice makes her bucket|0|as ALICEKEY alice-secret s3 mb s3://from-file"
    "alice writes to it|0|as ALICEKEY alice-secret s3 cp creds.txt s3://from-file/a.txt"
    "bob cannot list it|1|as BOBKEY bob-secret s3 ls s3://from-file"
    "bob cannot read from it|1|as BOBKEY bob-secret s3 cp s3://from-file/a.txt bob.txt"
    "bob cannot write to it|1|as BOBKEY bob-secret s3 cp creds.txt s3://from-file/b.txt"
    "bob cannot delete from it|1|as BOBKEY bob-secret s3api delete-object --bucket from-file --key a.txt"
    "bob cannot take its name|1|as BOBKEY bob-secret s3 mb s3://from-file"
    "bob makes his own|0|as BOBKEY bob-secret s3 mb s3://bobs"
    "bob cannot copy out of alice's|1|as BOBKEY bob-secret s3api copy-object --bucket bobs --key a.txt --copy-source from-file/a.txt"
    "the admin reads alice's|0|as ROOTKEY root-secret s3 cp s3://from-file/a.txt root.txt"
    "an unknown key is refused|1|as SERVETESTKEY serve-test-secret s3 ls s3://from-file"
  )
  local check name want command got
  for check in "${checks[@]}"; do
    IFS='|' read -r name want command <<<"$check"
    got=0
    $command >>users.out 2>>users.err || got=1
    [[ "$got" == "$want" ]] || { kill "$pid"; fail "$name: exit $got ($(tail -3 users.err))"; }
  done
  [[ "$(as BOBKEY bob-secret s3 ls s3://bobs/ | wc -l)" == 0 ]] ||
    { kill "$pid"; fail "bob's copy out of alice's bucket landed"; }
  grep -q 'AccessDenied' users.err || { kill "$pid"; fail "no AccessDenied: $(cat users.err)"; }
  grep -q 'BucketAlreadyExists' users.err || { kill "$pid"; fail "no BucketAlreadyExists: $(cat users.err)"; }
  grep -q 'InvalidAccessKeyId' users.err || { kill "$pid"; fail "no InvalidAccessKeyId: $(cat users.err)"; }
  cmp -s creds.txt root.txt || { kill "$pid"; fail "the admin read other bytes"; }
  [[ ! -e bob.txt ]] || { kill "$pid"; fail "bob got alice's object"; }
  [[ "$(as ALICEKEY alice-secret s3 ls | awk '{print $3}')" == "from-file" ]] ||
    { kill "$pid"; fail "alice's bucket list: $(as ALICEKEY alice-secret s3 ls)"; }
  [[ "$(as BOBKEY bob-secret s3 ls | awk '{print $3}')" == "bobs" ]] ||
    { kill "$pid"; fail "bob's bucket list: $(as BOBKEY bob-secret s3 ls)"; }
  [[ "$(as ROOTKEY root-secret s3 ls | awk '{print $3}' | tr '\n' ' ')" == "bobs from-file " ]] ||
    { kill "$pid"; fail "the admin's bucket list: $(as ROOTKEY root-secret s3 ls)"; }
  [[ "$(as ALICEKEY alice-secret s3 ls s3://from-file/ | awk '{print $4}' | tr '\n' ' ')" == "a.txt " ]] ||
    { kill "$pid"; fail "alice's bucket changed: $(as ALICEKEY alice-secret s3 ls s3://from-file/)"; }
  # Owners show by their canonical id and display name (bob by his access key).
  [[ "$(as ALICEKEY alice-secret s3api list-buckets --query 'Owner.[ID,DisplayName]' --output text)" == "$alice_id"$'\t'alice ]] ||
    { kill "$pid"; fail "alice as an owner: $(as ALICEKEY alice-secret s3api list-buckets --query Owner)"; }
  [[ "$(as ALICEKEY alice-secret s3api list-objects --bucket from-file --query 'Contents[0].Owner.ID' --output text)" == "$alice_id" ]] ||
    { kill "$pid"; fail "the owner of alice's objects"; }
  [[ "$(as BOBKEY bob-secret s3api list-buckets --query Owner.ID --output text)" == BOBKEY ]] ||
    { kill "$pid"; fail "bob as an owner: $(as BOBKEY bob-secret s3api list-buckets --query Owner)"; }
  as ALICEKEY alice-secret s3api head-bucket --bucket from-file --expected-bucket-owner "$alice_id" ||
    { kill "$pid"; fail "head-bucket --expected-bucket-owner with alice's id"; }
  kill -INT "$pid"
  wait "$pid" || fail "depot serve --credentials did not exit cleanly"
  /usr/bin/python3 - json.out <<'PY'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
first = lines[0]
assert first["method"] == "PUT" and first["target"] == "/from-file", first
assert first["status"] == 200 and first["access_key"] == "ALICEKEY", first
assert any(l["access_key"] == "BOBKEY" and l["status"] == 403 and l["error"] == "AccessDenied"
           for l in lines), "no refusal of bob logged"
assert any(l["access_key"] == "ROOTKEY" and l["status"] == 200 for l in lines), "no admin logged"
assert any(l["error"] == "InvalidAccessKeyId" for l in lines), "no unknown key logged"
for l in lines:
    for field in ("time", "client", "status", "bytes_in", "bytes_out", "ms", "request_id"):
        assert field in l, (field, l)
PY
  # A credentials file that is not one is refused with a message naming it.
  printf 'just-one-word\n' >bad-creds.txt
  if "$depot" serve "$work/store2" --listen 127.0.0.1:0 --credentials bad-creds.txt 2>bad.err; then
    fail "a malformed credentials file was accepted"
  fi
  grep -q 'bad-creds.txt" line 1' bad.err || fail "malformed credentials file: $(cat bad.err)"
}

# A server whose lifecycle day lasts a second: rules put with awscli, read and seen at work with
# boto3 (the worker expires an object, noncurrent versions and an old upload).
lifecycle() {
  start_second lc.out lc.err "$work/store-lc" --lifecycle-debug-interval 1
  local pid="$second_pid" lc="$second_url"
  lc_aws() { /usr/bin/aws --endpoint-url "$lc" "$@"; }
  local status=0
  {
    lc_aws s3api create-bucket --bucket lc-plain >/dev/null &&
      lc_aws s3api create-bucket --bucket lc-versioned >/dev/null &&
      lc_aws s3api put-bucket-versioning --bucket lc-versioned \
        --versioning-configuration Status=Enabled &&
      lc_aws s3api put-bucket-lifecycle-configuration --bucket lc-plain \
        --lifecycle-configuration '{"Rules": [{"ID": "tmp", "Filter": {"Prefix": "tmp/"},
          "Status": "Enabled", "Expiration": {"Days": 2}}, {"ID": "uploads", "Filter": {},
          "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]}' &&
      /usr/bin/python3 - "$lc" <<'PY'
import time

from interop_common import *

s3 = client()
rules = s3.get_bucket_lifecycle_configuration(Bucket="lc-plain")["Rules"]
if [r["ID"] for r in rules] != ["tmp", "uploads"] or rules[0]["Expiration"] != {"Days": 2}:
    fail(f"get_bucket_lifecycle_configuration: {rules}")
put = s3.put_object(Bucket="lc-plain", Key="tmp/a", Body=b"short-lived")
expiration = put["ResponseMetadata"]["HTTPHeaders"].get("x-amz-expiration", "")
if 'rule-id="tmp"' not in expiration:
    fail(f"no x-amz-expiration naming the rule on the PUT: {put['ResponseMetadata']}")
s3.put_object(Bucket="lc-plain", Key="keep/b", Body=b"kept")
upload = s3.create_multipart_upload(Bucket="lc-plain", Key="big")["UploadId"]
for _ in range(3):
    s3.put_object(Bucket="lc-versioned", Key="doc", Body=b"v")
s3.put_bucket_lifecycle_configuration(
    Bucket="lc-versioned", LifecycleConfiguration={"Rules": [
        {"ID": "old", "Prefix": "", "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
# Two one-second days, and the worker's passes (a tenth of a day apart): bounded waits.
deadline = time.time() + 20
while time.time() < deadline:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lc-plain").get("Contents", [])]
    uploads = s3.list_multipart_uploads(Bucket="lc-plain").get("Uploads", [])
    versions = s3.list_object_versions(Bucket="lc-versioned").get("Versions", [])
    if keys == ["keep/b"] and not uploads and len(versions) == 1:
        break
    time.sleep(0.2)
else:
    fail(f"the worker did not expire: keys {keys}, uploads {uploads}, versions {versions}")
if not versions[0]["IsLatest"]:
    fail(f"the latest version went: {versions}")
s3.delete_bucket_lifecycle(Bucket="lc-plain")
try:
    s3.get_bucket_lifecycle_configuration(Bucket="lc-plain")
    fail("a deleted lifecycle configuration still reads")
except botocore.exceptions.ClientError as e:
    if e.response["Error"]["Code"] != "NoSuchLifecycleConfiguration":
        fail(f"get after delete: {e.response['Error']}")
PY
  } || status=$?
  kill -INT "$pid"
  wait "$pid" || fail "depot serve --lifecycle-debug-interval did not exit cleanly"
  ((status == 0)) || fail "lifecycle checks failed (exit $status)"
}

# A server with a master key that takes customer keys over loopback HTTP: objects encrypted with
# SSE-C and SSE-S3 (asked for, and by the bucket's default) read back equal, and no file of the
# store holds their plaintext.
encryption() {
  head -c 32 /dev/urandom >master.key
  start_second sse.out sse.err "$work/store-sse" --sse-master-key master.key --allow-sse-c-over-http
  local pid="$second_pid" url="$second_url"
  local status=0
  /usr/bin/python3 - "$url" <<'PY' || status=$?
from interop_common import *

s3 = client()
s3.create_bucket(Bucket="sse")
plain = b"".join(b"confidential record %d\n" % i for i in range(20000))
key = bytes(range(32))
sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}  # boto3 adds the MD5
s3.put_object(Bucket="sse", Key="customer", Body=plain, **sse_c)
got = s3.get_object(Bucket="sse", Key="customer", **sse_c)
if got["Body"].read() != plain or got.get("SSECustomerAlgorithm") != "AES256":
    fail(f"SSE-C object read back other bytes or headers: {got['ResponseMetadata']}")
part = s3.get_object(Bucket="sse", Key="customer", Range="bytes=70000-70099", **sse_c)
if part["Body"].read() != plain[70000:70100]:
    fail("a range of the SSE-C object read other bytes")
expect_error("GET without the customer key",
             lambda: s3.get_object(Bucket="sse", Key="customer"), 400, "InvalidRequest")
expect_error("GET with another key",
             lambda: s3.get_object(Bucket="sse", Key="customer", SSECustomerAlgorithm="AES256",
                                   SSECustomerKey=bytes(32)), 400, "InvalidArgument")
put = s3.put_object(Bucket="sse", Key="service", Body=plain, ServerSideEncryption="AES256")
if put.get("ServerSideEncryption") != "AES256":
    fail(f"SSE-S3 put answered {put['ResponseMetadata']}")
if s3.get_object(Bucket="sse", Key="service")["Body"].read() != plain:
    fail("SSE-S3 object read back other bytes")
s3.put_bucket_encryption(Bucket="sse", ServerSideEncryptionConfiguration={"Rules": [
    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
rule = s3.get_bucket_encryption(Bucket="sse")["ServerSideEncryptionConfiguration"]["Rules"][0]
if rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] != "AES256":
    fail(f"get_bucket_encryption: {rule}")
head = s3.put_object(Bucket="sse", Key="by-default", Body=plain)
if head.get("ServerSideEncryption") != "AES256":
    fail("a PUT into a bucket with default encryption was not encrypted")
sizes = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket="sse")["Contents"]}
if set(sizes.values()) != {len(plain)}:
    fail(f"listing sizes are not the plaintext's: {sizes}")
expect_error("SSE-KMS", lambda: s3.put_object(Bucket="sse", Key="kms", Body=b"x",
                                              ServerSideEncryption="aws:kms"),
             501, "NotImplemented")
PY
  # awscli reads the SSE-S3 object (no key needed) and the SSE-C one with its key file.
  if ((status == 0)); then
    /usr/bin/aws --endpoint-url "$url" s3 cp --only-show-errors s3://sse/service sse.out.bin ||
      status=1
    /usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(32)))' >customer.key
    /usr/bin/aws --endpoint-url "$url" s3 cp --only-show-errors s3://sse/customer sse-c.out.bin \
      --sse-c AES256 --sse-c-key fileb://customer.key || status=1
    cmp -s sse.out.bin sse-c.out.bin || { echo "awscli read the two objects differently" >&2; status=1; }
  fi
  kill -INT "$pid"
  wait "$pid" || fail "depot serve --sse-master-key did not exit cleanly"
  ((status == 0)) || fail "encryption checks failed (exit $status)"
  if grep -rqa "confidential record 12345" "$work/store-sse"; then
    fail "the plaintext of an encrypted object is on disk"
  fi
}

versioning() {
  aws s3api create-bucket --bucket interop-versions >/dev/null
  aws s3api put-bucket-versioning --bucket interop-versions \
    --versioning-configuration Status=Enabled
  [[ "$(aws s3api get-bucket-versioning --bucket interop-versions --query Status --output text)" \
    == Enabled ]] || fail "get-bucket-versioning does not say Enabled"
  printf 'one' >v1.txt
  printf 'two' >v2.txt
  first="$(aws s3api put-object --bucket interop-versions --key doc --body v1.txt \
    --query VersionId --output text)"
  aws s3api put-object --bucket interop-versions --key doc --body v2.txt >/dev/null
  aws s3api get-object --bucket interop-versions --key doc --version-id "$first" v.back >/dev/null
  cmp v1.txt v.back || fail "awscli get-object --version-id read another version"
  [[ "$(aws s3api list-object-versions --bucket interop-versions \
    --query 'length(Versions)' --output text)" == 2 ]] || fail "list-object-versions: not 2"
  py <<'PY'
from interop_common import *


def versioning():
    s3 = client()
    bucket = "interop-versions"
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    latest = [v for v in versions if v["IsLatest"]]
    if len(latest) != 1 or s3.get_object(Bucket=bucket, Key="doc")["VersionId"] != \
            latest[0]["VersionId"]:
        fail(f"the latest version is not the one read: {versions}")
    deleted = s3.delete_object(Bucket=bucket, Key="doc")
    if not deleted.get("DeleteMarker"):
        fail(f"delete_object in a versioned bucket made no delete marker: {deleted}")
    try:
        s3.head_object(Bucket=bucket, Key="doc")
        fail("a deleted key still reads")
    except botocore.exceptions.ClientError as e:
        if e.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") != "true":
            fail(f"no x-amz-delete-marker on the 404: {e.response}")
    oldest = versions[-1]["VersionId"]
    copied = s3.copy_object(Bucket=bucket, Key="restored",
                            CopySource={"Bucket": bucket, "Key": "doc", "VersionId": oldest})
    if copied.get("CopySourceVersionId") != oldest:
        fail(f"copy_object did not name its source version: {copied}")
    if s3.get_object(Bucket=bucket, Key="restored")["Body"].read() != b"one":
        fail("the copy of the oldest version holds other bytes")
    # Every version and delete marker, removed by id: the bucket can then go.
    listed = s3.list_object_versions(Bucket=bucket)
    doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
              for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]
    if len(doomed) != 4:
        fail(f"expected 3 versions and a delete marker: {listed}")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed})
    if result.get("Errors") or len(result.get("Deleted", [])) != 4:
        fail(f"delete_objects by version: {result}")
    s3.delete_bucket(Bucket=bucket)
    print("boto3 versioning ok")


run(versioning)
PY
}

section "copy (awscli)" copy_awscli
section "copy (boto3)" copy_boto3
section "DeleteObjects (awscli, boto3)" delete_objects
section "listing with a delimiter in pages (awscli, boto3)" listing
section "ListParts, ListMultipartUploads (boto3)" multipart_listing
section "UploadPartCopy (boto3)" upload_part_copy
section "wrong secret (boto3, s3cmd)" wrong_secret
section "PUT after an empty PUT (boto3)" put_after_empty_put
section "range edges (boto3)" range_edges
section "S3 behaviours RGW gets right (boto3)" s3_behaviours
section "Web headers kept, returned and copied (awscli, boto3)" web_headers
section "every key S3 accepts (boto3, awscli)" every_key
section "HTTPS (awscli, boto3, s3cmd, depot)" https_clients
section "CORS rules (boto3, urllib)" cors_rules
section "2 GiB object (awscli, boto3)" huge_object
section "requests depot does not honour (boto3)" unhonoured_boto3
section "users kept apart, credentials file and JSON access log" credentials_file
section "versioning (awscli, boto3)" versioning
section "lifecycle rules on one-second days (awscli, boto3)" lifecycle
section "server-side encryption, SSE-C and SSE-S3 (boto3, awscli)" encryption

echo "== cleanup and stop"
aws s3 rm --only-show-errors --recursive s3://interop
aws s3 rb s3://interop >/dev/null
if aws s3 ls s3://interop 2>err.txt; then fail "the bucket is still there"; fi
grep -q NoSuchBucket err.txt || fail "ls of a removed bucket: $(cat err.txt)"
kill -INT "$server_pid"
wait "$server_pid" || fail "depot serve did not exit cleanly on SIGINT"
server_pid=""
grep -q "stopping" serve.log || fail "no stop message: $(cat serve.log)"
# One info line per request in the log, and one JSON object per request in the access log.
grep -q 'GET /interop/dir/big.bin 200' serve.log || fail "no request log line for a GET"
/usr/bin/python3 - access.jsonl <<'PY' || fail "access log: see above"
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
assert len(lines) > 50, f"only {len(lines)} requests logged"
assert any(l["status"] == 403 and l["error"] == "SignatureDoesNotMatch" for l in lines), \
    "the wrong-secret request is not in the access log"
assert any(l["method"] == "GET" and l["status"] == 206 for l in lines), "no ranged GET logged"
PY
if ((${#failed_sections[@]})); then
  printf 'serve_interop_test: FAIL: sections that failed:' >&2
  printf ' [%s]' "${failed_sections[@]}" >&2
  echo >&2
  exit 1
fi
echo "serve_interop_test: all checks passed"
