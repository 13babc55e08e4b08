#!/usr/bin/env bash
# POST /next throughput of two `botify` binaries in alternating runs (A B A B …), so a before /
# after comparison holds on a noisy machine: each run starts the service on a fresh log directory,
# loads it with wrk (2 threads, 32 connections, StickyArtist, event log on) and stops it; the line
# count of its log is printed beside the throughput (every answer must be logged).
# Usage: bench/next-ab.sh OLD_BIN NEW_BIN [world-dir] [seconds] [pairs]
# Needs wrk and curl (apt-get install wrk curl).
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1
b=$2
world=${3:-world}
secs=${4:-5}
pairs=${5:-3}
[ -f "$world/tracks.json" ] || "$b" world generate --out "$world" >/dev/null
port=5093
for i in $(seq "$pairs"); do
  for which in A B; do
    bin=$a
    [ "$which" = B ] && bin=$b
    d=$(mktemp -d)
    "$bin" serve --catalog "$world/tracks.json" --log-dir "$d/log" --port $port 2>"$d/err" &
    pid=$!
    for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.05; done
    r=$(wrk -t2 -c32 -d"${secs}s" --latency -s bench/wrk-next.lua "http://127.0.0.1:$port" |
      awk '/Requests\/sec/{rps=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2} END{print rps" req/s, p50 "p50", p99 "p99}')
    kill -TERM $pid
    wait $pid || true
    echo "pair $i $which: $r; $(cat "$d"/log/data.json* | wc -l) log lines"
    rm -rf "$d"
  done
done
