#!/usr/bin/env bash
# The HTTP stacks depot serve could stand on, alone, against nginx: each answers every GET with
# the same 4 KiB body (no S3, no store), driven by the same wrk (-t2 -c16, 2 s warm-up, then
# DURATION s) on this machine. What it measures is the ceiling each stack puts on small requests.
#   - Boost.Beast, synchronous, one thread per connection, TCP_NODELAY: depot serve's stack;
#   - libmicrohttpd (Debian libmicrohttpd-dev), epoll, a pool of 2 threads;
#   - cpp-httplib (Debian libcpp-httplib-dev), its thread pool, TCP_NODELAY;
#   - nginx (Debian nginx-light) serving a 4 KiB file: the baseline, as in bench/serve_bench.py.
# Usage: bench/http_stack_bench.sh [DURATION]   (about a minute; everything on 127.0.0.1)
set -euo pipefail
cd "$(dirname "$0")"
duration="${1:-8}"
work="$(mktemp -d /tmp/depot-http-stack.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for server in beast_sync microhttpd httplib; do
  libs=(-pthread)
  [[ "$server" == microhttpd ]] && libs+=(-lmicrohttpd)
  [[ "$server" == httplib ]] && libs+=(-lcpp-httplib)
  g++ -std=c++20 -O2 -o "$work/$server" "http_stack/$server.cc" "${libs[@]}"
done

mkdir -p "$work/www" "$work/nginx"
head -c 4096 /dev/zero | tr '\0' x >"$work/www/small.bin"
chmod 755 "$work" "$work/www"
cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:19480; root $work/www; }
}
CONF

start() {  # NAME PORT COMMAND...
  local name="$1" port="$2"
  shift 2
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/small.bin" && return 0
    sleep 0.05
  done
  echo "http_stack_bench: $name did not start: $(cat "$work/$name.log")" >&2
  exit 1
}
start nginx 19480 /usr/sbin/nginx -c "$work/nginx/nginx.conf"
start beast_sync 19481 "$work/beast_sync" 19481
start microhttpd 19482 "$work/microhttpd" 19482
start httplib 19483 "$work/httplib" 19483

rate() {  # PORT -> requests/s
  wrk -t2 -c16 -d2s "http://127.0.0.1:$1/small.bin" >/dev/null
  wrk -t2 -c16 -d"${duration}s" "http://127.0.0.1:$1/small.bin" |
    awk '/Requests\/sec/ { printf "%d", $2 }'
}
nginx_rate="$(rate 19480)"
echo "HTTP stacks, 4 KiB GETs, wrk -t2 -c16 -d${duration}s, $(nproc) CPUs ($(date -u +%F))"
echo "| server | req/s | / nginx |"
echo "|---|---:|---:|"
echo "| nginx (static file) | $nginx_rate | 1.00 |"
for entry in "Boost.Beast sync, thread per connection:19481" "libmicrohttpd epoll, 2 threads:19482" \
  "cpp-httplib thread pool, TCP_NODELAY:19483"; do
  name="${entry%:*}"
  port="${entry##*:}"
  r="$(rate "$port")"
  echo "| $name | $r | $(awk -v a="$r" -v b="$nginx_rate" 'BEGIN { printf "%.2f", a / b }') |"
done
