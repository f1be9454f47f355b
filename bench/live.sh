#!/usr/bin/env bash
# Ingest speed with the API server watching the store and two live clients — one reading
# /api/events, one that sends its request and never reads — against the same ingest with no
# server, in pairs (A: with, B: without), so the machine's drift cancels. Prints each pair,
# then the medians and the live counters of the last run (the stuck client must be counted
# as dropped).
#
#   bench/live.sh RUNS NETVIGIL CAPTURE
#   bench/live.sh 5 /var/tmp/target-tap/release/netvigil /var/tmp/nvb/attacks.pcap
set -euo pipefail
runs=$1 nv=$2 cap=$3
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Seconds of one ingest of the capture into database $1.
ingest() {
  local t0 t1
  t0=$(date +%s.%N)
  "$nv" analyze -q --format none --no-geoip --db "$1" "$cap" 2>"$tmp/err" >/dev/null || {
    cat "$tmp/err" >&2
    exit 1
  }
  t1=$(date +%s.%N)
  awk "BEGIN{printf \"%.3f\", $t1 - $t0}"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

cat >"$tmp/serve.toml" <<'EOF'
request_log = false
live_poll_ms = 200
write_timeout_s = 5
send_buffer_bytes = 16384
EOF

# The client that never reads: it sends its request, then sleeps with a small receive buffer.
cat >"$tmp/stuck.py" <<'EOF'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect((host, int(port)))
s.sendall(f"GET /api/events HTTP/1.1\r\nHost: {sys.argv[1]}\r\nAuthorization: Bearer {sys.argv[2]}\r\n\r\n".encode())
time.sleep(3600)
EOF

: >"$tmp/pairs"
# A: the server watches the database the ingest writes, with a reading and a stuck client.
with_server() {
  rm -f "$tmp"/a.db*
  "$nv" serve --db "$tmp/a.db" --listen 127.0.0.1:0 --config "$tmp/serve.toml" 2>"$tmp/serve.err" &
  server=$!
  pids+=("$server")
  for _ in $(seq 1 100); do
    grep -q "serving" "$tmp/serve.err" && break
    sleep 0.1
  done
  addr=$(sed -n 's|.* on http://\([^/]*\)/api.*|\1|p' "$tmp/serve.err")
  token=$("$nv" user token admin --db "$tmp/a.db" 2>/dev/null)
  curl -sN -H "Authorization: Bearer $token" "http://$addr/api/events" >"$tmp/reader.out" &
  pids+=("$!")
  python3 "$tmp/stuck.py" "$addr" "$token" &
  pids+=("$!")
  sleep 0.5
  ta=$(ingest "$tmp/a.db")
  sleep 1
  live=$(curl -s "http://$addr/api/health" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["live"]))')
  events=$(grep -c '^event:' "$tmp/reader.out" || true)
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
# B: the same ingest into a database made the same way, no server.
alone() {
  rm -f "$tmp"/b.db*
  "$nv" user add bench --role viewer --no-password --db "$tmp/b.db" >/dev/null 2>&1
  tb=$(ingest "$tmp/b.db")
}
for i in $(seq 1 "$runs"); do
  # Alternate which goes first, so neither always runs on a warmer machine.
  if [ $((i % 2)) -eq 1 ]; then
    with_server
    alone
  else
    alone
    with_server
  fi
  ratio=$(awk "BEGIN{printf \"%.3f\", $ta / $tb}")
  echo "pair $i: with server ${ta}s (reader got $events events), alone ${tb}s, ratio $ratio"
  echo "$ta $tb $ratio" >>"$tmp/pairs"
done
echo "median: with server $(awk '{print $1}' "$tmp/pairs" | median)s, alone $(awk '{print $2}' "$tmp/pairs" | median)s, ratio $(awk '{print $3}' "$tmp/pairs" | median)"
echo "live counters of the last run: $live"
