#!/usr/bin/env bash
# Faults and abuse against the release service, the figures of docs/reliability.md:
#   1. Redis hung (SIGSTOP) and killed mid-load: throughput and p99 against the healthy phase of
#      the same run, /health's answer time, and how long history takes to come back;
#   2. 2,000 idle and 200 slow-header connections held open while wrk measures real requests;
#   3. resident memory after requests from up to 2M distinct users, with the default user cap
#      and with the cap lifted;
#   4. the event log on a tmpfs with 2 MiB of room that fills under load, then gets room again
#      (needs root to mount; skipped otherwise): answered, refused (503) and written lines;
#   5. the event log moved away (a log shipper's `mv`) every second under load: nothing lost;
#   6. 1,100 idle sockets on the dashboard's port of a service limited to 1,024 files: the
#      service's throughput meanwhile, and every answer in its log.
# Needs wrk, redis-server, curl and python3 (apt-get install wrk redis-server curl).
# Usage: bench/faults.sh [world-dir] [seconds-per-phase]
set -euo pipefail
cd "$(dirname "$0")/.."
world=${1:-world}
secs=${2:-5}
echo "== cargo build --release -p botify-cli (a no-op when up to date; minutes the first time)" >&2
cargo build --release -p botify-cli
bin=target/release/botify
[ -f "$world/tracks.json" ] || $bin world generate --out "$world" >/dev/null
tmp=$(mktemp -d)
port=5072
rport=6391
pids=()
cleanup() {
  umount "$tmp/disk" 2>/dev/null || true
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

start_redis() {
  redis-server --port $rport --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
  rpid=$!
  pids+=("$rpid")
  for _ in $(seq 100); do redis-cli -p $rport ping >/dev/null 2>&1 && return; sleep 0.05; done
}

start_service() {
  "$bin" serve --catalog "$world/tracks.json" --log-dir "${LOG_DIR:-$tmp/log-$1}" --port $port "${@:2}" 2>"$tmp/serve-$1.err" &
  spid=$!
  pids+=("$spid")
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/" >/dev/null && return; sleep 0.05; done
  echo "the service did not start"; cat "$tmp/serve-$1.err"; exit 1
}

stop_service() {
  kill -TERM "$spid"
  wait "$spid" 2>/dev/null || true
  grep -E "stopped:|could not be written" "$tmp/serve-$1.err" | tail -2
}

# One wrk phase of POST /next: "requests/s p50 p99".
load() {
  wrk -t2 -c32 -d"${secs}s" --latency -s bench/wrk-next.lua "http://127.0.0.1:$port" |
    awk '/Requests\/sec/{rps=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2} END{print rps" req/s, p50 "p50", p99 "p99}'
}

health_time() {
  curl -s -o /dev/null -w '%{http_code} in %{time_total}s' "http://127.0.0.1:$port/health"
}

# Seconds from now until /health says "ok" again (a degraded replica answers 200 too).
recovery() {
  local t0
  t0=$(date +%s.%N)
  for _ in $(seq 1000); do
    curl -s "http://127.0.0.1:$port/health" | grep -q '"status":"ok"' && break
    sleep 0.01
  done
  python3 -c "print(round($(date +%s.%N) - $t0, 3))"
}

echo "== 1. Redis faults under load (StickyArtist, history in Redis, ${secs}s phases)"
start_redis
start_service redis --redis "redis://127.0.0.1:$rport"
echo "healthy:          $(load)"
kill -STOP "$rpid"
# The requests in flight when Redis hangs wait the command timeout once, and open the breaker.
echo "Redis SIGSTOPped, first request: $(curl -s -o /dev/null -w '%{http_code} in %{time_total}s' \
  -H 'Content-Type: application/json' -d '{"track": 1, "time": 0.5}' "http://127.0.0.1:$port/next/1")"
echo "Redis SIGSTOPped: $(load); /health $(health_time)"
kill -CONT "$rpid"
echo "history back after SIGCONT: $(recovery) s"
kill "$rpid"; wait "$rpid" 2>/dev/null || true
echo "Redis killed, first request: $(curl -s -o /dev/null -w '%{http_code} in %{time_total}s' \
  -H 'Content-Type: application/json' -d '{"track": 1, "time": 0.5}' "http://127.0.0.1:$port/next/1")"
echo "Redis killed:     $(load); /health $(health_time)"
start_redis
echo "history back after restart: $(recovery) s"
echo "healthy again:    $(load)"
stop_service redis

echo "== 2. 2,000 idle + 200 slow-header connections held open (embedded state)"
start_service slow
python3 - "$port" >"$tmp/holder.log" 2>&1 <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2000)]
slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
for s in slow:
    s.sendall(b"POST /next/1 HTTP/1.1\r\n")
