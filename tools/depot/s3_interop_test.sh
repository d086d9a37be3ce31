#!/usr/bin/env bash
# Interoperability of the `depot` tool with the reference S3 clients, on a real S3 gateway: what
# depot writes, awscli and boto3 read back byte for byte (and list under the same keys, with the
# same ETags), and what they write, depot reads back, lists, stats and removes.
#
#   tools/depot/s3_interop_test.sh path/to/depot
#       (registered with CTest as cli_s3_interop_test, labels cli;object;s3;integration)
#
# The gateway comes from DEPOT_TEST_S3_ENDPOINT (a loopback http URL such as
# http://127.0.0.1:7480), DEPOT_TEST_S3_ACCESS_KEY and DEPOT_TEST_S3_SECRET_KEY, as given by
# cmake/DepotS3Fixture.cmake. Without an endpoint the test is skipped (exit 77), or fails when
# DEPOT_TEST_INTEGRATION=1, so that CI cannot pass by skipping.
#
# The oracles are Debian's awscli v2 (/usr/bin/aws) and boto3 (/usr/bin/python3), called by
# absolute path because the image's PATH puts other versions first. Every AWS tool, depot
# included, gets its credentials and region from the environment, config and credential files
# inside a temporary directory (the user's ~/.aws is never read), no instance-metadata lookups,
# no proxies, and the endpoint explicitly: awscli's --endpoint-url (awscli 2.9 ignores
# AWS_ENDPOINT_URL and would go to AWS), boto3's endpoint_url, depot's AWS_ENDPOINT_URL_S3.
# Addressing is path-style everywhere; retries and timeouts are bounded.
#
# Each case makes its own bucket (depot-interop-PID-RANDOM-cN); every bucket made is removed at
# exit, also on failure, by boto3 (not by the depot under test): unfinished uploads aborted,
# objects deleted, bucket deleted.
#
# Output: one line per case ("case N ...: ok" or "... FAILED"), with what differed on stderr.
# Exit status: 0 all passed, 1 a check failed, 77 skipped.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: s3_interop_test.sh path/to/depot" >&2
  exit 2
fi
depot="$1"
[[ -x "$depot" ]] || { echo "s3_interop_test: $depot is not an executable" >&2; exit 1; }
depot="$(cd "$(dirname "$depot")" && pwd)/$(basename "$depot")"

# skip_or_fail MESSAGE: exit 77, or 1 under DEPOT_TEST_INTEGRATION=1.
skip_or_fail() {
  if [[ "${DEPOT_TEST_INTEGRATION:-}" == 1 ]]; then
    echo "s3_interop_test: FAIL: $1 (DEPOT_TEST_INTEGRATION=1: the S3 interop test must run)" >&2
    exit 1
  fi
  echo "s3_interop_test: SKIPPED: $1" >&2
  exit 77
}

endpoint="${DEPOT_TEST_S3_ENDPOINT:-}"
[[ -n "$endpoint" ]] ||
  skip_or_fail "DEPOT_TEST_S3_ENDPOINT is not set (no S3 gateway; see cmake/DepotS3Fixture.cmake)"
