#!/usr/bin/env bash
# End-to-end test of the `depot` command-line tool: runs the built binary against a temporary
# local store and plain files, and checks outputs, files and exit codes (0 ok, 1 failed, 2 usage).
#
#   tools/depot/cli_test.sh path/to/depot        (registered with CTest, label "cli")
set -uo pipefail

depot="${1:?usage: cli_test.sh path/to/depot}"
depot="$(cd "$(dirname "$depot")" && pwd)/$(basename "$depot")"
work="$(mktemp -d "${TMPDIR:-/tmp}/depot-cli-test-XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

failures=0
out="$work/out"
err="$work/err"

fail() {
  echo "FAIL: $*" >&2
  echo "  stdout: $(head -c 2000 "$out")" >&2
  echo "  stderr: $(head -c 2000 "$err")" >&2
  failures=$((failures + 1))
}

# run EXPECTED_RC ARGS...: runs depot with ARGS, stdout to $out and stderr to $err.
run() {
  local expected="$1"
  shift
  "$depot" "$@" >"$out" 2>"$err"
  local rc=$?
  if [[ $rc -ne $expected ]]; then
    fail "depot $* exited $rc, expected $expected"
    return 1
  fi
  return 0
}

expect_out() {  # expect_out TEXT: stdout contains TEXT
  grep -qF -- "$1" "$out" || fail "stdout lacks \"$1\""
}
expect_err() {  # expect_err TEXT: stderr contains TEXT
  grep -qF -- "$1" "$err" || fail "stderr lacks \"$1\""
}
expect_no_output() {
  [[ ! -s "$out" && ! -s "$err" ]] || fail "expected no output"
}
same_file() {
  cmp -s "$1" "$2" || fail "$1 and $2 differ"
}

# --- help and usage ----------------------------------------------------------------------------
run 0 --help && expect_out "Locations:" && expect_out "mem://NAME/KEY"
for command in cp cat ls rm stat init demo; do
  run 0 "$command" --help && expect_out "Usage:" && expect_out "file:///ABS/PATH"
done
run 2
run 2 frobnicate
run 2 cp onlyone
run 2 cp a b --no-such-option
run 2 cp a b --parallel 0
run 2 cp a b --part-size 12parsecs && expect_err "12parsecs"
run 2 ls --recursive --delimiter / x

# --- a store and some files --------------------------------------------------------------------
run 0 init store && expect_out "initialized depot store at $work/store"
[[ -d store/.depot ]] || fail "init did not make store/.depot"
run 0 init store && expect_out "reopened"

printf 'hello, depot\n' >hello.txt
head -c 20000000 /dev/urandom >big.bin
: >empty.bin

# file -> store: silent on success (stderr is not a terminal: no progress bar either).
run 0 cp hello.txt store/docs/hello.txt && expect_no_output
run 0 cp big.bin store/data/big.bin --part-size 5MiB --parallel 3 && expect_no_output
run 0 cp empty.bin store/empty.bin && expect_no_output
run 0 cp -v hello.txt store/ && expect_out "hello.txt -> store/"
[[ -f store/hello.txt ]] || fail "cp into a store root did not keep the file name"
run 0 cp hello.txt "file://$work/store/docs/" && expect_no_output
run 0 cp hello.txt store/docs/nested/deeper/h.txt --content-type text/plain

# store -> file, store -> store, file -> file, memory stores.
run 0 cp store/data/big.bin big.copy && same_file big.bin big.copy
# Downloads write aligned pieces with direct I/O and the rest through the page cache: a size of
# whole pages, one with a tail, and pieces of 5 MiB (unaligned chunk ends) all come back whole.
head -c 8388608 big.bin >aligned.bin && run 0 cp aligned.bin store/data/aligned.bin &&
  run 0 cp store/data/aligned.bin aligned.copy && same_file aligned.bin aligned.copy &&
  run 0 rm store/data/aligned.bin
run 0 cp --part-size 5000000 store/data/big.bin big5.copy && same_file big.bin big5.copy
run 0 cp store/data/big.bin store/data/big2.bin && run 0 cp store/data/big2.bin big2.copy &&
  same_file big.bin big2.copy
