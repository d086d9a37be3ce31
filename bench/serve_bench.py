#!/usr/bin/python3
# serve_bench.py: `depot serve` against Ceph's RADOS Gateway and nginx, with one load client, in
# one run on one machine.
#
#   small GET   4 KiB GETs per second over 16 keep-alive connections (wrk -t2 -c16): depot serve
#               over a local store, RGW, and nginx serving the very same file of that store
#               statically (no authentication). depot and RGW get presigned URLs, so every
#               request's SigV4 signature is checked by the server.
#   small PUT   4 KiB PUTs per second, durable, depot vs RGW: wrk with a Lua script cycling
#               through presigned PUT URLs of distinct keys (presigned PUTs sign no body hash,
#               UNSIGNED-PAYLOAD, so one URL can be sent again and again).
#   big GET     1 GiB GET throughput, depot vs nginx on the same file: curl -o /dev/null, one
#               stream, median of --big-reps, reps interleaved.
#   big PUT     1 GiB PUT throughput, depot vs RGW: curl -T with a presigned PUT URL, one stream,
#               median of --big-reps, reps interleaved.
#
# Targets (printed with each ratio): depot/nginx >= 0.5 on small GETs (issue 17's), depot/RGW >= 2
# on small PUTs, depot/nginx >= 0.8 on big GETs, depot/RGW >= 1 on big PUTs. A missed target is
# reported, not an error.
#
#   bench/serve_bench.py                          # build/release/tools/depot/depot, ~4 minutes
#   bench/serve_bench.py build/dev/tools/depot/depot --duration 5 --big-size 256MiB --big-reps 1
#   bench/serve_bench.py DEPOT --rgw-endpoint http://127.0.0.1:7480 \
#       --rgw-access-key TESTACCESS --rgw-secret-key TESTSECRET      # an RGW already running
#   bench/serve_bench.py DEPOT --no-rgw --tests get4k,get1g          # depot and nginx only
#
# What it starts, and stops again on every exit (normal end, failure, Ctrl-C, SIGTERM):
#   - a Ceph cluster through scripts/ceph-up.sh (CEPH_DIR --ceph-dir [/tmp/depot-serve-bench-ceph],
#     RGW_PORT --rgw-port [7580], MON_PORT --mon-port [40889]), stopped with scripts/ceph-down.sh,
#     which deletes CEPH_DIR; not with --rgw-endpoint or --no-rgw. Its gateway is then restarted
#     (scripts/ceph-restart-gateway.sh) with tcp_nodelay=1 added to its Beast frontend: left
#     with Nagle's algorithm on, as ceph-up.sh configures it, RGW answers a small GET in two
#     writes of which the second waits for the client's delayed ACK (40 ms), which caps 16
#     connections at about 360 GETs/s. --rgw-nagle keeps it as it is;
#   - `depot serve WORK/store --listen 127.0.0.1:0` (the port it prints), with DEPOT_ACCESS_KEY /
#     DEPOT_SECRET_KEY set to a pair made for this run;
#   - nginx (Debian's nginx-light) with its own configuration in WORK/nginx: master and workers in
#     the foreground (daemon off), pid file, error log and temporary paths under WORK/nginx,
#     access_log off, listening on 127.0.0.1 only; the system's nginx service is never used. As
#     root its workers run as nobody, so WORK is made world-readable (0755);
#   - wrk and curl, one at a time.
# The servers run in sessions of their own, so a Ctrl-C in the terminal reaches only this script
# (and the wrk or curl of the moment), which then stops them in order.
# WORK is a fresh directory under /tmp (--dir to choose another; it must not exist yet or be
# empty), deleted at the end unless --keep. The depot store and nginx's root are the same
# directory, WORK/store: nginx serves WORK/store/BUCKET/KEY, which is where the local store keeps
# object KEY of bucket BUCKET, so both serve the same file from the same file system.
#
# Rules it keeps: loopback only; every AWS SDK call (boto3, here only for buckets, seeding objects
# and presigning) gets explicit credentials, region us-east-1, path-style addressing, and runs
# with AWS_EC2_METADATA_DISABLED=true and AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE pointing
# at /dev/null; proxies are cleared for every child.
#
# Reading the numbers. The load client shares the machine with the servers (wrk takes a core's
# worth of CPU on small requests), so the small-request numbers are "what the server does with
# what wrk leaves it", the same for all three. Each wrk run is preceded by an untimed warm-up of
# --warmup seconds on its own keys. "server CPU" is the CPU time (user + sys) the server's
# processes used during the measured run, from /proc/PID/stat: depot serve; nginx's master and
# workers; for RGW radosgw, ceph-osd and ceph-mon together (RGW's work is split between them).
# Durability: depot's local store fsyncs the file and its directory before answering a PUT; RGW
# answers once BlueStore has committed (its block file is on the same file system). Small-PUT
# keys are --put-keys distinct keys per server cycled in order, so once a run has sent more
# requests than that, later PUTs overwrite: the table says how many requests there were per key.
# Big transfers go through curl; its own rate limit on this machine shows as nginx's number.
# Exit status: 0 when every measurement ran and every check passed, 1 otherwise, 2 on bad usage.
import argparse
import hashlib
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DEPOT = os.path.join(REPO, "build", "release", "tools", "depot", "depot")
REGION = "us-east-1"
KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TESTS = ("get4k", "put4k", "get1g", "put1g")
TARGETS = {  # test -> (numerator, denominator, minimum ratio)
    "get4k": ("depot", "nginx", 0.5),
    "put4k": ("depot", "rgw", 2.0),
    "get1g": ("depot", "nginx", 0.8),
    "put1g": ("depot", "rgw", 1.0),
}
NAMES = {"depot": "depot serve", "rgw": "Ceph RGW", "nginx": "nginx"}
SMALL = 4 * KiB
BUCKET_PREFIX = "serve-bench"

