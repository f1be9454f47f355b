# Sourced by the bench scripts: `best CMD ...` prints the best wall time (seconds) of 5 runs of
# CMD, its output thrown away.
best() {
  local b="" t s e
  for _ in 1 2 3 4 5; do
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    e=$(date +%s.%N)
    t=$(awk "BEGIN{print $e-$s}")
    if [ -z "$b" ] || awk "BEGIN{exit !($t < $b)}"; then b=$t; fi
  done
  echo "$b"
}
