#!/usr/bin/env bash
# The API under load: `wrk` against `netvigil serve` on a store of millions of flows (seeded by
# the store benchmark), for the flows page, a search and the overview statistics; requests/s
# and latency percentiles per call, beside the same store calls made directly in the same run
# (the store benchmark with --reuse: the floor the API adds HTTP, JSON and its pool to).
#
#   bench/api-load.sh NETVIGIL DB [SECONDS] [CONNECTIONS]
#
# Seed the store first (10 M flows: ~2 min on SQLite, ~5 min on PostgreSQL):
#   cargo bench -p netvigil-store --bench store -- --flows 10000000 --db /var/tmp/nvbench10m.db
#   bench/api-load.sh /var/tmp/target-tap/release/netvigil /var/tmp/nvbench10m.db 15 8
set -euo pipefail
nv=$1 db=$2 secs=${3:-15} conns=${4:-8}
command -v wrk >/dev/null || {
  echo "api-load: installing wrk (Debian package)" >&2
  apt-get install -y wrk >/dev/null
}
tmp=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/serve.toml" <<EOF
request_log = false
connections = $conns
[rate]
api = 6000000
search = 6000000
EOF

"$nv" serve --db "$db" --listen 127.0.0.1:0 --config "$tmp/serve.toml" 2>"$tmp/serve.err" &
server=$!
for _ in $(seq 1 600); do
  grep -q "on http://" "$tmp/serve.err" && break
  sleep 0.1
done
base=$(grep -o 'http://[0-9.:]*' "$tmp/serve.err" | head -1)
token=$("$nv" user token admin --db "$db")

# wrk's percentile in ms: "99%   12.34ms" (us, ms or s).
pct() {
  awk -v p="$1" '$1 == p { v = $2; u = v; gsub(/[0-9.]/, "", u); gsub(/[a-z]/, "", v);
    if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.1f", v }' "$2"
}

# Counts the answers other than 200 and keeps the first one's body.
cat >"$tmp/status.lua" <<'EOF2'
local told = false
response = function(status, headers, body)
  if status ~= 200 and not told then
    told = true
    print("answer " .. status .. ": " .. string.sub(body, 1, 300))
  end
end
EOF2

echo "store: $db"
echo "wrk: 2 threads, ${secs} s per call and concurrency, after a 3 s warm-up"
printf '%-66s %5s %9s %9s %9s %9s\n' call conns "req/s" "p50 ms" "p90 ms" "p99 ms"
for path in \
  "/api/flows?limit=100" \
  "/api/flows?limit=100&q=src%3A10.0.0.0%2F24%20AND%20dst_port%3A443" \
  "/api/stats/talkers" \
  "/api/stats/ports" \
  "/api/stats/protocols" \
  "/api/stats/health"; do
  for c in 1 "$conns"; do
    t=2
    [ "$c" -ge 2 ] || t=1
    wrk -t$t -c"$c" -d3s -H "Authorization: Bearer $token" "$base$path" >/dev/null
    wrk -t$t -c"$c" -d"${secs}s" --latency -H "Authorization: Bearer $token" "$base$path" >"$tmp/out"
    if grep -qE "Non-2xx|Socket errors" "$tmp/out"; then
      cat "$tmp/out" >&2
      # What the refused calls said.
      wrk -t1 -c"$c" -d2s -s "$tmp/status.lua" -H "Authorization: Bearer $token" "$base$path" >&2 || true
      echo "api-load: $path answered errors" >&2
      exit 1
    fi
    rps=$(awk '/Requests\/sec/ { printf "%.0f", $2 }' "$tmp/out")
    printf '%-66s %5s %9s %9s %9s %9s\n' "$path" "$c" "$rps" "$(pct 50% "$tmp/out")" \
      "$(pct 90% "$tmp/out")" "$(pct 99% "$tmp/out")"
  done
done
echo "server peak RSS: $(awk '/VmHWM/ { printf "%.0f MiB", $2 / 1024 }' /proc/$server/status)"
