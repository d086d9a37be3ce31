#!/usr/bin/python3
# s3_transfer_bench.py: depot cp against the usual S3 clients, on one S3 gateway, in one run.
#
# Uploads and downloads the same N-byte random file (default 1 GiB) with
#   depot   build/dev/tools/depot/depot cp FILE s3://BUCKET/KEY, and back
#   aws     /usr/bin/aws s3 cp (Debian's awscli v2, default settings: 8 MiB parts, 10 threads)
#   boto3   upload_file / download_file with the default TransferConfig, in a child process
#           (/usr/bin/python3 -I -c ...) so its CPU and memory are counted apart from this harness
#   curl    one PUT (curl -T) and one GET (curl -o) through presigned URLs: the gateway's own
#           speed on this machine, with a single stream and no client-side work
#   curl+sync  the same, the download followed by `sync FILE` (an fsync) in the timed region: the
#           durable download depot's cp does (not in the default --tools)
# Repetitions are interleaved (depot, aws, boto3, curl, depot, ...; each uploads, then downloads
# its own object); the tables give medians. Every child is measured with os.wait4: wall seconds,
# CPU seconds (user + sys) and peak RSS (ru_maxrss). Every download is compared byte for byte with
# the source outside the timed region. Exit status: 0 if every transfer worked and every download
# matched, 1 otherwise, 2 on a usage error.
#
# Run it against a local Ceph RADOS Gateway (scripts/ceph-up.sh takes about 25 s; read its header):
#
#   CEPH_DIR=/tmp/depot-ceph RGW_PORT=7480 MON_PORT=40789 scripts/ceph-up.sh
#   DEPOT_TEST_S3_ENDPOINT=http://127.0.0.1:7480 DEPOT_TEST_S3_ACCESS_KEY=TESTACCESS \
#     DEPOT_TEST_S3_SECRET_KEY=TESTSECRET bench/s3_transfer_bench.py            # 1 GiB, 3 reps
#   bench/s3_transfer_bench.py --endpoint http://127.0.0.1:7480 --access-key TESTACCESS \
#     --secret-key TESTSECRET --size 64MiB --reps 1                            # quick check
#   CEPH_DIR=/tmp/depot-ceph scripts/ceph-down.sh
#
# Other options: --dir DIR (data directory; default a fresh temporary directory under /tmp),
# --depot PATH (default build/dev/tools/depot/depot; a release build gives fairer numbers),
# --depot-parallel N / --depot-part-size SIZE (passed to depot cp; the memory bound follows them),
# --tools depot,aws,boto3,curl[,curl+sync], --timeout SECONDS (per transfer).
#
# Rules it keeps: loopback endpoints only; every AWS tool and SDK call gets explicit credentials,
# region us-east-1, AWS_EC2_METADATA_DISABLED=true, and AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE
# in a private temporary directory (path-style addressing, at most 3 attempts); aws gets
# --endpoint-url, depot AWS_ENDPOINT_URL_S3 (what tools/depot/location.cc reads); proxies are
# cleared. It creates its own bucket (depot-s3-bench-RANDOM) and deletes it, with every object and
# unfinished multipart upload in it, at the end.
#
# On Ceph, deleted objects keep their space until RGW's garbage collection (rgw_gc_obj_min_wait,
# 2 h by default): a default run writes 4 tools x 3 reps x 1 GiB = 12 GiB into the OSD's 20 GiB
# sparse block file. Restart the cluster (ceph-down.sh + ceph-up.sh) between full runs.
#
# Not equal work, to keep in mind when reading the table: depot's download writes a temporary file,
# fsyncs it and renames it into place (crash-safe); aws, boto3 and curl write the file without an
# fsync (curl+sync adds one). The harness calls sync() after every transfer (untimed) so one tool's dirty pages are not
# flushed on the next tool's clock. aws and boto3 wall times include starting Python and importing
# botocore (about 0.35 s here); the boto3 child also reports its in-process transfer time.
import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DEPOT = os.path.join(REPO, "build", "dev", "tools", "depot", "depot")
AWS = "/usr/bin/aws"
PYTHON = "/usr/bin/python3"
CURL = "curl"
REGION = "us-east-1"
MAX_ATTEMPTS = 3
MiB = 1 << 20
GiB = 1 << 30
TOOLS = ("depot", "aws", "boto3", "curl", "curl+sync")