# Lua for wrk. Every run gets the same done(): one machine-readable line with the counters and
# the latency percentiles (microseconds), so nothing depends on wrk's human-readable output.
LUA_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKRESULT requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d " ..
    "timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""

# PUT: init(args) gets URL-FILE BODY-FILE THREADS; thread number t (0-based) takes lines t,
# t + THREADS, ... of URL-FILE (each "PATH?QUERY" of a presigned PUT URL) and sends them in
# order, round and round. The request heads are formatted once; each request is head .. body.
LUA_PUT = r"""
local next_id = 0
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

function init(args)
  local urls, body_file, threads = args[1], args[2], tonumber(args[3])
  local f = assert(io.open(body_file, "rb"))
  body = f:read("*a")
  f:close()
  heads = {}
  local i = 0
  for line in io.lines(urls) do
    if line ~= "" then
      if i % threads == thread_id then
        local whole = wrk.format("PUT", line, nil, body)
        heads[#heads + 1] = string.sub(whole, 1, #whole - #body)
      end
      i = i + 1
    end
  end
  assert(#heads > 0, "no URL for thread " .. thread_id)
  sent = 0
end

function request()
  sent = sent + 1
  return heads[(sent - 1) % #heads + 1] .. body
end
""" + LUA_DONE


def parse_size(text):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 1GiB, 256MiB, 1048576)")
    number, prefix, suffix = float(m.group(1)), m.group(2).upper(), m.group(3)
    base = 1000 if suffix.upper() == "B" else 1024
    size = int(number * base ** (" KMGT".index(prefix) if prefix else 0))
    if size < 1:
        raise argparse.ArgumentTypeError("size must be at least 1 byte")
    return size


def fmt_bytes(n):
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n} B"


class Failure(Exception):
    pass


class Stop(BaseException):
    """Raised from the SIGTERM / SIGHUP handler so that every finally: block still runs."""


def say(text=""):
    print(text, flush=True)


# ---------------------------------------------------------------------------------------------
# Processes


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "DEPOT_")) and k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "curl_home")}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    env.update(extra or {})
    return env


def stat_fields(pid):
    """/proc/PID/stat's fields after the command name (field 3 on is index 0 on), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pids):
    """User + system CPU seconds of the processes (all their threads, live and exited)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        fields = stat_fields(pid)
        if fields and len(fields) > 12:
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def children_of(pid):
    return [int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and (stat_fields(entry) or [None, None])[1] == str(pid)]


def pids_with_args(pair):
    """Pids of live processes whose argument list contains `pair` as consecutive arguments."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        want = [p.encode() for p in pair]
        if any(args[i:i + len(want)] == want for i in range(len(args))):
            found.append(int(entry))
    return found


def stop_process(proc, name, sig=signal.SIGTERM, grace=20):
    """Stops a child this script started (by its own pid), SIGKILL after `grace` seconds."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        say(f"  ({name} did not stop within {grace} s of {sig.name}: SIGKILL)")
        proc.kill()
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, name, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure(f"{name} exited with status {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise Failure(f"{name} is not listening on 127.0.0.1:{port} after {timeout} s")


def head_of(path, size=4096):
    try:
        with open(path, errors="replace") as f:
            return f.read(size)
    except OSError:
        return ""


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------------------------
# Machine and versions


def machine_facts(work):
    facts = []
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    facts.append(("nproc", str(affinity)))
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
    try:
        with open("/proc/meminfo") as f:
            mem = {line.split(":")[0]: int(line.split()[1]) * KiB for line in f}
        facts.append(("ram", f"{mem['MemTotal'] / GiB:.1f} GiB"))
    except (OSError, KeyError, ValueError, IndexError):
        pass
    facts.append(("kernel", os.uname().release))
    fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "--target", work], capture_output=True,
                        text=True).stdout
    facts.append(("work dir", f"{work} ({fs.strip() or '?'})"))
    return facts


def first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=clean_env())
        lines = (out.stdout.strip() or out.stderr.strip()).splitlines()
        return lines[0] if lines else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def versions(depot, rgw_mode):
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        rev = f"git {head}{' + uncommitted changes' if dirty else ''}" if head else "no git"
    except (OSError, subprocess.SubprocessError):
        rev = "no git"
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.stat(depot).st_mtime))
    out = [("depot", f"{depot} (binary from {built}; tree at {rev})"),
           ("wrk", re.sub(r"^wrk (debian/)?(\S+?)(-\S*)? .*", r"wrk \2",
                          first_line(["wrk", "--version"]))),
           ("nginx", first_line(["nginx", "-v"]).replace("nginx version: ", "")),
           ("curl", " ".join(first_line(["curl", "--version"]).split()[:2]))]
    if rgw_mode == "start":
        out.append(("radosgw", first_line(["radosgw", "--version"])))
    return out


# ---------------------------------------------------------------------------------------------
# The servers


class Server:
    """One of the three: its endpoint, how to address the test objects, its processes' pids."""

    def __init__(self, name, endpoint, client=None, bucket=None, pids=None):
        self.name = name
        self.endpoint = endpoint
        self.client = client  # boto3 client (depot, rgw); None for nginx
        self.bucket = bucket
        self.pids_fn = pids or (lambda: [])

    def get_url(self, key):
        if self.client is None:
            return f"{self.endpoint}/{self.bucket}/{key}"
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=4 * 3600)

    def put_url(self, key):
        return self.client.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=4 * 3600)


def s3_client(endpoint, access, secret):
    import boto3
    from botocore.config import Config
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=access,
        aws_secret_access_key=secret,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 3, "mode": "standard"},
                      connect_timeout=10, read_timeout=300))


