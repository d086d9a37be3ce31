#!/usr/bin/env bash
# depot serve against today's AWS SDKs with their default settings, over HTTP and HTTPS: the
# newest boto3 on the machine (pyenv's Python 3.11) and the AWS SDK for JavaScript v3 (npm,
# installed by scripts/install-deps into .cache/test-tools/js). Over HTTPS both send aws-chunked
# bodies whose CRC checksum trails them (STREAMING-UNSIGNED-PAYLOAD-TRAILER); over HTTP a
# checksum header. Each puts a small object, uploads one in parts, and reads both back with
# checksum validation asked for: the checksums they sent were kept and come back (boto3 also reads
# the object's attributes and single parts). (A wrong trailing checksum storing nothing is
# server_s3_test's.)
#   sdk_defaults_test.sh DEPOT_BINARY
# A missing SDK skips (exit 77), and fails under DEPOT_TEST_INTEGRATION=1.
set -euo pipefail

depot="$(realpath "$1")"
repo="$(realpath "$(dirname "$0")/../..")"
test_name=sdk_defaults_test
source "$(dirname "$(realpath "$0")")/test_common.sh"

python=""
for candidate in "$HOME"/.pyenv/versions/3.11*/bin/python; do
  if [[ -x "$candidate" ]] && "$candidate" -c 'import boto3' 2>/dev/null; then python="$candidate"; fi
done
[[ -n "$python" ]] || missing "no Python 3.11 with boto3 under ~/.pyenv (the newest boto3 here)"
js="$repo/.cache/test-tools/js"
[[ -f "$js/node_modules/@aws-sdk/client-s3/package.json" ]] ||
  missing "the AWS SDK for JavaScript is not in $js (scripts/install-deps installs it)"
command -v node >/dev/null || missing "node is not installed"
echo "boto3 $("$python" -c 'import boto3; print(boto3.__version__)'), @aws-sdk/client-s3" \
  "$(node -e "console.log(require('$js/node_modules/@aws-sdk/client-s3/package.json').version)")"

bash "$repo/src/depot/server/testing/make_test_ca.sh" "$work/tls"
export DEPOT_ACCESS_KEY=SDKKEY DEPOT_SECRET_KEY=sdk-secret AWS_EC2_METADATA_DISABLED=true
start_serve plain
plain="$endpoint"
start_serve secure --tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server.key"
secure="$endpoint"
export AWS_CA_BUNDLE="$work/tls/ca.pem" NODE_EXTRA_CA_CERTS="$work/tls/ca.pem"

for endpoint in "$plain" "$secure"; do
  echo "== boto3 $endpoint"
  "$python" - "$endpoint" <<'PY'
import os, sys
import boto3

endpoint = sys.argv[1]
# Defaults but for where and who: no checksum, addressing or retry setting.
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=os.environ["DEPOT_ACCESS_KEY"],
                  aws_secret_access_key=os.environ["DEPOT_SECRET_KEY"])
bucket = "py-" + ("tls" if endpoint.startswith("https") else "plain")
s3.create_bucket(Bucket=bucket)
s3.put_object(Bucket=bucket, Key="small", Body=b"from the newest boto3")
data = os.urandom(21 * 1024 * 1024 + 5)
with open("py.bin", "wb") as f:
    f.write(data)
s3.upload_file("py.bin", bucket, "big")  # 8 MiB parts by default
def fail(message):
    raise SystemExit(f"sdk_defaults_test: FAIL: boto3: {message}")
for key, want in (("small", b"from the newest boto3"), ("big", data)):
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    if got["Body"].read() != want:
        fail(f"read back {key} different")
    # The checksum the SDK sent was kept, and came back for it to check (a full-object one) or
    # to show (a multipart object's composite one).
    if not any(name.startswith("Checksum") and name != "ChecksumType" for name in got):
        fail(f"GET {key} with ChecksumMode=ENABLED answered no checksum: {sorted(got)}")
part = 8 * 1024 * 1024
attributes = s3.get_object_attributes(
    Bucket=bucket, Key="big", ObjectAttributes=["ETag", "Checksum", "ObjectParts", "ObjectSize"])
parts = attributes.get("ObjectParts", {})
if attributes.get("ObjectSize") != len(data) or parts.get("TotalPartsCount") != 3 or \
        [p["Size"] for p in parts.get("Parts", [])] != [part, part, len(data) - 2 * part] or \
        "Checksum" not in attributes:
    fail(f"GetObjectAttributes of big: {attributes}")
head = s3.head_object(Bucket=bucket, Key="big", PartNumber=3)
if head.get("PartsCount") != 3 or head["ContentLength"] != len(data) - 2 * part:
    fail(f"HEAD big part 3: {head}")
got = s3.get_object(Bucket=bucket, Key="big", PartNumber=2)["Body"].read()
if got != data[part:2 * part]:
    fail("GET big part 2 gave other bytes")
print("boto3", boto3.__version__, "put, multipart, get with checksums, parts and attributes ok")
PY
  echo "== JavaScript SDK v3 $endpoint"
  NODE_PATH="$js/node_modules" node - "$endpoint" <<'JS'
const { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand } =
    require("@aws-sdk/client-s3");
const { Upload } = require("@aws-sdk/lib-storage");
const { randomBytes } = require("crypto");
const endpoint = process.argv[2];
// Defaults but for where and who (and path-style addressing: 127.0.0.1 has no bucket subdomains).
const s3 = new S3Client({
  endpoint, region: "us-east-1", forcePathStyle: true,
  credentials: {accessKeyId: process.env.DEPOT_ACCESS_KEY,
                secretAccessKey: process.env.DEPOT_SECRET_KEY}});
const bucket = "js-" + (endpoint.startsWith("https") ? "tls" : "plain");
(async () => {
  await s3.send(new CreateBucketCommand({Bucket: bucket}));
  await s3.send(new PutObjectCommand({Bucket: bucket, Key: "small", Body: "from the JS SDK"}));
  const data = randomBytes(12 * 1024 * 1024 + 3);
  await new Upload({client: s3, params: {Bucket: bucket, Key: "big", Body: data},
                    partSize: 5 * 1024 * 1024}).done();
  for (const [key, want] of [["small", Buffer.from("from the JS SDK")], ["big", data]]) {
    const got = await s3.send(new GetObjectCommand({Bucket: bucket, Key: key,
                                                    ChecksumMode: "ENABLED"}));
    const bytes = Buffer.from(await got.Body.transformToByteArray());
    if (!bytes.equals(want)) throw new Error(`read back ${key} different`);
    // The checksum the SDK sent was kept and came back (checked by the SDK when full-object).
    if (!Object.keys(got).some((name) => name.startsWith("Checksum") && name !== "ChecksumType")) {
      throw new Error(`GET ${key} with ChecksumMode answered no checksum`);
    }
  }
  console.log("JS SDK put, multipart and get ok");
})().catch((e) => { console.error("sdk_defaults_test: FAIL: JS SDK:", e); process.exit(1); });
JS
done
echo "sdk_defaults_test: all checks passed"