run 0 cp store/data/big.bin mem://m/big.bin
run 0 cp hello.txt plain.txt && same_file hello.txt plain.txt
mkdir -p outdir && run 0 cp store/docs/hello.txt outdir/ && same_file hello.txt outdir/hello.txt
run 0 cp store/empty.bin empty.copy && same_file empty.bin empty.copy
run 0 cp "file://$work/store/data/big.bin" big.fromurl && same_file big.bin big.fromurl

# cat, with ranges.
run 0 cat store/docs/hello.txt && [[ "$(cat "$out")" == "hello, depot" ]] || fail "cat"
# Ranges as curl -r and HTTP read them: A-B includes byte B; bytes=A-B is accepted as written.
run 0 cat store/docs/hello.txt --range 0-4 && [[ "$(cat "$out")" == "hello" ]] || fail "cat A-B"
run 0 cat store/docs/hello.txt --range bytes=0-4 && [[ "$(cat "$out")" == "hello" ]] ||
  fail "cat bytes=A-B"
run 0 cat store/docs/hello.txt --range 4-4 && [[ "$(cat "$out")" == "o" ]] || fail "cat A-A"
run 0 cat store/docs/hello.txt --range 7- && [[ "$(cat "$out")" == "depot" ]] || fail "cat A-"
run 0 cat store/docs/hello.txt --range -6 && [[ "$(cat "$out")" == "depot" ]] || fail "cat -N"
run 0 cat store/data/big.bin --range 1000000-1000099 &&
  cmp -s "$out" <(tail -c +1000001 big.bin | head -c 100) || fail "cat range of a big object"
run 0 cat store/data/big.bin && cmp -s "$out" big.bin || fail "cat of a big object"
run 0 cat hello.txt --range 0-4 && [[ "$(cat "$out")" == "hello" ]] || fail "cat of a plain file"
run 0 cat store/empty.bin && [[ ! -s "$out" ]] || fail "cat of an empty object"
run 2 cat store/docs/hello.txt --range 5-1 && expect_err "5-1"
run 2 cat store/docs/hello.txt --range abc && expect_err "abc"
# cat --progressive: the same bytes through a resource the fetcher fills; --keep resumes.
run 0 cat store/data/big.bin --progressive --report && cmp -s "$out" big.bin &&
  expect_err "bytes fetched" || fail "cat --progressive"
run 0 cat store/data/big.bin --progressive --range 1000000-1000099 &&
  cmp -s "$out" <(tail -c +1000001 big.bin | head -c 100) || fail "cat --progressive --range"
run 0 cat store/empty.bin --progressive && [[ ! -s "$out" ]] || fail "cat --progressive empty"
run 0 cat store/data/big.bin --progressive --keep kept.bin && cmp -s "$out" big.bin &&
  cmp -s kept.bin big.bin && [[ ! -e kept.bin.present ]] || fail "cat --progressive --keep"
run 0 cat store/data/big.bin --progressive --keep kept.bin --report && cmp -s "$out" big.bin &&
  expect_err "0 bytes fetched" || fail "cat --progressive --keep, served from the kept file"
run 2 cat hello.txt --progressive && expect_err "plain file"
run 2 cat store/docs/hello.txt --keep kept.bin && expect_err "--progressive"
run 1 cat store/docs/hello.txt --range 100- && expect_err "OutOfRange"
run 1 cat store/docs/missing.txt && expect_err "depot: cat: NotFound" &&
  expect_err "store/docs/missing.txt"
run 2 cat store/docs/ && expect_err "not an object"
run 1 cat mem://nothing/here && expect_err "mem://nothing/here"
# A plain path into a directory that does not exist: said, with the way to make a store there.
run 1 cp hello.txt no-such-dir/ && expect_err "no-such-dir does not exist" &&
  expect_err "depot init" || fail "cp into a missing directory"
run 0 --version && expect_out "depot 0.1.0" || fail "--version"

