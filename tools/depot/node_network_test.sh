#!/usr/bin/env bash
# Several `depot node run` processes on loopback (UDP for the DHT, HTTP between nodes): a put on
# one is fetched from another, byte for byte; a holder killed with kill -9 is replaced and the
# count of providers comes back to 3; a provider whose bytes are deleted fails its next challenge
# and is penalised (the contract is breached), an unreachable one is disputed instead; a client
# restarted after kill -9 keeps its contracts and proofs.
#   node_network_test.sh DEPOT     (CTest: cli_node_network_test, labels cli;node)
set -euo pipefail
depot="$(realpath "$1")"
dir="$(mktemp -d "${TMPDIR:-/tmp}/depot-node-net.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "node_network_test: $*" >&2; "$depot" node contracts "$dir/n0" >&2 2>&1 || true; for n in "$dir"/n*/log; do echo "== $n"; tail -5 "$n"; done >&2; exit 1; }

# Below the kernel's ephemeral range (32768 and up), where other tests' sockets land.
base=$((20000 + RANDOM % 12000))
# start N [EXTRA...]: node N on HTTP port base+N and UDP port base+100+N, joining through node 0.
start() {
  local n="$1"; shift
  local boot=()
  [[ "$n" -ne 0 ]] && boot=(--bootstrap "127.0.0.1:$((base + 100))")
  # DIR relative to the working directory, as a user types it.
  (cd "$dir" && exec "$depot" node run "n$n" --listen "127.0.0.1:$((base + n))" --dht "127.0.0.1:$((base + 100 + n))" \
    "${boot[@]}" --lift-limits --record-ttl 20 --announce 2 --repair 1 --duration 3600 "$@" >"$dir/n$n/log" 2>&1) &
  pids[$n]=$!
}
mkdir -p "$dir"/n{0,1,2,3,4}
# Challenges every 2 s; no failed proof allowed, so one failure breaches the contract. Node 0, the
# client, buys premium contracts.
start 0 --proof-interval 2 --allowed-misses 0 --quality premium
for n in 1 2 3 4; do start "$n" --proof-interval 2 --allowed-misses 0; done
# up N: waits until node N answers its status.
up() {
  for _ in $(seq 100); do
    "$depot" node status "$dir/n$1" --json >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "node $1 did not start"
}
for n in 0 1 2 3 4; do up "$n"; done
# eventually SECONDS COMMAND...: retries COMMAND every half second until it succeeds.
eventually() {
  local limit="$1"; shift
  for _ in $(seq $((limit * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}
known() { [[ "$("$depot" node status "$dir/n$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["known_nodes"])')" -ge "$2" ]]; }
eventually 30 known 0 5 || fail "node 0 does not see the others"

head -c 3000000 /dev/urandom >"$dir/blob"
if "$depot" node put "$dir/n0" "$dir/no-such-file" 2>"$dir/err"; then fail "a put of a missing file succeeded"; fi
grep -q "no-such-file" "$dir/err" || fail "the error does not name the missing file: $(cat "$dir/err")"
"$depot" node put "$dir/n0" "$dir/blob" --json >"$dir/put.json" || fail "put failed"
id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$dir/put.json")"
[[ "$id" == "$(b3sum --no-names "$dir/blob")" ]] || fail "the id is not the blob's BLAKE3"
quality="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contracts"][0]["quality"])' "$dir/put.json")"
[[ "$quality" == premium ]] || fail "node 0's contract is $quality, not premium"
count() { "$depot" node providers "$dir/n$1" "$id" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
has_count() { [[ "$(count "$1")" -eq "$2" ]]; }
eventually 20 has_count 4 3 || fail "3 providers expected, $(count 4) seen"

# Fetched on a node that holds nothing: the same bytes.
holders="$("$depot" node providers "$dir/n0" "$id" --json)"
for n in 1 2 3 4; do
  node_id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' <("$depot" node status "$dir/n$n" --json))"
  if ! grep -q "$node_id" <<<"$holders"; then reader="$n"; fi
done
"$depot" node get "$dir/n$reader" "$id" -o "$dir/back" || fail "get on node $reader failed"
cmp -s "$dir/blob" "$dir/back" || fail "node $reader read other bytes"

# Proofs pass while the providers hold the blob.
passed() { "$depot" node proofs "$dir/n0" --json | python3 -c 'import json,sys; sys.exit(0 if sum(p["passed"] for p in json.load(sys.stdin)) >= 2 else 1)'; }
eventually 30 passed || fail "no proofs passed"

# A provider loses its bytes (deleted on disk while it is down), comes back, fails its next
# challenge and is penalised: its contract is breached.
provider_endpoint="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contracts"][0]["provider_endpoint"])' "$dir/put.json")"
victim=$(( ${provider_endpoint##*:} - base ))
kill -9 "${pids[$victim]}"; wait "${pids[$victim]}" 2>/dev/null || true
rm -rf "$dir/n$victim/cas/objects/blobs"
start "$victim" --proof-interval 2 --allowed-misses 0
up "$victim"
breached() { "$depot" node contracts "$dir/n0" --json | python3 -c 'import json,sys; sys.exit(0 if any(c["state"] == "breached" and c["failed"] >= 1 for c in json.load(sys.stdin)) else 1)'; }
eventually 30 breached || fail "the provider that lost the blob was not penalised"
told() { "$depot" node contracts "$dir/n$victim" --json | python3 -c 'import json,sys; sys.exit(0 if any(c["state"] == "breached" for c in json.load(sys.stdin)) else 1)'; }
eventually 10 told || fail "the provider's own book does not show the breach"

# kill -9 another holder: the count of live providers comes back to 3 without it.
other_endpoint="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contracts"][1]["provider_endpoint"])' "$dir/put.json")"
second=$(( ${other_endpoint##*:} - base ))
kill -9 "${pids[$second]}"; wait "${pids[$second]}" 2>/dev/null || true
# The client cannot reach it: its contract is disputed, not failed (a partition looks the same).
disputed() { "$depot" node contracts "$dir/n0" --json | python3 -c 'import json,sys; sys.exit(0 if any(c["state"] == "disputed" and c["failed"] == 0 for c in json.load(sys.stdin)) else 1)'; }
eventually 30 disputed || fail "the contract of the killed holder was not disputed"
repaired() {
  local listing; listing="$("$depot" node providers "$dir/n0" "$id" --json)" || return 1
  python3 - "$listing" "$(cat "$dir/n$second/endpoint")" "$(cat "$dir/n$victim/endpoint")" <<'PY'
import json, sys
live = [p for p in json.loads(sys.argv[1]) if p["endpoint"] not in (sys.argv[2], sys.argv[3])]
sys.exit(0 if len(live) >= 3 else 1)
PY
}
eventually 60 repaired || fail "the count was not restored: $("$depot" node providers "$dir/n0" "$id")"

# The client, killed and restarted, keeps its contracts, proofs and balance: its money adds up
# (what it holds, what it has escrowed, and what its contracts paid less the penalties they
# charged, is the initial million tokens) on both sides of the restart.
conserved() {
  python3 - "$("$depot" node status "$dir/n0" --json)" "$("$depot" node contracts "$dir/n0" --json)" <<'PY'
import json, sys
account = json.loads(sys.argv[1])
mine = [c for c in json.loads(sys.argv[2]) if c["role"] == "client"]
total = account["balance"] + account["escrowed"] + sum(c["paid"] - c["penalties"] for c in mine)
sys.exit(0 if mine and total == 10**12 else 1)
PY
}
eventually 10 conserved || fail "node 0's money does not add up before the restart"
before="$("$depot" node contracts "$dir/n0" --json)"
kill -9 "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
start 0 --proof-interval 2 --allowed-misses 0
up 0
after="$("$depot" node contracts "$dir/n0" --json)"
python3 - "$before" "$after" <<'PY' || fail "contracts changed across the restart"
import json, sys
before = {c["id"]: c for c in json.loads(sys.argv[1])}
after = {c["id"]: c for c in json.loads(sys.argv[2])}
assert set(before) <= set(after), "a contract was lost"
for cid, c in before.items():
    assert after[cid]["passed"] >= c["passed"] and after[cid]["state"] in (c["state"], "breached", "completed", "disputed"), cid
PY
"$depot" node proofs "$dir/n0" | grep -q passed || fail "no proofs after the restart"
eventually 10 conserved || fail "node 0's money does not add up after the restart"
echo "node_network_test: passed"
