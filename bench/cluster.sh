#!/usr/bin/env bash
# Several `botify serve` replicas behind HAProxy (deploy/haproxy.cfg) with their history in one
# Redis, all on loopback: starts Redis, the replicas (own ports and log directories) and the
# balancer, drives traffic through the balancer with `botify sim --remote`, stops everything it
# started, then checks that every answered request is in some replica's log and prints the A/B
# table over the union of the replicas' logs. For each replica count given.
# Needs haproxy and redis-server (apt-get install haproxy redis-server) and curl.
# STATE=cluster keeps the state in a 3-master Redis Cluster instead of one Redis (bench/redis.sh).
# Usage: bench/cluster.sh [episodes] [replica counts...]   (defaults: 20000 3)
# KILL_AFTER=SECONDS stops replica 1 (SIGTERM) that long into the traffic. Replicas run with
# `--drain 2`: on SIGTERM a replica fails its health check but goes on answering for 2 s, HAProxy
# takes it out of rotation, then it closes and flushes its log; the run goes on through the others
# and no answered request is missing from the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
episodes=${1:-20000}
shift || true
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(3)
for tool in haproxy redis-server curl; do
  command -v $tool >/dev/null || { echo "bench/cluster.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done
echo "== cargo build --release -p botify-cli (a no-op when up to date; minutes the first time)" >&2
cargo build --release -p botify-cli
b=$PWD/target/release/botify
source bench/redis.sh
work=$(mktemp -d)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.05; done; echo "no answer from $1" >&2; exit 1; }

"$b" world generate --out "$work/world" >/dev/null
for n in "${counts[@]}"; do
  run="$work/run$n"
  mkdir -p "$run"
  STATE=${STATE:-redis} start_state "$run"
  # One server line per replica in place of the example's three.
  sed '/# replicas/q' deploy/haproxy.cfg >"$run/haproxy.cfg"
  logs=()
  for i in $(seq "$n"); do
    port=$(free_port)
    "$b" serve --catalog "$work/world/tracks.json" --experiments examples/experiments.toml \
      "${redis_flags[@]}" --port "$port" --drain 2 --max-connections-per-address 4096 \
      --log-dir "$run/log-$i" 2>"$run/serve-$i.err" &
    pids+=($!)
    wait_for "http://127.0.0.1:$port/"
    echo "    server r$i 127.0.0.1:$port" >>"$run/haproxy.cfg"
    logs+=("$run/log-$i")
  done
  lb=$(free_port)
  BOTIFY_LB_ADDR="127.0.0.1:$lb" haproxy -f "$run/haproxy.cfg" -db >"$run/haproxy.log" 2>&1 &
  pids+=($!)
  wait_for "http://127.0.0.1:$lb/"
  echo "== $n replicas behind HAProxy on 127.0.0.1:$lb, state: ${redis_flags[*]}"
  if [ -n "${KILL_AFTER:-}" ]; then
    victim=$(pgrep -f -- "--log-dir $run/log-1\$")
    (sleep "$KILL_AFTER"; echo "stopping replica 1 (pid $victim)"; kill -TERM "$victim") &
  fi
  "$b" sim --world "$work/world" --remote "http://127.0.0.1:$lb" --episodes "$episodes" \
    --concurrency 32 --json "$run/episodes.jsonl" 2>&1 | grep -E "^day|steps/s|error" || true
  stop_all
  steps=$(python3 -c 'import json,sys; print(sum(json.loads(l)["steps"] + 1 for l in open(sys.argv[1])))' "$run/episodes.jsonl")
  lines=$(cat "${logs[@]/%//data.json}" | wc -l)
  per=$(for l in "${logs[@]}"; do printf '%s ' "$(wc -l <"$l/data.json")"; done)
  echo "requests answered: $steps; log lines over the replicas: $lines ($per)"
  [ "$steps" = "$lines" ] || { echo "MISMATCH: answered requests missing from the logs" >&2; exit 1; }
  "$b" ab --experiment STICKY_VS_RANDOM "${logs[@]}" | tail -6
done