access_key="${DEPOT_TEST_S3_ACCESS_KEY:?DEPOT_TEST_S3_ACCESS_KEY must be set with the endpoint}"
secret_key="${DEPOT_TEST_S3_SECRET_KEY:?DEPOT_TEST_S3_SECRET_KEY must be set with the endpoint}"
# Loopback only: this test creates and deletes buckets.
if [[ ! "$endpoint" =~ ^http://(127\.[0-9]+\.[0-9]+\.[0-9]+|localhost|\[::1\])(:[0-9]+)?/?$ ]]; then
  echo "s3_interop_test: FAIL: DEPOT_TEST_S3_ENDPOINT=$endpoint is not a loopback http URL" >&2
  exit 1
fi

aws_bin=/usr/bin/aws
python_bin=/usr/bin/python3
[[ -x "$aws_bin" ]] || skip_or_fail "$aws_bin (Debian's awscli) is not installed"
"$python_bin" -c 'import boto3' 2>/dev/null ||
  skip_or_fail "$python_bin cannot import boto3 (Debian's python3-boto3 is not installed)"

work="$(mktemp -d "${TMPDIR:-/tmp}/depot-s3-interop-XXXXXX")"
buckets=()  # every bucket this run made (or tried to make), removed at exit

cleanup() {
  local rc=$?
  if ((${#buckets[@]} > 0)); then
    py_ cleanup "${buckets[@]}" >&2 ||
      echo "s3_interop_test: cleanup of ${buckets[*]} failed" >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$work"

# --- the environment every AWS tool runs in -----------------------------------------------------
# Nothing from the caller's AWS setup may leak in: not a profile, a session token, an endpoint
# (depot gets its own below), a CA bundle or a proxy.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ENDPOINT_URL \
  AWS_ENDPOINT_URL_S3 AWS_CA_BUNDLE AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_USE_FIPS_ENDPOINT \
  AWS_S3_US_EAST_1_REGIONAL_ENDPOINT http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy \
  ALL_PROXY
export NO_PROXY='127.0.0.1,localhost,::1' no_proxy='127.0.0.1,localhost,::1'
export AWS_ACCESS_KEY_ID="$access_key" AWS_SECRET_ACCESS_KEY="$secret_key"
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
export AWS_CONFIG_FILE="$work/aws.config" AWS_SHARED_CREDENTIALS_FILE="$work/aws.credentials"
export LC_ALL=C.UTF-8 PYTHONIOENCODING=utf-8
: >"$AWS_SHARED_CREDENTIALS_FILE"
# awscli: path-style, its transfer sizes pinned (so "multipart" below does not depend on the
# version's defaults), bounded retries.
cat >"$AWS_CONFIG_FILE" <<'EOF'
[default]
region = us-east-1
retry_mode = standard
max_attempts = 3
s3 =
  addressing_style = path
  multipart_threshold = 8MB
  multipart_chunksize = 8MB
  max_concurrent_requests = 4
EOF

aws_() {
  "$aws_bin" --endpoint-url "$endpoint" --cli-connect-timeout 5 --cli-read-timeout 60 "$@"
}
depot_() { AWS_ENDPOINT_URL_S3="$endpoint" "$depot" "$@"; }
py_() { DEPOT_S3_ENDPOINT="$endpoint" "$python_bin" "$work/s3util.py" "$@"; }

# The boto3 side, one process per batch of operations (importing boto3 costs ~0.4 s).
cat >"$work/s3util.py" <<'EOF'
"""boto3 helper for s3_interop_test.sh: s3util.py COMMAND ARGS... (see each command below)."""
import hashlib
import os
import sys

import boto3
import botocore.config
import botocore.exceptions
from boto3.s3.transfer import TransferConfig

MIB = 1024 * 1024


def client():
    config = botocore.config.Config(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.client(
        "s3",
        endpoint_url=os.environ["DEPOT_S3_ENDPOINT"],
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
        config=config,
    )


def get(bucket, *pairs):
    """get BUCKET KEY OUT [KEY OUT]...: writes OUT.dl (download_fileobj), OUT.go (get_object).

    A key that fails leaves no file and an error on stderr; the others are still read."""
    s3 = client()
    failed = False
    for key, out in zip(pairs[0::2], pairs[1::2]):
        for path, how in ((out + ".dl", "download_fileobj"), (out + ".go", "get_object")):
            try:
                with open(path, "wb") as f:
                    if how == "download_fileobj":
                        s3.download_fileobj(bucket, key, f)
                    else:
                        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
                        for chunk in iter(lambda: body.read(MIB), b""):
                            f.write(chunk)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                failed = True
                os.remove(path)
                print(f"{how} {key!r}: {e}", file=sys.stderr)
    sys.exit(1 if failed else 0)


def list_keys(bucket, prefix=""):
    """list BUCKET [PREFIX]: every key, one a line, in the server's order (pages of 3 keys)."""
    s3 = client()
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 3})
    for page in pages:
        for obj in page.get("Contents", []):
            print(obj["Key"])


def prefixes(bucket, prefix):
    """prefixes BUCKET PREFIX: the common prefixes under PREFIX at '/', one a line."""
    s3 = client()
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/")
    for page in pages:
        for p in page.get("CommonPrefixes", []):
            print(p["Prefix"])


def upload_multipart(bucket, key, path, part_size):
    """upload-multipart BUCKET KEY FILE PART_BYTES: upload_file, multipart above PART_BYTES."""
    size = int(part_size)
    config = TransferConfig(multipart_threshold=size, multipart_chunksize=size,
                            max_concurrency=2, use_threads=True)
    client().upload_file(path, bucket, key, Config=config)


def put(bucket, key, path, content_type, *metadata):
    """put BUCKET KEY FILE CONTENT_TYPE [NAME=VALUE]...: put_object with type and metadata."""
    with open(path, "rb") as f:
        client().put_object(Bucket=bucket, Key=key, Body=f.read(), ContentType=content_type,
                            Metadata=dict(m.split("=", 1) for m in metadata))


def put_keys(bucket, *pairs):
    """put-keys BUCKET KEY FILE [KEY FILE]...: plain put_object of each file."""
    s3 = client()
    for key, path in zip(pairs[0::2], pairs[1::2]):
        with open(path, "rb") as f:
            s3.put_object(Bucket=bucket, Key=key, Body=f.read())


def multipart_etag(path, part_size):
    """multipart-etag FILE PART_BYTES: S3's ETag of FILE uploaded in parts of PART_BYTES."""
    size = int(part_size)
    digests = []
    with open(path, "rb") as f:
        for part in iter(lambda: f.read(size), b""):
            digests.append(hashlib.md5(part).digest())
    print(f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}")


def cleanup(*buckets):
    """cleanup BUCKET...: aborts uploads, deletes objects, deletes the bucket; gone is fine."""
    s3 = client()
    for bucket in buckets:
        try:
            for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
                for upload in page.get("Uploads", []):
                    s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"],
                                              UploadId=upload["UploadId"])
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            s3.delete_bucket(Bucket=bucket)
        except s3.exceptions.NoSuchBucket:
            pass
        except botocore.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") != "NoSuchBucket":
                print(f"cleanup of {bucket}: {e}", file=sys.stderr)


COMMANDS = {"get": get, "list": list_keys, "prefixes": prefixes,
            "upload-multipart": upload_multipart, "put": put, "put-keys": put_keys,
            "multipart-etag": multipart_etag, "cleanup": cleanup}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
EOF

# --- checks -------------------------------------------------------------------------------------
# Every helper records a failure and returns 0, so that one case reports all that differed and
# the next cases still run; `set -e` only catches the script's own mistakes.
failures=0
case_failures=0
out="$work/out"
err="$work/err"

fail() {
  echo "  FAIL: $*" >&2
  failures=$((failures + 1))
  case_failures=$((case_failures + 1))
}
show_output() {
  echo "    stdout: $(head -c 1500 "$out")" >&2
  echo "    stderr: $(head -c 1500 "$err")" >&2
}

# run TOOL EXPECTED ARGS...: runs depot_, aws_ or py_ with ARGS, stdout to $out, stderr to
# $err. EXPECTED is an exit code, or "!" for any failure. Sets $ok to 1 on the expected outcome,
# else records the failure and sets it to 0; `when_ok CHECK...` then runs CHECK only if it is 1.
ok=0
run() {
  local tool="$1" expected="$2" rc=0
  shift 2
  "${tool}_" "$@" >"$out" 2>"$err" || rc=$?
  ok=1
  if [[ "$expected" == "!" ]]; then
    ((rc != 0)) && return 0
    fail "$tool $* succeeded, expected a failure"
  else
    ((rc == expected)) && return 0
    fail "$tool $* exited $rc, expected $expected"
  fi
  show_output
  ok=0
}

when_ok() {
  ((ok)) || return 0
  "$@"
}

# same FILE EXPECTED WHAT: FILE is byte for byte EXPECTED.
same() {
  local got="$1" want="$2" what="$3" diff
  if [[ ! -f "$got" ]]; then
    fail "$what: $got was not written"
  elif ! diff="$(cmp -- "$want" "$got" 2>&1)"; then
    fail "$what: differs from $want ($(stat -c %s -- "$got") bytes, expected" \
      "$(stat -c %s -- "$want")): $diff"
  fi
}

# expect_eq GOT WANT WHAT (several lines: the diff is shown, "-" expected, "+" got)
expect_eq() {
  [[ "$1" == "$2" ]] && return 0
  if [[ "$1" == *$'\n'* || "$2" == *$'\n'* ]]; then
    fail "$3 differ (- expected, + got):"
    { diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$1") || true; } | tail -n +4 |
      sed 's/^/      /' >&2
  else
    fail "$3: got \"$1\", expected \"$2\""
  fi
}

# stdout_has TEXT / stderr_has TEXT (fixed strings).
stdout_has() { grep -qF -- "$1" "$out" || { fail "stdout lacks \"$1\""; show_output; }; }
stderr_has() { grep -qF -- "$1" "$err" || { fail "stderr lacks \"$1\""; show_output; }; }

# A field of `depot stat` output in $out: "etag", "content type", ...
stat_field() { sed -n "/^$1: */{s///p;q}" "$out"; }

# The keys of a `depot ls` listing in $out, one a line, in its order (objects only).
ls_keys() { grep -v '^ *PRE ' "$out" | sed -E 's/^[0-9-]+ [0-9:]+ +[0-9]+ //' || true; }

# The keys of an `aws s3api list-objects-v2 --output json` answer in $out.
json_keys() {
  "$python_bin" -c 'import json, sys
try:
    answer = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit(0)
for o in answer.get("Contents", []): print(o["Key"])' "$out"
}

# An ETag without its quotes.
unquote() { local e="${1#\"}"; printf '%s' "${e%\"}"; }

# aws_etag BUCKET KEY: sets $etag to the ETag head-object reports (unquoted), "" on failure.
etag=""
aws_etag() {
  etag=""
  run aws 0 s3api head-object --bucket "$1" --key "$2" --query ETag --output text
  if ((ok)); then etag="$(unquote "$(<"$out")")"; fi
}

# new_bucket NAME: sets $bucket to a name unique to this run, remembered for the cleanup.
bucket=""
new_bucket() {
  bucket="depot-interop-$$-${RANDOM}-$1"
  buckets+=("$bucket")
}

case_start() {
  case_failures=0
  case_name="$1"
  case_started=$SECONDS
}
case_end() {
  local took=$((SECONDS - case_started))
  if ((case_failures == 0)); then
    echo "$case_name: ok (${took}s)"
  else
    echo "$case_name: FAILED ($case_failures check(s), ${took}s)"
  fi
}

MIB=$((1024 * 1024))
head -c 0 /dev/urandom >f0.bin
head -c 1 /dev/urandom >f1.bin
head -c $((5 * MIB + 1)) /dev/urandom >f5.bin
head -c $((40 * MIB)) /dev/urandom >f40.bin

# --- case 1: depot writes (single PUT and multipart), awscli and boto3 read -----------------------
case1() {
  case_start "case 1 depot mb+cp (0 B, 1 B, 5 MiB+1 single PUT, 40 MiB multipart) -> aws, boto3"
  new_bucket c1
  local b="$bucket"
  run depot 0 mb "s3://$b"; when_ok stdout_has "make_bucket: s3://$b"
  run aws 0 s3api head-bucket --bucket "$b"

  local name key
  for name in f0 f1 f5; do
    run depot 0 cp "$name.bin" "s3://$b/single/$name.bin"
  done
  run depot 0 cp f40.bin "s3://$b/multi/f40.bin" --part-size 8MiB --parallel 4

  local -a pairs=()
  for key in single/f0.bin single/f1.bin single/f5.bin multi/f40.bin; do
    name="$(basename "$key" .bin)"
    run aws 0 s3 cp --only-show-errors "s3://$b/$key" "$name.aws"
    same "$name.aws" "$name.bin" "aws s3 cp s3://$b/$key"
    pairs+=("$key" "$name.boto")
  done
  run py 0 get "$b" "${pairs[@]}"
  for name in f0 f1 f5 f40; do
    same "$name.boto.dl" "$name.bin" "boto3 download_fileobj of $name.bin"
    same "$name.boto.go" "$name.bin" "boto3 get_object of $name.bin"
  done

  # depot hash of the objects, streamed from the gateway, is b3sum's of the files.
  for key in single/f0.bin single/f5.bin multi/f40.bin; do
    name="$(basename "$key" .bin)"
    run depot 0 hash --no-names "s3://$b/$key"
    when_ok expect_eq "$(<"$out")" "$(b3sum --no-names "$name.bin")" "depot hash s3://$b/$key"
  done

  # ETags: what depot stat says is what the gateway says; single PUTs are the MD5 of the bytes,
  # the multipart one is S3's MD5 of the parts' MD5s with "-5" (40 MiB in 8 MiB parts).
  local depot_etag want
  for key in single/f0.bin single/f1.bin single/f5.bin multi/f40.bin; do
    name="$(basename "$key" .bin)"
    aws_etag "$b" "$key"
    run depot 0 stat "s3://$b/$key"
    depot_etag="$(stat_field etag)"
    expect_eq "$(unquote "$depot_etag")" "$etag" "depot stat s3://$b/$key etag vs aws head-object"
    if [[ "$key" == single/* ]]; then
      want="$(md5sum "$name.bin" | cut -d' ' -f1)"
      expect_eq "$etag" "$want" "ETag of the single PUT $key (the MD5 of its bytes)"
    else
      [[ "$etag" =~ -[0-9]+$ ]] || fail "ETag of the multipart $key is \"$etag\", not \"...-N\""
      run py 0 multipart-etag f40.bin $((8 * MIB))
      want="$(<"$out")"
      expect_eq "$etag" "$want" "ETag of the multipart $key (8 MiB parts)"
    fi
  done
  case_end
}

# --- case 2: awkward keys written by depot, listed and read identically by awscli and boto3 ------
case2() {
  case_start "case 2 depot cp of awkward keys -> aws/boto3 list and read them identically"
  new_bucket c2
  local b="$bucket"
  run depot 0 mb "s3://$b"
  local -a keys=(
    "k/with space.txt"
    "k/two  spaces and trailing space "
    "k/unicodé/日本語 ファイル.bin"
    "k/emoji 🦀.txt"
    "k/plus+sign+.txt"
    "k/percent%20not-an-escape%.txt"
    "k/percent%2Fslash%25.txt"
    "k/tilde~home~.txt"
    "k/a/b/c/d/e/nested.txt"
    "k/double//slash.txt"
    "k/reserved &=?#@:;,\$!*'().txt"
    "k/brackets [x]{y}<z>|^\`.txt"
    "k/back\\slash.txt"
  )
  local -a files=() pairs=()
  local i key
  for i in "${!keys[@]}"; do
    # Distinct contents, so that two keys mixed up are caught too.
    { printf 'key %d: %s\n' "$i" "${keys[$i]}"; head -c $((1000 + i * 37)) /dev/urandom; } >"k$i.bin"
    files+=("k$i.bin")
    run depot 0 cp "k$i.bin" "s3://$b/${keys[$i]}"
    pairs+=("${keys[$i]}" "k$i.boto")
  done

  local want
  want="$(printf '%s\n' "${keys[@]}" | sort)"
  run depot 0 ls -r "s3://$b/"
  local depot_keys
  depot_keys="$(ls_keys)"
  expect_eq "$(sort <<<"$depot_keys")" "$want" "depot ls -r s3://$b/ keys"
  run aws 0 s3api list-objects-v2 --bucket "$b" --output json
  local aws_keys
  aws_keys="$(json_keys)"
  expect_eq "$aws_keys" "$(sort <<<"$aws_keys")" "aws list-objects-v2 order (byte order)"
  expect_eq "$aws_keys" "$want" "aws s3api list-objects-v2 keys"
  run py 0 list "$b"
  expect_eq "$(<"$out")" "$want" "boto3 list_objects_v2 keys (pages of 3)"
  expect_eq "$depot_keys" "$aws_keys" "depot ls -r order vs aws list-objects-v2 order"

  # One level at "/": depot's PRE lines and the clients' common prefixes agree.
  run depot 0 ls "s3://$b/k/"
  local depot_prefixes
  depot_prefixes="$(sed -n 's/^ *PRE //p' "$out")"
  run py 0 prefixes "$b" k/
  expect_eq "$depot_prefixes" "$(<"$out")" "depot ls s3://$b/k/ PRE lines vs boto3 CommonPrefixes"

  for i in "${!keys[@]}"; do
    run aws 0 s3api get-object --bucket "$b" --key "${keys[$i]}" "k$i.aws"
    same "k$i.aws" "k$i.bin" "aws s3api get-object of \"${keys[$i]}\""
  done
  run py 0 get "$b" "${pairs[@]}"
  for i in "${!keys[@]}"; do
    same "k$i.boto.dl" "k$i.bin" "boto3 download_fileobj of \"${keys[$i]}\""
    same "k$i.boto.go" "k$i.bin" "boto3 get_object of \"${keys[$i]}\""
  done
  # And depot itself, both ways.
  for i in "${!keys[@]}"; do
    run depot 0 cp "s3://$b/${keys[$i]}" "k$i.depot"
    same "k$i.depot" "k$i.bin" "depot cp of \"${keys[$i]}\""
  done
  case_end
}

# --- case 3: awscli and boto3 write, depot reads, lists and stats ---------------------------------
case3() {
  case_start "case 3 aws s3 cp (multipart), boto3 upload_file (multipart) and put_object -> depot"
  new_bucket c3
  local b="$bucket"
  run aws 0 s3api create-bucket --bucket "$b"
  head -c $((20 * MIB + 7)) /dev/urandom >a20.bin
  head -c $((12 * MIB + 3)) /dev/urandom >p12.bin
  printf '{"hello": "depot"}\n' >meta.json
  run aws 0 s3 cp --only-show-errors a20.bin "s3://$b/from-aws/a20.bin"
  run py 0 upload-multipart "$b" "from-boto/p12.bin" p12.bin $((5 * MIB))
  run py 0 put "$b" "from-boto/meta.json" meta.json "application/json; charset=utf-8" \
    color=blue depot-case=3
  local -a keys=("from-boto/üñí cödé +~%.bin" "from-boto/x/y/z w.bin")
  run py 0 put-keys "$b" "${keys[0]}" f1.bin "${keys[1]}" f5.bin

  # The clients really made multipart objects: awscli in 8 MiB parts, boto3 in 5 MiB parts.
  local etag
  aws_etag "$b" from-aws/a20.bin
  [[ "$etag" == *-3 ]] || fail "aws s3 cp of 20 MiB: ETag \"$etag\", expected 3 parts (\"...-3\")"
  run depot 0 stat "s3://$b/from-aws/a20.bin"
  expect_eq "$(stat_field etag)" "$etag" "depot stat etag of the awscli multipart object"
  aws_etag "$b" from-boto/p12.bin
  [[ "$etag" == *-3 ]] || fail "boto3 upload_file of 12 MiB: ETag \"$etag\", expected \"...-3\""
  run depot 0 stat "s3://$b/from-boto/p12.bin"
  expect_eq "$(stat_field etag)" "$etag" "depot stat etag of the boto3 multipart object"

  run depot 0 cp "s3://$b/from-aws/a20.bin" a20.depot
  same a20.depot a20.bin "depot cp of the awscli multipart object"
  run depot 0 cp "s3://$b/from-boto/p12.bin" p12.depot --part-size 1MiB --parallel 3
  same p12.depot p12.bin "depot cp (1 MiB read-ahead chunks) of the boto3 multipart object"
  run depot 0 cp "s3://$b/from-boto/meta.json" meta.depot
  same meta.depot meta.json "depot cp of the boto3 put_object object"
  run depot 0 cp "s3://$b/${keys[0]}" k0.depot
  same k0.depot f1.bin "depot cp of boto3's \"${keys[0]}\""
  run depot 0 cp "s3://$b/${keys[1]}" k1.depot
  same k1.depot f5.bin "depot cp of boto3's \"${keys[1]}\""

  # Ranges (A-B includes B, as HTTP), including one across awscli's 8 MiB part boundary.
  local -a ranges=("0-1" "0-100" "$((8 * MIB - 100))-$((8 * MIB + 100))" "$((20 * MIB))-" "-7"
    "$((20 * MIB + 6))-$((20 * MIB + 6))")
  local r start end
  for r in "${ranges[@]}"; do
    run depot 0 cat --range "$r" "s3://$b/from-aws/a20.bin"
    start="${r%%-*}"
    end="${r#*-}"
    if [[ -z "$start" ]]; then
      tail -c "$end" a20.bin >want.range
    elif [[ -z "$end" ]]; then
      tail -c +"$((start + 1))" a20.bin >want.range
    else
      head -c "$((end + 1))" a20.bin | tail -c "$((end + 1 - start))" >want.range
    fi
    same "$out" want.range "depot cat --range $r of the awscli object"
  done
  run depot 0 cat --range 2-6 "s3://$b/from-boto/meta.json"
  expect_eq "$(<"$out")" 'hello' "depot cat --range 2-6 of the boto3 object"

  run depot 0 ls -r "s3://$b/"
  local listed
  listed="$(ls_keys)"
  expect_eq "$(sort <<<"$listed")" "$(printf '%s\n' from-aws/a20.bin from-boto/meta.json \
    from-boto/p12.bin "${keys[@]}" | sort)" "depot ls -r s3://$b/"
  grep -qE " $((20 * MIB + 7)) from-aws/a20\.bin$" "$out" ||
    { fail "depot ls -r: no line for from-aws/a20.bin with size $((20 * MIB + 7))"; show_output; }
  run depot 0 ls "s3://$b/"
  stdout_has "PRE from-aws/"
  stdout_has "PRE from-boto/"

  run depot 0 stat "s3://$b/from-boto/meta.json"
  expect_eq "$(stat_field "content type")" "application/json; charset=utf-8" \
    "depot stat content type of the boto3 put_object object"
  stdout_has "color=blue"
  stdout_has "depot-case=3"
  stdout_has "size:                19"
  case_end
}

# --- case 4: depot rm of what aws wrote; depot rb refuses a full bucket, rb --force empties it ----
case4() {
  case_start "case 4 depot rm of aws's objects, rb of a non-empty bucket, rb --force"
  new_bucket c4
  local b="$bucket"
  run aws 0 s3 mb "s3://$b"
  run aws 0 s3 cp --only-show-errors f1.bin "s3://$b/gone/one.bin"
  run aws 0 s3 cp --only-show-errors f5.bin "s3://$b/stays/five.bin"
  run aws 0 s3 cp --only-show-errors f1.bin "s3://$b/stays/with space+plus.bin"

  run depot 0 rm "s3://$b/gone/one.bin"
  run aws ! s3api head-object --bucket "$b" --key gone/one.bin; when_ok stderr_has "404"
  run aws 0 s3api list-objects-v2 --bucket "$b" --output json
  expect_eq "$(json_keys)" "$(printf '%s\n' "stays/five.bin" "stays/with space+plus.bin")" \
    "aws list-objects-v2 after depot rm"
  run depot 1 rm "s3://$b/gone/one.bin"; when_ok stderr_has "NotFound"

  # An unfinished upload too: rb --force must abort it.
  run aws 0 s3api create-multipart-upload --bucket "$b" --key "stays/unfinished.bin"

  run depot 1 rb "s3://$b"; when_ok stderr_has "BucketNotEmpty"
  grep -qF "s3://$b" "$err" || { fail "depot rb: the error does not name s3://$b"; show_output; }
  run aws 0 s3api list-objects-v2 --bucket "$b" --output json
  expect_eq "$(json_keys)" "$(printf '%s\n' "stays/five.bin" "stays/with space+plus.bin")" \
    "aws list-objects-v2 after the refused depot rb"
  run depot 0 rb --force "s3://$b"; when_ok stdout_has "remove_bucket: s3://$b"
  run aws ! s3api head-bucket --bucket "$b"; when_ok stderr_has "404"
  case_end
}

# --- case 5: kv backups in S3: depot kv backup to the gateway, aws sees the blobs, restore ------
case5() {
  case_start "case 5 depot kv backup/restore of RocksDB, SQLite and LMDB stores through S3"
  new_bucket c5
  local b="$bucket"
  run depot 0 mb "s3://$b"
  for scheme in rocksdb sqlite lmdb; do
    local src="$scheme://$PWD/kv-$scheme" dst="$scheme://$PWD/kv-$scheme-restored"
    if [[ "$scheme" == sqlite ]]; then src="$src.db"; dst="$dst.db"; fi
    for i in $(seq 1 20); do "$depot" kv put "$src" "key$i" "value $i" --space s 2>/dev/null; done
    run depot 0 kv backup "$src" "s3://$b/kv/$scheme/"; when_ok stdout_has "space s: 20 keys"
    run aws 0 s3 ls "s3://$b/kv/$scheme/backups/"; when_ok stdout_has ".json"
    run depot 0 kv restore "s3://$b/kv/$scheme/" "$dst"; when_ok stdout_has "restored "
    run depot 0 kv get "$dst" key17 --space s; when_ok stdout_has "value 17"
  done
  run depot 0 rb --force "s3://$b"
  case_end
}

started=$SECONDS
echo "s3_interop_test: depot $depot, gateway $endpoint, $("$aws_bin" --version 2>&1 | cut -d' ' -f1)," \
  "boto3 $("$python_bin" -c 'import boto3; print(boto3.__version__)')"
case1
case2
case3
case4
case5

if ((failures > 0)); then
  echo "s3_interop_test: $failures check(s) failed ($((SECONDS - started))s)" >&2
  exit 1
fi
echo "s3_interop_test: all checks passed ($((SECONDS - started))s)"