# The boto3 child: argv = endpoint bucket key path up|down. Credentials come from its environment
# (set explicitly by the harness) and are passed to the client explicitly as well.
BOTO3_CHILD = r"""
import os, sys, time
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
endpoint, bucket, key, path, direction = sys.argv[1:6]
client = boto3.client(
    "s3", endpoint_url=endpoint, region_name=os.environ["AWS_DEFAULT_REGION"],
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                  retries={"max_attempts": %d, "mode": "standard"}))
started = time.monotonic()
if direction == "up":
    client.upload_file(path, bucket, key, Config=TransferConfig())
else:
    client.download_file(bucket, key, path, Config=TransferConfig())
print("transfer_seconds %%.6f" %% (time.monotonic() - started))
""" % MAX_ATTEMPTS


def parse_size(text):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 1GiB, 64MiB, 1048576)")
    number, prefix, suffix = float(m.group(1)), m.group(2).upper(), m.group(3)
    # K/M/G/T, KiB/MiB/... are binary; KB/MB/... (no i) are decimal.
    base = 1000 if suffix.upper() == "B" else 1024
    power = " KMGT".index(prefix) if prefix else 0
    size = int(number * base**power)
    if size < 1:
        raise argparse.ArgumentTypeError("size must be at least 1 byte")
    return size


def fmt_bytes(n):
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    return f"{n} B"


def die(message, code=2):
    print(f"s3_transfer_bench: {message}", file=sys.stderr)
    sys.exit(code)


# ---------------------------------------------------------------------------------------------
# Machine facts


def machine_facts(data_dir):
    facts = []
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    facts.append(("nproc", f"{affinity} (os.cpu_count {os.cpu_count()})"))
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    facts.append(("cpu", model))
    mem = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                name, value = line.split(":", 1)
                mem[name] = int(value.split()[0]) * 1024
    except (OSError, ValueError):
        pass
    if "MemTotal" in mem:
        facts.append(("ram", f"{mem['MemTotal'] / GiB:.1f} GiB total, "
                             f"{mem.get('MemAvailable', 0) / GiB:.1f} GiB available"))
    try:
        facts.append(("load", " ".join(f"{x:.2f}" for x in os.getloadavg())))
    except OSError:
        pass
    facts.append(("kernel", os.uname().release))
    try:
        st = os.statvfs(data_dir)
        facts.append(("data dir", f"{data_dir} ({st.f_bavail * st.f_frsize / GiB:.0f} GiB free)"))
    except OSError:
        facts.append(("data dir", data_dir))
    return facts


def tool_versions(depot, env):
    def first_line(argv):
        try:
            out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
            text = (out.stdout or out.stderr).strip().splitlines()
            return text[0] if text else "?"
        except (OSError, subprocess.SubprocessError) as e:
            return f"? ({e})"

    versions = []
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        rev = f"git {head}{' + uncommitted changes' if dirty else ''}" if head else "no git"
    except (OSError, subprocess.SubprocessError):
        rev = "no git"
    try:
        built = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.stat(depot).st_mtime))
    except OSError:
        built = "?"
    versions.append(("depot", f"{depot} (binary from {built}; tree at {rev})"))
    versions.append(("aws", first_line([AWS, "--version"])))
    versions.append(("boto3", first_line([PYTHON, "-I", "-c",
                                          "import boto3, botocore, sys; print('boto3', "
                                          "boto3.__version__, 'botocore', botocore.__version__, "
                                          "'python', sys.version.split()[0])"])))
    versions.append(("curl", first_line([CURL, "--version"])))
    return versions


# ---------------------------------------------------------------------------------------------
# depot's defaults and its memory bound


