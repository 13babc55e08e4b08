#!/usr/bin/env bash
# How the simulator's cost grows with the catalogue: for each size, world generation, then a
# StickyArtist run of two days (the first day computes the exact nearest tracks of its session
# interests; the second mostly reuses them), then the same two days again with the neighbour
# lists cached next to the world, then the oracle. Users are a tenth of the tracks.
# Usage: bench/scale.sh [episodes] [sizes...]   (defaults: 200000 10000 100000 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
episodes=${1:-200000}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
cargo build --release -q -p botify-cli
b=target/release/botify
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
secs() { grep -o "in [0-9.]*s" | head -"$1" | tail -1 | tr -dc '0-9.'; }
printf '| tracks | users | generate | first day | warm day | first day, lists cached | oracle, 20k sessions | peak RSS |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- |\n'
for n in "${sizes[@]}"; do
  u=$((n / 10))
  w="$work/w$n"
  gen=$( { /usr/bin/time -f "%e" "$b" world generate --out "$w" --tracks "$n" --users "$u" >/dev/null; } 2>&1 | tail -1)
  run=$( { /usr/bin/time -f "rss %M" "$b" sim --world "$w" --episodes "$episodes" --recommender sticky-artist --days 2; } 2>&1)
  again=$("$b" sim --world "$w" --episodes "$episodes" --recommender sticky-artist --days 2 2>&1)
  oracle=$("$b" sim --world "$w" --episodes 20000 --recommender oracle 2>&1)
  rss=$(grep -o "rss [0-9]*" <<<"$run" | tr -dc '0-9')
  printf '| %s | %s | %s s | %s s | %s s | %s s | %s s | %s MB |\n' "$n" "$u" "$gen" \
    "$(grep '^day 1' <<<"$run" | secs 1)" "$(grep '^day 2' <<<"$run" | secs 1)" \
    "$(grep '^day 1' <<<"$again" | secs 1)" "$(grep '^day 1' <<<"$oracle" | secs 1)" $((rss / 1024))
  rm -rf "$w"
done
