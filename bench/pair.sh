#!/usr/bin/env bash
# Paired timing of two netvigil builds on the same command: A and B run in turn (A B A B …),
# the ratio A/B taken pair by pair, so the machine's drift (±20 % between runs here) cancels.
# Prints each pair, then the medians of A's seconds, B's seconds, the ratio and A's and B's
# peak RSS (from /usr/bin/time -v).
#
#   bench/pair.sh RUNS NETVIGIL_A NETVIGIL_B ARGS...
#   bench/pair.sh 9 target/release/netvigil /tmp/old/netvigil analyze -q x.pcap --format none
#
# ARGS follow the binary; outputs go where ARGS send them (use --format none or -o /dev/null,
# or a path that is overwritten each run).
set -euo pipefail
runs=$1 a=$2 b=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Seconds and peak KiB of one run of binary $1 with the ARGS.
one() {
  /usr/bin/time -v -o "$tmp/t" "$1" "${@:2}" >/dev/null 2>"$tmp/err" || {
    echo "pair.sh: $1 failed:" >&2
    cat "$tmp/err" >&2
    exit 1
  }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$tmp/t")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/t")
  echo "$wall $rss"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

one "$a" "$@" >/dev/null # warm-up: the page cache holds the input for both
: >"$tmp/pairs"
for i in $(seq 1 "$runs"); do
  read -r ta ra < <(one "$a" "$@")
  read -r tb rb < <(one "$b" "$@")
  ratio=$(awk "BEGIN{printf \"%.3f\", $ta / $tb}")
  echo "pair $i: A ${ta}s ${ra} KiB, B ${tb}s ${rb} KiB, A/B $ratio"
  echo "$ta $tb $ratio $ra $rb" >>"$tmp/pairs"
done
printf 'median: A %ss, B %ss, A/B %s (pair ratios %s to %s); peak RSS A %s MiB, B %s MiB\n' \
  "$(cut -d' ' -f1 "$tmp/pairs" | median)" \
  "$(cut -d' ' -f2 "$tmp/pairs" | median)" \
  "$(cut -d' ' -f3 "$tmp/pairs" | median)" \
  "$(cut -d' ' -f3 "$tmp/pairs" | sort -g | head -1)" \
  "$(cut -d' ' -f3 "$tmp/pairs" | sort -g | tail -1)" \
  "$(cut -d' ' -f4 "$tmp/pairs" | median | awk '{printf "%.0f", $1 / 1024}')" \
  "$(cut -d' ' -f5 "$tmp/pairs" | median | awk '{printf "%.0f", $1 / 1024}')"
