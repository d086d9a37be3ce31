#!/usr/bin/python3
# serve_load_test.py: `depot serve` under many concurrent boto3 clients, with every answer checked
# against a model of what each key may hold.
#
# Usage: /usr/bin/python3 serve_load_test.py /path/to/depot
# Environment: DEPOT_LOAD_SECONDS (default 20), DEPOT_LOAD_THREADS (default 32),
#              DEPOT_LOAD_SEED (default: random; printed: it repeats every thread's choices,
#              though not how the threads interleave).
#
# It starts `depot serve` on a fresh local store in a temporary directory, on a free loopback port,
# and runs THREADS threads for SECONDS seconds, each with its own boto3 client (Debian's boto3 1.26
# under /usr/bin/python3), doing a random mix of PutObject (0..256 KiB, some empty, overwrites),
# multipart uploads (a part of 5 MiB or more and a second part; some aborted), GetObject (whole and
# ranged: a-b, a-, suffix), HeadObject, ListObjectsV2 (prefix, sometimes a delimiter, sometimes
# pages of 7) and DeleteObject, on keys of which some are shared by every thread and the rest each
# belong to one thread. The threads belong to two users from a credentials file, alternately,
# each user with its own bucket; now and then a thread reads, writes, deletes or lists in the other
# user's bucket, which must be refused with 403 AccessDenied (and the final read-back of both
# buckets shows that nothing it tried landed).
#
# The model: each key has a history of writes (a put's bytes, or a delete), each with the logical
# times its request was sent and its answer came back. A read sent at S and answered at E may
# return any write that started before E and was not overwritten before S, that is, unless some
# other write started after it was acknowledged and was itself acknowledged before S. That is what
# an atomic (linearizable) register allows: whole contents of some legitimate write, never a mix,
# never a stale value once a newer write was acknowledged. Listings are checked key by key the same
# way (a listed key must be possibly present with that size and ETag; an absent one possibly
# absent). After the threads stop: every key is read back and must hold one of its possible
# values, a full listing (V2 in pages, and V1) must show exactly the keys that exist, the server's
# connection threads must go away once the clients close, and SIGINT must stop it cleanly.
#
# Every request must succeed: no retries are allowed (one attempt each), so a 5xx, a reset, a body
# cut short or a timeout (15 s without an answer) is counted and fails the run. 404s for keys that
# may be deleted, and 416 for ranges past the end of an object that may be that short, are expected
# and counted apart. Clients keep their connections, so what one request leaves on a connection
# meets the next: botocore sends `Expect: 100-continue` on every PutObject and UploadPart, empty
# bodies included. Exit status: 0 if everything held, 1 otherwise (a missing boto3 or binary is a
# failure too, never a skip). About 25 s when the server keeps up.
#
# Rules it keeps: loopback only; explicit credentials; AWS_EC2_METADATA_DISABLED=true; no AWS
# config or credentials file is read (both point at /dev/null); no proxies.
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SECONDS = float(os.environ.get("DEPOT_LOAD_SECONDS", "20"))
THREADS = int(os.environ.get("DEPOT_LOAD_THREADS", "32"))
SEED = int(os.environ.get("DEPOT_LOAD_SEED", str(random.SystemRandom().randrange(1 << 32))))
# Two users, each with its own bucket (no admin): threads alternate between them, and now and
# then one tries the other's bucket, which must be refused (403 AccessDenied) and change nothing.
USERS = [("LOADALICE", "alice-load-secret", "load-alice"),
         ("LOADBOB", "bob-load-secret", "load-bob")]
MAX_OPS_PER_THREAD = 1_000_000  # the clock ends a run; this only bounds the loop
MAX_CONCURRENT_MULTIPART = 3    # each holds about 10 MiB in this process and on disk
MAX_REPORTED = 40               # failure messages printed (all are counted)
KIB, MIB = 1024, 1024 * 1024

for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
             "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "HTTP_PROXY",
             "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(name, None)
os.environ.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
                  AWS_SHARED_CREDENTIALS_FILE="/dev/null", NO_PROXY="127.0.0.1",
                  no_proxy="127.0.0.1")

