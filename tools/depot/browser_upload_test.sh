#!/usr/bin/env bash
# depot serve as a web application's upload target, in a real headless browser (Debian's
# chromium): a page served from another origin uploads with fetch() through a presigned PUT
# (a CORS preflight first) and through a presigned POST form (boto3's generate_presigned_post),
# and reads the ETag the bucket's CORS rules expose. The same page from an origin the rules do
# not allow is blocked by the browser, and stores nothing.
#   browser_upload_test.sh DEPOT_BINARY
# Without chromium it skips (exit 77), and fails under DEPOT_TEST_INTEGRATION=1.
set -euo pipefail

depot="$(realpath "$1")"
test_name=browser_upload_test
source "$(dirname "$(realpath "$0")")/test_common.sh"

browser="$(command -v chromium || true)"
[[ -n "$browser" ]] || missing "chromium is not installed (scripts/install-deps installs it)"

export DEPOT_ACCESS_KEY=BROWSERKEY DEPOT_SECRET_KEY=browser-secret
start_serve store

# The page's own server, on another port: another origin.
page_port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir site
/usr/bin/python3 -m http.server "$page_port" --bind 127.0.0.1 --directory site >page.log 2>&1 &
pids+=($!)
allowed="http://127.0.0.1:$page_port"

export AWS_EC2_METADATA_DISABLED=true
# The bucket, its CORS rules, and the page with a presigned PUT URL and a presigned POST form.
/usr/bin/python3 - "$endpoint" "$allowed" <<'PY'
import json, os, sys
import boto3
from botocore.config import Config

endpoint, origin = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=os.environ["DEPOT_ACCESS_KEY"],
                  aws_secret_access_key=os.environ["DEPOT_SECRET_KEY"],
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
s3.create_bucket(Bucket="webapp")
s3.put_bucket_cors(Bucket="webapp", CORSConfiguration={"CORSRules": [{
    "AllowedOrigins": [origin], "AllowedMethods": ["PUT", "POST", "GET"],
    "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60}]})
put_url = s3.generate_presigned_url("put_object", ExpiresIn=600,
                                    Params={"Bucket": "webapp", "Key": "from-browser/put.txt",
                                            "ContentType": "text/plain"})
post = s3.generate_presigned_post("webapp", "from-browser/${filename}", ExpiresIn=600,
                                  Fields={"Content-Type": "text/plain"},
                                  Conditions=[["starts-with", "$key", "from-browser/"],
                                              ["content-length-range", 1, 10000],
                                              {"Content-Type": "text/plain"}])
page = """<!doctype html><html><body><pre id="result">running</pre><script>
const put = %s, post = %s;
async function run() {
  const out = [];
  try {
    const r = await fetch(put, {method: "PUT", headers: {"Content-Type": "text/plain"},
                                body: "put by the browser"});
    out.push("PUT " + r.status + " etag=" + r.headers.get("ETag"));
  } catch (e) { out.push("PUT blocked " + e); }
  try {
    const form = new FormData();
    for (const [name, value] of Object.entries(post.fields)) form.append(name, value);
    form.append("file", new Blob(["posted by the browser"], {type: "text/plain"}), "post.txt");
    const r = await fetch(post.url, {method: "POST", body: form});
    out.push("POST " + r.status + " etag=" + r.headers.get("ETag"));
  } catch (e) { out.push("POST blocked " + e); }
  document.getElementById("result").textContent = "RESULT " + out.join(" | ");
}
run();
</script></body></html>""" % (json.dumps(put_url), json.dumps(post))
with open("site/upload.html", "w") as f:
    f.write(page)
PY

# load ORIGIN: what the page reports after running in chromium.
load() {
  timeout 90 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --user-data-dir="$work/profile-$RANDOM" --virtual-time-budget=20000 \
    --dump-dom "$1/upload.html" 2>browser.err | grep -o 'RESULT PUT[^<]*' || true
}

for _ in $(seq 50); do
  curl -sf -o /dev/null "$allowed/upload.html" && break
  sleep 0.1
done
result="$(load "$allowed")"
echo "from $allowed: $result"
[[ "$result" == *"PUT 200 etag=\""* ]] || fail "the presigned PUT from the page: ${result:-no result ($(tail -5 browser.err))}"
[[ "$result" == *"POST 204 etag=\""* ]] || fail "the presigned POST from the page: $result"

# The same page from another origin (localhost is not 127.0.0.1 to a browser): the preflight is
# refused, and the browser blocks the PUT; the POST (a "simple" request, no preflight) reaches
# the server and stores, but the page may not read the answer.
blocked="$(load "http://localhost:$page_port")"
echo "from http://localhost:$page_port: $blocked"
[[ "$blocked" == *"PUT blocked"* ]] || fail "a page from an origin no rule allows was not blocked: $blocked"
[[ "$blocked" == *"POST blocked"* ]] || fail "a page from another origin read the POST's answer: $blocked"

/usr/bin/python3 - "$endpoint" <<'PY'
import os, sys
import boto3
from botocore.config import Config

s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=os.environ["DEPOT_ACCESS_KEY"],
                  aws_secret_access_key=os.environ["DEPOT_SECRET_KEY"],
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
for key, want in (("from-browser/put.txt", b"put by the browser"),
                  ("from-browser/post.txt", b"posted by the browser")):
    got = s3.get_object(Bucket="webapp", Key=key)
    if got["Body"].read() != want or got["ContentType"] != "text/plain":
        raise SystemExit(f"browser_upload_test: FAIL: {key} holds something else")
print("browser_upload_test: the browser's uploads are stored")
PY
echo "browser_upload_test: all checks passed"
