# Shared by the shell tests that run depot against clients from outside (sourced, with
# test_name set): a scratch directory removed at exit, background processes (pids) stopped at
# exit, fail, and missing (a tool the test needs is absent: skip with 77, or fail under
# DEPOT_TEST_INTEGRATION=1, so that CI cannot pass by skipping), and start_serve.
work="$(mktemp -d "/tmp/depot-$test_name.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
fail() { echo "$test_name: FAIL: $*" >&2; exit 1; }
missing() {
  if [[ "${DEPOT_TEST_INTEGRATION:-}" == 1 ]]; then fail "$1 (DEPOT_TEST_INTEGRATION=1)"; fi
  echo "$test_name: SKIPPED: $1" >&2
  exit 77
}

# start_serve NAME [OPTIONS...]: `$depot serve` over the directory $work/NAME on a free loopback
# port, logging to NAME.log; sets `endpoint` (http:// or https://) once it is up. Not in a
# subshell, so that cleanup stops it.
start_serve() {
  local name="$1"
  shift
  "$depot" serve "$work/$name" --listen 127.0.0.1:0 "$@" >"$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do
    grep -q "on http" "$name.log" && break
    sleep 0.1
  done
  endpoint="$(grep -o 'https\?://127.0.0.1:[0-9]*' "$name.log" | head -1)"
  [[ -n "$endpoint" ]] || fail "depot serve did not start: $(cat "$name.log")"
}