def depot_defaults(depot, env):
    """Parallelism, part sizes and read chunk of `depot cp`, read from its --help (which prints
    the defaults of tools/depot/cmd_cp.cc). Falls back to the values in the source as of writing:
    --parallel 4, file parts of 8 MiB, read-ahead chunks of 8 MiB."""
    found = {"parallel": 4, "part_min": 8 * MiB, "part_max": 128 * MiB, "chunk": 8 * MiB,
             "source": "fallback (could not parse `depot cp --help`)"}
    try:
        text = subprocess.run([depot, "cp", "--help"], env=env, capture_output=True, text=True,
                              timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return found
    text = " ".join(text.split())
    par = re.search(r"--parallel\s+INT[^=]*=\s*(\d+)", text)
    parts = re.search(r"equal parts of (\d+) MiB.*?grow from \d+ MiB to (\d+) MiB; chunks of "
                      r"(\d+) MiB", text)
    if par and parts:
        found.update(parallel=int(par.group(1)), part_min=int(parts.group(1)) * MiB,
                     part_max=int(parts.group(2)) * MiB, chunk=int(parts.group(3)) * MiB,
                     source="`depot cp --help`")
    return found


def depot_upload_parts(size, part_min, part_max, fixed):
    """The part sizes BufferedUpload cuts for a file of `size` bytes: the CLI uploads a regular
    file in equal parts of the minimum, raised to fit 10,000 parts (tools/depot/transfer.cc); a
    geometric policy doubles the target after each part up to the maximum. The last part is the
    remainder."""
    max_parts, max_part_size = 10000, 5 * GiB
    needed = min(-(-size // max_parts), max_part_size)
    target = max(part_min, needed)
    largest = max(part_max, needed)
    parts, left = [], size
    while left > 0:
        n = min(target, left)
        parts.append(n)
        left -= n
        if not fixed:
            target = min(target * 2, largest)
    return parts or [0]


# ---------------------------------------------------------------------------------------------
# Children


class Run:
    def __init__(self, tool, direction, rep):
        self.tool, self.direction, self.rep = tool, direction, rep
        self.ok = False
        self.error = ""
        self.wall = self.cpu = 0.0
        self.rss_kib = 0
        self.inner = None  # boto3: the child's own transfer seconds


# Children are started by a small launcher process (LAUNCHER, run as /usr/bin/python3 -I -S), not
# by this harness: Linux counts the pre-exec image of a forked child in its ru_maxrss (the fork's
# copy, or with vfork the parent's whole high-water mark), so a child forked from this process,
# which holds boto3, could never report less than ~90 MiB. From the launcher the floor is its own
# ~8 MiB, measured at start-up with /bin/true and printed; it only matters for a child whose real
# peak is smaller (ru_maxrss is a maximum, not a sum).
# argv = stdout-file stderr-file timeout-seconds program args...; prints one JSON line.
LAUNCHER = r"""
import json, os, signal, sys, time
out, err, timeout, argv = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
fds = [os.open(os.devnull, os.O_RDONLY), os.open(out, flags, 0o644), os.open(err, flags, 0o644)]
started = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
killed = []
def on_alarm(signum, frame):
    killed.append(1)
    try:
        os.killpg(pid, signal.SIGKILL)  # the child's own process group only
    except ProcessLookupError:
        pass
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, timeout)
_, status, usage = os.wait4(pid, 0)
wall = time.monotonic() - started
signal.setitimer(signal.ITIMER_REAL, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "wall": wall,
                  "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss,
                  "timed_out": bool(killed)}))
"""


def run_child(argv, env, timeout, log_dir, label):
    """Runs argv through LAUNCHER; returns (exit status, wall s, cpu s, maxrss KiB, stdout,
    stderr tail)."""
    out_path = os.path.join(log_dir, f"{label}.out")
    err_path = os.path.join(log_dir, f"{label}.err")
    launcher = [PYTHON, "-I", "-S", "-c", LAUNCHER, out_path, err_path, str(timeout), *argv]
    try:
        done = subprocess.run(launcher, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout + 60)
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as e:
        return -1, 0.0, 0.0, 0, "", f"launcher failed: {e}"
    stdout = stderr = ""
    if os.path.exists(out_path):
        with open(out_path, "r", errors="replace") as f:
            stdout = f.read()
    if os.path.exists(err_path):
        with open(err_path, "r", errors="replace") as f:
            stderr = f.read()
    code = result["code"]
    if result["timed_out"]:
        stderr += f"\n[killed after the {timeout:g} s timeout]"
        code = code or -9
    tail = "\n".join(stderr.strip().splitlines()[-8:])
    return code, result["wall"], result["cpu"], result["maxrss_kib"], stdout, tail


def files_equal(a, b, size):
    if os.path.getsize(b) != size:
        return f"size {os.path.getsize(b)} != {size}"
    chunk = 8 * MiB
    with open(a, "rb") as fa, open(b, "rb") as fb:
        offset = 0
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                for i in range(min(len(x), len(y))):
                    if x[i] != y[i]:
                        return f"first difference at byte {offset + i}"
                return f"length differs near byte {offset + min(len(x), len(y))}"
            if not x:
                return None
            offset += len(x)


# ---------------------------------------------------------------------------------------------
# Main


def main():
    ap = argparse.ArgumentParser(
        description="Upload and download the same file to one S3 gateway with depot, aws, boto3 "
                    "and curl; print throughput, CPU and peak RSS with ratios.")
    ap.add_argument("--size", type=parse_size, default=GiB, help="file size (default 1GiB)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per tool (default 3)")
    ap.add_argument("--endpoint", default=os.environ.get("DEPOT_TEST_S3_ENDPOINT"),
                    help="S3 endpoint (default $DEPOT_TEST_S3_ENDPOINT), loopback only")
    ap.add_argument("--access-key", default=os.environ.get("DEPOT_TEST_S3_ACCESS_KEY"))
    ap.add_argument("--secret-key", default=os.environ.get("DEPOT_TEST_S3_SECRET_KEY"))
    ap.add_argument("--dir", help="data directory (default: a new temporary directory in /tmp)")
    ap.add_argument("--depot", default=DEFAULT_DEPOT, help=f"depot binary (default {DEFAULT_DEPOT})")
    ap.add_argument("--depot-parallel", type=int, help="pass --parallel N to depot cp")
    ap.add_argument("--depot-part-size", type=parse_size, help="pass --part-size SIZE to depot cp")
    ap.add_argument("--tools", default=",".join(TOOLS[:4]), help="comma-separated subset of "
                    + ",".join(TOOLS))
    ap.add_argument("--timeout", type=float, default=0,
                    help="seconds allowed per transfer (default 120 + 1 s per 4 MiB)")
    args = ap.parse_args()

    if not (args.endpoint and args.access_key and args.secret_key):
        die("need the gateway: --endpoint/--access-key/--secret-key or DEPOT_TEST_S3_ENDPOINT/"
            "DEPOT_TEST_S3_ACCESS_KEY/DEPOT_TEST_S3_SECRET_KEY (scripts/ceph-up.sh prints them)")
    endpoint = args.endpoint.rstrip("/")
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme not in ("http", "https") or url.hostname is None:
        die(f"--endpoint {endpoint!r} is not an http(s) URL")
    if not (url.hostname == "localhost" or url.hostname == "::1"
            or re.fullmatch(r"127\.\d+\.\d+\.\d+", url.hostname)):
        die(f"--endpoint {endpoint!r}: loopback only (127.0.0.0/8, ::1 or localhost)")
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in tools:
        if t not in TOOLS:
            die(f"unknown tool {t!r} in --tools (known: {', '.join(TOOLS)})")
    if args.reps < 1:
        die("--reps must be at least 1")
    if "depot" in tools and not os.access(args.depot, os.X_OK):
        die(f"no depot binary at {args.depot} (build the dev preset, or pass --depot)")
    for path in ([AWS] if "aws" in tools else []) + ([PYTHON] if "boto3" in tools else []):
        if not os.access(path, os.X_OK):
            die(f"{path} is missing (apt-get install awscli python3-boto3)")
    if ("curl" in tools or "curl+sync" in tools) and shutil.which(CURL) is None:
        die("curl is missing")
    size = args.size
    timeout = args.timeout or 120 + size / (4 * MiB)

    # Private AWS configuration: nothing is read from ~/.aws or the instance-metadata service.
    conf_dir = tempfile.mkdtemp(prefix="depot-s3-bench-conf-", dir="/tmp")
    config_file = os.path.join(conf_dir, "config")
    credentials_file = os.path.join(conf_dir, "credentials")
    with open(config_file, "w") as f:
        f.write(f"[default]\nregion = {REGION}\nmax_attempts = {MAX_ATTEMPTS}\n"
                f"retry_mode = standard\ns3 =\n    addressing_style = path\n")
    with open(credentials_file, "w") as f:
        f.write(f"[default]\naws_access_key_id = {args.access_key}\n"
                f"aws_secret_access_key = {args.secret_key}\n")
    os.chmod(credentials_file, 0o600)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(AWS_ACCESS_KEY_ID=args.access_key, AWS_SECRET_ACCESS_KEY=args.secret_key,
               AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION, AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=config_file, AWS_SHARED_CREDENTIALS_FILE=credentials_file,
               AWS_MAX_ATTEMPTS=str(MAX_ATTEMPTS), AWS_RETRY_MODE="standard", AWS_PAGER="",
               NO_PROXY="127.0.0.1,localhost,::1", no_proxy="127.0.0.1,localhost,::1")
    depot_env = dict(env, AWS_ENDPOINT_URL_S3=endpoint)
    # This process's own boto3 (bucket, presigning, cleanup) sees the same private setup.
    for k in list(os.environ):
        if k.startswith("AWS_") or k.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del os.environ[k]
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,::1"

    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        die("boto3 is missing: run this with /usr/bin/python3 (Debian's python3-boto3)")

    made_dir = args.dir is None
    data_dir = args.dir or tempfile.mkdtemp(prefix="depot-s3-bench-", dir="/tmp")
    os.makedirs(data_dir, exist_ok=True)
    data_dir = os.path.abspath(data_dir)
    log_dir = os.path.join(conf_dir, "logs")
    os.makedirs(log_dir)

    print(f"== s3_transfer_bench: {fmt_bytes(size)} file, {args.reps} rep(s), "
          f"tools {', '.join(tools)}, endpoint {endpoint}")
    for name, value in machine_facts(data_dir) + tool_versions(args.depot, env):
        print(f"  {name:9s} {value}")

    code, _, _, floor_kib, _, err = run_child(["/bin/true"], env, 30, log_dir, "floor")
    if code != 0:
        shutil.rmtree(conf_dir, ignore_errors=True)
        die(f"the launcher does not work: {err}", 1)
    print(f"  rss floor {floor_kib / 1024:.1f} MiB (/bin/true through the launcher: no child can "
          f"report less peak RSS)")

    defaults = depot_defaults(args.depot, env) if "depot" in tools else None
    depot_flags = []
    if args.depot_parallel:
        depot_flags += ["--parallel", str(args.depot_parallel)]
    if args.depot_part_size:
        depot_flags += ["--part-size", str(args.depot_part_size)]

    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
                      connect_timeout=10, read_timeout=120))
    bucket = f"depot-s3-bench-{secrets.token_hex(4)}"
    source = os.path.join(data_dir, f"s3bench-source-{size}.bin")
    created_source = False
    runs = []
    failures = []
    try:
        # The file, once, untimed.
        if not (os.path.exists(source) and os.path.getsize(source) == size):
            created_source = True
            with open(source, "wb") as f:
                left = size
                while left > 0:
                    n = min(left, 16 * MiB)
                    f.write(os.urandom(n))
                    left -= n
        os.sync()
        client.create_bucket(Bucket=bucket)
        # Untimed warm-up, so the first measured transfer does not pay for the new bucket.
        client.put_object(Bucket=bucket, Key="warm-up", Body=b"x" * 1024)
        client.delete_object(Bucket=bucket, Key="warm-up")
        print(f"  bucket    {bucket} (created; deleted at the end)\n")

        def transfer(tool, direction, rep, key, dest):
            label = f"{tool}-{direction}-r{rep}"
            obj = f"s3://{bucket}/{key}"
            if tool == "depot":
                argv = [args.depot, "cp", *depot_flags] + (
                    [source, obj] if direction == "up" else [obj, dest])
                child_env = depot_env
            elif tool == "aws":
                argv = [AWS, "--endpoint-url", endpoint, "--region", REGION, "--no-progress",
                        "--only-show-errors", "s3", "cp"] + (
                    [source, obj] if direction == "up" else [obj, dest])
                child_env = env
            elif tool == "boto3":
                argv = [PYTHON, "-I", "-c", BOTO3_CHILD, endpoint, bucket, key,
                        source if direction == "up" else dest, direction]
                child_env = env
            else:
                # Presigned outside the timed region; presigning needs no network.
                op = "put_object" if direction == "up" else "get_object"
                signed = client.generate_presigned_url(
                    op, Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600 + int(timeout))
                common = [CURL, "--silent", "--show-error", "--fail", "--noproxy", "*",
                          "--retry", "0", "--max-time", str(max(1, int(timeout)))]
                argv = common + (["-T", source, "-o", os.devnull, signed] if direction == "up"
                                 else ["-o", dest, signed])
                if tool == "curl+sync" and direction == "down":
                    argv = ["/bin/sh", "-c", f"{shlex.join(argv)} && sync {shlex.quote(dest)}"]
                child_env = env
            run = Run(tool, direction, rep)
            code, run.wall, run.cpu, run.rss_kib, stdout, err = run_child(
                argv, child_env, timeout, log_dir, label)
            os.sync()  # untimed: this transfer's dirty pages are not flushed on the next clock
            m = re.search(r"transfer_seconds ([\d.]+)", stdout)
            if m:
                run.inner = float(m.group(1))
            if code != 0:
                run.error = f"exit {code}: {err or '(no output)'}"
            elif direction == "up":
                try:
                    head = client.head_object(Bucket=bucket, Key=key)
                    if head["ContentLength"] != size:
                        run.error = f"object has {head['ContentLength']} bytes, expected {size}"
                except Exception as e:  # noqa: BLE001 - any failure is reported, not raised
                    run.error = f"head_object after the upload failed: {e}"
            else:
                if not os.path.exists(dest):
                    run.error = "no file was written"
                else:
                    diff = files_equal(source, dest, size)
                    if diff:
                        run.error = f"download differs from the source: {diff}"
            run.ok = not run.error
            runs.append(run)
            rate = f"{size / MiB / run.wall:8.1f}" if run.ok and run.wall > 0 else f"{'-':>8s}"
            extra = f", in-process {run.inner:.2f} s" if run.inner is not None else ""
            status = "ok" if run.ok else f"FAILED: {run.error}"
            print(f"  rep {rep} {tool:5s} {direction:4s} {run.wall:7.2f} s {rate} MiB/s  "
                  f"cpu {run.cpu:6.2f} s  rss {run.rss_kib / 1024:7.1f} MiB{extra}  {status}",
                  flush=True)
            if not run.ok:
                failures.append(f"{label}: {run.error}")
            return run.ok

        for rep in range(1, args.reps + 1):
            for tool in tools:
                key = f"{tool}-r{rep}.bin"
                dest = os.path.join(data_dir, f"s3bench-down-{tool}-r{rep}.bin")
                if os.path.exists(dest):
                    os.unlink(dest)
                if transfer(tool, "up", rep, key, dest):
                    transfer(tool, "down", rep, key, dest)
                if os.path.exists(dest):
                    os.unlink(dest)
                try:
                    client.delete_object(Bucket=bucket, Key=key)
                except Exception as e:  # noqa: BLE001
                    print(f"  (could not delete {key}: {e})")
    except KeyboardInterrupt:
        failures.append("interrupted")
    except Exception as e:  # noqa: BLE001 - reported, then the bucket is still cleaned up
        failures.append(f"harness: {type(e).__name__}: {e}")
    finally:
        cleanup_bucket(client, bucket)
        if created_source and os.path.exists(source):
            os.unlink(source)
        if made_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        for path in (config_file, credentials_file):
            os.unlink(path)
        if failures:
            print(f"\n(child logs kept in {log_dir})")
        else:
            shutil.rmtree(conf_dir, ignore_errors=True)

    report(runs, tools, size, defaults, args)
    if failures:
        print("\nFAILURES:")
        for f in failures:
            print(f"  {f}")
        return 1
    return 0


def cleanup_bucket(client, bucket):
    try:
        client.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - never created, or already gone
        return
    try:
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for u in page.get("Uploads", []):
                client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=bucket)
    except Exception as e:  # noqa: BLE001
        print(f"  (could not delete bucket {bucket}: {e})", file=sys.stderr)


