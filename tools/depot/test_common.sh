# Shared by the shell tests that run depot against clients from outside (sourced, with
# test_name set): a scratch directory removed at exit, background processes (pids) stopped at
# exit, fail, and missing (a tool the test needs is absent: skip with 77, or fail under
# DEPOT_TEST_INTEGRATION=1, so that CI cannot pass by skipping).
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