NGINX_CONF = """# Written by bench/serve_bench.py for one run: static files from the depot store, loopback only.
daemon off;
master_process on;
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{
            limit_except GET HEAD {{ deny all; }}
        }}
    }}
}}
"""


# ---------------------------------------------------------------------------------------------
# Measurements


def wrk_run(url, args, script, script_args, log_dir, label, duration, pids_fn):
    """One wrk run; returns a dict of its counters, the server's CPU seconds and wrk's own."""
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s",
            "--timeout", "10s", "-s", script, url]
    if script_args:
        argv += ["--"] + script_args
    pids = pids_fn()
    cpu_before = cpu_seconds(pids)
    own_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    try:
        out = subprocess.run(argv, capture_output=True, text=True, env=clean_env(),
                             timeout=duration + 60)
    except subprocess.TimeoutExpired:
        raise Failure(f"{label}: wrk did not finish within {duration + 60} s")
    wall = time.monotonic() - started
    own_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = cpu_seconds(pids) - cpu_before
    with open(os.path.join(log_dir, f"{label}.wrk.log"), "w") as f:
        f.write(" ".join(argv) + "\n" + out.stdout + out.stderr)
    m = re.search(r"^WRKRESULT (.*)$", out.stdout, re.MULTILINE)
    if out.returncode != 0 or not m:
        raise Failure(f"{label}: wrk failed (exit {out.returncode}): "
                      f"{(out.stderr or out.stdout).strip()[-500:]}")
    r = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
    r["server_cpu"] = server_cpu
    r["wrk_cpu"] = ((own_after.ru_utime + own_after.ru_stime)
                    - (own_before.ru_utime + own_before.ru_stime))
    r["wall"] = wall
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return r


def describe_wrk(r):
    cpu = (f"server CPU {r['server_cpu']:.1f} s ({r['server_cpu'] / r['requests'] * 1e6:.0f} "
           f"us/req)" if r["requests"] and r["server_cpu"] > 0 else "server CPU -")
    errors = ("" if r["errors"] == 0 else
              f"  ERRORS: status>399 {r['status']}, connect {r['connect']}, read {r['read']}, "
              f"write {r['write']}, timeout {r['timeout']}")
    return (f"{r['rps']:9.0f} req/s  p50 {r['p50_us'] / 1000:6.2f} ms  p99 "
            f"{r['p99_us'] / 1000:7.2f} ms  {cpu}  wrk CPU {r['wrk_cpu']:.1f} s{errors}")