try:
    import boto3
    import botocore.exceptions
    from botocore.config import Config
except ImportError as e:
    print(f"serve_load_test: FAIL: boto3 is missing under {sys.executable}: {e} "
          "(apt-get install python3-boto3)", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Failures and counters


class Tally:
    """Counters and failure messages, shared by every thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.failures = []
        self.failure_count = 0
        self.counts = {}  # name -> int

    def fail(self, message):
        with self.lock:
            self.failure_count += 1
            if len(self.failures) < MAX_REPORTED:
                self.failures.append(message)

    def add(self, name, n=1):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + n

    def get(self, name):
        with self.lock:
            return self.counts.get(name, 0)


tally = Tally()


# ---------------------------------------------------------------------------------------------
# The model


INF = float("inf")


class Write:
    """One put (data is the bytes) or delete (data is None) of a key, with its logical times."""

    __slots__ = ("data", "etag", "start", "end", "what")

    def __init__(self, data, etag, start, end, what):
        self.data, self.etag, self.start, self.end, self.what = data, etag, start, end, what

    def describe(self):
        state = "deleted" if self.data is None else f"{len(self.data)} bytes {self.etag}"
        end = "never acknowledged" if self.end == INF else f"acked at {self.end}"
        return f"{self.what} ({state}, sent at {self.start}, {end})"


class Model:
    """Per key, the writes that a read may still legitimately see. One lock; a logical clock."""

    def __init__(self, keys):
        self.lock = threading.Lock()
        self.clock = 0
        # Time 0: nothing exists. That is a delete, acknowledged at once.
        self.history = {key: [Write(None, None, 0, 0, "initially absent")] for key in keys}
        self.active = set()  # send times of requests in flight (reads, writes, listings)

    def _tick(self):
        self.clock += 1
        return self.clock

    def begin(self):
        with self.lock:
            start = self._tick()
            self.active.add(start)
            return start

    def begin_write(self, key, data, etag, what):
        with self.lock:
            write = Write(data, etag, self._tick(), INF, what)
            self.history[key].append(write)
            self.active.add(write.start)
            return write

    def end_write(self, key, write, acknowledged):
        # A write whose answer never came may or may not have happened: it stays possible forever.
        with self.lock:
            self.active.discard(write.start)
            if acknowledged:
                write.end = self._tick()
            self._prune(key)

    def _possible(self, key, start):
        # A write W is overwritten for a read sent at `start` if another write started after W was
        # acknowledged and was itself acknowledged before `start`.
        history = self.history[key]
        cutoff = max((w.start for w in history if w.end < start), default=-1)
        return [w for w in history if w.end >= cutoff]

    def _prune(self, key):
        # Drop writes no request in flight (nor any later one) can see any more.
        oldest = min(self.active) if self.active else self.clock + 1
        self.history[key] = self._possible(key, oldest)

    def end_read(self, start, keys):
        """The writes each key's read (sent at `start`, answered now) may have seen."""
        with self.lock:
            self.active.discard(start)
            return {key: self._possible(key, start) for key in keys}

    def newest_size(self, key):
        with self.lock:
            sizes = [len(w.data) for w in self.history[key] if w.data is not None]
            return max(sizes) if sizes else 0


def md5_etag(data):
    return '"' + hashlib.md5(data).hexdigest() + '"'


def multipart_etag(parts):
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def summary(possible):
    return "; ".join(w.describe() for w in possible)


# ---------------------------------------------------------------------------------------------
# The server


class Server:
    def __init__(self, depot, work):
        self.log_path = os.path.join(work, "serve.log")
        self.log = open(self.log_path, "wb")
        credentials = os.path.join(work, "credentials")
        with open(os.open(credentials, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.writelines(f"{access} {secret}\n" for access, secret, _ in USERS)
        self.process = subprocess.Popen(
            [depot, "serve", os.path.join(work, "store"), "--listen", "127.0.0.1:0",
             "--credentials", credentials],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.endpoint = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.process.poll() is None:
            for word in self.read_log().split():
                if word.startswith("http://127.0.0.1:"):
                    self.endpoint = word.rstrip(".,;")
            if self.endpoint:
                break
            time.sleep(0.05)
        if not self.endpoint:
            self.kill()
            raise SystemExit(f"serve_load_test: FAIL: depot serve did not start: {self.read_log()}")

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def threads(self):
        try:
            return len(os.listdir(f"/proc/{self.process.pid}/task"))
        except OSError:
            return -1

    def stop(self):
        """SIGINT, as a user would; returns the exit status (None if it had to be killed)."""
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None
        finally:
            self.log.close()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def make_client(session, endpoint):
    return session.client(
        "s3", endpoint_url=endpoint,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"mode": "standard", "total_max_attempts": 1},
                      max_pool_connections=2, connect_timeout=10, read_timeout=15))


# ---------------------------------------------------------------------------------------------
# One request, timed and classified


class Outcome:
    """What a request came back with: a response, or an S3 error (status and code)."""

    __slots__ = ("response", "status", "code", "message")

    def __init__(self, response=None, status=None, code=None, message=""):
        self.response, self.status, self.code, self.message = response, status, code, message

    @property
    def ok(self):
        return self.response is not None


class Worker:
    def __init__(self, index, client, bucket, other_bucket, model, shared_keys, own_keys,
                 all_keys, seed):
        self.index = index
        self.s3 = client
        self.bucket = bucket
        self.other_bucket = other_bucket
        self.model = model
        self.shared_keys = shared_keys
        self.own_keys = own_keys
        self.all_keys = all_keys
        self.rng = random.Random(seed)
        self.latency = {}  # op -> [seconds]

    # Requests: each one attempt; what failed is reported here, once.
    def request(self, op, key, fn, expected=()):
        """Runs fn(); S3 errors whose (status, code) is in `expected` are returned, not reported."""
        began = time.monotonic()
        try:
            response = fn()
            outcome = Outcome(response=response)
        except botocore.exceptions.ClientError as e:
            meta = e.response.get("ResponseMetadata", {})
            status = meta.get("HTTPStatusCode")
            code = e.response.get("Error", {}).get("Code")
            outcome = Outcome(status=status, code=code,
                              message=e.response.get("Error", {}).get("Message", ""))
            if (status, code) not in expected:
                kind = "5xx" if status and status >= 500 else "unexpected_4xx"
                tally.add(kind)
                tally.fail(f"{op} {key!r}: HTTP {status} {code}: {outcome.message}")
        except (botocore.exceptions.BotoCoreError, OSError) as e:
            # Connection refused or reset, closed mid-response, read timeouts: none may happen.
            tally.add("connection_errors")
            tally.fail(f"{op} {key!r}: {type(e).__name__}: {e}")
            outcome = Outcome(status=None, code=type(e).__name__, message=str(e))
        self.latency.setdefault(op, []).append(time.monotonic() - began)
        tally.add("requests")
        return outcome

    def pick_key(self):
        return self.rng.choice(self.shared_keys if self.rng.random() < 0.5 else self.own_keys)

    def random_size(self):
        r = self.rng.random()
        if r < 0.05:
            return 0
        if r < 0.45:
            return self.rng.randint(1, 4 * KIB)
        return self.rng.randint(4 * KIB, 256 * KIB)

    # Operations

    def put(self):
        key = self.pick_key()
        data = os.urandom(self.random_size())
        etag = md5_etag(data)
        write = self.model.begin_write(key, data, etag, f"put by thread {self.index}")
        out = self.request("put", key,
                           lambda: self.s3.put_object(Bucket=self.bucket, Key=key, Body=data))
        self.model.end_write(key, write, out.ok)
        if out.ok and out.response.get("ETag") != etag:
            tally.fail(f"put {key!r}: ETag {out.response.get('ETag')} is not the MD5 {etag}")

    def delete(self):
        key = self.pick_key()
        write = self.model.begin_write(key, None, None, f"delete by thread {self.index}")
        out = self.request("delete", key, lambda: self.s3.delete_object(Bucket=self.bucket, Key=key))
        self.model.end_write(key, write, out.ok)
        if out.ok and out.response["ResponseMetadata"]["HTTPStatusCode"] != 204:
            tally.fail(f"delete {key!r}: HTTP {out.response['ResponseMetadata']['HTTPStatusCode']}"
                       ", not 204")

    def multipart(self, gate):
        if not gate.acquire(blocking=False):
            return self.put()
        try:
            self._multipart()
        finally:
            gate.release()

    def _multipart(self):
        key = self.pick_key()
        parts = [os.urandom(5 * MIB + self.rng.randint(0, 64 * KIB)),
                 os.urandom(self.rng.randint(1, 5 * MIB + 64 * KIB))]
        out = self.request("multipart_create", key,
                           lambda: self.s3.create_multipart_upload(Bucket=self.bucket, Key=key))
        if not out.ok:
            return
        upload_id = out.response["UploadId"]
        abort = self.rng.random() < 0.2
        etags = []
        for number, part in enumerate(parts[:1] if abort else parts, start=1):
            out = self.request("multipart_part", key, lambda: self.s3.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part))
            if not out.ok:
                abort = True
                break
            if out.response.get("ETag") != md5_etag(part):
                tally.fail(f"upload_part {key!r} #{number}: ETag {out.response.get('ETag')}, "
                           f"expected {md5_etag(part)}")
            etags.append(out.response.get("ETag"))
        if abort:
            # The key must not change: nothing enters the model.
            self.request("multipart_abort", key, lambda: self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id))
            return
        data = b"".join(parts)
        etag = multipart_etag(parts)
        write = self.model.begin_write(key, data, etag, f"multipart upload by thread {self.index}")
        out = self.request("multipart_complete", key, lambda: self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                       for n, e in enumerate(etags, start=1)]}))
        self.model.end_write(key, write, out.ok)
        if out.ok and out.response.get("ETag") != etag:
            tally.fail(f"complete {key!r}: ETag {out.response.get('ETag')}, expected {etag}")

    def get(self):
        key = self.pick_key()
        start = self.model.begin()

        def call():
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
            response["Data"] = response["Body"].read()
            return response

        out = self.request("get", key, call, expected={(404, "NoSuchKey")})
        possible = self.model.end_read(start, [key])[key]
        check_get(key, out, possible, "get")

    def get_range(self):
        key = self.pick_key()
        size = self.model.newest_size(key)
        kind = self.rng.choice(["a-b", "a-b", "a-", "-n"])
        a = self.rng.randint(0, size + 16)
        if kind == "a-b":
            spec = (a, a + self.rng.randint(0, 64 * KIB))
            header = f"bytes={spec[0]}-{spec[1]}"
        elif kind == "a-":
            spec = (a, None)
            header = f"bytes={a}-"
        else:
            spec = (None, self.rng.randint(1, size + 16))
            header = f"bytes=-{spec[1]}"
        start = self.model.begin()

        def call():
            response = self.s3.get_object(Bucket=self.bucket, Key=key, Range=header)
            response["Data"] = response["Body"].read()
            return response

        out = self.request("get_range", key, call,
                           expected={(404, "NoSuchKey"), (416, "InvalidRange")})
        possible = self.model.end_read(start, [key])[key]
        check_range(key, header, spec, out, possible)

    def head(self):
        key = self.pick_key()
        start = self.model.begin()
        out = self.request("head", key, lambda: self.s3.head_object(Bucket=self.bucket, Key=key),
                           expected={(404, "404")})
        possible = self.model.end_read(start, [key])[key]
        if out.ok:
            size, etag = out.response["ContentLength"], out.response.get("ETag")
            if not any(w.data is not None and len(w.data) == size and w.etag == etag
                       for w in possible):
                tally.add("mismatches")
                tally.fail(f"head {key!r}: {size} bytes {etag}, none of: {summary(possible)}")
        elif out.status == 404:
            note_missing(key, possible, "head")

    def list(self):
        r = self.rng.random()
        if r < 0.3:
            prefix, delimiter = "shared/", "/"
        elif r < 0.5:
            prefix, delimiter = "shared/", None
        elif r < 0.6:
            prefix, delimiter = "shared/a/", None
        elif r < 0.8:
            prefix, delimiter = f"t{self.index:02}/", None
        else:
            prefix, delimiter = f"t{self.rng.randrange(THREADS):02}/", None
        page_size = self.rng.choice([7, 1000])
        start = self.model.begin()
        listed, prefixes, error = list_all(self, prefix, delimiter, page_size)
        keys = [k for k in self.all_keys if k.startswith(prefix)]
        possible = self.model.end_read(start, keys)
        if error is None:
            check_listing(f"list prefix={prefix!r} delimiter={delimiter!r} page={page_size}",
                          prefix, delimiter, listed, prefixes, possible)

    def trespass(self):
        """A read, write, delete or listing in the other user's bucket: 403, never anything else."""
        key = self.pick_key()
        refused = {(403, "AccessDenied")}
        bucket = self.other_bucket
        attempt = self.rng.choice([
            ("trespass_get", lambda: self.s3.get_object(Bucket=bucket, Key=key)),
            ("trespass_put", lambda: self.s3.put_object(Bucket=bucket, Key=key, Body=b"intruder")),
            ("trespass_delete", lambda: self.s3.delete_object(Bucket=bucket, Key=key)),
            ("trespass_list", lambda: self.s3.list_objects_v2(Bucket=bucket)),
        ])
        out = self.request(attempt[0], key, attempt[1], expected=refused)
        if out.ok:
            tally.add("mismatches")
            tally.fail(f"{attempt[0]} {key!r} in {bucket} (another user's bucket) succeeded")
        else:
            tally.add("expected_403")

    def run(self, deadline, gate):
        ops = [(self.put, 28), (self.get, 18), (self.get_range, 12), (self.head, 10),
               (self.list, 7), (self.delete, 10), (lambda: self.multipart(gate), 1.2),
               (self.trespass, 2)]
        functions = [f for f, _ in ops]
        weights = [w for _, w in ops]
        for _ in range(MAX_OPS_PER_THREAD):
            if time.monotonic() >= deadline:
                break
            try:
                self.rng.choices(functions, weights)[0]()
            except Exception:  # a bug here, or an answer boto3 could not parse
                tally.add("harness_errors")
                tally.fail(f"thread {self.index}: {traceback.format_exc()}")


