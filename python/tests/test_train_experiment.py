import re

import numpy as np
import pytest

import botify
import botify.experiment
import botify.train


@pytest.fixture(scope="module")
def log(world):
    return botify.simulate(world, {"C": "random", "T1": "sticky_artist"}, episodes=4_000,
                           seed=9).log_dir


def test_trainers_write_the_service_files_and_report(world, log, tmp_path):
    als = botify.train.als(log, tmp_path / "als.jsonl", factors=8, iterations=3)
    assert als.file.exists() and als.metrics is not None and 0 <= als.metrics["precision"] <= 1
    assert len(als.curve) == 3 and list(als.curve["step"]) == [1, 2, 3]
    lists = als.lists
    assert lists and all(isinstance(v, np.ndarray) for v in lists.values())
    assert all(((v >= 0) & (v < world.n_tracks)).all() for v in lists.values())
    i2i = botify.train.i2i(log, tmp_path / "i2i.jsonl", holdout=0)
    assert i2i.metrics is None and i2i.lists
    i2v = botify.train.item2vec(log, tmp_path / "item2vec.jsonl", dim=16, epochs=3)
    assert len(i2v.curve) == 3 and 0 <= i2v.metrics["recall"] <= 1 and i2v.lists
    sas = botify.train.sasrec(log, tmp_path / "sasrec.jsonl", dim=8, blocks=1, epochs=2, negatives=32)
    assert len(sas.curve) == 2 and 0 <= sas.metrics["recall"] <= 1 and sas.lists
    ease = botify.train.ease(log, tmp_path / "ease.jsonl", l2=20.0, max_items=500)
    assert ease.metrics["precision"] > 0 and ease.lists
    ips = botify.train.ips(log, tmp_path / "ips.jsonl", factors=8, iterations=3, max_weight=5.0)
    assert len(ips.curve) == 3 and ips.metrics["precision"] > 0 and ips.lists
    gcn = botify.train.lightgcn(log, tmp_path / "gcn.jsonl", dim=8, layers=2, epochs=3, batch=512)
    assert len(gcn.curve) == 3 and gcn.curve["train_loss"].iloc[-1] < gcn.curve["train_loss"].iloc[0]
    # DPP spreads ALS's lists over artists: every list keeps its tracks, and its first ten hold
    # at least as many artists as ALS's.
    spread = botify.train.dpp(log, tmp_path / "dpp.jsonl", candidates=als.file,
                              catalog=world.dir / "tracks.json", theta=0.5)
    assert spread.candidates_metrics is not None
    artist = dict(zip(world.tracks["track"], world.tracks["artist"]))
    artists = {"als": 0, "dpp": 0}
    for user, ranked in spread.lists.items():
        assert sorted(ranked) == sorted(lists[user]), user
        artists["dpp"] += len({artist[t] for t in ranked[:10]})
        artists["als"] += len({artist[t] for t in lists[user][:10]})
    assert artists["dpp"] >= artists["als"], artists
    # Artist taste vectors: one row per artist with tracks by that artist, served by session_taste.
    taste = botify.train.taste(log, tmp_path / "taste.jsonl", catalog=world.dir / "tracks.json",
                               dim=8, epochs=2, min_count=1)
    assert len(taste.curve) == 2
    tastes = botify.train.read_tastes(taste.file)
    assert len(tastes) > 10 and all(len(v) == 8 for v in tastes["vector"])
    assert all(len({artist[t] for t in ts}) == 1 and artist[ts[0]] == a
               for a, ts in zip(tastes["artist"], tastes["tracks"]))
    assert ((tastes[["repeat", "typical"]] >= 0) & (tastes[["repeat", "typical"]] <= 1)).all().all()
    with pytest.raises(botify.BotifyError, match="read_tastes"):
        taste.lists
    # The memory: each user's long listens by the artist their session opened on.
    memory = botify.train.memory(log, tmp_path / "memory.jsonl", catalog=world.dir / "tracks.json")
    remembered = botify.train.read_memory(memory.file)
    assert len(remembered) > 10 and (remembered["time"] >= 0.5).all()
    assert remembered.groupby(["user", "artist"])["time"].is_monotonic_decreasing.all()
    with pytest.raises(botify.BotifyError, match="read_memory"):
        memory.lists
    # Openers: for each track, the tracks its listeners also opened sessions on; every listed
    # pair was opened by at least `min_count` listeners.
    openers = botify.train.i2i(log, tmp_path / "openers.jsonl", mode="openers", min_count=2, k=6,
                               holdout=0)
    events = botify.read_log(log)
    first = events["message"].shift(1, fill_value="last").eq("last") | events["user"].ne(
        events["user"].shift(1))
    opened = events[first].groupby("user")["track"].agg(set)
    assert openers.lists and all(len(v) <= 6 for v in openers.lists.values())
    for track, listed in list(openers.lists.items())[:50]:
        for other in listed:
            both = sum(1 for s in opened if track in s and other in s)
            assert both >= 2, (track, other, both)
    served = botify.simulate(world, {"C": "random",
                                     "T1": {"type": "session_taste", "file": str(taste.file)},
                                     "T2": {"type": "session_taste", "file": str(taste.file),
                                            "openers": str(openers.file)}},
                             episodes=1_000, seed=1, log_dir=False).summary()
    assert served.loc["T1", "reward"] > served.loc["C", "reward"]
    assert served.loc["T2", "reward"] > served.loc["C", "reward"]
    top = botify.train.toppop(log, tmp_path / "top.json", k=20)
    assert len(top.lists[-1]) == 20
    # What was trained is served: a treatment reading the file beats nothing worse than random.
    r = botify.simulate(world, {"C": "random", "T1": {"type": "history_i2i", "file": str(i2i.file)}},
                        episodes=1_000, seed=1, log_dir=False)
    s = r.summary()
    assert s.loc["T1", "reward"] > s.loc["C", "reward"]


