"""The course's own Python modules beside this package (both are named `botify`): the recipe of
docs/python.md loads a course-layout package under another name, and the course's Sequential —
written out as the course has it — runs under `botify.simulate` side by side with the built-in
`sequential`, on the same lists, giving the same sessions."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import botify

# The course's files as its repository lays them out (botify/botify/recommenders/...), with the
# Sequential of its seminar: index 0 for a track not on the list, wrapping past the end.
COURSE_FILES = {
    "__init__.py": "",
    "recommenders/__init__.py": "",
    "recommenders/recommender.py": """
        from abc import ABC, abstractmethod

        class Recommender(ABC):
            @abstractmethod
            def recommend_next(self, user: int, prev_track: int, prev_track_time: float) -> int:
                raise NotImplementedError()
        """,
    "recommenders/sequential.py": """
        from typing import List

        from .recommender import Recommender

        class Sequential(Recommender):
            def __init__(self, recommendations_redis, catalog, fallback):
                self.recommendations_redis = recommendations_redis
                self.fallback = fallback
                self.catalog = catalog

            def recommend_next(self, user: int, prev_track: int, prev_track_time: float) -> int:
                recommendations = self.recommendations_redis.get(user)
                if recommendations is not None:
                    recommendations = list(self.catalog.from_bytes(recommendations))
                    next_rec_index = self.get_track_index(prev_track, recommendations)
                    return recommendations[(next_rec_index + 1) % len(recommendations)]
                else:
                    return self.fallback.recommend_next(user, prev_track, prev_track_time)

            def get_track_index(self, track: int, recommendations: List[int]) -> int:
                for ix, recommendation in enumerate(recommendations):
                    if recommendation == track:
                        return ix
                return 0
        """,
}


def load_course_package(package_dir: Path, name: str = "course_botify"):
    """The recipe of docs/python.md: import the course's `botify` package as `name`."""
    spec = importlib.util.spec_from_file_location(
        name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Store:
    """What the course's code asks of its Redis connection and catalog: `get` and `from_bytes`."""

    def __init__(self, lists):
        self.lists = lists

    def get(self, user):
        return json.dumps(self.lists[user]).encode() if user in self.lists else None

    @staticmethod
    def from_bytes(data):
        return json.loads(data)


def test_the_courses_sequential_and_ours_walk_the_same_sessions(world, tmp_path):
    package = tmp_path / "course" / "botify" / "botify"
    for rel, text in COURSE_FILES.items():
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_text(textwrap.dedent(text))
    course = load_course_package(package)
    assert course.__name__ == "course_botify" and botify.simulate  # both importable side by side
    sequential = importlib.import_module("course_botify.recommenders.sequential")

    # Every user has a list (some of one track), so neither side needs its fallback.
    n_tracks = world.n_tracks
    lists = {u: [(u * 31 + 7 * j) % n_tracks for j in range(1 + u % 9)] for u in range(world.n_users)}
    file = tmp_path / "lists.jsonl"
    file.write_text("".join(json.dumps({"user": u, "tracks": t}) + "\n" for u, t in lists.items()))
    store = Store(lists)
    theirs = sequential.Sequential(store, store, fallback=None)

    run = dict(episodes=600, seed=3, log_dir=False)
    a = botify.simulate(world, {"C": theirs}, **run).episodes
    b = botify.simulate(world, {"C": {"type": "sequential", "file": str(file)}}, **run).episodes
    assert len(a) == 600
    assert a["reward"].tolist() == b["reward"].tolist()
    assert a["steps"].tolist() == b["steps"].tolist()
    # `walk = "once"` is a different rule (best first, no wrap): its sessions differ.
    c = botify.simulate(
        world, {"C": {"type": "sequential", "file": str(file), "walk": "once",
                      "fallback": {"type": "random"}}}, **run).episodes
    assert c["reward"].tolist() != a["reward"].tolist()
