import json
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest

import botify
from conftest import Counter


def test_python_recommender_against_sticky_artist(world):
    mine = Counter(world.n_tracks)
    r = botify.simulate(world, {"C": "sticky_artist", "T1": mine}, episodes=2_000, seed=1)
    e = r.episodes
    assert list(e.columns) == ["day", "episode", "user", "treatment", "reward", "steps"]
    assert len(e) == 2_000 and set(e["treatment"]) == {"C", "T1"}
    # Every step of a T1 session asked the Python object.
    assert mine.calls == int(e.loc[e["treatment"] == "T1", "steps"].sum()) > 0
    assert r.steps == int(e["steps"].sum())
    assert r.failures == {"T1": (0, None)}
    s = r.summary()
    assert set(s.index) == {"C", "T1"} and (s["sessions"] > 0).all()
    assert r.log_dir is not None and any(r.log_dir.iterdir())


def test_same_seed_same_sessions_whatever_the_threads(world):
    def run(threads):
        return botify.simulate(world, {"C": "random", "T1": "sticky_artist"}, episodes=1_500,
                               seed=4, threads=threads, log_dir=False).episodes
    one, two = run(1), run(2)
    pd.testing.assert_frame_equal(one, two)
    with_py = botify.simulate(world, {"C": Counter(world.n_tracks), "T1": "sticky_artist"},
                              episodes=1_500, seed=4, threads=2, log_dir=False).episodes
    again = botify.simulate(world, {"C": Counter(world.n_tracks), "T1": "sticky_artist"},
                            episodes=1_500, seed=4, threads=1, log_dir=False).episodes
    pd.testing.assert_frame_equal(with_py, again)


def test_ab_equals_the_cli_json(world, cli):
    r = botify.simulate(world, {"C": "random", "T1": "sticky_artist", "T2": Counter(world.n_tracks)},
                        episodes=3_000, seed=2)
    df = r.ab()
    out = subprocess.run([cli, "ab", "--experiment", "PY", "--format", "json", str(r.log_dir)],
                         check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)["rows"]
    assert len(df) == len(rows) == 2 * 5
    for got, want in zip(df.to_dict("records"), rows):
        for k, v in want.items():
            if isinstance(v, float):
                assert got[k] == pytest.approx(v, rel=1e-12, abs=1e-12), k
            else:
                assert got[k] == v, k
    # The CLI's options reach the analysis.
    course = r.ab(interval="course", correction="holm", metrics=["mean_time_per_session"])
    assert len(course) == 2 and course.attrs["report"]["interval"] == "course"
    assert course.attrs["report"]["correction"] == "holm"


def test_exceptions_and_bad_answers_fall_back_and_are_counted(world):
    class Flaky:
        def __init__(self):
            self.n = 0

        def recommend_next(self, user, prev_track, prev_track_time):
            self.n += 1
            if self.n % 3 == 0:
                raise KeyError("boom")
            if self.n % 3 == 1:
                return 10**9  # not a track
            return prev_track

    with pytest.warns(RuntimeWarning, match="T1: .* calls failed"):
        r = botify.simulate(world, {"C": "sticky_artist", "T1": Flaky()}, episodes=500, seed=3,
                            log_dir=False)
    count, first = r.failures["T1"]
    assert count > 0 and ("boom" in first or "not a track id" in first)
    assert len(r.episodes) == 500


@pytest.mark.parametrize(
    "treatments, error, message",
    [
        ({"C": "sticky_artist", "T1": object()}, TypeError, "recommend_next"),
        ({"C": "sticky_artist", "X": "random"}, botify.BotifyError, "X"),
        ({"C": "no_such_recommender", "T1": "random"}, botify.BotifyError, "no_such_recommender"),
        ({"C": {"type": "indexed", "file": "/nonexistent.jsonl"}, "T1": "random"},
         botify.BotifyError, "/nonexistent.jsonl"),
        ({}, botify.BotifyError, "empty"),
        (42, botify.BotifyError, "treatments"),
    ],
)
def test_bad_treatments_raise_clear_errors(world, treatments, error, message):
    with pytest.raises(error, match=message):
        botify.simulate(world, treatments, episodes=10, log_dir=False)


def test_bad_numbers_raise(world):
    with pytest.raises(botify.BotifyError, match="episodes"):
        botify.simulate(world, {"C": "random", "T1": "random"}, episodes=0)
    with pytest.raises(botify.BotifyError, match="threads"):
        botify.simulate(world, {"C": "random", "T1": "random"}, episodes=10, threads=0,
                        log_dir=False)


def test_oracle_is_the_upper_bound(world):
    oracle = botify.simulate(world, "oracle", episodes=500, seed=5, log_dir=False)
    sticky = botify.simulate(world, {"C": "sticky_artist", "T1": "sticky_artist"}, episodes=500,
                             seed=5, log_dir=False)
    assert oracle.episodes["reward"].mean() > sticky.episodes["reward"].mean()