# ---------------------------------------------------------------------------------------------
# Checks of answers against the model


def note_missing(key, possible, op):
    if any(w.data is None for w in possible):
        tally.add("expected_404")
    else:
        tally.add("mismatches")
        tally.fail(f"{op} {key!r}: 404, but it must exist: {summary(possible)}")


def check_get(key, out, possible, op):
    if out.ok:
        data, etag = out.response["Data"], out.response.get("ETag")
        same = [w for w in possible if w.data is not None and w.data == data]
        if not same:
            tally.add("mismatches")
            tally.fail(f"{op} {key!r}: {len(data)} bytes (md5 {hashlib.md5(data).hexdigest()}) "
                       f"are none of: {summary(possible)}")
        elif not any(w.etag == etag for w in same):
            tally.add("mismatches")
            tally.fail(f"{op} {key!r}: right bytes, but ETag {etag} and not {same[0].etag}")
        if out.response.get("ContentLength") != len(data):
            tally.fail(f"{op} {key!r}: Content-Length {out.response.get('ContentLength')} for "
                       f"{len(data)} bytes")
    elif out.status == 404:
        note_missing(key, possible, op)


def range_of(spec, size):
    """(first, last) of the range `spec` in an object of `size` bytes, or None: unsatisfiable."""
    a, b = spec
    if a is None:  # suffix: the last b bytes
        return (max(0, size - b), size - 1) if size > 0 else None
    if a >= size:
        return None
    return (a, size - 1 if b is None else min(b, size - 1))


