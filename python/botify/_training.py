"""What every trainer shares: :func:`fit` by model name, the :class:`Trained` it returns and
the readers of list files (see :mod:`botify.train`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union

import numpy as np
import pandas as pd

from . import _botify
from ._botify import BotifyError
from ._progress import ProgressArg, reporter

__all__ = ["PathLike", "Trained", "fit", "read_lists", "read_memory", "read_tastes"]

PathLike = Union[str, "os.PathLike[str]"]


def _json_lines(text: str) -> List[Any]:
    """The objects of a JSON-lines text, blank lines skipped."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_lists(path: PathLike) -> Dict[int, np.ndarray]:
    """A written model file as ``{user or track: array of track ids}`` (per-user lists
    ``{"user", "tracks"}``, per-track lists ``{"track", "recommendations"}``) or, for TopPop's
    JSON array, ``{-1: array}``."""
    p = Path(path)
    text = p.read_text()
    if text.lstrip().startswith("["):
        return {-1: np.asarray(json.loads(text), dtype=np.int64)}
    out: Dict[int, np.ndarray] = {}
    for row in _json_lines(text):
        if "times" in row:
            raise BotifyError(f"{p} holds users' memories, not lists: read it with read_memory")
        if "artist" in row:
            raise BotifyError(f"{p} holds artist taste vectors, not lists: read it with read_tastes")
        key = row.get("user", row.get("track"))
        tracks = row.get("tracks", row.get("recommendations", []))
        out[int(key)] = np.asarray(tracks, dtype=np.int64)
    return out


def read_tastes(path: PathLike) -> pd.DataFrame:
    """A ``taste`` model file as a DataFrame: one row per artist with its ``vector`` (numpy),
    ``tracks`` (numpy, most listened first), ``repeat`` (the mean time of a second play of the
    artist in the sessions opened on it) and ``typical`` (the mean time of every later listen in
    those sessions); NaN in files written before they existed."""
    rows = _json_lines(Path(path).read_text())
    return pd.DataFrame({
        "artist": [r["artist"] for r in rows],
        "vector": [np.asarray(r["vector"], dtype=np.float32) for r in rows],
        "tracks": [np.asarray(r["tracks"], dtype=np.int64) for r in rows],
        "repeat": np.asarray([r.get("repeat", np.nan) for r in rows], dtype=np.float64),
        "typical": np.asarray([r.get("typical", np.nan) for r in rows], dtype=np.float64),
    })


def read_memory(path: PathLike) -> pd.DataFrame:
    """A ``memory`` model file as a DataFrame: one row per remembered track, with the ``user``,
    the ``artist`` their sessions opened on, the ``track`` and its mean ``time`` there (each
    user and artist's tracks longest first)."""
    rows = _json_lines(Path(path).read_text())
    return pd.DataFrame({
        "user": np.asarray([r["user"] for r in rows for _ in r["tracks"]], dtype=np.int64),
        "artist": [r["artist"] for r in rows for _ in r["tracks"]],
        "track": np.asarray([t for r in rows for t in r["tracks"]], dtype=np.int64),
        "time": np.asarray([x for r in rows for x in r["times"]], dtype=np.float64),
    })


class Trained:
    """What a trainer produced."""

    def __init__(self, raw: Dict[str, Any]) -> None:
        self.model: str = raw["model"]
        #: Every file written, the service's file first.
        self.files: List[Path] = [Path(f) for f in raw["files"]]
        #: e.g. ``lists of 9,000 users``.
        self.written: str = raw["written"]
        #: Held-out precision/recall/MRR/nDCG@k and coverage (None without a holdout).
        self.metrics: Optional[Dict[str, float]] = raw["metrics"]
        self.candidates_metrics: Optional[Dict[str, float]] = raw["candidates_metrics"]
        self.training_seconds: float = raw["training_seconds"]
        self.events: int = raw["events"]
        metric = raw["curve_metric"] or "metric"
        #: One row per epoch or iteration.
        self.curve: pd.DataFrame = pd.DataFrame(
            raw["curve"],
            columns=["step", "train_loss", "validation_loss", metric, "train_" + metric, "seconds"],
        )

    @property
    def file(self) -> Path:
        """The file the service reads."""
        return self.files[0]

    @property
    def lists(self) -> Dict[int, np.ndarray]:
        """The written lists as numpy arrays (see :func:`read_lists`)."""
        return read_lists(self.file)

    def __repr__(self) -> str:
        return f"Trained({self.model}: {self.written} -> {str(self.file)!r})"


def fit(
    model: str,
    logs: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    catalog: Optional[PathLike] = None,
    holdout: float = _botify.DEFAULT_HOLDOUT,
    seed: int = _botify.DEFAULT_SEED,
    k: int = _botify.DEFAULT_K,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = _botify.DEFAULT_EVAL_K,
    progress: ProgressArg = False,
    **params: Any,
) -> Trained:
    """Trains ``model`` (any name of the registry: see docs/parameters.md) on the logs and writes
    its output to ``out``, as ``botify train <model>`` does. ``params`` override the model's
    defaults (an unknown name is an error that lists the known ones; a re-ranker's
    ``candidates`` and MF's ``search`` are among them); ``holdout`` is the share of listens, last
    by time, kept for the metrics; ``catalog`` is ``tracks.json`` for the models that use track
    metadata; ``k`` is the length of the written lists and ``threshold`` the listen time from
    which a listen is liked."""
    paths = [os.fspath(logs)] if isinstance(logs, (str, os.PathLike)) else [os.fspath(x) for x in logs]
    # Paths as strings; the rest (tuples included) crosses as JSON.
    given = {name: os.fspath(v) if isinstance(v, os.PathLike) else v for name, v in params.items()}
    raw = _botify.train(
        model,
        paths,
        os.fspath(out),
        params=given or None,
        catalog=None if catalog is None else os.fspath(catalog),
        holdout=float(holdout),
        seed=int(seed),
        k=int(k),
        threshold=float(threshold),
        eval_k=int(eval_k),
        progress=reporter(progress),
    )
    return Trained(raw)