# ls: one level by default, PRE lines first; recursive; a prefix; a store root.
run 0 ls store
expect_out "PRE data/"
expect_out "PRE docs/"
expect_out " 13 hello.txt"
expect_out " 0 empty.bin"
grep -q "data/big.bin" "$out" && fail "ls without --recursive showed a nested key"
[[ "$(head -n 1 "$out")" == *PRE* ]] || fail "ls: PRE lines do not come first"
run 0 ls --recursive store
expect_out " 20000000 data/big.bin"
expect_out "docs/nested/deeper/h.txt"
[[ $(wc -l <"$out") -eq 6 ]] || fail "ls --recursive: expected 6 objects"
run 0 ls store/docs/ && expect_out "docs/hello.txt" && expect_out "PRE docs/nested/"
run 0 ls store/docs && expect_out "docs/hello.txt"
run 0 ls "file://$work/store" && expect_out "PRE data/"
run 0 ls store --delimiter e && expect_out "PRE docs/he"
run 2 ls hello.txt && expect_err "not inside a depot store"
run 2 ls store/.depot && expect_err ".depot"

# Listing more keys than one page holds follows continuation tokens.
mkdir -p store/many  # files dropped into the tree by hand are objects too
for i in $(seq 1 1100); do printf '%s' "$i" >"store/many/k$i"; done
run 0 ls -r store/many/ && [[ $(wc -l <"$out") -eq 1100 ]] || fail "ls of 1100 keys"

# stat.
run 0 stat store/docs/nested/deeper/h.txt
expect_out "size:                13"
expect_out "content type:        text/plain"
expect_out "etag:"
expect_out "last modified:"
run 0 stat store/data/big.bin && expect_out "20000000"
run 0 stat hello.txt && expect_out "size:                13"
# --json for scripts, -H for people.
json_field() {  # json_field LINE-NUMBER FIELD: that field of that JSON line of stdout
  python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])])[sys.argv[3]])' "$out" "$1" "$2"
}
run 0 ls --json store/docs/ && [[ "$(json_field 0 prefix)" == "docs/nested/" &&
  "$(json_field 1 key)" == "docs/hello.txt" && "$(json_field 1 size)" == "13" ]] ||
  fail "ls --json"
run 0 ls -H store/data/ && expect_out "19.1 MiB data/big.bin" || fail "ls -H"
run 2 ls -H --json store/data/
run 0 stat --json store/data/big.bin && [[ "$(json_field 0 size)" == "20000000" &&
  "$(json_field 0 key)" == "data/big.bin" && "$(json_field 0 last_modified)" == *Z ]] ||
  fail "stat --json"
run 0 stat --json hello.txt && [[ "$(json_field 0 size)" == "13" ]] || fail "stat --json of a file"
run 1 stat store/nope && expect_err "depot: stat: NotFound" && expect_err "store/nope"
run 2 stat store/ && expect_err "not an object"

# Errors name the offending value and change nothing.
run 1 cp missing.txt store/x && expect_err "missing.txt"
run 1 cp store/nope.bin out.bin && expect_err "store/nope.bin"
[[ -e out.bin ]] && fail "a failed download left a file behind"
compgen -G "*depot-tmp*" >/dev/null && fail "a failed download left a temporary file"
run 2 cp hello.txt s3://bucket/key && expect_err "s3"
run 2 cp hello.txt mem:///key && expect_err "mem:///key"
# A key below another key's object: both are kept, as S3 keeps them.
run 0 cp hello.txt store/docs/hello.txt/below
run 0 cat store/docs/hello.txt/below && cmp -s "$out" hello.txt || fail "cat of a key below a key"
run 0 cat store/docs/hello.txt && cmp -s "$out" hello.txt || fail "the key above changed"
run 0 rm store/docs/hello.txt/below
run 1 cp big.bin mem://m/x --part-size 1KiB && expect_err "mem://m/x"