def check_range(key, header, spec, out, possible):
    # An empty object holds no range at all: S3 answers 416 InvalidRange (RFC 9110 also lets a
    # server ignore the Range and send the whole, empty, object with 200). A 206 is never right.
    present = [w for w in possible if w.data is not None]
    if out.ok:
        data = out.response["Data"]
        status = out.response["ResponseMetadata"]["HTTPStatusCode"]
        content_range = out.response.get("ContentRange")
        etag = out.response.get("ETag")
        for w in present:
            r = range_of(spec, len(w.data))
            if r is None:
                if not w.data and status == 200 and not data and etag == w.etag:
                    return
            elif (status == 206 and data == w.data[r[0]:r[1] + 1] and etag == w.etag
                  and content_range == f"bytes {r[0]}-{r[1]}/{len(w.data)}"):
                return
        tally.add("mismatches")
        tally.fail(f"get {key!r} {header}: HTTP {status}, Content-Range {content_range}, "
                   f"{len(data)} bytes, ETag {etag}: not that range of any of: {summary(possible)}")
    elif out.status == 416:
        if any(range_of(spec, len(w.data)) is None for w in present):
            tally.add("expected_416")
        else:
            tally.add("mismatches")
            tally.fail(f"get {key!r} {header}: 416, but every possible value holds that range: "
                       f"{summary(possible)}")
    elif out.status == 404:
        note_missing(key, possible, "get_range")


