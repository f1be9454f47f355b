#!/usr/bin/env bash
# Live-capture benchmarks on a veth pair between two private network namespaces (needs root;
# addresses 10.79.0.0/24 exist only inside them; both are removed at the end).
#
#   bench/capture.sh rate              highest replay rate with no drop: netvigil with 1 and 2
#                                      AF_PACKET rings, netvigil on libpcap, and tcpdump (peer)
#   bench/capture.sh overload          top-speed replay: sent = metered + attributed drops
#   bench/capture.sh latency [N]       N TCP exchanges: last packet (close) → row in the store
#   bench/capture.sh soak MIN PPS      steady load for MIN minutes: RSS every 10 s, drift after
#                                      the first fifth (warm-up); SOAK_ARGS adds capture options
#   bench/capture.sh attack [N]        N attacks (port scans, SSH brute force, spoofed SYN floods,
#                                      UDP floods, DNS tunnels; each from its own address, N <= 100):
#                                      from the attack's start to its episode's first line in the
#                                      alerts log (bench/attack-latency.py)
#
# NETVIGIL (default target/release/netvigil) is the binary; the load is `netvigil gen`'s
# (cached in /var/tmp/netvigil-bench). tcpreplay and tcpdump are installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
NV=$(realpath "${NETVIGIL:-target/release/netvigil}")
[ "$(id -u)" -eq 0 ] || { echo "bench/capture.sh: needs root (namespaces, veth)" >&2; exit 2; }
for tool in tcpreplay tcpdump; do
  command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
done
cache=/var/tmp/netvigil-bench
mkdir -p "$cache"
tmp=$(mktemp -d)
A=nvbench-$$-a B=nvbench-$$-b
cleanup() { ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

setup() {
  ip netns add "$A"; ip netns add "$B"
  for n in "$A" "$B"; do
    ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$n" link set lo up
  done
  ip -n "$A" link add nv0 type veth peer name nv1 netns "$B"
  ip -n "$A" link set nv0 address 02:00:00:79:00:01
  ip -n "$B" link set nv1 address 02:00:00:79:00:02
  ip -n "$A" addr add 10.79.0.1/24 dev nv0
  ip -n "$B" addr add 10.79.0.2/24 dev nv1
  ip -n "$A" neigh replace 10.79.0.2 lladdr 02:00:00:79:00:02 nud permanent dev nv0
  ip -n "$B" neigh replace 10.79.0.1 lladdr 02:00:00:79:00:01 nud permanent dev nv1
  ip -n "$A" link set nv0 up; ip -n "$B" link set nv1 up
}

# The load: PACKETS (default 1,000,000) packets of PACKETS/50 benign conversations
# (deterministic).
load() {
  local n=${1:-1000000} f
  f=$cache/load-$n.pcap
  [ -s "$f" ] || "$NV" gen --flows $((n / 50)) --packets "$n" --concurrent 2000 --rate 100000 --seed 7 --out "$f" >/dev/null 2>&1
  echo "$f"
}

# Starts netvigil capture on nv0 with ARGS; sets CAP_PID. Waits until it captures.
start_capture() {
  ip netns exec "$A" ${CAP_PREFIX:-} "$NV" capture -i nv0 --format none --summary-json "$tmp/summary.json" "$@" \
    2>"$tmp/capture.err" &
  CAP_PID=$!
  for _ in $(seq 1 100); do
    grep -q "capturing on" "$tmp/capture.err" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "capture did not start:" >&2; cat "$tmp/capture.err" >&2; exit 1
}

# Stops it (SIGTERM: a script's background jobs ignore SIGINT) and prints "received delivered kernel_dropped interface_dropped peak_kib".
stop_capture() {
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$CAP_PID/status")
  kill -TERM "$CAP_PID"; wait "$CAP_PID" || true
  [ -s "$tmp/summary.json" ] || { echo "capture wrote no summary:" >&2; cat "$tmp/capture.err" >&2; exit 1; }
  python3 -c "
import json; c = json.load(open('$tmp/summary.json'))['capture']
print(c['received'], c['delivered'], c['dropped']['kernel'], c['dropped']['interface'], $hwm)"
}

# Replays FILE from namespace B at RATE packets/s (or top speed); prints packets sent.
replay() {
  local file=$1 rate=$2 speed
  if [ "$rate" = top ]; then speed=--topspeed; else speed=--pps=$rate; fi
  ip netns exec "$B" tcpreplay -q -i nv1 "$speed" "$file" 2>&1 | awk '/Actual:/ && !n++ {print $2}'
}

# N replayers at top speed, LOOPS times each, in parallel; prints "sent offered_pps" (sums).
flood() {
  local file=$1 n=$2 loops=$3 k
  for k in $(seq 1 "$n"); do
    ip netns exec "$B" tcpreplay -i nv1 --topspeed --loop="$loops" "$file" >"$tmp/replay.$k" 2>&1 &
  done
  wait $(jobs -p | grep -v "^$CAP_PID$") 2>/dev/null || true
  cat "$tmp"/replay.* | awk '/Actual:/ {s += $2} /Rated:/ {for (i = 1; i <= NF; i++) if ($i == "pps") r += $(i - 1)} END {printf "%d %d\n", s, r}'
  rm -f "$tmp"/replay.*
}

rate() {
  local f; f=$(load 300000)
  printf '%-26s %7s %12s %10s %10s %10s %9s %9s\n' "capturer" "senders" "offered pps" "sent" "received" "metered" "dropped" "peak MiB"
  for who in "netvigil afpacket 1 ring" "netvigil afpacket 2 rings" "netvigil pcap" "tcpdump"; do
    best=0
    for senders in 1 2 3 4; do
      case $who in
        "netvigil afpacket 1 ring") start_capture --rings 1 ;;
        "netvigil afpacket 2 rings") start_capture --rings 2 ;;
        "netvigil pcap") start_capture --backend pcap ;;
        tcpdump)
          ip netns exec "$A" tcpdump -i nv0 -w /dev/null -B 32768 2>"$tmp/tcpdump.err" & CAP_PID=$!
          sleep 1 ;;
      esac
      read -r sent offered < <(flood "$f" "$senders" 4)
      sleep 1
      if [ "$who" = tcpdump ]; then
        hwm=$(awk '/VmHWM/ {print $2}' "/proc/$CAP_PID/status")
        kill -TERM "$CAP_PID"; wait "$CAP_PID" || true
        rec=$(awk '/packets captured/ {print $1}' "$tmp/tcpdump.err")
        drop=$(awk '/dropped by kernel/ {print $1}' "$tmp/tcpdump.err")
        read -r received delivered kdrop idrop peak <<<"$((rec + drop)) $rec $drop 0 $hwm"
      else
        stop_capture >"$tmp/stop"; read -r received delivered kdrop idrop peak <"$tmp/stop"
      fi
      printf '%-26s %7s %12s %10s %10s %10s %9s %9.1f\n' "$who" "$senders" "$offered" "$sent" "$received" "$delivered" "$((kdrop + idrop))" "$(echo "$peak/1024" | bc -l)"
      if [ "$((kdrop + idrop))" -eq 0 ]; then [ "$offered" -gt "$best" ] && best=$offered; else break; fi
    done
    echo "$who: highest sustained rate without drops: $best pps"
  done
}