# rm: one object; a missing one; a prefix.
run 0 rm store/hello.txt && expect_no_output
[[ -e store/hello.txt ]] && fail "rm left the file"
run 1 rm store/hello.txt && expect_err "depot: rm: NotFound" && expect_err "store/hello.txt"
run 2 rm store/docs/ && expect_err "--recursive"
run 2 rm hello.txt && expect_err "not inside a depot store"
run 0 rm -v --recursive store/many && expect_out "removed 1100 object(s)"
run 0 ls -r store && [[ $(wc -l <"$out") -eq 5 ]] || fail "rm --recursive removed the wrong keys"
run 0 rm -r store/docs && run 0 ls -r store/docs/ && [[ ! -s "$out" ]] || fail "rm -r docs"
run 0 ls -r store && expect_out "data/big.bin"

# demo: small, verified, one line per step.
run 0 demo demostore --size 3MiB --part-size 5MiB --parallel 2
expect_out "demo: created local store"
expect_out "demo: upload demo/blob.bin"
expect_out "demo: list:"
expect_out "demo: sequential read"
expect_out "demo: ranged reads: 64"
[[ "$(tail -n 1 "$out")" == "demo: OK" ]] || fail "demo did not end with \"demo: OK\""
run 0 demo demostore --size 12MiB --part-size 5MiB && expect_out "3 parts"
run 0 stat demostore/demo/blob.bin && expect_out "12582912"
run 2 demo demostore --size 0
run 2 demo demostore --size lots && expect_err "lots"

# kv: put creates the space (and says so), get/scan/del/stats, on every persistent backend.
for url in "rocksdb://$work/kv-rocks" "sqlite://$work/kv.db" "lmdb://$work/kv-lmdb"; do
  run 1 kv get "$url" alice --space accounts && expect_err "does not exist"
  [[ -e "${url#*://}" ]] && fail "kv get created $url"
  run 0 kv put "$url" alice 10 --space accounts && expect_err "created state space \"accounts\""
  run 0 kv put "$url" bob "$(printf 'two\tlines\nhere')" --space accounts
  printf 'from stdin' | "$depot" kv put "$url" carol - --space accounts || fail "kv put from stdin"
  run 0 kv put "$url" alice 11 --space accounts && expect_no_output
  run 0 kv get "$url" alice --space accounts && [[ "$(cat "$out")" == "11" ]] || fail "kv get alice"
  run 0 kv get "$url" carol --space accounts && expect_out "from stdin"
  run 1 kv get "$url" dave --space accounts && expect_err "\"dave\" is not in space"
  run 1 kv get "$url" alice --space ledger && expect_err "state space \"ledger\" does not exist"
  run 0 kv scan "$url" --space accounts
  [[ "$(cut -f1 "$out" | tr '\n' ' ')" == "alice bob carol " ]] || fail "kv scan order ($url)"
  expect_out "two\\tlines\\nhere"
  run 0 kv scan "$url" b --space accounts --json && expect_out '{"key":"bob","value":"two\tlines\nhere"}'
  [[ $(wc -l <"$out") -eq 1 ]] || fail "kv scan prefix b ($url)"
  run 0 kv scan "$url" --space accounts --reverse --limit 1 && expect_out "carol"
  run 0 kv del "$url" bob --space accounts && run 0 kv scan "$url" --space accounts
  [[ $(wc -l <"$out") -eq 2 ]] || fail "kv del bob ($url)"
  run 0 kv stats "$url" && expect_out "accounts"
  run 2 kv scan "${url}?colour=blue" --space accounts && expect_err "\"colour\""
  # backup into a local store, restore as a new store, the same pairs; never over a store.
  scheme="${url%%://*}"
  run 0 init "kvbackups-$scheme" && run 0 kv backup "$url" "kvbackups-$scheme/nightly/" &&
    expect_out "backup " && expect_out "space accounts: 2 keys"
  restored="$scheme://$work/restored-$scheme"
  [[ "$scheme" == sqlite ]] && restored="$restored.db"
  run 0 kv restore "kvbackups-$scheme/nightly" "$restored" && expect_out "restored "
  run 0 kv scan "$restored" --space accounts && expect_out "carol"
  [[ $(wc -l <"$out") -eq 2 ]] || fail "kv restore ($url)"
  run 1 kv restore "kvbackups-$scheme/nightly" "$url" && expect_err "never overwrites"