def list_all(worker, prefix, delimiter, page_size):
    """Every page of a ListObjectsV2; (keys with (size, etag), common prefixes, error or None)."""
    listed, prefixes, token = [], [], None
    for page in range(1000):
        args = dict(Bucket=worker.bucket, Prefix=prefix, MaxKeys=page_size)
        if delimiter:
            args["Delimiter"] = delimiter
        if token:
            args["ContinuationToken"] = token
        out = worker.request("list", prefix, lambda: worker.s3.list_objects_v2(**args))
        if not out.ok:
            return listed, prefixes, out.code
        response = out.response
        contents = response.get("Contents", [])
        common = [p["Prefix"] for p in response.get("CommonPrefixes", [])]
        if response.get("KeyCount") != len(contents) + len(common):
            tally.fail(f"list {prefix!r}: KeyCount {response.get('KeyCount')} for {len(contents)} "
                       f"keys and {len(common)} common prefixes")
        if len(contents) + len(common) > page_size:
            tally.fail(f"list {prefix!r}: {len(contents) + len(common)} entries in a page of "
                       f"{page_size}")
        listed += [(o["Key"], o["Size"], o["ETag"]) for o in contents]
        prefixes += common
        if not response.get("IsTruncated"):
            return listed, prefixes, None
        token = response.get("NextContinuationToken")
        if not token:
            tally.fail(f"list {prefix!r}: truncated without a NextContinuationToken")
            return listed, prefixes, "no token"
    tally.fail(f"list {prefix!r}: more than 1000 pages")
    return listed, prefixes, "endless"


