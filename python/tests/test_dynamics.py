"""Listener dynamics from Python: docs/dynamics.md's example runs as written (on a smaller world),
and per-user sessions follow recommendation quality."""

import re
from pathlib import Path

import pytest

import botify

DOC = Path(__file__).resolve().parents[2] / "docs" / "dynamics.md"


def test_the_docs_example_moves_sessions_per_user(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    code = code.replace("tracks=20_000, users=4_000", "tracks=3_000, users=600, dim=16")
    code = code.replace("episodes=8_000", "episodes=1_200")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "docs/dynamics.md", "exec"), scope)
    w, res = scope["w"], scope["res"]
    assert w.dynamics["returns"] == 2.0 and w.dynamics["taste_pull"] == 0.0
    sessions = res.ab().set_index("metric").loc["sessions"]
    # Random loses listeners' visits against StickyArtist: the interval lies below 0.
    assert sessions["upper"] < 0, sessions


def test_bad_dynamics_name_the_parameter(tmp_path):
    with pytest.raises(botify.BotifyError, match="drift"):
        botify.World.generate(tmp_path / "w", tracks=500, users=20, dynamics={"drift": 2.0})
    with pytest.raises(botify.BotifyError, match="retuns"):
        botify.World.generate(tmp_path / "w", tracks=500, users=20, dynamics={"retuns": 1.0})


def test_a_world_without_dynamics_has_them_all_off(world):
    assert set(world.dynamics) >= {"returns", "drift", "taste_pull", "boredom", "genre_boredom"}
    assert all(v == 0.0 for k, v in world.dynamics.items() if "half_life" not in k)