done
run 2 kv get nosuch:///x k --space a && expect_err "unknown scheme"
run 1 kv put "lmdb://$work/kv-lmdb" "$(head -c 600 /dev/zero | tr '\0' k)" v --space accounts &&
  expect_err "511"

# depot hash: the same lines as b3sum (Debian's b3sum, installed by scripts/install-deps) for
# inputs of the sizes around BLAKE3's block and chunk boundaries, names that need escaping,
# objects, standard input; --check with b3sum's exit codes and messages.
if ! command -v b3sum >/dev/null; then
  fail "b3sum is not installed (scripts/install-deps installs it)"
else
  mkdir -p hashes
  sizes=(0 1 63 64 65 1023 1024 1025 2048 16383 16384 16385 1048577 3000000)
  for n in "${sizes[@]}"; do head -c "$n" /dev/urandom >"hashes/f$n"; done
  cp hashes/f1025 'hashes/we ird' && cp hashes/f64 'hashes/back\slash' && cp hashes/f65 $'hashes/new\nline'
  run 0 hash hashes/* && cp "$out" hashes.depot
  b3sum hashes/* >hashes.b3sum 2>/dev/null
  cmp -s hashes.depot hashes.b3sum || fail "depot hash and b3sum differ: $(diff hashes.depot hashes.b3sum | head -5)"
  run 0 hash --num-threads 1 hashes/f3000000 hashes/f1048577 &&
    [[ "$(cat "$out")" == "$(b3sum hashes/f3000000 hashes/f1048577)" ]] || fail "hash --num-threads 1"
  run 0 hash --length 100 --no-names hashes/f16385 &&
    [[ "$(cat "$out")" == "$(b3sum --length 100 --no-names hashes/f16385)" ]] || fail "hash --length 100"
  run 0 hash --derive-key "depot cli_test context" hashes/f2048 &&
    [[ "$(cat "$out")" == "$(b3sum --derive-key "depot cli_test context" hashes/f2048)" ]] || fail "hash --derive-key"
  printf 'whats the Elvish word for friend' >hashes.key
  "$depot" hash --keyed hashes/f1025 <hashes.key >"$out" 2>"$err" &&
    [[ "$(cat "$out")" == "$(b3sum --keyed hashes/f1025 <hashes.key)" ]] || fail "hash --keyed"
  "$depot" hash <hashes/f1048577 >"$out" 2>"$err" &&
    [[ "$(cat "$out")" == "$(b3sum <hashes/f1048577)" ]] || fail "hash of standard input"
  run 0 cp hashes/f3000000 store/hashed.bin && run 0 hash store/hashed.bin &&
    [[ "$(cut -d' ' -f1 "$out")" == "$(b3sum --no-names hashes/f3000000)" ]] || fail "hash of an object"
  run 0 hash --check hashes.b3sum && expect_out "hashes/f0: OK" && expect_out '\hashes/new\nline: OK'
  run 0 hash --check --quiet hashes.b3sum && expect_no_output
  grep -v '^\\' hashes.b3sum | head -1 |
    awk '{ c = substr($0, 1, 1); print (c == "0" ? "1" : "0") substr($0, 2) }' >hashes.bad
  run 1 hash --check hashes.bad && expect_out "FAILED"
  b3sum --check hashes.bad >/dev/null 2>&1; [[ $? -eq 1 ]] || fail "b3sum --check exits 1 too"
  printf '%s  hashes/missing\n' "$(b3sum --no-names hashes/f0)" >hashes.missing
  run 1 hash --check hashes.missing && expect_out "hashes/missing: FAILED ("
  printf 'af13  hashes/f0\n' >hashes.short
  run 1 hash --check hashes.short && expect_err "line 1"
  run 1 hash hashes/none hashes/f1 && expect_err "hashes/none" && expect_out "  hashes/f1"
  run 2 hash --quiet hashes/f1 && run 2 hash --raw hashes/f1 hashes/f0
fi

# depot cas: ids are b3sum's hashes; put, get (ranges, verified), stat, pin, unpin, gc, slices
# checked with the id alone; a corrupted stored byte is refused, never written out.
if command -v b3sum >/dev/null; then
  cas="cas://$work/cas"
  head -c 300000 /dev/urandom >cas.in
  run 0 cas put "$cas" cas.in && [[ "$(cat "$out")" == "$(b3sum cas.in)" ]] || fail "cas put id"
  id=$(b3sum --no-names cas.in)
  "$depot" cas put "$cas" <cas.in >"$out" 2>"$err" && expect_out "$id  -"
  run 0 cas stat "$cas" "$id" && expect_out "size     300000" && expect_out "pins     2"
  run 0 cas get "$cas" "$id" -o cas.out && same_file cas.in cas.out
  run 0 cas get "$cas" "$id" --range 1000-1009 &&
    cmp -s "$out" <(tail -c +1001 cas.in | head -c 10) || fail "cas get --range"
  run 0 cas slice "$cas" "$id" 5000 5100 && cp "$out" cas.slice
  "$depot" cas verify-slice "$id" 5000 5100 <cas.slice >"$out" 2>"$err" &&
    cmp -s "$out" <(tail -c +5001 cas.in | head -c 100) || fail "cas verify-slice"
  printf 'x' | dd of=cas.slice bs=1 seek=30 conv=notrunc 2>/dev/null
  "$depot" cas verify-slice "$id" 5000 5100 <cas.slice >"$out" 2>"$err"
  [[ $? -eq 1 && ! -s "$out" ]] && expect_err "DataLoss" || fail "a changed slice must be refused"
  run 0 cas ls "$cas" && expect_out "$id        300000  2 pins"
  run 0 cas unpin "$cas" "$id" "$id" && expect_out "$id  0 pins"
  run 1 cas unpin "$cas" "$id" && expect_err "is not pinned"
  run 0 cas pin "$cas" "$id" && expect_out "1 pins"
  # A changed byte in the stored blob: the verified read fails and removes its output.
  blob_file="$work/cas/objects/blobs/${id:0:2}/$id"
  printf 'y' | dd of="$blob_file" bs=1 seek=200000 conv=notrunc 2>/dev/null
  run 1 cas get "$cas" "$id" -o cas.bad && expect_err "DataLoss"
  [[ ! -e cas.bad ]] || fail "a failed cas get left its output"
  run 0 cas get "$cas" "$id" --range 0-99999 -o cas.good  # ranges before the change verify
  # --no-verify skips the BLAKE3 check, but the local store below checks its own block CRCs.
  run 1 cas get "$cas" "$id" --no-verify -o cas.unverified && expect_err "do not match their CRC-32C"
  run 0 cas unpin "$cas" "$id" && run 0 cas gc "$cas" && expect_out "deleted 1 blobs (300000 bytes)"
  run 1 cas stat "$cas" "$id" && expect_err "is not in the store"
  run 2 cas get "$cas" nothex && expect_err '"nothex" is not a content id'
  run 2 cas ls "cas://?colour=red" && expect_err '"colour"'
  run 0 cas put "cas://$work/cas-sqlite?index=sqlite" cas.in && expect_out "$id"
fi

# "-": standard input in (to its end, in growing parts), standard output out.
printf 'from a pipe\n' | "$depot" cp - store/piped/small.txt >"$out" 2>"$err" &&
  [[ "$("$depot" cat store/piped/small.txt)" == "from a pipe" ]] || fail "cp - into an object"
cat big.bin | "$depot" cp - store/piped/big.bin 2>"$err" || fail "cp - of 20 MB from a pipe"
run 0 cp store/piped/big.bin - && cmp -s "$out" big.bin || fail "cp OBJECT - to stdout"
run 0 cp hello.txt - && cmp -s "$out" hello.txt || fail "cp FILE - to stdout"
printf 'to a file\n' | "$depot" cp - piped.txt 2>"$err" && [[ "$(cat piped.txt)" == "to a file" ]] ||
  fail "cp - into a plain file"
run 2 cp - store/piped/ </dev/null && expect_err "standard input has no name"
run 2 cp - - </dev/null && expect_err "copies nothing"
# Ctrl-C during an upload from a pipe that stays open: the multipart upload is aborted (nothing
# left on the store), exit 130.
mkfifo slow.fifo
"$depot" cp --part-size 5MiB - store/piped/interrupted.bin <slow.fifo >"$out" 2>"$err" &
cp_pid=$!
exec 7>slow.fifo
head -c 12000000 big.bin >&7 # two parts shipped, the third waiting for more
for _ in $(seq 1 50); do [[ -n "$(ls -A store/.depot/uploads 2>/dev/null)" ]] && break; sleep 0.1; done
[[ -n "$(ls -A store/.depot/uploads 2>/dev/null)" ]] || fail "Ctrl-C: no multipart upload began"
kill -INT "$cp_pid"
wait "$cp_pid"
rc=$?
exec 7>&-
[[ $rc -eq 130 ]] && expect_err "interrupted; nothing was written" || fail "Ctrl-C: exit $rc"
[[ -z "$(ls -A store/.depot/uploads 2>/dev/null)" ]] ||
  fail "Ctrl-C left an upload behind: $(ls -A store/.depot/uploads)"
run 1 stat store/piped/interrupted.bin && expect_err "NotFound"
# SIGTERM into a plain file: the file is not made, no temporary is left, exit 143 (128 + 15).
"$depot" cp - interrupted.txt <slow.fifo >"$out" 2>"$err" &
cp_pid=$!
exec 7>slow.fifo
printf 'half' >&7
sleep 0.5
kill -TERM "$cp_pid"
wait "$cp_pid"
rc=$?
exec 7>&-
[[ $rc -eq 143 && ! -e interrupted.txt ]] && expect_err "interrupted; nothing was written" ||
  fail "SIGTERM during cp - FILE: exit $rc"
compgen -G "interrupted.txt.depot-tmp-*" >/dev/null && fail "SIGTERM left a temporary file"

# --checksum: computed as the upload is sent (the digest printed as sha256sum prints it) and kept
# by the store: of the whole content for a single put, of the parts' digests for multipart SHA
# (S3's COMPOSITE), of the whole content for multipart CRCs.
printf 'abc' | "$depot" cp --checksum sha256 - store/sums/abc >"$out" 2>"$err" &&
  expect_out "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  store/sums/abc"
run 0 stat store/sums/abc &&
  expect_out "SHA256 ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0= (of the whole content)"
head -c 12000000 /dev/urandom >sum.bin
run 0 cp --checksum sha256 --part-size 5MiB sum.bin store/sums/multi.bin &&
  expect_out "$(sha256sum <sum.bin | cut -c1-64)  store/sums/multi.bin"
composite=$(python3 -c '
import base64, hashlib, sys
data = open(sys.argv[1], "rb").read()
parts = b"".join(hashlib.sha256(data[i:i + 5242880]).digest() for i in range(0, len(data), 5242880))
print(base64.b64encode(hashlib.sha256(parts).digest()).decode() + "-3")' sum.bin)
run 0 stat store/sums/multi.bin && expect_out "SHA256 $composite (of its parts' checksums)"
run 0 cp --checksum crc32c --part-size 5MiB sum.bin store/sums/crc.bin
crc_hex=$(cut -c1-8 "$out")
run 0 stat --json store/sums/crc.bin && expect_out "\"type\":\"FULL_OBJECT\"" &&
  expect_out "$(python3 -c 'import base64, sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$crc_hex")"
run 2 cp --checksum md5 sum.bin store/sums/x && expect_err '"md5" is not sha256'
run 2 cp --checksum sha1 store/sums/abc sums.out && expect_err "goes with uploads"

# Tree copies: sync (by size and time, --checksum, --delete, --dryrun, filters) and cp -r, between
# a directory and a local store both ways; a failed file is listed, the rest still copied, exit 1.
mkdir -p tree/a/b tree/skip
printf 'one\n' >tree/x.txt
printf 'two\n' >tree/a/y.log
head -c 3000000 /dev/urandom >tree/a/b/big.bin
printf 'no\n' >tree/skip/n.txt
run 0 sync tree store/tree/ && expect_out "sync: 4 copied (2.9 MiB), 0 unchanged"
run 0 cat store/tree/a/b/big.bin && cmp -s "$out" tree/a/b/big.bin || fail "sync: big.bin"
run 0 sync tree store/tree && expect_out "sync: 0 copied (0 B), 4 unchanged"
run 0 sync store/tree tree.back && expect_out "4 copied"
diff -r tree tree.back >/dev/null || fail "sync store -> directory: trees differ"
run 0 sync store/tree tree.back && expect_out "0 copied (0 B), 4 unchanged" # times kept
printf 'changed\n' >tree/x.txt
rm tree/a/y.log
printf 'new\n' >tree/new.txt
run 0 sync tree store/tree --delete --dryrun &&
  expect_out "(dryrun) copy: tree/x.txt -> store/tree/x.txt" &&
  expect_out "(dryrun) delete: store/tree/a/y.log" && expect_out "2 to copy (12 B), 2 unchanged, 1 to delete"
run 0 cat store/tree/a/y.log && expect_out "two" # --dryrun changed nothing
run 0 sync tree store/tree --delete -v && expect_out "copy: tree/new.txt -> store/tree/new.txt" &&
  expect_out "delete: store/tree/a/y.log" && expect_out "2 copied (12 B), 2 unchanged, 1 deleted"
run 1 stat store/tree/a/y.log
# The same size and a newer time at the destination: only --checksum sees the change.
printf 'CHANGED\n' >tree.back/x.txt
touch -d '2030-01-01' tree.back/x.txt
run 0 sync store/tree tree.back && expect_out "1 copied (4 B), 3 unchanged" # new.txt only
[[ "$(cat tree.back/x.txt)" == "CHANGED" ]] || fail "sync: a newer destination was replaced"
run 0 sync --checksum store/tree tree.back && expect_out "1 copied (8 B), 3 unchanged"
[[ "$(cat tree.back/x.txt)" == "changed" ]] || fail "sync --checksum missed a change"
# Filters: the last that matches decides; what is filtered out is neither copied nor deleted.
run 0 cp -r tree store/filtered --exclude '*.bin' --exclude 'skip/*' --include 'a/b/*' &&
  expect_out "cp: 3 copied"
run 0 ls -r store/filtered/ && expect_out "a/b/big.bin" && expect_out "new.txt"
grep -q "skip/n.txt" "$out" && fail "cp -r --exclude 'skip/*' copied skip/n.txt"
run 0 sync tree store/filtered --delete --exclude 'a/*' && expect_out "1 copied" &&
  expect_out "0 deleted"
run 0 stat store/filtered/a/b/big.bin # excluded from the sync, so not deleted
# A file that cannot be written: listed, the others copied, exit 1, and no deletion.
mkdir -p blocked/x.txt
printf 'stay\n' >blocked/extra.txt
run 1 sync tree blocked --delete && expect_err "failed: tree/x.txt -> blocked/x.txt" &&
  expect_err "1 file(s) failed" && expect_err "not deleting 1 extra file(s)"
[[ -f blocked/new.txt && -f blocked/a/b/big.bin && -f blocked/extra.txt ]] ||
  fail "sync: one failed file stopped the others, or a deletion ran"
# A mistyped prefix lists nothing: --delete from it is refused, nothing is removed.
run 1 sync --delete store/no-such-prefix/ tree.back && expect_err "holds nothing; --delete would empty"
[[ -f tree.back/x.txt ]] || fail "sync --delete from an empty source removed files"
run 2 sync hello.txt store/t && expect_err "is not a directory or a store location"
run 2 sync tree hello.txt && expect_err "is a file, not a directory"
run 2 cp --exclude '*.bin' hello.txt store/t.txt && expect_err "go with --recursive"

if [[ $failures -gt 0 ]]; then
  echo "cli_test: $failures check(s) failed" >&2
  exit 1
fi
echo "cli_test: all checks passed"