def curl_transfer(argv_tail, timeout, log_dir, label):
    """curl, one transfer; returns (http_code, bytes, seconds) from curl's own -w figures."""
    argv = ["curl", "--silent", "--show-error", "--noproxy", "*", "--max-time", str(int(timeout)),
            "-w", "CURLRESULT %{http_code} %{size_download} %{size_upload} %{time_total}\n"]
    argv += argv_tail
    out = subprocess.run(argv, capture_output=True, text=True, env=clean_env(),
                         timeout=timeout + 30)
    with open(os.path.join(log_dir, f"{label}.curl.log"), "w") as f:
        f.write(" ".join(argv) + "\n" + out.stdout + out.stderr)
    m = re.search(r"CURLRESULT (\d+) (\d+) (\d+) ([\d.]+)", out.stdout)
    if out.returncode != 0 or not m:
        raise Failure(f"{label}: curl failed (exit {out.returncode}): {out.stderr.strip()[-300:]}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), float(m.group(4))


def fetch(url, timeout=30):
    """GET through curl into memory (small objects only): (status, body)."""
    out = subprocess.run(["curl", "--silent", "--noproxy", "*", "--max-time", str(timeout),
                          "-w", "\n%{http_code}", url],
                         capture_output=True, env=clean_env(), timeout=timeout + 10)
    body, _, code = out.stdout.rpartition(b"\n")
    return (int(code) if code.isdigit() else 0), body


def sha256_of_get(url, timeout):
    proc = subprocess.Popen(["curl", "--silent", "--show-error", "--fail", "--noproxy", "*",
                             "--max-time", str(int(timeout)), url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    h = hashlib.sha256()
    n = 0
    while True:
        chunk = proc.stdout.read(4 * MiB)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise Failure(f"verifying GET failed: {err.strip()}")
    return h.hexdigest(), n


# ---------------------------------------------------------------------------------------------
# Ceph (also used by serve_cache_bench.py)


def add_rgw_arguments(parser, ceph_dir):
    """The options that choose the RGW: one already running, or one ceph_start starts."""
    parser.add_argument("--rgw-endpoint", help="use this RGW instead of starting Ceph")
    parser.add_argument("--rgw-access-key", default="TESTACCESS")
    parser.add_argument("--rgw-secret-key", default="TESTSECRET")
    parser.add_argument("--ceph-dir", default=ceph_dir)
    parser.add_argument("--rgw-port", type=int, default=7580)
    parser.add_argument("--mon-port", type=int, default=40889)
    parser.add_argument("--rgw-nagle", action="store_true",
                        help="keep ceph-up.sh's frontend as it is (Nagle on); default: restart "
                             "the gateway with tcp_nodelay=1")


def ceph_start(args, log_dir):
    """Starts scripts/ceph-up.sh in the background (args.ceph_dir, rgw_port, mon_port)."""
    ceph_log = open(os.path.join(log_dir, "ceph-up.log"), "w")
    ceph = subprocess.Popen(
        [os.path.join(REPO, "scripts", "ceph-up.sh")], stdout=ceph_log,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        env=clean_env({"CEPH_DIR": args.ceph_dir, "RGW_PORT": str(args.rgw_port),
                       "MON_PORT": str(args.mon_port)}))
    return ceph, ceph_log


def ceph_ready(ceph, ceph_log, args):
    """Waits for ceph_start's cluster; unless args.rgw_nagle, restarts its gateway with
    tcp_nodelay=1. Returns (endpoint, access key, secret key, function giving the pids)."""
    try:
        code = ceph.wait(timeout=300)
    except subprocess.TimeoutExpired:
        raise Failure("scripts/ceph-up.sh did not finish within 300 s")
    ceph_log.close()
    if code != 0:
        raise Failure(f"scripts/ceph-up.sh failed (exit {code}):\n{tail(ceph_log.name, 30)}")
    env_file = {}
    with open(os.path.join(args.ceph_dir, "cluster.env")) as f:
        for line in f:
            if "=" in line:
                k, v = line.strip().split("=", 1)
                env_file[k] = v
    if not args.rgw_nagle:
        # RGW's Beast frontend leaves Nagle's algorithm on unless told otherwise; a GET answered
        # in two writes then waits for the client's delayed ACK (40 ms), which caps 16
        # connections at about 360 requests/s. Measured with it off, as deployed.
        conf_path = os.path.join(args.ceph_dir, "ceph.conf")
        with open(conf_path) as f:
            text = f.read()
        line = re.search(r"^rgw frontends = beast .*$", text, re.MULTILINE)
        if not line:
            raise Failure(f"no 'rgw frontends = beast' line in {conf_path}")
        if "tcp_nodelay" not in line.group(0):
            text = text[:line.end()] + " tcp_nodelay=1" + text[line.end():]
            with open(conf_path, "w") as f:
                f.write(text)
        restart = subprocess.run(
            [os.path.join(REPO, "scripts", "ceph-restart-gateway.sh")], capture_output=True,
            text=True, env=clean_env({"CEPH_DIR": args.ceph_dir}))
        if restart.returncode != 0:
            raise Failure(f"restarting RGW with tcp_nodelay=1 failed:\n"
                          f"{(restart.stderr or restart.stdout).strip()[-800:]}")
    conf_arg = ["-c", os.path.join(os.path.realpath(args.ceph_dir), "ceph.conf")]
    return (env_file["S3_ENDPOINT"], env_file["S3_ACCESS_KEY"], env_file["S3_SECRET_KEY"],
            lambda: pids_with_args(conf_arg))



# ---------------------------------------------------------------------------------------------
# The run


def main():
    parser = argparse.ArgumentParser(
        description="Benchmark depot serve against Ceph RGW and nginx (see the header).")
    parser.add_argument("depot", nargs="?", default=DEFAULT_DEPOT,
                        help="the depot binary (default build/release/tools/depot/depot)")
    parser.add_argument("--tests", default=",".join(TESTS),
                        help=f"comma-separated subset of {','.join(TESTS)}")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run [10]")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of untimed wrk first [2]")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads [2]")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections [16]")
    parser.add_argument("--rounds", type=int, default=1,
                        help="wrk runs per server, interleaved; the median counts [1]")
    parser.add_argument("--put-keys", type=int, default=16384,
                        help="distinct keys per server in the small-PUT run [16384]")
    parser.add_argument("--big-size", type=parse_size, default=GiB, help="big object [1GiB]")
    parser.add_argument("--big-reps", type=int, default=3, help="big transfers per server [3]")
    parser.add_argument("--dir", help="work directory (default: a new one under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--no-rgw", action="store_true", help="leave RGW out")
    add_rgw_arguments(parser, "/tmp/depot-serve-bench-ceph")
    args = parser.parse_args()

    tests = [t.strip() for t in args.tests.split(",") if t.strip()]
    for t in tests:
        if t not in TESTS:
            parser.error(f"unknown test {t!r} (choose from {', '.join(TESTS)})")
    if min(args.duration, args.threads, args.connections, args.rounds, args.put_keys,
           args.big_reps) < 1 or args.warmup < 0:
        parser.error("durations, counts and reps must be positive")
    if args.connections < args.threads:
        parser.error("wrk needs at least as many connections as threads")
    if args.rgw_endpoint and not re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/?$",
                                          args.rgw_endpoint):
        parser.error("--rgw-endpoint must be a loopback http:// URL")
    args.depot = os.path.abspath(args.depot)
    if not os.access(args.depot, os.X_OK):
        parser.error(f"no depot binary at {args.depot} (build the release preset or pass a path)")
    missing = [p for p in ("wrk", "nginx", "curl") if shutil.which(p) is None]
    if missing:
        parser.error(f"missing {', '.join(missing)} (scripts/install-deps installs them)")
    try:
        import boto3  # noqa: F401
    except ImportError:
        parser.error("boto3 is missing: run this with /usr/bin/python3 (Debian's python3-boto3)")
    rgw_mode = "none" if args.no_rgw else ("external" if args.rgw_endpoint else "start")

    # This process's own boto3 sees nothing of the caller's AWS setup either.
    for k in list(os.environ):
        if k.startswith("AWS_"):
            del os.environ[k]
    os.environ.update({k: v for k, v in clean_env().items() if k.startswith("AWS_")})
    for k in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        os.environ.pop(k, None)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

    def on_signal(signum, _frame):
        raise Stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    if args.dir:
        work = os.path.abspath(args.dir)
        os.makedirs(work, exist_ok=True)
        if os.listdir(work):
            parser.error(f"--dir {work} is not empty")
        made_work = False
    else:
        work = tempfile.mkdtemp(prefix="depot-serve-bench-", dir="/tmp")
        made_work = True
    os.chmod(work, 0o755)  # nginx's workers (nobody) must reach the store
    log_dir = os.path.join(work, "logs")
    os.makedirs(log_dir)
    store_dir = os.path.join(work, "store")

    load_before = os.getloadavg()
    say(f"== serve_bench: {', '.join(tests)}; wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration}s (warm-up {args.warmup} s, {args.rounds} round(s)); big objects "
        f"{fmt_bytes(args.big_size)} x {args.big_reps}")
    facts = machine_facts(work) + versions(args.depot, rgw_mode)
    for name, value in facts:
        say(f"  {name:9s} {value}")
    say(f"  load      {' '.join(f'{x:.2f}' for x in load_before)} (1, 5, 15 min) at the start")

    results = {}  # (test, server) -> list of per-run results
    failures = []
    notes = []
    ceph = depot_proc = nginx_proc = None
    started_ceph = False
    servers = {}
    try:
        # Ceph first, in the background: it takes half a minute, the rest is set up meanwhile.
        if rgw_mode == "start":
            ceph, ceph_log = ceph_start(args, log_dir)
            started_ceph = True
            say(f"  ceph      starting in {args.ceph_dir} (RGW port {args.rgw_port}, "
                f"log {ceph_log.name})")

        # The payloads: one 4 KiB object, and the big file (with its SHA-256, for checking).
        small_path = os.path.join(work, "small.bin")
        small = os.urandom(SMALL)
        with open(small_path, "wb") as f:
            f.write(small)
        big_path = os.path.join(work, "big.bin")
        big_sha = None
        if "get1g" in tests or "put1g" in tests:
            h = hashlib.sha256()
            with open(big_path, "wb") as f:
                left = args.big_size
                while left:
                    chunk = os.urandom(min(left, 16 * MiB))
                    h.update(chunk)
                    f.write(chunk)
                    left -= len(chunk)
                f.flush()
                os.fsync(f.fileno())
            big_sha = h.hexdigest()

        # depot serve over WORK/store.
        access, secret = "BENCH" + secrets.token_hex(8).upper(), secrets.token_hex(20)
        depot_log = os.path.join(log_dir, "depot-serve.log")
        with open(depot_log, "w") as out:
            depot_proc = subprocess.Popen(
                [args.depot, "serve", store_dir, "--listen", "127.0.0.1:0"], stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env=clean_env({"DEPOT_ACCESS_KEY": access, "DEPOT_SECRET_KEY": secret}))
        deadline = time.monotonic() + 20
        depot_port = None
        while depot_port is None:
            # The banner's first line names the endpoint; request log lines follow it.
            m = re.search(r"on http://127\.0\.0\.1:(\d+)", head_of(depot_log))
            if m:
                depot_port = int(m.group(1))
            elif depot_proc.poll() is not None or time.monotonic() > deadline:
                raise Failure(f"depot serve did not start:\n{tail(depot_log)}")
            else:
                time.sleep(0.05)
        wait_for_port(depot_port, depot_proc, "depot serve")
        depot_ep = f"http://127.0.0.1:{depot_port}"
        bucket = f"{BUCKET_PREFIX}-{secrets.token_hex(3)}"
        servers["depot"] = Server("depot", depot_ep, s3_client(depot_ep, access, secret), bucket,
                                  lambda: [depot_proc.pid])
        servers["depot"].client.create_bucket(Bucket=bucket)
        say(f"  depot     {depot_ep} (pid {depot_proc.pid}), store {store_dir}, bucket {bucket}")

        # nginx over the same directory.
        nginx_dir = os.path.join(work, "nginx")
        os.makedirs(os.path.join(nginx_dir, "tmp"))
        nginx_port = free_port()
        conf = os.path.join(nginx_dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=nginx_dir, port=nginx_port, root=store_dir))
        test = subprocess.run(["nginx", "-t", "-q", "-p", nginx_dir, "-e",
                               os.path.join(nginx_dir, "error.log"), "-c", conf],
                              capture_output=True, text=True, env=clean_env())
        if test.returncode != 0:
            raise Failure(f"nginx -t rejected {conf}: {test.stderr.strip()}")
        with open(os.path.join(log_dir, "nginx.out"), "w") as out:
            nginx_proc = subprocess.Popen(
                ["nginx", "-p", nginx_dir, "-e", os.path.join(nginx_dir, "error.log"), "-c",
                 conf], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=clean_env())
        wait_for_port(nginx_port, nginx_proc, "nginx")
        workers_by = time.monotonic() + 5  # worker_processes auto: one per CPU
        while (len(children_of(nginx_proc.pid)) < len(os.sched_getaffinity(0))
               and time.monotonic() < workers_by):
            time.sleep(0.05)
        nginx_ep = f"http://127.0.0.1:{nginx_port}"
        servers["nginx"] = Server("nginx", nginx_ep, None, bucket,
                                  lambda: [nginx_proc.pid] + children_of(nginx_proc.pid))
        say(f"  nginx     {nginx_ep} (master pid {nginx_proc.pid}, "
            f"{len(children_of(nginx_proc.pid))} workers), root {store_dir}")

        # RGW.
        if rgw_mode == "start":
            rgw_ep, rgw_access, rgw_secret, rgw_pids = ceph_ready(ceph, ceph_log, args)
        elif rgw_mode == "external":
            rgw_ep = args.rgw_endpoint.rstrip("/")
            rgw_access, rgw_secret = args.rgw_access_key, args.rgw_secret_key
            rgw_pids = lambda: []  # noqa: E731
        if rgw_mode != "none":
            servers["rgw"] = Server("rgw", rgw_ep, s3_client(rgw_ep, rgw_access, rgw_secret),
                                    bucket, rgw_pids)
            servers["rgw"].client.create_bucket(Bucket=bucket)
            procs = ", ".join(str(p) for p in rgw_pids()) or "not measured"
            say(f"  rgw       {rgw_ep} (processes {procs}), bucket {bucket}")
        say()

        def record(test, who, value):
            results.setdefault((test, who), []).append(value)

        # -------------------------------------------------------------------------------------
        # 1. Small GETs: depot, RGW, nginx, the same 4 KiB object.
        if "get4k" in tests:
            say(f"== 4 KiB GET, wrk -t{args.threads} -c{args.connections} -d{args.duration}s")
            for who in ("depot", "rgw"):
                if who in servers:
                    servers[who].client.put_object(Bucket=bucket, Key="small-get", Body=small)
            get_lua = os.path.join(work, "get.lua")
            with open(get_lua, "w") as f:
                f.write(LUA_DONE)
            urls = {}
            for who in ("depot", "rgw", "nginx"):
                if who not in servers:
                    continue
                urls[who] = servers[who].get_url("small-get")
                status, body = fetch(urls[who])
                if status != 200 or body != small:
                    raise Failure(f"{who}: GET of the 4 KiB object gave {status} and "
                                  f"{len(body)} bytes{'' if body == small else ' (wrong bytes)'}")
            for rnd in range(1, args.rounds + 1):
                for who in urls:
                    if args.warmup:
                        wrk_run(urls[who], args, get_lua, [], log_dir, f"get4k-{who}-warm{rnd}",
                                args.warmup, servers[who].pids_fn)
                    r = wrk_run(urls[who], args, get_lua, [], log_dir, f"get4k-{who}-r{rnd}",
                                args.duration, servers[who].pids_fn)
                    say(f"  round {rnd} {who:6s}{describe_wrk(r)}")
                    if r["errors"]:
                        failures.append(f"get4k {who} round {rnd}: {r['errors']} errors")
                    if r["bytes"] < r["requests"] * SMALL:
                        failures.append(f"get4k {who} round {rnd}: {r['bytes']} bytes received "
                                        f"for {r['requests']} requests")
                    record("get4k", who, r)
            say()

        # -------------------------------------------------------------------------------------
        # 2. Small PUTs: depot, RGW; distinct keys, presigned, cycled.
        if "put4k" in tests:
            say(f"== 4 KiB PUT (durable), wrk -t{args.threads} -c{args.connections} "
                f"-d{args.duration}s, {args.put_keys} presigned keys per server")
            put_lua = os.path.join(work, "put.lua")
            with open(put_lua, "w") as f:
                f.write(LUA_PUT)
            url_files = {}
            for who in ("depot", "rgw"):
                if who not in servers:
                    continue
                started = time.monotonic()
                for phase, count in (("warm", min(args.put_keys, 1024)), ("r", args.put_keys)):
                    path = os.path.join(work, f"put-{who}-{phase}.urls")
                    with open(path, "w") as f:
                        for i in range(count):
                            u = servers[who].put_url(f"small-put/{phase}/{i:06d}")
                            f.write(u[len(servers[who].endpoint):] + "\n")
                    url_files[who, phase] = path
                say(f"  ({who}: presigned {args.put_keys + min(args.put_keys, 1024)} PUT URLs "
                    f"in {time.monotonic() - started:.1f} s)")
            for rnd in range(1, args.rounds + 1):
                for who in ("depot", "rgw"):
                    if who not in servers:
                        continue
                    ep = servers[who].endpoint
                    if args.warmup:
                        wrk_run(ep + "/", args, put_lua,
                                [url_files[who, "warm"], small_path, str(args.threads)], log_dir,
                                f"put4k-{who}-warm{rnd}", args.warmup, servers[who].pids_fn)
                    r = wrk_run(ep + "/", args, put_lua,
                                [url_files[who, "r"], small_path, str(args.threads)], log_dir,
                                f"put4k-{who}-r{rnd}", args.duration, servers[who].pids_fn)
                    r["per_key"] = r["requests"] / args.put_keys
                    say(f"  round {rnd} {who:6s}{describe_wrk(r)}  "
                        f"({r['per_key']:.1f} PUTs per key)")
                    if r["errors"]:
                        failures.append(f"put4k {who} round {rnd}: {r['errors']} errors")
                    record("put4k", who, r)
                    check_small_puts(servers[who].client, bucket, args.threads, small, who,
                                     failures)
            say()

        # -------------------------------------------------------------------------------------
        # 3. Big GETs: depot vs nginx on the same file.
        timeout = 120 + args.big_size / (4 * MiB)
        if "get1g" in tests:
            say(f"== {fmt_bytes(args.big_size)} GET, curl -o /dev/null, one stream, "
                f"{args.big_reps} rep(s) each, interleaved")
            # Seeded through depot itself (untimed), then checked byte for byte through it.
            code, _, sent, secs = curl_transfer(
                ["-T", big_path, "-o", os.devnull, servers["depot"].put_url("big-get")], timeout,
                log_dir, "get1g-seed")
            if code != 200 or sent != args.big_size:
                raise Failure(f"seeding the big object through depot: HTTP {code}, {sent} bytes")
            os.sync()
            urls = {w: servers[w].get_url("big-get") for w in ("depot", "nginx")}
            digest, n = sha256_of_get(urls["depot"], timeout)
            if digest != big_sha or n != args.big_size:
                raise Failure(f"depot's GET of the big object differs from the file ({n} bytes)")
            say("  (seeded through depot, read back through it: bytes match; that read also "
                "warmed the page cache)")
            for rep in range(1, args.big_reps + 1):
                for who in ("depot", "nginx"):
                    pids = servers[who].pids_fn()
                    cpu0 = cpu_seconds(pids)
                    code, got, _, secs = curl_transfer(["-o", os.devnull, urls[who]], timeout,
                                                       log_dir, f"get1g-{who}-r{rep}")
                    cpu = cpu_seconds(pids) - cpu0
                    ok = code == 200 and got == args.big_size
                    rate = args.big_size / MiB / secs if ok and secs > 0 else 0.0
                    say(f"  rep {rep} {who:6s}{rate:9.1f} MiB/s  {secs:6.2f} s  server CPU "
                        f"{cpu:5.2f} s  HTTP {code}{'' if ok else f' FAILED ({got} bytes)'}")
                    if ok:
                        record("get1g", who, {"mibs": rate, "secs": secs, "server_cpu": cpu})
                    else:
                        failures.append(f"get1g {who} rep {rep}: HTTP {code}, {got} bytes")
            servers["depot"].client.delete_object(Bucket=bucket, Key="big-get")
            say()

        # -------------------------------------------------------------------------------------
        # 4. Big PUTs: depot vs RGW, a fresh key each time, deleted right after (untimed).
        if "put1g" in tests:
            say(f"== {fmt_bytes(args.big_size)} PUT, curl -T with a presigned URL, one stream, "
                f"{args.big_reps} rep(s) each, interleaved")
            with open(big_path, "rb") as f:  # the source in the page cache for everyone
                while f.read(16 * MiB):
                    pass
            for rep in range(1, args.big_reps + 1):
                for who in ("depot", "rgw"):
                    if who not in servers:
                        continue
                    key = f"big-put-{rep}"
                    url = servers[who].put_url(key)
                    pids = servers[who].pids_fn()
                    cpu0 = cpu_seconds(pids)
                    code, _, sent, secs = curl_transfer(["-T", big_path, "-o", os.devnull, url],
                                                        timeout, log_dir, f"put1g-{who}-r{rep}")
                    cpu = cpu_seconds(pids) - cpu0
                    ok = code == 200 and sent == args.big_size
                    if ok:
                        try:
                            head = servers[who].client.head_object(Bucket=bucket, Key=key)
                            ok = head["ContentLength"] == args.big_size
                        except Exception:  # noqa: BLE001
                            ok = False
                    rate = args.big_size / MiB / secs if ok and secs > 0 else 0.0
                    cpu_text = f"server CPU {cpu:5.2f} s" if pids else "server CPU -"
                    say(f"  rep {rep} {who:6s}{rate:9.1f} MiB/s  {secs:6.2f} s  {cpu_text}  "
                        f"HTTP {code}{'' if ok else ' FAILED'}")
                    if ok:
                        record("put1g", who, {"mibs": rate, "secs": secs, "server_cpu": cpu})
                    else:
                        failures.append(f"put1g {who} rep {rep}: HTTP {code}, {sent} bytes sent")
                    try:
                        servers[who].client.delete_object(Bucket=bucket, Key=key)
                    except Exception as e:  # noqa: BLE001
                        notes.append(f"could not delete {who} {key}: {e}")
                    os.sync()
            say()
    except (KeyboardInterrupt, Stop) as e:
        failures.append(f"interrupted ({str(e) or 'SIGINT'})")
    except Failure as e:
        failures.append(str(e))
    except Exception as e:  # noqa: BLE001 - reported, and everything is still stopped
        failures.append(f"harness: {type(e).__name__}: {e}")
    finally:
        # Ignore further SIGINT/SIGTERM while stopping what was started.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if rgw_mode == "external" and "rgw" in servers:
            empty_bucket(servers["rgw"].client, bucket, notes)
        stop_process(depot_proc, "depot serve")
        stop_process(nginx_proc, "nginx")
        if started_ceph:
            stop_process(ceph, "ceph-up.sh")
            down = subprocess.run([os.path.join(REPO, "scripts", "ceph-down.sh")],
                                  capture_output=True, text=True,
                                  env=clean_env({"CEPH_DIR": args.ceph_dir}))
            if down.returncode != 0:
                failures.append(f"scripts/ceph-down.sh failed: {down.stderr.strip()[-300:]}")
        load_after = os.getloadavg()
        keep_logs = bool(failures) or args.keep
        if keep_logs:
            for name in ("big.bin",):
                path = os.path.join(work, name)
                if os.path.exists(path):
                    os.unlink(path)
            shutil.rmtree(store_dir, ignore_errors=True)
            notes.append(f"logs kept in {log_dir}")
        elif made_work:
            shutil.rmtree(work, ignore_errors=True)
        else:
            for entry in os.listdir(work):
                path = os.path.join(work, entry)
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)

    report(results, tests, args, facts, load_before, load_after, servers)
    for n in notes:
        say(f"  ({n})")
    if failures:
        say("\nFAILURES:")
        for f in failures:
            say(f"  {f}")
        return 1
    return 0


