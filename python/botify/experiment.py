"""The whole loop from a plan, as ``botify experiment run`` does it: make a world, collect a day
of traffic, train the plan's models, deploy them, A/B-test them against StickyArtist for a day and
report (``report.md``, ``report.html``, ``results.json`` in the run directory)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import pandas as pd

from . import _botify
from ._progress import ProgressArg, reporter
from ._redis import _node_urls

__all__ = ["Run", "run", "default_plan"]


def default_plan() -> str:
    """The built-in plan as TOML (``botify experiment default``): a start for your own."""
    return _botify.default_plan()


class Run:
    """A finished run."""

    def __init__(self, raw: Dict[str, Any]) -> None:
        #: The run directory (plan, world, event log, models, reports).
        self.dir: Path = Path(raw["dir"])
        #: ``results.json`` as a dict.
        self.results: Dict[str, Any] = json.loads(raw["results"])
        report = json.loads(raw["report"])
        #: The A/B table, one row per (treatment, metric); the report in ``ab.attrs["report"]``.
        self.ab: pd.DataFrame = pd.DataFrame(report["rows"])
        self.ab.attrs["report"] = report

    @property
    def report_html(self) -> Path:
        return self.dir / "report.html"

    def __repr__(self) -> str:
        return f"Run({str(self.dir)!r})"


def run(
    plan: Union[str, "os.PathLike[str]", None] = None,
    *,
    dir: Union[str, "os.PathLike[str]", None] = None,
    in_process: bool = False,
    redis: Optional[str] = None,
    redis_cluster: Optional[Sequence[str]] = None,
    progress: ProgressArg = True,
) -> Run:
    """Runs ``plan`` — a plan file, plan TOML text, or None for the built-in plan — through the
    real service on a loopback port (``in_process=True``: without HTTP, reproducible to the bit
    but for latencies). ``dir`` is the run directory (default ``runs/<plan>-<time>``). Progress
    shows as tqdm bars (in notebooks too); Ctrl-C stops the run before its next stage.
    ``redis`` (a URL) or ``redis_cluster`` (node URLs, a list or one comma-separated string) keep
    the service's state in Redis."""
    text, file = None, None
    if plan is not None:
        if isinstance(plan, os.PathLike) or (isinstance(plan, str) and os.path.isfile(plan)):
            file = os.fspath(plan)
        else:
            text = str(plan)
    raw = _botify.run_plan(
        text,
        file,
        dir=None if dir is None else os.fspath(dir),
        in_process=in_process,
        redis=redis,
        redis_cluster=_node_urls(redis_cluster),
        progress=reporter(progress),
    )
    return Run(raw)