overload() {
  local f; f=$(load 300000)
  # The sender alone cannot outrun the capture on this machine, so the capture is starved:
  # pinned to CPU 1 beside four busy loops, with one compute thread and the smallest ring (8
  # blocks of 1 MiB). The kernel must drop, and every packet sent must still be accounted for.
  hogs=()
  for _ in 1 2 3 4; do taskset -c 1 sh -c 'while :; do :; done' & hogs+=($!); done
  CAP_PREFIX="taskset -c 1"
  for args in "--rings 1" "--rings 2"; do
    # shellcheck disable=SC2086
    start_capture $args --threads 1 --buffer-size 2M
    read -r sent offered < <(flood "$f" 3 4)
    sleep 1
    stop_capture >"$tmp/stop"; read -r received delivered kdrop idrop peak <"$tmp/stop"
    echo "overload ($args, 1 thread on a shared CPU, 8 MiB ring, $offered pps offered): sent $sent, received $received, metered $delivered, kernel drops $kdrop, interface drops $idrop; sent - (metered + drops) = $((sent - delivered - kdrop - idrop)); peak RSS $((peak / 1024)) MiB"
  done
  kill "${hogs[@]}"
  CAP_PREFIX=
}

latency() {
  local n=${1:-200}
  start_capture --db "$tmp/db.sqlite" --no-detect
  ip netns exec "$A" python3 -c '
import socket
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("10.79.0.1", 8080)); t.listen(64)
while True:
    c, _ = t.accept(); c.recv(4096); c.sendall(b"r" * 500); c.close()' &
  srv=$!
  sleep 0.5
  ip netns exec "$B" python3 - "$tmp/db.sqlite" "$n" <<'PY'