def check_small_puts(client, bucket, threads, small, who, failures):
    """The first keys of every wrk thread's share were written (wrk calls request() once more on
    thread 0 to check the script, so thread 0's first key may have been skipped): those present
    must hold the 4 KiB exactly, and at least one per thread must be present."""
    present = 0
    for i in range(2 * threads):
        key = f"small-put/r/{i:06d}"
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as e:  # noqa: BLE001
            if "NoSuchKey" in str(e):
                continue
            failures.append(f"put4k {who}: reading {key} back: {e}")
            return
        if body != small:
            failures.append(f"put4k {who}: {key} holds {len(body)} bytes, not the 4 KiB sent")
            return
        present += 1
    if present < threads:
        failures.append(f"put4k {who}: only {present} of the first {2 * threads} keys exist")


def empty_bucket(client, bucket, notes):
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=bucket)
    except Exception as e:  # noqa: BLE001
        notes.append(f"could not delete the RGW bucket {bucket}: {e}")


# ---------------------------------------------------------------------------------------------
# The report


def report(results, tests, args, facts, load_before, load_after, servers):
    def value(test, who, field):
        runs = results.get((test, who))
        return statistics.median(r[field] for r in runs) if runs else None

    unit = {"get4k": ("req/s", "rps"), "put4k": ("req/s", "rps"),
            "get1g": ("MiB/s", "mibs"), "put1g": ("MiB/s", "mibs")}
    title = {"get4k": "4 KiB GET", "put4k": "4 KiB PUT (durable)",
             "get1g": f"{fmt_bytes(args.big_size)} GET", "put1g": f"{fmt_bytes(args.big_size)} PUT"}
    fact = dict(facts)
    say(f"== Summary (bench/serve_bench.py, {time.strftime('%Y-%m-%d')})\n")
    say(f"Machine: {fact.get('nproc', '?')} CPUs (nproc), {fact.get('cpu', '?')}, "
        f"{fact.get('ram', '?')} RAM, Linux {fact.get('kernel', '?')}; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min).  ")
    say(f"depot: {fact.get('depot', '?')}.  ")
    say(f"Load client for all: {fact.get('wrk', 'wrk')} -t{args.threads} -c{args.connections} "
        f"-d{args.duration}s after a {args.warmup} s warm-up, presigned SigV4 URLs for depot and "
        f"RGW, plain URLs for nginx; {fact.get('curl', 'curl')}, one stream, for "
        f"{fmt_bytes(args.big_size)} objects (median of {args.big_reps}).  ")
    if "rgw" not in servers:
        rgw = "Ceph RGW not run"
    elif "radosgw" in fact:
        version = re.search(r"ceph version (\S+)", fact["radosgw"])
        nodelay = "Nagle on as ceph-up.sh leaves it" if args.rgw_nagle else "tcp_nodelay=1"
        rgw = (f"Ceph RGW {version.group(1) if version else ''} (scripts/ceph-up.sh: 1 monitor, "
               f"1 BlueStore OSD on a sparse file on the same file system; Beast frontend with "
               f"{nodelay})")
        rgw = rgw.replace("RGW  (", "RGW (")
    else:
        rgw = "an external RGW (server CPU not measured)"
    say(f"Servers: depot serve over a local store; {fact.get('nginx', 'nginx')} serving the same "
        f"files statically (sendfile, no auth, access_log off, worker_processes auto); {rgw}.\n")
    say("| test | depot serve | Ceph RGW | nginx | ratio | target | |")
    say("|---|---:|---:|---:|---|---|---|")
    for test in tests:
        u, field = unit[test]
        cells = []
        for who in ("depot", "rgw", "nginx"):
            v = value(test, who, field)
            applicable = not (test in ("put4k", "put1g") and who == "nginx") and not (
                test == "get1g" and who == "rgw")
            cells.append("n/a" if not applicable else ("-" if v is None else
                         (f"{v:,.0f}" if u == "req/s" else f"{v:,.1f}")))
        ratios = []
        num, den, target = TARGETS[test]
        pairs = [(num, den, target)]
        if test == "get4k":
            pairs.append(("depot", "rgw", None))
        for a, b, t in pairs:
            va, vb = value(test, a, field), value(test, b, field)
            r = va / vb if va and vb else None
            verdict = "" if t is None or r is None else ("met" if r >= t else "**missed**")
            ratios.append((f"depot/{NAMES[b] if b != 'rgw' else 'RGW'}",
                           "-" if r is None else (f"{r:.2f}x" if r >= 0.1 else f"{r:.4f}x"),
                           "-" if t is None else f">= {t:g}x", verdict))
        for i, (label, rtext, ttext, verdict) in enumerate(ratios):
            head = f"| {title[test]}, {u} | " + " | ".join(cells) if i == 0 else "| | | | "
            say(f"{head} | {label} {rtext} | {ttext} | {verdict} |")

    # The details: latency and CPU per request for the wrk runs, CPU per GiB for the big ones.
    say("\n| detail | server | p50 ms | p99 ms | server CPU us/req | wrk CPU s | note |")
    say("|---|---|---:|---:|---:|---:|---|")
    for test in ("get4k", "put4k"):
        if test not in tests:
            continue
        for who in ("depot", "rgw", "nginx"):
            runs = results.get((test, who))
            if not runs:
                continue
            p50 = statistics.median(r["p50_us"] for r in runs) / 1000
            p99 = statistics.median(r["p99_us"] for r in runs) / 1000
            cpu = statistics.median(r["server_cpu"] / r["requests"] * 1e6 if r["requests"] else 0
                                    for r in runs)
            wrk_cpu = statistics.median(r["wrk_cpu"] for r in runs)
            cpu_text = f"{cpu:.0f}" if cpu > 0 else "-"
            note = []
            if test == "put4k":
                note.append(f"{statistics.median(r['per_key'] for r in runs):.1f} PUTs per key")
            if who == "rgw" and cpu > 0:
                note.append("CPU of radosgw + ceph-osd + ceph-mon")
            errors = sum(r["errors"] for r in runs)
            if errors:
                note.append(f"{errors} errors")
            say(f"| {title[test]} | {NAMES[who]} | {p50:.2f} | {p99:.2f} | {cpu_text} | "
                f"{wrk_cpu:.1f} | {'; '.join(note)} |")
    say("\n| detail | server | MiB/s each rep | server CPU s/GiB |")
    say("|---|---|---|---:|")
    for test in ("get1g", "put1g"):
        if test not in tests:
            continue
        for who in ("depot", "rgw", "nginx"):
            runs = results.get((test, who))
            if not runs:
                continue
            each = ", ".join(f"{r['mibs']:.0f}" for r in runs)
            cpu = statistics.median(r["server_cpu"] for r in runs) / (args.big_size / GiB)
            say(f"| {title[test]} | {NAMES[who]} | {each} | "
                f"{f'{cpu:.2f}' if cpu > 0 else '-'} |")


if __name__ == "__main__":
    sys.exit(main())
