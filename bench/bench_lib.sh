# Shell helpers the bench/*.sh scripts source: wall time of one command and the median of a list.
seconds() {  # seconds COMMAND...: wall time of one run, its output discarded
  local start=$EPOCHREALTIME
  "$@" >/dev/null
  awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.4f\n", b - a }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }  # of stdin's lines