def test_read_log(world):
    r = botify.simulate(world, {"C": "random", "T1": "sticky_artist"}, episodes=300, seed=6)
    df = botify.read_log(r.log_dir)
    lines = sum(len(p.read_text().splitlines()) for p in r.log_dir.rglob("*") if p.is_file())
    assert len(df) == lines == int(r.episodes["steps"].sum()) + len(r.episodes)
    assert list(df.columns[:7]) == ["message", "timestamp", "user", "track", "time", "latency",
                                     "recommendation"]
    assert set(df["message"]) == {"next", "last"} and set(df["PY"]) == {"C", "T1"}
    # Typed as the Parquet export: null for no recommendation, timestamps as UTC timestamps.
    assert df.loc[df["message"] == "last", "recommendation"].isna().all()
    assert df.loc[df["message"] == "next", "recommendation"].notna().all()
    assert (df.loc[df["message"] == "next", "recommendation"] >= 0).all()
    assert str(df["recommendation"].dtype) == "Int64" and str(df["timestamp"].dt.tz) == "UTC"
    # Random picks one of n tracks, StickyArtist one of its artist's: both know their propensity.
    nxt = df[df["message"] == "next"]
    assert ((nxt["propensity"] > 0) & (nxt["propensity"] <= 1)).all()
    assert df.loc[df["message"] == "last", "propensity"].isna().all()
    assert df.attrs["read"]["skipped"] == 0
    with pytest.raises(botify.BotifyError):
        botify.read_log([])


def test_progress_callback_sees_the_day(world):
    seen = []
    botify.simulate(world, {"C": "random", "T1": "random"}, episodes=400, seed=1, log_dir=False,
                    progress=lambda kind, payload: seen.append((kind, payload)))
    # Notes (e.g. neighbour lists loaded from the world's cache) may come before the day starts.
    assert all(isinstance(p, str) for k, p in seen if k == "note")
    kinds = [k for k, _ in seen if k != "note"]
    assert kinds[0] == "start" and kinds[-1] == "finish"
    # One bar per start … finish: the day's is the last (a first day on a world without cached
    # neighbour lists shows the nearest-track search's bar before it).
    bars = []
    for k, p in seen:
        if k == "start":
            bars.append(0)
        elif k == "advance":
            bars[-1] += p
    assert bars[-1] == 400 and kinds.count("start") == kinds.count("finish") == len(bars)


class Interrupting:
    """Raises KeyboardInterrupt from inside recommend_next on its 50th call."""

    def __init__(self, tracks: int) -> None:
        self.tracks = tracks
        self.calls = 0

    def recommend_next(self, user: int, prev_track: int, prev_track_time: float) -> int:
        self.calls += 1
        if self.calls == 50:
            raise KeyboardInterrupt
        return (prev_track + 1) % self.tracks


def test_a_keyboard_interrupt_inside_a_recommender_stops_the_run(world):
    rec = Interrupting(world.n_tracks)
    with pytest.raises(KeyboardInterrupt, match="simulation interrupted"):
        botify.simulate(world, {"C": rec, "T1": "sticky_artist"}, episodes=50_000, seed=3)
    # Not called again once interrupted: the run stopped instead of counting failures.
    assert rec.calls == 50


def test_ctrl_c_stops_a_simulation_with_a_slow_python_recommender_within_a_second(world, tmp_path):
    import signal
    import sys
    import time

    script = tmp_path / "slow.py"
    script.write_text(
        "import signal, sys, time, botify\n"
        # A shell that starts jobs in the background may hand SIGINT down ignored, and Python
        # then installs no KeyboardInterrupt handler: put it back, as an interactive run has it.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "w = botify.World.load(sys.argv[1])\n"
        "class Slow:\n"
        "    def recommend_next(self, user, prev_track, prev_track_time):\n"
        "        time.sleep(0.05)\n"
        "        return (prev_track + 1) % w.n_tracks\n"
        "print('started', flush=True)\n"
        "try:\n"
        "    botify.simulate(w, {'C': Slow(), 'T1': 'random'}, episodes=100_000)\n"
        "except KeyboardInterrupt as e:\n"
        "    print('interrupted:', e, flush=True)\n"
        "    sys.exit(130)\n"
    )
    p = subprocess.Popen(
        [sys.executable, str(script), str(world.dir)], stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.5)  # well into the run
    assert p.poll() is None
    t = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        code = p.wait(timeout=10)
    finally:
        p.kill()
    elapsed = time.monotonic() - t
    out = p.stdout.read()
    assert code == 130, out
    assert "interrupted" in out
    assert elapsed < 1.0, f"stopped {elapsed:.2f}s after Ctrl-C"


def test_one_recommender_serves_everyone(world):
    class Next:
        def recommend_next(self, user: int, prev_track: int, prev_track_time: float) -> int:
            return (prev_track + 1) % len(world.tracks)

    result = botify.simulate(world, {"C": Next()}, episodes=300, seed=3, log_dir=False)
    assert result.summary()["sessions"].sum() == 300
