#!/usr/bin/env bash
# Load test of the release service with wrk (apt-get install wrk): StickyArtist, logging on,
# 32 connections, then the trivial `GET /` handler in the same run as the ceiling.
# Usage: bench/load.sh [world-dir] [seconds] [extra serve args...]
# STATE=redis or STATE=cluster keeps the history in a Redis or a 3-master Redis Cluster it starts
# (bench/redis.sh); CONNECTIONS=N sets wrk's connections (32), e.g. 1 for latency alone.
set -euo pipefail
cd "$(dirname "$0")/.."
world=${1:-world}
secs=${2:-15}
shift 2 || true
echo "== cargo build --release -p botify-cli (a no-op when up to date; minutes the first time)" >&2
cargo build --release -p botify-cli
[ -f "$world/tracks.json" ] || target/release/botify world generate --out "$world"
log=$(mktemp -d)
port=5071
conns=${CONNECTIONS:-32}
threads=$((conns < 2 ? 1 : 2))
pids=()
source bench/redis.sh
start_state "$log"
trap 'kill "${pids[@]}" 2>/dev/null || true; [ -s "$log/serve.err" ] && tail -3 "$log/serve.err" >&2; rm -rf "$log"' EXIT
target/release/botify serve --catalog "$world/tracks.json" --log-dir "$log/events" --port $port "${redis_flags[@]}" "$@" 2>"$log/serve.err" &
pid=$!
pids+=($pid)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.05; done
echo "== POST /next (StickyArtist, event log on, state: ${STATE:-embedded})"
wrk -t$threads -c$conns -d"${secs}s" --latency -s bench/wrk-next.lua "http://127.0.0.1:$port"
echo "== GET / (trivial handler, ceiling)"
wrk -t$threads -c$conns -d"${secs}s" --latency "http://127.0.0.1:$port/"
kill -TERM $pid; wait $pid || true
echo "== event log: $(cat "$log"/events/data.json* | wc -l) lines"
tail -1 "$log/serve.err"
