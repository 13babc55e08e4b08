import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import botify


def test_generate_writes_the_same_bytes_as_the_cli(world, cli, tmp_path):
    out = tmp_path / "cli"
    subprocess.run(
        [cli, "world", "generate", "--out", str(out), "--tracks", "2000", "--users", "400",
         "--dim", "16", "--seed", "7"],
        check=True, capture_output=True,
    )
    for name in ["tracks.json", "tracks.npy", "users.json"]:
        assert (out / name).read_bytes() == (world.dir / name).read_bytes(), name


def test_config_dict_and_keywords(tmp_path):
    w = botify.World.generate(tmp_path / "w", config={"tracks": 900, "users": 50, "dim": 8,
                                                      "genres": 5}, users=60, seed=3)
    assert (w.n_tracks, w.n_users, w.dim) == (900, 60, 8)
    assert w.tracks["genre"].nunique() <= 5


def test_load_round_trip(world):
    again = botify.World.load(world.dir)
    assert (again.n_tracks, again.n_users, again.dim) == (2000, 400, 16)
    pd.testing.assert_frame_equal(again.tracks, world.tracks)
    t = world.tracks
    assert list(t.columns) == ["track", "artist", "title", "genre", "year", "duration", "mood", "pop"]
    assert t["track"].tolist() == list(range(2000))
    u = world.users
    assert len(u) == 400 and all(len(i) >= 1 for i in u["interests"])
    assert all(int(x) < 2000 for i in u["interests"] for x in i)


def test_embeddings_are_mapped_from_the_file(world):
    e = world.embeddings
    assert isinstance(e, np.memmap) and e.shape == (2000, 16) and e.dtype == np.float32
    np.testing.assert_array_equal(e, np.load(world.dir / "tracks.npy"))
    with pytest.raises(ValueError):
        e[0, 0] = 1.0  # read-only


def test_stats(world):
    s = world.stats()
    assert s["tracks"] == 2000 and s["users"] == 400 and s["dim"] == 16


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tracks": 0}, "tracks"),
        ({"config": {"no_such_parameter": 1}}, "no_such_parameter"),
        ({"config": "/nonexistent/params.toml"}, "/nonexistent/params.toml"),
    ],
)
def test_bad_generator_arguments_raise_clear_errors(tmp_path, kwargs, message):
    with pytest.raises(botify.BotifyError, match=message):
        botify.World.generate(tmp_path / "w", **kwargs)


def test_loading_a_missing_or_broken_world_names_the_file(tmp_path):
    with pytest.raises(botify.BotifyError, match="tracks.json"):
        botify.World.load(tmp_path)
    (tmp_path / "tracks.json").write_text('{"track": 0, "artist": "a"\n')
    with pytest.raises(botify.BotifyError, match="tracks.json"):
        botify.World.load(tmp_path)


def test_a_negative_size_is_an_error_that_names_the_argument(tmp_path):
    with pytest.raises(botify.BotifyError, match="tracks must be a non-negative integer, got -5"):
        botify.World.generate(tmp_path / "w", tracks=-5)
    with pytest.raises(botify.BotifyError, match="seed"):
        botify.World.generate(tmp_path / "w", seed=-1)


def test_the_course_file_format_loads_and_simulates(tmp_path):
    # The course's files: tracks with artist/title only, users with their four fields, and an
    # embedding matrix (LightFM-like: not unit norm) saved by numpy.
    import json

    rng = np.random.default_rng(0)
    artists = [f"Artist {i}" for i in range(40)]
    with open(tmp_path / "tracks.json", "w") as f:
        for t in range(600):
            f.write(json.dumps({"artist": artists[t % 40], "title": f"Song {t}", "track": t}) + "\n")
    with open(tmp_path / "users.json", "w") as f:
        for u in range(50):
            f.write(json.dumps({"user": u, "interests": rng.integers(0, 600, 3).tolist(),
                                "consume_bias": float(rng.uniform(0, 10)),
                                "consume_sharpness": float(rng.uniform(0.5, 2))}) + "\n")
    np.save(tmp_path / "tracks.npy", rng.uniform(-0.6, 0.6, (600, 20)).astype(np.float32))
    w = botify.World.load(tmp_path)
    assert (w.n_tracks, w.n_users, w.dim) == (600, 50, 20)
    assert w.tracks["genre"].eq("").all() and (w.tracks["year"] == -1).all()
    r = botify.simulate(w, {"C": "sticky_artist", "T1": "random"}, episodes=200, log_dir=False)
    assert len(r.episodes) == 200
