#!/usr/bin/env bash
# Metering on several cores (issue #13: at least 1.7x with 2 threads on a 2-core machine, and
# the same output for any number of threads). Meters the flow-meter benchmark's 40k-concurrent
# capture (metering only: no detection, no output, no windows) with 1 and 2 threads, best of 5
# each, prints seconds, Mpps and the ratio, and checks that both give the same flows. With 2
# threads the caller's thread reads, decodes and merges, one worker meters, and the caller's
# thread meters too whenever it is ahead (flow::sharded).
#
#   bench/threads.sh [PCAP]       # default: the generated capture below
#
# Times the flow crate's `meter_threads` example (flow::ShardedMeter driven as analyze drives
# the meter), and `netvigil analyze -q --no-detect --format none --threads N` too when the CLI
# has --threads.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${BENCH_DIR:-target/bench}"
mkdir -p "$work"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p netvigil-flow --example meter_threads
ex="$CARGO_TARGET_DIR/release/examples/meter_threads"
nv="$CARGO_TARGET_DIR/release/netvigil"
cargo build --release -q -p netvigil || nv=""
pcap="${1:-$work/threads-100000-1000000-40000.pcap}"
if [ ! -f "$pcap" ]; then
  [ -n "$nv" ] || { echo "netvigil does not build: cannot generate $pcap (give a capture)" >&2; exit 1; }
  "$nv" gen --flows 100000 --packets 1000000 --concurrent 40000 --rate 2000 --seed 1 --out "$pcap" 2>/dev/null
fi

. bench/best.sh

# Packets, and the digest of every flow in order, at 1 and 2 threads (not timed).
one=$("$ex" "$pcap" 1 digest)
two=$("$ex" "$pcap" 2 digest)
packets=$(sed -E 's/.*packets=([0-9]+).*/\1/' <<<"$one")
d1=$(sed -E 's/.*digest=([0-9a-f]+).*/\1/' <<<"$one")
d2=$(sed -E 's/.*digest=([0-9a-f]+).*/\1/' <<<"$two")

rows() { # label t1 t2
  printf '| %s | 1 | %.3f | %.2f | 1.00 |\n' "$1" "$2" "$(awk "BEGIN{print $packets/$2/1e6}")"
  printf '| %s | 2 | %.3f | %.2f | %.2f |\n' "$1" "$3" "$(awk "BEGIN{print $packets/$3/1e6}")" "$(awk "BEGIN{print $2/$3}")"
}
printf 'metering only, %s packets of %s, best of 5, %s cores\n' "$packets" "$pcap" "$(nproc)"
printf '| run | threads | seconds | Mpps | speed-up |\n|---|---:|---:|---:|---:|\n'
rows "flow::ShardedMeter (examples/meter_threads)" "$(best "$ex" "$pcap" 1)" "$(best "$ex" "$pcap" 2)"
if [ -n "$nv" ] && "$nv" analyze --help 2>/dev/null | grep -q -- '--threads'; then
  rows "netvigil analyze -q --no-detect --format none --threads N" \
    "$(best "$nv" analyze -q --no-detect "$pcap" --format none --threads 1)" \
    "$(best "$nv" analyze -q --no-detect "$pcap" --format none --threads 2)"
fi
if [ "$d1" = "$d2" ]; then
  echo "output: identical at 1 and 2 threads (digest $d1)"
else
  echo "output: DIFFERS between 1 and 2 threads ($d1 vs $d2)" >&2
  exit 1
fi
