"""Botify from Python: worlds, the listener simulator, the recommendation service, A/B reports
and trainers, over the same Rust core as the ``botify`` command.

Write a recommender the way the course does, A/B-test it against StickyArtist, read the table::

    import botify

    class Mine:
        def __init__(self, world):
            self.artist_tracks = world.tracks.groupby("artist")["track"].apply(list).to_dict()
            self.artist = world.tracks["artist"].to_numpy()
        def recommend_next(self, user, prev_track, prev_track_time):
            same = self.artist_tracks[self.artist[prev_track]]
            return same[(user + prev_track) % len(same)]

    world = botify.World.generate("world", tracks=5_000, users=1_000, seed=1)
    result = botify.simulate(world, {"C": "sticky_artist", "T1": Mine(world)}, episodes=20_000)
    print(result.ab()[["treatment", "metric", "effect", "lower", "upper", "p_adjusted"]])

Modules: :mod:`botify.gym` (Gymnasium environments), :mod:`botify.train` (the trainers),
:mod:`botify.experiment` (the whole loop from a plan).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from . import _botify
from ._botify import BotifyError, __version__
from ._frame import arrays, frame
from ._progress import ProgressArg, reporter
from ._redis import _node_urls

__all__ = [
    "BotifyError",
    "World",
    "SimResult",
    "Server",
    "simulate",
    "serve",
    "read_log",
    "export_parquet",
    "ab",
    "ope",
    "__version__",
]

PathLike = Union[str, "os.PathLike[str]"]
#: A recommender: a built-in name (``"sticky_artist"``, ``"random"``), an inline spec (text or a
#: dict such as ``{"type": "indexed", "file": "recs.jsonl"}``), or any object with
#: ``recommend_next(user, prev_track, prev_track_time) -> int``.
RecommenderArg = Any


def _paths(p: Union[PathLike, Iterable[PathLike]]) -> List[str]:
    if isinstance(p, (str, os.PathLike)):
        return [os.fspath(p)]
    return [os.fspath(x) for x in p]


_TEMPORARIES: List[Path] = []


def _remove_temporaries() -> None:
    for d in _TEMPORARIES:
        shutil.rmtree(d, ignore_errors=True)


def _temporary(prefix: str) -> Path:
    """A new temporary directory, removed when the interpreter exits (a simulated day's log is
    tens of megabytes; a notebook makes many)."""
    if not _TEMPORARIES:
        atexit.register(_remove_temporaries)
    d = Path(tempfile.mkdtemp(prefix=prefix))
    _TEMPORARIES.append(d)
    return d


class World:
    """A world: a catalogue of tracks, their hidden embeddings and hidden listeners, stored as
    ``tracks.json``, ``tracks.npy`` and ``users.json`` in :attr:`dir`.

    Make one with :meth:`generate` or read one (ours or the course's files) with :meth:`load`.
    """

    def __init__(self, native: "_botify.World") -> None:
        self._native = native
        self._tracks: Optional[pd.DataFrame] = None
        self._users: Optional[pd.DataFrame] = None

    @classmethod
    def generate(
        cls,
        out: PathLike,
        *,
        tracks: Optional[int] = None,
        users: Optional[int] = None,
        dim: Optional[int] = None,
        seed: Optional[int] = None,
        genres: Optional[int] = None,
        config: Union[PathLike, Mapping[str, Any], None] = None,
        dynamics: Optional[Mapping[str, float]] = None,
        progress: ProgressArg = False,
    ) -> "World":
        """Generates a world into directory ``out``: the same bytes as
        ``botify world generate --out OUT`` with the same parameters, on any machine.

        ``config`` is a TOML file or a dict of any generator parameter (see docs/world.md);
        the keyword arguments given win over it. Defaults: 50,000 tracks, 10,000 users, dim 64,
        seed 31337.

        ``dynamics`` switches on listener dynamics beyond the course's model (docs/dynamics.md),
        e.g. ``{"returns": 2.0, "drift": 0.02, "boredom": 0.1}``: listeners who come back when
        satisfied, whose interests drift and who tire of repeated artists. All are off by
        default, and a world without them is the course's, byte for byte.
        """
        for name, value in [("tracks", tracks), ("users", users), ("dim", dim), ("seed", seed),
                            ("genres", genres)]:
            if value is not None and (not isinstance(value, (int, np.integer)) or value < 0):
                raise BotifyError(f"{name} must be a non-negative integer, got {value!r}")
        cfg = os.fspath(config) if isinstance(config, (str, os.PathLike)) else config
        native = _botify.World.generate(
            os.fspath(out),
            tracks=tracks,
            users=users,
            dim=dim,
            seed=seed,
            genres=genres,
            config=cfg,
            dynamics=None if dynamics is None else dict(dynamics),
            progress=reporter(progress),
        )
        return cls(native)

    @classmethod
    def load(cls, dir: PathLike) -> "World":
        """Loads and validates a world directory (ours, or the course's files)."""
        return cls(_botify.World.load(os.fspath(dir)))

    @property
    def dir(self) -> Path:
        """The directory holding the world's files."""
        return Path(self._native.dir)

    @property
    def n_tracks(self) -> int:
        return self._native.n_tracks

    @property
    def n_users(self) -> int:
        return self._native.n_users

    @property
    def dim(self) -> int:
        """Size of the hidden track embeddings."""
        return self._native.dim

    @property
    def dynamics(self) -> Dict[str, float]:
        """The listeners' dynamics (docs/dynamics.md): every value 0 for the course's model."""
        return self._native.dynamics

    @property
    def tracks(self) -> pd.DataFrame:
        """The catalogue: track, artist, title, genre, year (-1: unknown), duration, mood, pop."""
        if self._tracks is None:
            self._tracks = frame(self._native._tracks_columns())
        return self._tracks

    @property
    def users(self) -> pd.DataFrame:
        """The hidden listeners: user, interests (an array of track ids), consume_bias,
        consume_sharpness, interest_neighbours, session_budget."""
        if self._users is None:
            cols, nested = self._native._users_columns()
            df = frame(cols)
            parts = arrays(nested)
            offsets, interests = parts["offsets"], parts["interests"]
            df.insert(
                1,
                "interests",
                [interests[offsets[i] : offsets[i + 1]] for i in range(len(df))],
            )
            self._users = df
        return self._users

    @property
    def embeddings(self) -> np.ndarray:
        """The hidden track embeddings, ``float32 [n_tracks, dim]``, mapped read-only from
        ``tracks.npy`` (not copied into memory)."""
        return np.load(self._native.embeddings_file, mmap_mode="r")

    def stats(self) -> Dict[str, Any]:
        """Counts, popularity curve, artist sizes, embedding norms (``botify world stats``)."""
        return self._native.stats()

    def __repr__(self) -> str:
        return repr(self._native)


def _native_world(world: Union[World, PathLike]) -> Any:
    if isinstance(world, World):
        return world._native
    if isinstance(world, (str, os.PathLike)):
        return os.fspath(world)
    raise TypeError(f"world is a botify.World or a world directory, not {type(world).__name__}")


def _warn_failures(failures: Mapping[str, Any]) -> None:
    for name, (count, first) in failures.items():
        if count:
            warnings.warn(
                f"{name}: {count} recommend_next calls failed and the fallback answered; "
                f"the first: {first}",
                RuntimeWarning,
                stacklevel=3,
            )


class SimResult:
    """What :func:`simulate` returns."""

    def __init__(self, raw: Dict[str, Any], log_dir: Optional[Path], experiment: str) -> None:
        names = list(raw["treatments"])
        df = frame(raw["episodes"])
        bucket = df.pop("bucket").to_numpy()
        df.insert(
            3,
            "treatment",
            pd.Categorical.from_codes(bucket.astype(np.int32), categories=names),
        )
        #: One row per session: day, episode, user, treatment, reward (sum of listen times),
        #: steps (recommendations).
        self.episodes: pd.DataFrame = df
        #: The event log, in the service's format (None when not written).
        self.log_dir: Optional[Path] = log_dir
        #: The routing experiment's name in the log.
        self.experiment: str = experiment
        #: Python recommenders' failures: ``{treatment: (count, first message)}``.
        self.failures: Dict[str, Any] = dict(raw["failures"])
        #: Wall time and recommendations made.
        self.seconds: float = raw["seconds"]
        self.steps: int = raw["steps"]
        #: Per simulated day: sessions, steps and seconds (the first day of a call also finds
        #: the exact nearest tracks of its sessions' interests; later days reuse them).
        self.days: pd.DataFrame = pd.DataFrame(
            raw["days"], columns=["day", "sessions", "steps", "seconds"]
        )

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> pd.DataFrame:
        """Sessions, mean reward (listen time per session) with its standard error, and mean
        steps, per treatment."""
        g = self.episodes.groupby("treatment", observed=True)
        out = pd.DataFrame(
            {
                "sessions": g.size(),
                "reward": g["reward"].mean(),
                "reward_se": g["reward"].sem(),
                "steps": g["steps"].mean(),
            }
        )
        return out

    def ab(self, **options: Any) -> pd.DataFrame:
        """The A/B report on this run's log: :func:`ab` with ``experiment`` set."""
        if self.log_dir is None:
            raise BotifyError("this run wrote no log (log_dir=False)")
        return ab(self.log_dir, experiment=self.experiment, **options)

    def __repr__(self) -> str:
        return (
            f"SimResult({len(self.episodes)} sessions, {self.steps} steps in {self.seconds:.2f}s, "
            f"log_dir={str(self.log_dir)!r})"
        )


def simulate(
    world: Union[World, PathLike],
    treatments: Union[Mapping[str, RecommenderArg], str],
    *,
    episodes: int = _botify.DEFAULT_SESSIONS,
    seed: int = _botify.DEFAULT_SEED,
    days: int = 1,
    start_day: int = 0,
    max_steps: int = _botify.DEFAULT_MAX_STEPS,
    log_dir: Union[PathLike, None, bool] = None,
    experiment: str = "PY",
    threads: Optional[int] = None,
    progress: ProgressArg = False,
) -> SimResult:
    """Simulates ``days`` days of ``episodes`` listening sessions in-process, users split between
    ``treatments`` by the service's murmur3 rule (``{"C": ..., "T1": ..., ...}``), or against
    ``"oracle"`` (the upper bound that knows the hidden embeddings).

    A treatment is a built-in recommender (``"sticky_artist"``, ``"random"``, an inline spec or a
    spec dict) or any object with ``recommend_next(user, prev_track, prev_track_time) -> int``.
    A Python recommender that raises or answers something that is not a track id gets its
    fallback (a random track) and a ``RuntimeWarning`` says how often.

    On a world with listener dynamics (docs/dynamics.md) the days run on one simulator, so the
    listeners' state carries from day to day; with returns on, ``episodes`` is a day's expected
    sessions at zero satisfaction.

    The event log goes to ``log_dir`` (default: a new temporary directory, removed when Python
    exits — about 1 KB per session; ``False``: none), in the service's format, so
    :meth:`SimResult.ab` and ``botify ab`` read it. The same seed gives
    the same sessions whatever ``threads`` is; with Python recommenders the default is one thread
    (they share the GIL).
    """
    if log_dir is None:
        log = _temporary("botify-sim-")
    elif log_dir is False:
        log = None
    else:
        log = Path(os.fspath(log_dir))  # type: ignore[arg-type]
    for name, value in [("episodes", episodes), ("days", days), ("max_steps", max_steps)]:
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise BotifyError(f"{name} must be a positive integer, got {value!r}")
    for name, value in [("seed", seed), ("start_day", start_day)]:
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise BotifyError(f"{name} must be a non-negative integer, got {value!r}")
    raw = _botify.simulate(
        _native_world(world),
        dict(treatments) if isinstance(treatments, Mapping) else treatments,
        episodes=int(episodes),
        seed=int(seed),
        days=int(days),
        start_day=int(start_day),
        max_steps=int(max_steps),
        log_dir=None if log is None else os.fspath(log),
        experiment=experiment,
        threads=threads,
        progress=reporter(progress),
    )
    _warn_failures(raw["failures"])
    return SimResult(raw, log, experiment)


class Server:
    """A running Botify service (see :func:`serve`); a context manager that stops it."""

    def __init__(self, native: "_botify.Server") -> None:
        self._native = native

    @property
    def url(self) -> str:
        """``http://host:port``: the course's API (``/next/{user}``, ``/last/{user}``, …)."""
        return self._native.url

    @property
    def log_dir(self) -> Path:
        return Path(self._native.log_dir)

    @property
    def experiments_file(self) -> Path:
        return Path(self._native.experiments_file)

    @property
    def admin_token(self) -> str:
        """The bearer token of ``POST /admin/reload``."""
        return self._native.admin_token

    @property
    def running(self) -> bool:
        return self._native.running

    @property
    def dashboard_url(self) -> Optional[str]:
        """The live dashboard's page (``serve(..., dashboard="127.0.0.1:0")``), else None."""
        return self._native.dashboard_url

    def live_ab(self, experiment: Optional[str] = None) -> pd.DataFrame:
        """The A/B report of the traffic so far, from the live dashboard: the rows of
        :func:`ab` with ``sequential=0.1`` (always-valid intervals, safe to look at while traffic
        runs) for the routing experiment or ``experiment``; the whole report is in
        ``df.attrs["report"]``. Needs ``serve(..., dashboard=...)``."""
        if self.dashboard_url is None:
            raise BotifyError("start the server with serve(..., dashboard='127.0.0.1:0')")
        api = self.dashboard_url.rsplit("/", 1)[0] + "/api/experiment"
        if experiment is not None:
            api += "?" + urllib.parse.urlencode({"experiment": experiment})
        try:
            with urllib.request.urlopen(api, timeout=60) as r:
                report = json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            raise BotifyError(json.loads(e.read().decode()).get("error", str(e))) from None
        df = pd.DataFrame(report["rows"])
        df.attrs["report"] = report
        return df

    def failures(self) -> Dict[str, Any]:
        """Python recommenders' failures so far: ``{name: (count, first message)}``."""
        return dict(self._native.failures())

    def metrics(self) -> str:
        """The service's Prometheus ``/metrics`` text (fallbacks per treatment among them)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            return r.read().decode()

    def reload(self) -> str:
        """Reads the experiments file and its data files again; the Python objects stay."""
        return self._native.reload()

    def stop(self) -> Optional[tuple]:
        """Stops the service after requests in flight and flushes the event log. Returns
        ``(requests answered, log lines written)``, or None if it was already stopped."""
        return self._native.stop()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return repr(self._native)


def serve(
    world: Union[World, PathLike],
    treatments: Optional[Mapping[str, RecommenderArg]] = None,
    *,
    experiments_file: Optional[PathLike] = None,
    recommenders: Optional[Mapping[str, Any]] = None,
    log_dir: Optional[PathLike] = None,
    experiment: str = "PY",
    host: str = "127.0.0.1",
    port: int = 0,
    redis: Optional[str] = None,
    redis_cluster: Optional[Sequence[str]] = None,
    dashboard: Optional[str] = None,
) -> Server:
    """Starts the real Botify service in this process and returns at once.

    Either ``treatments`` (as in :func:`simulate`; written to ``experiments_file``), or an
    existing ``experiments_file`` whose ``{ type = "python", name = "..." }`` specs are answered
    by the objects in ``recommenders`` (``{name: object}``). Port 0 picks a free port
    (:attr:`Server.url`). Python recommenders are called with the GIL from the service's threads;
    an exception becomes the fallback's answer, counted in ``/metrics``
    (``botify_fallbacks_total``), never an error response. ``dashboard="127.0.0.1:0"`` also serves
    the live dashboard (:attr:`Server.dashboard_url`, :meth:`Server.live_ab`). ``redis`` (a URL)
    or ``redis_cluster`` (node URLs, a list or one comma-separated string) keep users' history and
    data files in Redis, shared with other replicas.
    """
    if treatments is None and experiments_file is None:
        raise BotifyError("give treatments, or an experiments_file")
    work = _temporary("botify-serve-")
    logs = Path(os.fspath(log_dir)) if log_dir is not None else work / "log"
    if treatments is not None and experiments_file is None:
        experiments_file = work / "experiments.toml"
    native = _botify.serve(
        _native_world(world),
        experiments_file=os.fspath(experiments_file),  # type: ignore[arg-type]
        log_dir=os.fspath(logs),
        treatments=dict(treatments) if treatments is not None else None,
        recommenders=dict(recommenders) if recommenders is not None else None,
        experiment=experiment,
        host=host,
        port=int(port),
        redis=redis,
        redis_cluster=_node_urls(redis_cluster),
        dashboard=dashboard,
    )
    return Server(native)


def read_log(paths: Union[PathLike, Iterable[PathLike]]) -> pd.DataFrame:
    """Reads event logs (files or directories, rotated files included) with the fast parallel
    parser: one row per event, sorted by user then time, typed as :func:`export_parquet` writes
    them. Columns: message (next/last), timestamp (UTC, millisecond resolution), user, track
    (int64), time, latency (s), recommendation (nullable Int64, ``<NA>`` on ``last``),
    propensity (the served track's probability under the recommender that chose it; NaN where
    the log has none) and one categorical column per experiment (the export's ``experiments``
    map, spread out). ``df.attrs["read"]`` says how reading went (skipped malformed lines,
    examples)."""
    cols, info = _botify.read_log(_paths(paths))
    df = frame(cols)
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="ms", utc=True)
    rec = df["recommendation"].to_numpy()
    df["recommendation"] = pd.arrays.IntegerArray(rec, rec < 0)
    df.attrs["read"] = dict(info)
    return df


def ope(
    logs: Union[PathLike, Iterable[PathLike]],
    world: Union[World, PathLike],
    policy: RecommenderArg,
    *,
    history: int = 200,
    clip: float = 100.0,
    samples: int = 8,
    seed: int = _botify.DEFAULT_SEED,
) -> pd.DataFrame:
    """Off-policy evaluation (docs/ope.md): ``policy``'s mean time per session estimated from
    logs written by other policies, whose ``next`` lines carry their propensities (every
    built-in recommender logs them; ``{"type": "epsilon", "epsilon": 0.3, "inner": ...}``
    explores). ``world`` is the world (or its directory, or its ``tracks.json``) the logs were
    served on; ``policy`` a built-in name or spec (text or dict) — Python recommenders do not
    know their probabilities.

    One row per estimator, the default (``dr``) first: estimate, lower, upper (95%), ess, and the
    per-recommendation listen time ``step_estimate`` with its interval. ``df.attrs["diagnostics"]``
    holds the sessions, steps, support (share of logged steps the policy could have taken), the
    largest session weights and the logged policies' own mean. Estimates are in the units of
    :func:`ab`'s ``mean_time_per_session`` (a session's listen times summed, the first track's
    included), averaged over sessions.
    """
    if isinstance(world, World):
        catalog = world.dir / "tracks.json"
    else:
        catalog = Path(os.fspath(world))
        if catalog.is_dir():
            catalog = catalog / "tracks.json"
    if not callable(getattr(policy, "__getitem__", None)) and not isinstance(policy, str):
        raise BotifyError("policy is a recommender name or spec (text or dict), not a Python object")
    report = json.loads(_botify.ope(_paths(logs), os.fspath(catalog), policy, int(history),
                                    float(clip), int(samples), int(seed)))
    df = pd.DataFrame(report["estimates"])
    df.attrs["diagnostics"] = report["diagnostics"]
    df.attrs["policy"] = report["policy"]
    return df


def export_parquet(
    logs: Union[PathLike, Iterable[PathLike]], out: PathLike, *, append: bool = False
) -> pd.DataFrame:
    """Writes event logs (files or directories, every replica's) as Parquet under ``out`` (new or
    empty): ``out/day=YYYY-MM-DD/part-N.parquet``, the same columns in every file — message,
    timestamp (UTC milliseconds), user, track, time, latency, recommendation (null on ``last``),
    propensity (null where not logged) and ``experiments``, a map from experiment to treatment —
    what ``botify log export`` writes, for DuckDB or a warehouse (docs/deploy.md has the A/B table
    in SQL). ``append=True`` continues an earlier export in ``out``, writing only the lines
    logged since. Returns one row per file written (day, file, rows); ``df.attrs["read"]`` says
    how reading went and which experiments the lines carried."""
    files, info = _botify.export_parquet(_paths(logs), os.fspath(out), append)
    df = pd.DataFrame(files, columns=["day", "file", "rows"])
    df.attrs["read"] = dict(info)
    return df


def ab(
    logs: Union[PathLike, Iterable[PathLike]],
    experiment: str,
    *,
    confidence: float = 0.95,
    buckets: Optional[int] = None,
    pre: Union[PathLike, Iterable[PathLike], None] = None,
    metrics: Optional[Sequence[str]] = None,
    interval: str = "delta",
    correction: str = "maxt",
    primary: str = "mean_time_per_session",
    guardrails: Sequence[str] = (),
    sequential: Optional[float] = None,
    progress: ProgressArg = False,
) -> pd.DataFrame:
    """The A/B report of ``experiment``: one row per (treatment, metric), the same rows as
    ``botify ab --format json`` with the same options (``interval`` delta|course, ``correction``
    maxt|holm|bh|none, ``guardrails`` as ``"METRIC:MARGIN"``, ``sequential`` the always-valid
    interval's τ, ``pre`` the pre-period logs for CUPED). The whole report (treatments, SRM check,
    decisions, notes) is in ``df.attrs["report"]``."""
    text = _botify.ab(
        _paths(logs),
        experiment,
        confidence=float(confidence),
        buckets=buckets,
        pre=None if pre is None else _paths(pre),
        metrics=None if metrics is None else list(metrics),
        interval=interval,
        correction=correction,
        primary=primary,
        guardrails=list(guardrails),
        sequential=sequential,
        progress=reporter(progress),
    )
    report = json.loads(text)
    df = pd.DataFrame(report["rows"])
    df.attrs["report"] = report
    return df
