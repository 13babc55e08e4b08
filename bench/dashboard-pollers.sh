#!/usr/bin/env bash
# POST /next load (100,000 users that never end a session) on a service with its live dashboard,
# while 8 connections poll /api/experiment as fast as they can: the service's throughput and p99,
# the polls answered, and the service's resident memory at the end.
# Usage: bench/dashboard-pollers.sh [botify-binary] [world-dir]
# Needs wrk and curl (apt-get install wrk curl).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/botify}
world=${2:-world}
[ -x "$bin" ] || cargo build --release -q -p botify-cli
[ -f "$world/tracks.json" ] || "$bin" world generate --out "$world" >/dev/null
d=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$d"' EXIT
"$bin" serve --catalog "$world/tracks.json" --log-dir "$d/log" --port 5094 \
  --dashboard 127.0.0.1:5095 2>"$d/err" &
pid=$!
for _ in $(seq 200); do curl -sf http://127.0.0.1:5094/ >/dev/null && break; sleep 0.05; done
# One event first, so /api/experiment has an experiment to analyse.
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"track": 1, "time": 0.5}' \
  http://127.0.0.1:5094/next/1
wrk -t1 -c8 -d9s http://127.0.0.1:5095/api/experiment >"$d/poll.txt" &
poller=$!
BOTIFY_USERS=100000 wrk -t2 -c32 -d8s --latency -s bench/wrk-next.lua http://127.0.0.1:5094 |
  awk '/Requests\/sec/{rps=$2} /^ +99%/{p99=$2} END{print "service: "rps" requests/s, p99 "p99}'
echo "resident memory: $(awk '/VmRSS/{print int($2/1024)}' "/proc/$pid/status") MB"
wait $poller
echo "polls answered: $(awk '/requests in/{print $1}' "$d/poll.txt")"