def report(runs, tools, size, defaults, args):
    def med(values):
        return statistics.median(values) if values else None

    table = {}
    for tool in tools:
        for direction in ("up", "down"):
            ok = [r for r in runs if r.tool == tool and r.direction == direction and r.ok]
            if not ok:
                continue
            wall = med([r.wall for r in ok])
            table[tool, direction] = {
                "n": len(ok),
                "wall": wall,
                "mibs": size / MiB / wall,
                "cpu_per_gib": med([r.cpu for r in ok]) / (size / GiB),
                "rss": med([r.rss_kib for r in ok]) / 1024,
                "rss_max": max(r.rss_kib for r in ok) / 1024,
                "inner": med([r.inner for r in ok if r.inner is not None]),
            }

    print(f"\n== Medians ({fmt_bytes(size)}; MiB/s = size / wall time of the whole command)")
    print(f"{'tool':6s} {'dir':5s} {'runs':>4s} {'wall s':>8s} {'MiB/s':>8s} {'CPU s/GiB':>10s} "
          f"{'peak RSS MiB':>13s}")
    for tool in tools:
        for direction in ("up", "down"):
            row = table.get((tool, direction))
            if row is None:
                print(f"{tool:6s} {direction:5s} {'-':>4s}   (no successful run)")
                continue
            note = f"  (in-process transfer {row['inner']:.2f} s)" if row["inner"] else ""
            print(f"{tool:6s} {direction:5s} {row['n']:4d} {row['wall']:8.2f} {row['mibs']:8.1f} "
                  f"{row['cpu_per_gib']:10.2f} {row['rss']:13.1f}{note}")

    if "depot" not in tools:
        return
    if len(tools) > 1:
        print("\n== Throughput ratios (depot MiB/s / other MiB/s; > 1 means depot is faster)")
        for direction in ("up", "down"):
            d = table.get(("depot", direction))
            cells = []
            for other in ("aws", "boto3", "curl", "curl+sync"):
                if other not in tools:
                    continue
                o = table.get((other, direction))
                cells.append(f"depot/{other} {d['mibs'] / o['mibs']:.2f}x" if d and o
                             else f"depot/{other} -")
            print(f"  {direction:5s} " + "   ".join(cells))

    # (parts in flight + 2) x part size + 32 MiB, with depot's defaults unless overridden.
    parallel = args.depot_parallel or defaults["parallel"]
    fixed = True  # the benchmark uploads a regular file: equal parts, --part-size or not
    part_min = args.depot_part_size or defaults["part_min"]
    part_max = args.depot_part_size or defaults["part_max"]
    chunk = args.depot_part_size or defaults["chunk"]
    parts = depot_upload_parts(size, part_min, part_max, fixed)
    up_part = max(parts)
    print("\n== depot peak RSS against the bound (parts in flight + 2) x part size + 32 MiB")
    policy = (f"equal {fmt_bytes(max(parts))} parts"
              f"{' (--part-size)' if args.depot_part_size else ' (a regular file)'}")
    print(f"  values: --parallel {parallel}"
          f"{' (--depot-parallel)' if args.depot_parallel else ''}; upload {policy}; "
          f"download chunks of {fmt_bytes(chunk)}; defaults read from {defaults['source']}")
    shown = ", ".join(fmt_bytes(p) for p in parts[:8]) + (", ..." if len(parts) > 8 else "")
    print(f"  upload of {fmt_bytes(size)} is cut into {len(parts)} part(s): {shown}; "
          f"part size in the bound = the largest, {fmt_bytes(up_part)}")
    for direction, part in (("up", up_part), ("down", chunk)):
        bound = (parallel + 2) * part / MiB + 32
        row = table.get(("depot", direction))
        if row is None:
            print(f"  {direction:5s} bound ({parallel} + 2) x {fmt_bytes(part)} + 32 MiB = "
                  f"{bound:.0f} MiB; no successful run")
            continue
        verdict = "within" if row["rss_max"] <= bound else "EXCEEDS"
        print(f"  {direction:5s} peak RSS median {row['rss']:.1f} MiB, max {row['rss_max']:.1f} MiB"
              f" vs bound ({parallel} + 2) x {fmt_bytes(part)} + 32 MiB = {bound:.0f} MiB: "
              f"{row['rss_max'] / bound:.2f} of the bound, {verdict}")


if __name__ == "__main__":
    sys.exit(main())
