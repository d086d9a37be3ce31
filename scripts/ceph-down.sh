#!/usr/bin/env bash
# Stops the Ceph cluster that scripts/ceph-up.sh started in CEPH_DIR and removes CEPH_DIR.
#
#   CEPH_DIR=/tmp/depot-ceph [KEEP=1] [ONLY=radosgw] scripts/ceph-down.sh
#
# The cluster's processes are found by their command line: ceph-up.sh starts every daemon with
# "-c CEPH_DIR/ceph.conf", so a process is stopped only if its arguments contain exactly that
# pair. Processes of another CEPH_DIR, and a recycled pid in a stale pid file, are never signalled.
# They are stopped gateway first, then OSD, then monitor (its clients exit slowly without it),
# each with SIGTERM, and SIGKILL if still alive after CEPH_DOWN_TIMEOUT seconds [20].
# CEPH_DIR is then deleted, unless KEEP=1 (to read the logs), and only if ceph-up.sh made it.
# ONLY=PROGRAM stops only that program's processes (ceph-restart-gateway.sh: ONLY=radosgw) and
# keeps CEPH_DIR.
# Exit status: 0 when no process of the cluster is left; 1 otherwise.
set -euo pipefail

ceph_dir="$(realpath -m -- "${CEPH_DIR:-${TMPDIR:-/tmp}/depot-ceph}")"
conf="$ceph_dir/ceph.conf"
timeout_s="${CEPH_DOWN_TIMEOUT:-20}"
only="${ONLY:-}"
started=$EPOCHREALTIME

# Prints the pids of live processes whose arguments contain "-c $conf" and, if $1 is given,
# whose program is $1.
cluster_pids() {
  local program="${1:-}" cmdline pid i
  local -a args
  for cmdline in /proc/[0-9]*/cmdline; do
    pid="${cmdline#/proc/}"
    pid="${pid%/cmdline}"
    [[ "$pid" != "$$" ]] || continue
    mapfile -d '' args 2>/dev/null <"$cmdline" || continue
    ((${#args[@]} > 0)) || continue # kernel threads have no arguments
    [[ -z "$program" || "${args[0]##*/}" == "$program" ]] || continue
    for ((i = 0; i + 1 < ${#args[@]}; i++)); do
      if [[ "${args[i]}" == "-c" && "${args[i + 1]}" == "$conf" ]]; then
        is_alive "$pid" && echo "$pid"
        break
      fi
    done
  done
}

# A zombie has exited already; its parent (possibly init) reaps it.
is_alive() {
  kill -0 "$1" 2>/dev/null && [[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

# Sends TERM to the pids given, waits up to $timeout_s seconds, KILLs the survivors and waits up
# to 10 s more. The caller checks what is left.
stop_pids() {
  local pid killed=0 deadline=$((SECONDS + timeout_s))
  for pid in "$@"; do
    echo "ceph-down: TERM $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80))"
    kill -TERM "$pid" 2>/dev/null || true
  done
  local -a alive=("$@")
  while :; do
    local -a still=()
    for pid in "${alive[@]}"; do is_alive "$pid" && still+=("$pid"); done
    alive=("${still[@]}")
    ((${#alive[@]} > 0)) || return 0
    if ((SECONDS >= deadline)); then
      ((killed == 0)) || return 0
      for pid in "${alive[@]}"; do
        echo "ceph-down: KILL $pid (still running after ${timeout_s}s)"
        kill -KILL "$pid" 2>/dev/null || true
      done
      killed=1
      deadline=$((SECONDS + 10))
    fi
    sleep 0.1
  done
}

# Clients of the monitor first: a gateway or OSD whose monitor is gone takes seconds to exit.
# The last, unnamed pass takes whatever else runs with this configuration (ceph CLI calls).
if [[ -n "$only" ]]; then
  order=("$only")
else
  order=(radosgw ceph-osd ceph-mon "")
fi
stopped=0
for program in "${order[@]}"; do
  mapfile -t pids < <(cluster_pids "$program")
  ((${#pids[@]} > 0)) || continue
  stop_pids "${pids[@]}"
  stopped=$((stopped + ${#pids[@]}))
done
mapfile -t left < <(cluster_pids "$only")
if ((${#left[@]} > 0)); then
  echo "ceph-down: ERROR: processes of $ceph_dir still running: ${left[*]}" >&2
  exit 1
fi
# The whole cluster: drop the pid files (a killed daemon leaves its own behind, and its pid may
# be recycled), then the directory.
if [[ -z "$only" ]]; then
  rm -f "$ceph_dir"/run/*.pid
  if [[ "${KEEP:-0}" == 1 ]]; then
    echo "ceph-down: keeping $ceph_dir (KEEP=1)"
  elif [[ -f "$ceph_dir/.depot-ceph" ]]; then
    rm -rf -- "$ceph_dir"
  elif [[ -e "$ceph_dir" ]]; then
    echo "ceph-down: $ceph_dir was not made by ceph-up.sh; not deleting it" >&2
  fi
fi
awk -v n="$stopped" -v a="$started" -v b="$EPOCHREALTIME" \
  'BEGIN { printf "ceph-down: stopped %d processes in %.1fs\n", n, b - a }'