import socket, sqlite3, sys, time
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db, timeout=1)
lat, missing = [], 0
for _ in range(n):
    # One exchange closed by the client; then the store is polled every 2 ms for its row.
    s = socket.create_connection(("10.79.0.1", 8080)); port = s.getsockname()[1]
    s.sendall(b"q" * 200)
    while s.recv(4096): pass
    s.close(); t0 = time.time()
    while not c.execute("SELECT 1 FROM flows WHERE src_port = ? AND dst_port = 8080", (port,)).fetchall():
        time.sleep(0.002)
        if time.time() - t0 > 10: missing += 1; break
    else:
        lat.append(time.time() - t0)
    time.sleep(0.05)
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
print(f"flow close -> row in the store: {len(lat)} of {n} flows ({missing} not within 10 s); "
      f"p50 {q(0.5) * 1000:.0f} ms, p99 {q(0.99) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
PY
  kill "$srv" 2>/dev/null || true
  stop_capture >/dev/null
}

soak() {
  local minutes=${1:-30} pps=${2:-20000} f
  f=$(load)
  # SOAK_ARGS: more capture options (e.g. a --rules-config), word-split.
  # shellcheck disable=SC2086
  start_capture --db "$tmp/soak.sqlite" ${SOAK_ARGS:-}
  # --unique-ip: each loop's addresses are new. Replayed as is, every conversation of the load
  # repeats every 50 s, exactly: to the rules that is thousands of beacons, and the soak would
  # measure an alert storm (docs/benchmarks.md) rather than a sensor's steady state.
  ip netns exec "$B" tcpreplay -q -i nv1 --pps="$pps" --loop=0 --unique-ip "$f" >/dev/null 2>&1 &
  rep=$!
  local end=$((SECONDS + minutes * 60)) t0=$SECONDS
  echo "second,rss_kib" >"$tmp/soak.csv"
  while [ $SECONDS -lt $end ]; do
    sleep 10
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$CAP_PID/status")
    echo "$((SECONDS - t0)),$rss"
  done | tee -a "$tmp/soak.csv"
  kill "$rep" 2>/dev/null || true
  wait "$rep" 2>/dev/null || true
  stop_capture >"$tmp/stop"; read -r received delivered kdrop idrop peak <"$tmp/stop"
  python3 - "$tmp/soak.csv" "$received" "$delivered" "$kdrop" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]))]
rss = [int(r["rss_kib"]) for r in rows]
print(f"soak: {len(rss) * 10} s; first {rss[0] / 1024:.1f} MiB, last {rss[-1] / 1024:.1f} MiB")
# Warm-up: the first fifth, and the first half (the rules' bounded state takes minutes to fill).
for name, warm in (("fifth", len(rss) // 5), ("half", len(rss) // 2)):
    after = rss[warm:]
    print(f"RSS after the first {name} ({warm * 10} s): min {min(after) / 1024:.1f} MiB, max {max(after) / 1024:.1f} MiB, "
          f"spread {100 * (max(after) - min(after)) / min(after):.1f} %")
print(f"received {sys.argv[2]}, metered {sys.argv[3]}, kernel drops {sys.argv[4]}")
PY
}

attack() {
  local n=${1:-100} i
  start_capture --alerts-out "$tmp/alerts.jsonl" --db "$tmp/attack.sqlite"
  # The victim's SSH-like service: a banner, one read, closed.
  ip netns exec "$A" python3 -c '
import socket
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("10.79.0.1", 22)); t.listen(64)
while True:
    c, _ = t.accept(); c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n"); c.recv(4096); c.sendall(b"denied\r\n"); c.close()' &
  srv=$!
  for i in $(seq 11 $((10 + n))); do ip -n "$B" addr add "10.79.0.$i/24" dev nv1; done
  # The floods' victims (one address each).
  for i in $(seq 150 $((150 + (n + 1) / 2))); do ip -n "$A" addr add "10.79.0.$i/24" dev nv0; done
  sleep 0.5
  touch "$tmp/alerts.jsonl"
  ip netns exec "$B" python3 bench/attack-latency.py "$tmp/alerts.jsonl" "$n" 10.79.0.1 10.79.0.
  kill "$srv" 2>/dev/null || true
  stop_capture >/dev/null
}

setup
case ${1:-} in
  rate) rate ;;
  overload) overload ;;
  latency) latency "${2:-200}" ;;
  soak) soak "${2:-30}" "${3:-20000}" ;;
  attack) attack "${2:-100}" ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
