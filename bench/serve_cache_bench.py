#!/usr/bin/python3
# serve_cache_bench.py: `depot serve --cache` in front of Ceph's RADOS Gateway, against the same
# depot serve without a cache and against RGW directly, in one run on one machine.
#
#   warm 4 KiB GET   GETs per second of one 4 KiB object over 16 keep-alive connections
#                    (wrk -t2 -c16, presigned URLs: every signature is checked)
#   warm 1 GiB GET   MiB/s of one 1 GiB object, curl -o /dev/null, one stream, median of reps
#
# The three servers answer the very same object: both depot serves serve the RGW bucket (depot
# keeps bucket B's objects as keys "B/KEY" of its store), and RGW is asked for that key directly.
# "Warm": each is read once, untimed, before it is measured, so the cache holds the object and
# RGW's and the kernel's caches are as warm as they get. Target (issue 14): cached warm GETs
# >= 3x RGW's. A missed target is reported, not an error.
#
#   bench/serve_cache_bench.py                         # build/release/tools/depot/depot, ~3 min
#   bench/serve_cache_bench.py DEPOT --rgw-endpoint http://127.0.0.1:7480   # an RGW running
#
# Without --rgw-endpoint it starts Ceph with scripts/ceph-up.sh (in --ceph-dir, stopped and
# deleted at the end) and restarts its gateway with tcp_nodelay=1, as serve_bench.py does (see
# there). Loopback only; boto3 gets explicit credentials, AWS_EC2_METADATA_DISABLED=true and
# no configuration files. Exit status: 0 when every measurement ran and every check passed.
import argparse
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import serve_bench as sb

TARGET = 3.0
NAMES = {"cached": "depot serve --cache", "uncached": "depot serve", "rgw": "Ceph RGW"}


