#!/usr/bin/env bash
# How the simulator's cost grows with the catalogue: for each size, world generation, then a
# StickyArtist run of two days (the first day builds the exact neighbour index and computes the
# nearest tracks of its session interests; the second mostly reuses them), then the same two days
# again with the neighbour lists cached next to the world, then the oracle. Then the trainers: one
# day of StickyArtist traffic logged, ALS and MF trained on it with their default parameters.
# Users are a tenth of the tracks.
# Usage: bench/scale.sh [episodes] [sizes...]   (defaults: 200000 10000 100000 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
episodes=${1:-200000}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
echo "== cargo build --release -p botify-cli (a no-op when up to date; minutes the first time)" >&2
cargo build --release -p botify-cli
b=target/release/botify
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
train=""
secs() { grep -o "in [0-9.]*s" | head -"$1" | tail -1 | tr -dc '0-9.'; }
printf '| tracks | users | generate | index build | first day | warm day | first day, lists cached | oracle, 20k sessions | peak RSS |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for n in "${sizes[@]}"; do
  u=$((n / 10))
  w="$work/w$n"
  gen=$( { /usr/bin/time -f "%e" "$b" world generate --out "$w" --tracks "$n" --users "$u" >/dev/null; } 2>&1 | tail -1)
  run=$( { /usr/bin/time -f "rss %M" "$b" sim --world "$w" --episodes "$episodes" --recommender sticky-artist --days 2; } 2>&1)
  again=$("$b" sim --world "$w" --episodes "$episodes" --recommender sticky-artist --days 2 2>&1)
  oracle=$("$b" sim --world "$w" --episodes 20000 --recommender oracle 2>&1)
  rss=$(grep -o "rss [0-9]*" <<<"$run" | tr -dc '0-9')
  built=$(grep -o "neighbour index over [0-9]* tracks in [0-9.]*s" <<<"$run" | grep -o "[0-9.]*s$" | tr -d s)
  printf '| %s | %s | %s s | %s s | %s s | %s s | %s s | %s s | %s MB |\n' "$n" "$u" "$gen" "$built" \
    "$(grep '^day 1' <<<"$run" | secs 1)" "$(grep '^day 2' <<<"$run" | secs 1)" \
    "$(grep '^day 1' <<<"$again" | secs 1)" "$(grep '^day 1' <<<"$oracle" | secs 1)" $((rss / 1024))
  "$b" sim --world "$w" --episodes "$episodes" --recommender sticky-artist --log-dir "$w/log" >/dev/null 2>&1
  for m in als mf; do
    /usr/bin/time -f "%e s, %M" -o "$w/$m.time" "$b" train $m --logs "$w/log" --catalog "$w/tracks.json" --out "$w/$m.jsonl" >/dev/null 2>&1
  done
  kb() { tr -dc '0-9.,' <"$1" | awk -F, '{printf "%s s (%d MB)", $1, $2 / 1024}'; }
  train+=$(printf '| %s | %s | %s | %s |' "$n" "$u" "$(kb "$w/als.time")" "$(kb "$w/mf.time")")$'\n'
  rm -rf "$w"
done
printf '\nTraining on one logged day (default parameters; wall, peak RSS):\n\n'
printf '| tracks | users | ALS | MF |\n| --- | --- | --- | --- |\n%s' "$train"
