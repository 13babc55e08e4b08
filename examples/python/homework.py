"""The course's homework, done in Python on Botify end to end.

1. make a world and collect a day of traffic (Random and StickyArtist, as the course's first day);
2. train item-to-item neighbour lists on that day's log (`botify.train.i2i`);
3. write the recommender — the course's `recommend_next(user, prev_track, prev_track_time)` —
   that walks the neighbours of what the listener liked in this session, never replays a track
   and leaves a neighbourhood after a skip;
4. A/B-test it against StickyArtist in the simulator and print the table;
5. serve it over HTTP with the real service and let Botify's simulator drive it.

    python examples/python/homework.py [--tracks 50000 --users 10000 --episodes 20000]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import botify
import botify.train


class SessionNeighbours:
    """Next track: the best unheard neighbour of the session's last liked track."""

    def __init__(self, lists, tracks: int, liked: float = 0.7) -> None:
        self.lists = lists  # {track: array of neighbour ids, most similar first}
        self.tracks = tracks
        self.liked = liked
        self.sessions = {}  # user -> (anchor track, tracks heard in this session)

    def recommend_next(self, user: int, prev_track: int, prev_track_time: float) -> int:
        anchor, heard = self.sessions.get(user, (prev_track, set()))
        if prev_track not in heard and prev_track_time >= 1.0 and not heard:
            anchor, heard = prev_track, set()  # a new session opens on a fully heard track
        heard.add(prev_track)
        if prev_track_time >= self.liked:
            anchor = prev_track  # follow what was liked; after a skip keep the older anchor
        for candidate in self.lists.get(anchor, ()):
            if int(candidate) not in heard:
                self.sessions[user] = (anchor, heard)
                return int(candidate)
        self.sessions[user] = (anchor, heard)
        return (prev_track + 1) % self.tracks  # nothing left: the next id


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=50_000)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--episodes", type=int, default=20_000)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--botify", default="botify", help="the CLI, to drive the served recommender")
    a = ap.parse_args()
    work = a.dir or Path(tempfile.mkdtemp(prefix="botify-homework-"))

    world = botify.World.generate(work / "world", tracks=a.tracks, users=a.users)
    day1 = botify.simulate(world, {"C": "random", "T1": "sticky_artist"},
                           episodes=3 * a.episodes, log_dir=work / "day1", experiment="DAY1")
    i2i = botify.train.i2i(day1.log_dir, work / "models" / "i2i.jsonl", holdout=0)
    print(f"trained: {i2i.written}")

    mine = SessionNeighbours(i2i.lists, world.n_tracks)
    ab = botify.simulate(world, {"C": "sticky_artist", "T1": mine}, episodes=a.episodes, seed=2,
                         start_day=1, log_dir=work / "ab", experiment="HW")
    table = ab.ab()
    print(table[["treatment", "metric", "control_mean", "treatment_mean", "effect", "lower",
                 "upper", "p_adjusted"]].to_string(index=False))

    served = SessionNeighbours(i2i.lists, world.n_tracks)
    with botify.serve(world, {"C": "sticky_artist", "T1": served}, experiment="HW") as server:
        subprocess.run([a.botify, "sim", "--world", str(world.dir), "--remote", server.url,
                        "--episodes", str(a.episodes // 10), "--seed", "3"], check=True,
                       capture_output=True)
        answered, _ = server.stop()
    print(f"served {answered} requests over HTTP; the log is in {server.log_dir}")


if __name__ == "__main__":
    main()