def start_depot(args, work, name, rgw, bucket, access, secret, cache_dir=None):
    """depot serve over the RGW bucket; returns (process, endpoint)."""
    log = os.path.join(work, "logs", f"{name}.log")
    argv = [args.depot, "serve", f"s3://{bucket}?endpoint={rgw['endpoint']}", "--listen",
            "127.0.0.1:0", "--log-level", "warn"]
    if cache_dir:
        argv += ["--cache", cache_dir, "--cache-size", "4GiB"]
    env = sb.clean_env({"DEPOT_ACCESS_KEY": access, "DEPOT_SECRET_KEY": secret,
                        "AWS_ACCESS_KEY_ID": rgw["access"],
                        "AWS_SECRET_ACCESS_KEY": rgw["secret"]})
    # depot's credential chain wants regular files or none (clean_env points boto3 at /dev/null).
    env.pop("AWS_CONFIG_FILE", None)
    env.pop("AWS_SHARED_CREDENTIALS_FILE", None)
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    deadline = time.monotonic() + 20
    while True:
        m = re.search(r" on http://127\.0\.0\.1:(\d+)", sb.head_of(log))
        if m:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            raise sb.Failure(f"{name} did not start:\n{sb.tail(log)}")
        time.sleep(0.05)
    port = int(m.group(1))
    sb.wait_for_port(port, proc, name)
    return proc, f"http://127.0.0.1:{port}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("depot", nargs="?", default=sb.DEFAULT_DEPOT)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run [10]")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of untimed wrk first [2]")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads [2]")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections [16]")
    parser.add_argument("--big-size", type=sb.parse_size, default=sb.GiB, help="[1GiB]")
    parser.add_argument("--big-reps", type=int, default=3, help="big GETs per server [3]")
    sb.add_rgw_arguments(parser, "/tmp/depot-cache-bench-ceph")
    args = parser.parse_args()
    if not os.access(args.depot, os.X_OK):
        parser.error(f"{args.depot} is not an executable (build the release preset first)")
    for program in ("wrk", "curl"):
        if shutil.which(program) is None:
            parser.error(f"{program} is not installed (scripts/install-deps --bench)")

    work = tempfile.mkdtemp(prefix="depot-cache-bench-")
    os.makedirs(os.path.join(work, "logs"))
    log_dir = os.path.join(work, "logs")

    def on_signal(signum, _frame):
        raise sb.Stop(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    sb.say(f"== serve_cache_bench: warm 4 KiB GETs (wrk -t{args.threads} -c{args.connections} "
           f"-d{args.duration}s), warm {sb.fmt_bytes(args.big_size)} GETs x {args.big_reps}")
    for name, value in sb.machine_facts(work) + sb.versions(args.depot, "start"):
        sb.say(f"  {name:9s} {value}")
    failures = []
    procs = {}
    ceph = None
    results = {}
    try:
        if args.rgw_endpoint:
            rgw = {"endpoint": args.rgw_endpoint.rstrip("/"), "access": args.rgw_access_key,
                   "secret": args.rgw_secret_key, "pids": lambda: []}
        else:
            ceph, ceph_log = sb.ceph_start(args, log_dir)
            endpoint, access, secret, pids = sb.ceph_ready(ceph, ceph_log, args)
            rgw = {"endpoint": endpoint, "access": access, "secret": secret, "pids": pids}
        rgw_bucket = f"cache-bench-{secrets.token_hex(3)}"
        rgw_client = sb.s3_client(rgw["endpoint"], rgw["access"], rgw["secret"])
        rgw_client.create_bucket(Bucket=rgw_bucket)

        access, secret = "BENCH" + secrets.token_hex(8).upper(), secrets.token_hex(20)
        servers = {}
        for name, cache in (("uncached", None), ("cached", os.path.join(work, "cache"))):
            procs[name], endpoint = start_depot(args, work, name, rgw, rgw_bucket, access,
                                                secret, cache)
            pid = procs[name].pid
            servers[name] = sb.Server(name, endpoint, sb.s3_client(endpoint, access, secret),
                                      "data", lambda pid=pid: [pid])
        servers["uncached"].client.create_bucket(Bucket="data")
        servers["rgw"] = sb.Server("rgw", rgw["endpoint"], rgw_client, rgw_bucket, rgw["pids"])
        sb.say(f"  servers   {', '.join(f'{n} {s.endpoint}' for n, s in servers.items())}")

        # The objects, written through the uncached depot serve (so into RGW).
        small = os.urandom(sb.SMALL)
        servers["uncached"].client.put_object(Bucket="data", Key="small", Body=small)
        big_path = os.path.join(work, "big.bin")
        with open(big_path, "wb") as f:
            left = args.big_size
            while left:
                f.write(os.urandom(min(left, 16 * sb.MiB)))
                left -= min(left, 16 * sb.MiB)
        timeout = 120 + args.big_size / (4 * sb.MiB)
        code, _, sent, _ = sb.curl_transfer(
            ["-T", big_path, "-o", os.devnull, servers["uncached"].put_url("big")], timeout,
            log_dir, "seed-big")
        if code != 200 or sent != args.big_size:
            raise sb.Failure(f"seeding the big object: HTTP {code}, {sent} bytes")
        big_sha = sb.sha256_of_get(servers["uncached"].get_url("big"), timeout)[0]
        keys = {"small": {"rgw": "data/small"}, "big": {"rgw": "data/big"}}

        def url(who, key):
            return servers[who].get_url(keys[key].get(who, key))

        sb.say()
        sb.say("== warm 4 KiB GET")
        lua = os.path.join(work, "get.lua")
        with open(lua, "w") as f:
            f.write(sb.LUA_DONE)
        for who in ("cached", "uncached", "rgw"):
            status, body = sb.fetch(url(who, "small"))  # warms the cache
            if status != 200 or body != small:
                raise sb.Failure(f"{who}: the 4 KiB object came back as {status}, {len(body)} "
                                 "bytes" + ("" if body == small else " (wrong bytes)"))
            if args.warmup:
                sb.wrk_run(url(who, "small"), args, lua, [], log_dir, f"small-{who}-warm",
                           args.warmup, servers[who].pids_fn)
            r = sb.wrk_run(url(who, "small"), args, lua, [], log_dir, f"small-{who}",
                           args.duration, servers[who].pids_fn)
            sb.say(f"  {who:9s}{sb.describe_wrk(r)}")
            if r["errors"]:
                failures.append(f"small {who}: {r['errors']} errors")
            results["small", who] = r["rps"]

        sb.say()
        sb.say(f"== warm {sb.fmt_bytes(args.big_size)} GET, curl -o /dev/null")
        for who in ("cached", "uncached", "rgw"):
            digest, n = sb.sha256_of_get(url(who, "big"), timeout)  # warms, and checks
            if digest != big_sha or n != args.big_size:
                raise sb.Failure(f"{who}: the big object came back different ({n} bytes)")
        rates = {who: [] for who in ("cached", "uncached", "rgw")}
        for rep in range(1, args.big_reps + 1):
            for who in rates:
                pids = servers[who].pids_fn()
                cpu0 = sb.cpu_seconds(pids)
                code, got, _, secs = sb.curl_transfer(["-o", os.devnull, url(who, "big")],
                                                      timeout, log_dir, f"big-{who}-{rep}")
                cpu = sb.cpu_seconds(pids) - cpu0
                ok = code == 200 and got == args.big_size
                rate = args.big_size / sb.MiB / secs if ok and secs > 0 else 0.0
                sb.say(f"  rep {rep} {who:9s}{rate:9.1f} MiB/s  {secs:6.2f} s  server CPU "
                       f"{cpu:5.2f} s  HTTP {code}{'' if ok else ' FAILED'}")
                if ok:
                    rates[who].append(rate)
                else:
                    failures.append(f"big {who} rep {rep}: HTTP {code}, {got} bytes")
        for who, values in rates.items():
            if values:
                results["big", who] = statistics.median(values)
        for key in ("small", "big"):
            rgw_client.delete_object(Bucket=rgw_bucket, Key=keys[key]["rgw"])
        for marker in rgw_client.list_objects_v2(Bucket=rgw_bucket).get("Contents", []):
            rgw_client.delete_object(Bucket=rgw_bucket, Key=marker["Key"])
        rgw_client.delete_bucket(Bucket=rgw_bucket)
    except (KeyboardInterrupt, sb.Stop) as e:
        failures.append(f"interrupted ({str(e) or 'SIGINT'})")
    except sb.Failure as e:
        failures.append(str(e))
    except Exception as e:  # noqa: BLE001 - reported, and everything is still stopped
        failures.append(f"harness: {type(e).__name__}: {e}")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        for name, proc in procs.items():
            sb.stop_process(proc, name)
        if ceph is not None:
            sb.stop_process(ceph, "ceph-up.sh")
            subprocess.run([os.path.join(sb.REPO, "scripts", "ceph-down.sh")],
                           capture_output=True, env=sb.clean_env({"CEPH_DIR": args.ceph_dir}))
        if failures:
            sb.say(f"  (logs kept in {log_dir})")
            big = os.path.join(work, "big.bin")
            if os.path.exists(big):
                os.unlink(big)
            shutil.rmtree(os.path.join(work, "cache"), ignore_errors=True)
        else:
            shutil.rmtree(work, ignore_errors=True)

    sb.say()
    sb.say("| test | depot serve --cache | depot serve | Ceph RGW | cached / RGW | target |")
    sb.say("|---|---:|---:|---:|---|---|")
    for key, unit in (("small", "req/s"), ("big", "MiB/s")):
        row = [results.get((key, who)) for who in ("cached", "uncached", "rgw")]
        cells = [f"{v:,.0f}" if v is not None else "-" for v in row]
        ratio = (row[0] / row[2]) if row[0] and row[2] else None
        verdict = "-" if ratio is None else ("met" if ratio >= TARGET else "MISSED")
        name = ("warm 4 KiB GET, " if key == "small" else
                f"warm {sb.fmt_bytes(args.big_size)} GET, ") + unit
        sb.say(f"| {name} | {' | '.join(cells)} | "
               f"{'-' if ratio is None else f'**{ratio:.2f}x**'} | >= {TARGET:g}x: {verdict} |")
    if failures:
        sb.say("\nFAILURES:")
        for f in failures:
            sb.say(f"  {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
