#!/usr/bin/env bash
# Runs every depot fuzz target for a short while, starting from the seed corpora in
# fuzz/corpus/<target>/ (which are only read: new inputs go to a scratch directory).
#
#   fuzz/run_short.sh [SECONDS] [BUILD_DIR]
#
# SECONDS per target (default 20); fuzz/<target>.dict, where present, is passed as a dictionary;
# BUILD_DIR is the build tree configured with
# -DDEPOT_BUILD_FUZZ=ON (default: $DEPOT_FUZZ_BUILD_DIR, else build/asan, the preset that does). Exits nonzero if any
# target crashes, leaks or finds a failing input; the input is kept and its path printed.
set -euo pipefail

seconds="${1:-20}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
build="${2:-${DEPOT_FUZZ_BUILD_DIR:-$repo/build/asan}}"
targets=(fuzz_key fuzz_url fuzz_range fuzz_slice fuzz_sigv4 fuzz_s3_xml fuzz_sigv4_verify fuzz_chunked
  fuzz_node_message)

if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -eq 0 ]]; then
  echo "run_short.sh: SECONDS must be a positive number, got \"$seconds\"" >&2
  exit 2
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/depot-fuzz-XXXXXX")"
artifacts="$repo/build/fuzz-artifacts"
mkdir -p "$artifacts"
cleanup() { rm -rf "$scratch"; }
trap cleanup EXIT

failed=()
for target in "${targets[@]}"; do
  binary="$(find "$build" -type f -name "$target" -perm -u+x 2>/dev/null | head -n 1)"
  if [[ -z "$binary" ]]; then
    echo "run_short.sh: $target not found under $build (build it with DEPOT_BUILD_FUZZ=ON)" >&2
    failed+=("$target (not built)")
    continue
  fi
  corpus="$scratch/$target/corpus"
  mkdir -p "$corpus" "$scratch/$target/tmp"
  dict=()
  [[ -f "$here/$target.dict" ]] && dict=(-dict="$here/$target.dict")
  echo "== $target: ${seconds}s"
  # TMPDIR: where fuzz_key makes its local store; removed with the scratch directory.
  if TMPDIR="$scratch/$target/tmp" "$binary" -max_total_time="$seconds" -timeout=25 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$target-" "${dict[@]}" \
      "$corpus" "$here/corpus/$target" >"$scratch/$target.log" 2>&1; then
    grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)" "$scratch/$target.log" || true
  else
    echo "run_short.sh: $target FAILED; last lines of its log:" >&2
    tail -n 40 "$scratch/$target.log" >&2
    echo "run_short.sh: failing inputs (if any) are in $artifacts/" >&2
    failed+=("$target")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run_short.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "run_short.sh: all ${#targets[@]} targets ran ${seconds}s without a failure"
