"""The trainers of ``botify train``, on event logs, writing the files the service serves.

Each returns a :class:`Trained`: the files written, held-out metrics, the learning curve as a
DataFrame and the lists themselves as numpy arrays. ``fit(model, ...)`` takes any model by name;
the per-model functions take that model's parameters as keyword arguments (see docs/models.md)::

    r = botify.train.als(log_dir, "models/als.jsonl", factors=64, iterations=10)
    r.metrics["precision"], r.curve, r.lists
"""

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

__all__ = [
    "Trained",
    "fit",
    "toppop",
    "i2i",
    "ucf",
    "als",
    "mf",
    "ease",
    "ips",
    "lightgcn",
    "sasrec",
    "contextual",
    "item2vec",
    "taste",
    "dssm",
    "difm",
    "dpp",
    "read_lists",
    "read_tastes",
]

PathLike = Union[str, "os.PathLike[str]"]


def read_lists(path: PathLike) -> Dict[int, np.ndarray]:
    """A written model file as ``{user or track: array of track ids}`` (per-user lists
    ``{"user", "tracks"}``, per-track lists ``{"track", "recommendations"}``) or, for TopPop's
    JSON array, ``{-1: array}``."""
    p = Path(path)
    text = p.read_text()
    if text.lstrip().startswith("["):
        return {-1: np.asarray(json.loads(text), dtype=np.int64)}
    out: Dict[int, np.ndarray] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if "artist" in row:
            raise BotifyError(f"{p} holds artist taste vectors, not lists: read it with read_tastes")
        key = row.get("user", row.get("track"))
        tracks = row.get("tracks", row.get("recommendations", []))
        out[int(key)] = np.asarray(tracks, dtype=np.int64)
    return out


def read_tastes(path: PathLike) -> pd.DataFrame:
    """A ``taste`` model file as a DataFrame: one row per artist with its ``vector`` (numpy) and
    ``tracks`` (numpy, most listened first)."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return pd.DataFrame({
        "artist": [r["artist"] for r in rows],
        "vector": [np.asarray(r["vector"], dtype=np.float32) for r in rows],
        "tracks": [np.asarray(r["tracks"], dtype=np.int64) for r in rows],
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
    candidates: Optional[PathLike] = None,
    search: int = 0,
    holdout: float = 0.2,
    seed: int = _botify.DEFAULT_SEED,
    k: int = 100,
    threshold: float = _botify.DEFAULT_LIKED,
    eval_k: int = 10,
    progress: ProgressArg = False,
    **params: Any,
) -> Trained:
    """Trains ``model`` (toppop, i2i, ucf, als, mf, contextual, dssm, difm) on the logs and
    writes its output to ``out``, as ``botify train <model>`` does. ``params`` override the
    model's defaults (an unknown name is an error that lists the known ones); ``holdout`` is the
    share of listens, last by time, kept for the metrics; ``catalog`` is ``tracks.json`` for the
    models that use track metadata; ``candidates`` the lists DIFM re-ranks; ``search`` random-search
    trials for MF."""
    paths = [os.fspath(logs)] if isinstance(logs, (str, os.PathLike)) else [os.fspath(x) for x in logs]
    raw = _botify.train(
        model,
        paths,
        os.fspath(out),
        params=params or None,
        catalog=None if catalog is None else os.fspath(catalog),
        candidates=None if candidates is None else os.fspath(candidates),
        search=int(search),
        holdout=float(holdout),
        seed=int(seed),
        k=int(k),
        threshold=float(threshold),
        eval_k=int(eval_k),
        progress=reporter(progress),
    )
    return Trained(raw)


def _trainer(name: str, what: str):
    def train(logs: Union[PathLike, Iterable[PathLike]], out: PathLike, **kwargs: Any) -> Trained:
        return fit(name, logs, out, **kwargs)

    train.__name__ = name
    train.__qualname__ = name
    train.__doc__ = (
        f"Trains {what} on the logs and writes it to ``out``; keyword arguments as in "
        f":func:`fit` (the model's parameters among them)."
    )
    return train


toppop = _trainer("toppop", "TopPop (top tracks by total listen time)")
i2i = _trainer("i2i", "item-to-item neighbours from sessions")
ucf = _trainer("ucf", "user-based collaborative filtering")
als = _trainer("als", "implicit ALS")
mf = _trainer("mf", "matrix factorisation (WARP/BPR, LightFM-style)")
contextual = _trainer("contextual", "the neural contextual item-to-item model")
ips = _trainer("ips", "IPS-debiased matrix factorisation (likes weighted by inverse exposure propensities)")
lightgcn = _trainer("lightgcn", "LightGCN (BPR on the user-track graph of likes)")
sasrec = _trainer("sasrec", "SASRec (causal self-attention over sessions; per-track next-track lists)")
ease = _trainer("ease", "EASE (closed-form item-item weights over the most-liked tracks)")
item2vec = _trainer("item2vec", "item2vec (skip-gram with negative sampling over sessions)")
taste = _trainer("taste", "artist taste vectors against the session's first track (served by session_taste; needs catalog=)")
dssm = _trainer("dssm", "the two-tower DSSM")
difm = _trainer("difm", "DIFM re-ranking of candidate lists")
dpp = _trainer("dpp", "DPP diversity re-ranking of per-user or per-track lists (by artist and genre)")