print("holding", len(idle) + len(slow), flush=True)
for i in range(600):
    for s in slow:
        try:
            s.sendall(b"X")  # a header trickling in, one byte at a time
        except OSError:
            pass
    time.sleep(0.1)
EOF
holder=$!
pids+=("$holder")
for _ in $(seq 100); do grep -q holding "$tmp/holder.log" 2>/dev/null && break; sleep 0.1; done
echo "with 2,200 held connections: $(load)"
kill "$holder" 2>/dev/null || true
stop_service slow

echo "== 3. memory after requests from up to 2,000,000 distinct users (${secs}s x 6 of load)"
for cap in 100000 1000000 1000000000; do
  start_service "mem$cap" --max-users "$cap"
  for _ in 1 2 3 4 5 6; do BOTIFY_USERS=2000000 load >/dev/null; done
  rss=$(awk '/VmRSS/{print $2}' "/proc/$spid/status")
  evicted=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^botify_history_evictions_total/{print $2}')
  echo "--max-users $cap: RSS $((rss / 1024)) MB, $evicted users evicted"
  stop_service "mem$cap"
done

# One wrk phase: "N requests, M refused (non-2xx)".
load_counts() {
  wrk -t2 -c32 -d"$1s" -s bench/wrk-next.lua "http://127.0.0.1:$port" |
    awk '/requests in/{n=$1} /Non-2xx/{bad=$NF} END{print n" requests, "(bad?bad:0)" refused"}'
}

# Lines in every file under the given directories.
lines_in() { cat "$@" 2>/dev/null | wc -l; }

echo "== 4. event log on a 64 MiB tmpfs with 2 MiB of room, filling under load, then room again"
mkdir -p "$tmp/disk" "$tmp/shipped"
if mount -t tmpfs -o size=64m tmpfs "$tmp/disk" 2>/dev/null; then
  head -c $((62 << 20)) /dev/zero >"$tmp/disk/filler"
  LOG_DIR="$tmp/disk/log" start_service disk
  echo "disk full:        $(load_counts "$secs"); /health $(health_time)"
  rm "$tmp/disk/filler"
  sleep 1.2
  echo "room again:       /health $(health_time); $(load_counts 2)"
  stop_service disk
  echo "lines on disk: $(lines_in "$tmp/disk/log/"*)"
  umount "$tmp/disk"
else
  echo "skipped: cannot mount a tmpfs here (needs root)"
fi

echo "== 5. data.json moved away every second under load"
start_service moved
(for i in $(seq "$secs"); do sleep 1; mv "$tmp/log-moved/data.json" "$tmp/shipped/moved.$i" 2>/dev/null || true; done) &
mover=$!
echo "moving:           $(load_counts "$secs")"
wait "$mover"
stop_service moved
echo "lines in data.json and the moved files: $(lines_in "$tmp/log-moved/"* "$tmp/shipped/moved."*)"

echo "== 6. 1,100 idle sockets on the dashboard's port of a service limited to 1,024 files"
dport=5073
(ulimit -n 1024; exec "$bin" serve --catalog "$world/tracks.json" --log-dir "$tmp/log-dash" --port $port \
  --dashboard "127.0.0.1:$dport" 2>"$tmp/serve-dash.err") &
spid=$!
pids+=("$spid")
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.05; done
python3 - "$dport" >"$tmp/dash-holder.log" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
held = []
for _ in range(1100):
    try:
        held.append(socket.create_connection(("127.0.0.1", port)))
    except OSError:
        pass
print("holding", len(held), flush=True)
time.sleep(60)
PY
holder=$!
pids+=("$holder")
for _ in $(seq 100); do grep -q holding "$tmp/dash-holder.log" 2>/dev/null && break; sleep 0.1; done
echo "$(cat "$tmp/dash-holder.log"); dashboard: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$dport/api/live")"
echo "service meanwhile: $(load_counts "$secs")"
kill "$holder" 2>/dev/null || true
stop_service dash
echo "lines in the log: $(lines_in "$tmp/log-dash/"*)"