def check_listing(what, prefix, delimiter, listed, prefixes, possible):
    names = [k for k, _, _ in listed]
    if names != sorted(names) or len(set(names)) != len(names):
        tally.fail(f"{what}: keys not sorted or repeated: {names}")
    if prefixes != sorted(set(prefixes)):
        tally.fail(f"{what}: common prefixes not sorted or repeated: {prefixes}")

    def rolled_up(key):  # the common prefix a key falls under, or None
        if not delimiter:
            return None
        cut = key.find(delimiter, len(prefix))
        return key[:cut + len(delimiter)] if cut >= 0 else None

    entries = {k: (size, etag) for k, size, etag in listed}
    for key, (size, etag) in entries.items():
        if key not in possible or rolled_up(key) is not None:
            tally.fail(f"{what}: lists {key!r}, which it should not")
            continue
        if not any(w.data is not None and len(w.data) == size and w.etag == etag
                   for w in possible[key]):
            tally.add("mismatches")
            tally.fail(f"{what}: lists {key!r} ({size} bytes {etag}), none of: "
                       f"{summary(possible[key])}")
    under = {}
    for key, candidates in possible.items():
        group = rolled_up(key)
        if group is not None:
            under.setdefault(group, []).append(key)
        elif key not in entries and not any(w.data is None for w in candidates):
            tally.add("mismatches")
            tally.fail(f"{what}: leaves out {key!r}, which must exist: {summary(candidates)}")
    for group in prefixes:
        if group not in under:
            tally.fail(f"{what}: common prefix {group!r} holds none of the test's keys")
        elif not any(w.data is not None for k in under[group] for w in possible[k]):
            tally.add("mismatches")
            tally.fail(f"{what}: common prefix {group!r}, but none of its keys can exist")
    for group, keys in under.items():
        if group not in prefixes and any(all(w.data is not None for w in possible[k])
                                         for k in keys):
            tally.add("mismatches")
            tally.fail(f"{what}: leaves out common prefix {group!r}, but one of its keys must "
                       "exist")


