import json
import subprocess
import urllib.request

import pytest

import botify
from conftest import Counter


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def fallbacks(metrics: str, treatment: str) -> int:
    for line in metrics.splitlines():
        if line.startswith("botify_fallbacks_total{") and f'treatment="{treatment}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    raise AssertionError(f"no fallback counter for {treatment} in /metrics")


def test_python_recommender_served_over_http_to_botify_sim(world, cli):
    mine = Counter(world.n_tracks)
    with botify.serve(world, {"C": "sticky_artist", "T1": mine}) as server:
        assert server.url.startswith("http://127.0.0.1:")
        out = subprocess.run(
            [cli, "sim", "--world", str(world.dir), "--remote", server.url, "--episodes", "300",
             "--seed", "3"],
            check=True, capture_output=True, text=True,
        )
        assert mine.calls > 0, out.stderr
        answered, lines = server.stop()
    assert lines == answered > 0
    df = botify.read_log(server.log_dir)
    assert len(df) == lines
    t1 = df[(df["PY"] == "T1") & (df["message"] == "next")]
    # The Python object answered every T1 request: its answer is the next track id.
    assert ((t1["track"] + 1) % world.n_tracks == t1["recommendation"]).all()
    assert mine.calls == len(t1)
    table = botify.ab(server.log_dir, "PY")
    assert set(table["treatment"]) == {"T1"}


def test_live_dashboard_and_its_ab_equal_the_log(world, cli):
    mine = Counter(world.n_tracks)
    with botify.serve(world, {"C": "sticky_artist", "T1": mine},
                      dashboard="127.0.0.1:0") as server:
        assert server.dashboard_url.endswith("/dashboard")
        with urllib.request.urlopen(server.dashboard_url, timeout=10) as r:
            assert "<svg" in r.read().decode()
        with pytest.raises(botify.BotifyError, match="no event"):
            server.live_ab()
        subprocess.run(
            [cli, "sim", "--world", str(world.dir), "--remote", server.url, "--episodes", "400",
             "--seed", "5"],
            check=True, capture_output=True, text=True,
        )
        server.stop()
        live = server.live_ab()
        with pytest.raises(botify.BotifyError, match="NOPE"):
            server.live_ab("NOPE")
    table = botify.ab(server.log_dir, "PY", sequential=0.1)
    assert list(live["metric"]) == list(table["metric"])
    for col in ["effect", "lower", "upper", "p_adjusted"]:
        assert (live[col] - table[col]).abs().max() <= 1e-9, col
    # The live view names the arms by what they serve (the service's configuration); the log
    # alone cannot, so `botify.ab` has the same arms without it.
    named = live.attrs["report"]["treatments"]
    assert named[0]["recommender"] == "sticky_artist" and named[1]["recommender"].startswith("python")
    bare = [{k: v for k, v in t.items() if k != "recommender"} for t in named]
    assert bare == table.attrs["report"]["treatments"]
    assert botify.serve(world, {"C": "random", "T1": "random"}).dashboard_url is None
    with pytest.raises(botify.BotifyError, match="dashboard"):
        botify.serve(world, {"C": "random", "T1": "random"}, dashboard="nowhere")


def test_an_exception_is_a_fallback_answer_counted_in_metrics(world):
    class Broken:
        def recommend_next(self, user, prev_track, prev_track_time):
            raise RuntimeError("bug in student code")

    with botify.serve(world, {"C": Broken(), "T1": Broken()}) as server:
        for user in range(20):
            status, body = post(f"{server.url}/next/{user}", {"track": 5, "time": 0.5})
            assert status == 200 and body["user"] == user
            assert 0 <= body["track"] < world.n_tracks
        metrics = server.metrics()
        assert fallbacks(metrics, "C") + fallbacks(metrics, "T1") == 20
        count = sum(n for n, _ in server.failures().values())
        assert count == 20
        first = [m for _, m in server.failures().values() if m]
        assert "bug in student code" in first[0]


def test_experiments_file_with_named_python_recommenders(world, tmp_path):
    f = tmp_path / "experiments.toml"
    f.write_text(
        '[[experiment]]\nname = "HW"\nbuckets = 2\n'
        '[experiment.treatments]\nC = { type = "sticky_artist" }\n'
        'T1 = { type = "python", name = "mine", fallback = { type = "sticky_artist" } }\n'
    )
    mine = Counter(world.n_tracks)
    server = botify.serve(world, experiments_file=f, recommenders={"mine": mine},
                          log_dir=tmp_path / "log")
    try:
        for user in range(40):
            post(f"{server.url}/next/{user}", {"track": 7, "time": 1.0})
        assert 0 < mine.calls < 40
        assert "reloaded" in server.reload()
    finally:
        server.stop()
    assert not server.running and server.stop() is None


def test_serve_refuses_bad_arguments(world, tmp_path):
    with pytest.raises(botify.BotifyError, match="treatments"):
        botify.serve(world)
    with pytest.raises(botify.BotifyError, match="host"):
        botify.serve(world, {"C": "random", "T1": "random"}, host="localhost:80")
    f = tmp_path / "experiments.toml"
    f.write_text('[[experiment]]\nname = "HW"\nbuckets = 2\n[experiment.treatments]\n'
                 'C = { type = "python", name = "missing" }\nT1 = { type = "random" }\n')
    with pytest.raises(botify.BotifyError, match="missing"):
        botify.serve(world, experiments_file=f, recommenders={})
    with pytest.raises(TypeError, match="recommend_next"):
        botify.serve(world, experiments_file=f, recommenders={"missing": 3})
    with pytest.raises(botify.BotifyError, match="not both"):
        botify.serve(world, {"C": "random", "T1": "random"}, redis="redis://127.0.0.1:1",
                     redis_cluster=["redis://127.0.0.1:2"])
    with pytest.raises(botify.BotifyError, match="at least one node"):
        botify.serve(world, {"C": "random", "T1": "random"}, redis_cluster=" , ")
    with pytest.raises(botify.BotifyError, match="cannot connect to cluster"):
        botify.serve(world, {"C": "random", "T1": "random"}, redis_cluster="redis://127.0.0.1:1")


def test_a_slow_python_treatment_does_not_hold_up_the_others(world, cli):
    import threading
    import time

    class Slow:
        def recommend_next(self, user, prev_track, prev_track_time):
            time.sleep(0.5)
            return (prev_track + 1) % world.n_tracks

    assigned = subprocess.run(
        [cli, "assign", "PY", "--buckets", "2", *map(str, range(40))],
        check=True, capture_output=True, text=True,
    ).stdout.split("\n")
    by = {}
    for line in filter(None, assigned):
        user, treatment = line.split("\t")
        by.setdefault(treatment, []).append(int(user))
    with botify.serve(world, {"C": "sticky_artist", "T1": Slow()}) as server:
        slow = [
            threading.Thread(target=post, args=(f"{server.url}/next/{u}", {"track": 1, "time": 0.5}))
            for u in by["T1"][:6]
        ]
        for t in slow:
            t.start()
        time.sleep(0.1)  # the slow requests are in the Python recommender now
        worst = 0.0
        for u in by["C"][:10]:
            t0 = time.monotonic()
            status, _ = post(f"{server.url}/next/{u}", {"track": 1, "time": 0.5})
            worst = max(worst, time.monotonic() - t0)
            assert status == 200
        for t in slow:
            t.join()
        server.stop()
    # StickyArtist's answers do not wait for the Python treatment's 0.5 s ones.
    assert worst < 0.25, f"a StickyArtist request took {worst:.2f}s"
