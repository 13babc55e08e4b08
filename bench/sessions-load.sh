#!/usr/bin/env bash
# One fixed amount of real traffic through a service: serve with the binary BIN on a fresh log,
# drive 40,000 listener sessions over HTTP with 32 connections (this checkout's simulator, so two
# service builds get the same client), stop. Time it, alternating two builds, for a before/after.
# Usage: bench/sessions-load.sh BIN [PORT] [WORLD]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1
port=${2:-5201}
world=${3:-world}
[ -f "$world/tracks.json" ] || target/release/botify world generate --out "$world" >/dev/null
log=$(mktemp -d)
"$bin" serve --catalog "$world/tracks.json" --log-dir "$log" --port "$port" 2>/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$log"' EXIT
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.02; done
target/release/botify sim --world "$world" --remote "http://127.0.0.1:$port" --episodes 40000 \
  --concurrency 32 -q >/dev/null
kill -TERM "$pid"
wait "$pid" || true