def test_trainer_arguments_are_checked(log, tmp_path):
    # The typed functions take their model's parameters only, as Python does for any function.
    with pytest.raises(TypeError, match="factorz"):
        botify.train.als(log, tmp_path / "a.jsonl", factorz=3)  # type: ignore[call-arg]
    # By name, the registry names what it knows.
    with pytest.raises(botify.BotifyError, match='no parameter "factorz".*factors'):
        botify.train.fit("als", log, tmp_path / "a.jsonl", factorz=3)
    with pytest.raises(botify.BotifyError, match="unknown model"):
        botify.train.fit("nope", log, tmp_path / "a.jsonl")
    with pytest.raises(botify.BotifyError, match="iterations 0 must be from 1"):
        botify.train.als(log, tmp_path / "a.jsonl", iterations=0)
    with pytest.raises(botify.BotifyError, match='no parameter "search"'):
        botify.train.fit("als", log, tmp_path / "a.jsonl", search=3)
    with pytest.raises(botify.BotifyError, match="candidates is required"):
        botify.train.fit("dpp", log, tmp_path / "a.jsonl")


def test_trainers_carry_their_parameters_defaults_and_help():
    import inspect

    sig = inspect.signature(botify.train.als)
    assert sig.parameters["factors"].default == 64
    assert sig.parameters["factors"].annotation in (int, "int")
    assert "Latent factors" in (botify.train.als.__doc__ or "")
    assert sig.parameters["seed"].default == botify._botify.DEFAULT_SEED
    assert inspect.signature(botify.train.difm).parameters["hidden"].default == (128, 64)


def small_plan() -> str:
    plan = botify.experiment.default_plan()
    plan = re.sub(r"(?m)^tracks = \d+", "tracks = 1500", plan)
    plan = re.sub(r"(?m)^users = \d+", "users = 300", plan)
    plan = re.sub(r"(?m)^dim = 64$", "dim = 16", plan, count=1)
    plan = re.sub(r"(?m)^episodes = \d+", "episodes = 1500", plan)
    plan = plan.replace('    "contextual",\n', "").replace('    "mf",\n', "")
    # Keep the treatments whose models are still trained.
    blocks = plan.split("[[ab.treatments]]")
    kept = [b for b in blocks[1:] if "i2i_nn" not in b and "mf.jsonl" not in b]
    return blocks[0] + "".join("[[ab.treatments]]" + b for b in kept)


def test_experiment_run_in_process(tmp_path):
    seen = []
    run = botify.experiment.run(small_plan(), dir=tmp_path / "run", in_process=True,
                                progress=lambda k, p: seen.append(k))
    assert (run.dir / "report.html").exists() and run.results
    assert set(run.ab["metric"]) >= {"mean_time_per_session"}
    assert "stage" in seen and "epoch" in seen
    with pytest.raises(botify.BotifyError, match="plan"):
        botify.experiment.run("this is not a plan", dir=tmp_path / "bad", in_process=True)


def test_the_homework_example_runs_end_to_end(cli, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "python" / "homework.py"
    out = subprocess.run(
        [sys.executable, str(script), "--tracks", "3000", "--users", "500", "--episodes", "3000",
         "--dir", str(tmp_path), "--botify", cli],
        check=True, capture_output=True, text=True,
    ).stdout
    assert "mean_time_per_session" in out and "served" in out