# ---------------------------------------------------------------------------------------------
# The final state


def final_checks(client, bucket, model, keys):
    """Every key read back, then full listings (V2 in pages of 50, V1 in pages of 37)."""
    checker = Worker(-1, client, bucket, None, model, [], [], keys, 0)
    existing = {}
    for key in keys:
        start = model.begin()

        def call():
            response = client.get_object(Bucket=bucket, Key=key)
            response["Data"] = response["Body"].read()
            return response

        out = checker.request("final_get", key, call, expected={(404, "NoSuchKey")})
        possible = model.end_read(start, [key])[key]
        check_get(key, out, possible, "final get")
        if out.ok:
            existing[key] = (len(out.response["Data"]), out.response.get("ETag"))
    print(f"final state of {bucket}: {len(existing)} of {len(keys)} keys exist")

    listed, prefixes, error = list_all(checker, "", None, 50)
    if error is None:
        got = {k: (size, etag) for k, size, etag in listed}
        if got != existing:
            extra = sorted(set(got) - set(existing))
            missing = sorted(set(existing) - set(got))
            differ = sorted(k for k in set(got) & set(existing) if got[k] != existing[k])
            tally.fail(f"final ListObjectsV2: lists {extra} that do not exist, leaves out "
                       f"{missing}, and differs in size or ETag for {differ}")
    v1, marker = {}, ""
    for _ in range(1000):
        out = checker.request("final_list_v1", "", lambda: client.list_objects(
            Bucket=bucket, MaxKeys=37, Marker=marker))
        if not out.ok:
            break
        contents = out.response.get("Contents", [])
        v1.update((o["Key"], (o["Size"], o["ETag"])) for o in contents)
        if not out.response.get("IsTruncated"):
            if v1 != existing:
                tally.fail(f"final ListObjects (V1): {sorted(v1)} but the keys that exist are "
                           f"{sorted(existing)}")
            break
        marker = out.response.get("NextMarker") or (contents[-1]["Key"] if contents else "")
        if not marker:
            tally.fail("final ListObjects (V1): truncated, but no marker to go on from")
            break


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    if len(sys.argv) != 2:
        print("usage: serve_load_test.py /path/to/depot", file=sys.stderr)
        return 2
    depot = os.path.realpath(sys.argv[1])
    if not os.access(depot, os.X_OK):
        print(f"serve_load_test: FAIL: {depot} is not an executable", file=sys.stderr)
        return 1
    print(f"serve_load_test: {THREADS} threads for {SECONDS:g} s, seed {SEED} "
          f"(DEPOT_LOAD_SEED={SEED} repeats the choices)")
    work = tempfile.mkdtemp(prefix="depot-serve-load.")
    server = None
    clients = []
    try:
        server = Server(depot, work)
        print(f"depot serve at {server.endpoint}")
        setups, models, keysets, clients_of = [], [], [], []
        shared = ([f"shared/k{i:02}" for i in range(8)] +
                  [f"shared/{d}/k{i:02}" for d in "ab" for i in range(8)] +
                  ["shared/odd key+ü%~.bin"])
        own = [[f"t{t:02}/k{i}" for i in range(6)] for t in range(THREADS)]
        for u, (access, secret, bucket) in enumerate(USERS):
            session = boto3.session.Session(aws_access_key_id=access,
                                            aws_secret_access_key=secret,
                                            region_name="us-east-1")
            setup = make_client(session, server.endpoint)
            setup.create_bucket(Bucket=bucket)
            setups.append(setup)
            keysets.append(sorted(shared + [k for t in range(u, THREADS, len(USERS))
                                            for k in own[t]]))
            models.append(Model(keysets[-1]))
            clients_of.append(session)
        idle_threads = server.threads()

        clients = [make_client(clients_of[t % len(USERS)], server.endpoint)
                   for t in range(THREADS)]
        rng = random.Random(SEED)
        workers = []
        for t in range(THREADS):
            u = t % len(USERS)
            workers.append(Worker(t, clients[t], USERS[u][2], USERS[(u + 1) % len(USERS)][2],
                                  models[u], shared, own[t], keysets[u], rng.randrange(1 << 62)))
        gate = threading.Semaphore(MAX_CONCURRENT_MULTIPART)
        began = time.monotonic()
        deadline = began + SECONDS
        threads = [threading.Thread(target=w.run, args=(deadline, gate), name=f"load-{w.index}")
                   for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1, deadline - time.monotonic()) + 120)
            if t.is_alive():
                tally.fail(f"{t.name} is still running two minutes after the deadline")
        elapsed = time.monotonic() - began
        load_requests = tally.get("requests")
        busy_threads = server.threads()

        for u, (_, _, bucket) in enumerate(USERS):
            final_checks(setups[u], bucket, models[u], keysets[u])

        # Every client closes its connections: the server's connection threads must end.
        for c in clients + setups:
            c.close()
        settle = time.monotonic() + 10
        while server.threads() > idle_threads and time.monotonic() < settle:
            time.sleep(0.1)
        if server.threads() > idle_threads:
            tally.fail(f"depot serve still has {server.threads()} threads 10 s after every client "
                       f"closed its connections ({idle_threads} when idle, {busy_threads} under "
                       "load)")

        status = server.stop()
        if status != 0:
            tally.fail(f"depot serve exited with {status} on SIGINT (None: it had to be killed)")

        latency = {}
        for w in workers:
            for op, values in w.latency.items():
                latency.setdefault(op, []).extend(values)
        print(f"{load_requests} requests in {elapsed:.1f} s from {THREADS} threads: "
              f"{load_requests / elapsed:.0f} requests/s")
        for op in sorted(latency):
            values = latency[op]
            print(f"  {op:18} {len(values):6}   p50 {1000 * percentile(values, 0.5):7.1f} ms   "
                  f"p99 {1000 * percentile(values, 0.99):7.1f} ms   max "
                  f"{1000 * max(values):7.1f} ms")
        print("expected: {} 404s for keys that may be deleted, {} 416s for ranges past the end, "
              "{} 403s for requests into the other user's bucket".format(
                  tally.get("expected_404"), tally.get("expected_416"), tally.get("expected_403")))
        if tally.get("expected_403") == 0:
            tally.fail("no request tried the other user's bucket")
        print("errors: {} 5xx, {} unexpected 4xx, {} connection errors, {} wrong contents or "
              "listings, {} harness errors".format(
                  tally.get("5xx"), tally.get("unexpected_4xx"), tally.get("connection_errors"),
                  tally.get("mismatches"), tally.get("harness_errors")))
        print(f"threads of depot serve: {idle_threads} idle, {busy_threads} after the load")
    except SystemExit:
        raise
    except Exception:
        tally.fail(f"harness: {traceback.format_exc()}")
    finally:
        for c in clients:
            c.close()
        if server is not None:
            server.kill()
            if tally.failure_count:
                print("--- depot serve log (last 2000 characters):\n" + server.read_log()[-2000:],
                      file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)

    if tally.failure_count:
        for message in tally.failures:
            print(f"serve_load_test: FAIL: {message}", file=sys.stderr)
        if tally.failure_count > len(tally.failures):
            print(f"serve_load_test: ... and {tally.failure_count - len(tally.failures)} more",
                  file=sys.stderr)
        print(f"serve_load_test: FAILED ({tally.failure_count} failures)", file=sys.stderr)
        return 1
    print("serve_load_test: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
