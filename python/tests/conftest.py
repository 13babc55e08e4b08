"""Shared fixtures: small generated worlds (real files on disk) and the CLI binary."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import botify

ROOT = Path(__file__).resolve().parents[2]


class Counter:
    """A trivial Python recommender: the next track id."""

    def __init__(self, tracks: int) -> None:
        self.tracks = tracks
        self.calls = 0

    def recommend_next(self, user: int, prev_track: int, prev_track_time: float) -> int:
        self.calls += 1
        return (prev_track + 1) % self.tracks


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> botify.World:
    return botify.World.generate(
        tmp_path_factory.mktemp("world"), tracks=2_000, users=400, dim=16, seed=7
    )


@pytest.fixture(scope="session")
def cli() -> str:
    """The `botify` binary of this checkout (built by the test script; built here if absent)."""
    exe = os.environ.get("BOTIFY_BIN") or str(ROOT / "target" / "debug" / "botify")
    if not Path(exe).exists():
        subprocess.run(
            ["cargo", "build", "-q", "-p", "botify-cli"], cwd=ROOT, check=True
        )
    if not Path(exe).exists():
        found = shutil.which("botify")
        if found is None:
            pytest.fail(f"no botify binary at {exe}")
        exe = found
    return exe
