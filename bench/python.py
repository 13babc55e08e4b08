"""Python package benchmarks (docs/BENCHMARKS.md, "Python package").

1. In-process simulator steps per second: a trivial Python recommender (the course's interface),
   a StickyArtist written in Python, and the built-in StickyArtist (Rust) for reference, one day
   of 200,000 sessions on the default world (50,000 tracks, 10,000 users).
2. What the GIL costs a served Python recommender: the real service (`botify.serve`) loaded with
   wrk (bench/wrk-next.lua, 2 threads, 32 connections) answering with the built-in StickyArtist,
   then with the trivial Python recommender.

Usage: python bench/python.py [world-dir] [wrk seconds]   (with the package installed;
apt-get install wrk for part 2)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import botify

ROOT = Path(__file__).resolve().parents[1]


class Trivial:
    def __init__(self, tracks: int) -> None:
        self.tracks = tracks

    def recommend_next(self, user, prev_track, prev_track_time):
        return (prev_track + 1) % self.tracks


class PyStickyArtist:
    """StickyArtist in Python: a random track of the previous track's artist."""

    def __init__(self, world: botify.World) -> None:
        import random

        t = world.tracks
        self.artist = t["artist"].to_numpy()
        self.by_artist = t.groupby("artist")["track"].apply(list).to_dict()
        self.random = random.Random(1)

    def recommend_next(self, user, prev_track, prev_track_time):
        return self.random.choice(self.by_artist[self.artist[prev_track]])


def simulator(world: botify.World) -> None:
    print("== in-process simulator, 200,000 sessions, 1 day")
    for name, rec in [
        ("trivial Python recommender", Trivial(world.n_tracks)),
        ("StickyArtist in Python", PyStickyArtist(world)),
        ("built-in StickyArtist (Rust)", "sticky_artist"),
    ]:
        # Day 2 reuses the exact nearest-track lists day 1 computed: its speed is the
        # recommender's and the listener model's, not the neighbour search's (issue 21).
        r = botify.simulate(world, {"C": rec, "T1": rec}, episodes=200_000, seed=1, days=2,
                            log_dir=False)
        d1, d2 = r.days.iloc[0], r.days.iloc[1]
        print(f"{name:32s} day 2: {int(d2.steps):>9,} steps in {d2.seconds:5.2f} s = "
              f"{int(d2.steps) / d2.seconds:>12,.0f} steps/s   (day 1: {d1.seconds:.2f} s)")


def served(world: botify.World, seconds: int) -> None:
    if shutil.which("wrk") is None:
        print("== served: wrk is not installed (apt-get install wrk); skipped")
        return
    print(f"== served over HTTP, wrk -t2 -c32 -d{seconds}s, POST /next")
    env = {**os.environ, "BOTIFY_USERS": str(world.n_users), "BOTIFY_TRACKS": str(world.n_tracks)}
    for name, rec in [
        ("built-in StickyArtist (Rust)", "sticky_artist"),
        ("trivial Python recommender", Trivial(world.n_tracks)),
        ("StickyArtist in Python", PyStickyArtist(world)),
    ]:
        with botify.serve(world, {"C": rec, "T1": rec}) as server:
            out = subprocess.run(
                ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s",
                 str(ROOT / "bench" / "wrk-next.lua"), server.url],
                check=True, capture_output=True, text=True, env=env,
            ).stdout
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
        p50 = re.search(r"(?m)^\s+50%\s+(\S+)", out).group(1)
        p99 = re.search(r"(?m)^\s+99%\s+(\S+)", out).group(1)
        print(f"{name:32s} {float(rps):>10,.0f} req/s   p50 {p50:>8}   p99 {p99:>8}")


def main() -> None:
    world_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    if world_dir is not None and (world_dir / "tracks.json").exists():
        world = botify.World.load(world_dir)
    else:
        world = botify.World.generate(world_dir or Path(tempfile.mkdtemp()) / "world")
    print(world)
    simulator(world)
    served(world, seconds)


if __name__ == "__main__":
    main()
