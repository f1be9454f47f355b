#!/usr/bin/env bash
# What traffic windows and application metadata cost (issue #3: ≤ 15 % of the meter's
# throughput). Meters the flow-meter benchmark's 40k-concurrent capture four ways, best of 5
# each, in one run:
#   meter only           analyze -q --format none --no-app-metadata   (no windows: -q and no --windows-out)
#   + metadata           analyze -q --format none
#   + metadata + windows analyze -q --format none --windows-out FILE  (60 s windows, written as JSONL)
#   + summary            analyze --format none                         (windows merged into the console summary)
#
#   bench/windows.sh ["FLOWS PACKETS CONCURRENT RATE"]
#
# With OLD_NV=path/to/an/older/netvigil, that binary's `analyze -q --format none` is timed in
# the same run too (e.g. the flow-meter benchmark's build, to compare against its figure).
set -euo pipefail
cd "$(dirname "$0")/.."
work="${BENCH_DIR:-target/bench}"
mkdir -p "$work"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -q
nv="$CARGO_TARGET_DIR/release/netvigil"
read -r flows packets conc rate <<<"${1:-100000 1000000 40000 2000}"
pcap="$work/windows-$flows-$packets-$conc.pcap"
[ -f "$pcap" ] || "$nv" gen --flows "$flows" --packets "$packets" --concurrent "$conc" --rate "$rate" --seed 1 --out "$pcap" 2>/dev/null

. bench/best.sh

base=$(best "$nv" analyze -q --no-detect "$pcap" --format none --no-app-metadata)
meta=$(best "$nv" analyze -q --no-detect "$pcap" --format none)
win=$(best "$nv" analyze -q --no-detect "$pcap" --format none --windows-out "$work/w.jsonl")
summ=$(best "$nv" analyze --no-detect "$pcap" --format none)
old=""
[ -n "${OLD_NV:-}" ] && old=$(best "$OLD_NV" analyze -q "$pcap" --format none)
printf '| %s packets, %s concurrent flows | seconds | Mpps | cost vs meter only |\n|---|---:|---:|---:|\n' "$packets" "$conc"
[ -n "$old" ] && printf '| older build (%s), meter + its metadata | %.3f | %.2f | %+.1f%%\n' "$OLD_NV" "$old" "$(awk "BEGIN{print $packets/$old/1e6}")" "$(awk "BEGIN{print ($old/$base-1)*100}")"
for row in "meter only:$base" "+ app metadata:$meta" "+ app metadata + 60 s windows (JSONL):$win" "+ app metadata + windows + console summary:$summ"; do
  name=${row%%:*}; t=${row##*:}
  printf '| %s | %.3f | %.2f | %+.1f%% |\n' "$name" "$t" "$(awk "BEGIN{print $packets/$t/1e6}")" "$(awk "BEGIN{print ($t/$base-1)*100}")"
done
