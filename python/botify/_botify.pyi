"""Type stubs of the native module (the Python wrappers in `botify` are the public API)."""

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union, final

__version__: str
__all__ = [
    "BotifyError",
    "CandidateSessions",
    "DEFAULT_EVAL_K",
    "DEFAULT_HOLDOUT",
    "DEFAULT_K",
    "DEFAULT_LIKED",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_SEED",
    "DEFAULT_SESSIONS",
    "Server",
    "Sessions",
    "World",
    "__version__",
    "ab",
    "cli",
    "default_plan",
    "export_parquet",
    "ope",
    "ope_steps",
    "read_log",
    "run_plan",
    "serve",
    "simulate",
    "train",
]
DEFAULT_SEED: int
DEFAULT_SESSIONS: int
DEFAULT_MAX_STEPS: int
DEFAULT_LIKED: float
DEFAULT_K: int
DEFAULT_EVAL_K: int
DEFAULT_HOLDOUT: float

class BotifyError(ValueError): ...

_Progress = Optional[Callable[[str, Any], None]]
_Columns = List[Tuple[str, str, Any]]

@final
class World:
    @staticmethod
    def generate(
        out: str,
        *,
        tracks: Optional[int] = ...,
        users: Optional[int] = ...,
        dim: Optional[int] = ...,
        seed: Optional[int] = ...,
        genres: Optional[int] = ...,
        config: Union[str, Mapping[str, Any], None] = ...,
        dynamics: Optional[Mapping[str, float]] = ...,
        progress: _Progress = ...,
    ) -> "World": ...
    @staticmethod
    def load(dir: str) -> "World": ...
    @property
    def dir(self) -> str: ...
    @property
    def n_tracks(self) -> int: ...
    @property
    def n_users(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def embeddings_file(self) -> str: ...
    @property
    def dynamics(self) -> Dict[str, float]: ...
    def stats(self) -> Dict[str, Any]: ...
    def _tracks_columns(self) -> _Columns: ...
    def _users_columns(self) -> Tuple[_Columns, _Columns]: ...

@final
class Sessions:
    def __new__(cls, world: Union[World, str], slots: int, seed: int, max_steps: int) -> "Sessions": ...
    def reset_all(self, seed: int) -> _Columns: ...
    def reset(self, slot: int, seed: Optional[int] = ...) -> Tuple[Tuple[int, int, float], int]: ...
    def step(self, slot: int, action: int) -> Tuple[Tuple[int, int, float], float, bool, bool]: ...
    def step_all(self, actions: Sequence[int]) -> _Columns: ...
    def __len__(self) -> int: ...

@final
class CandidateSessions:
    def __new__(
        cls,
        world: Union[World, str],
        slots: int,
        seed: int,
        max_steps: int,
        k: int,
        history: int,
        candidates: Union[str, Callable[[int, int, List[int]], Sequence[int]]],
        embedding: Optional[Tuple[bytes, int]] = ...,
    ) -> "CandidateSessions": ...
    @property
    def width(self) -> int: ...
    @property
    def genres(self) -> int: ...
    def reset_all(self, seed: int) -> _Columns: ...
    def reset(self, slot: int, seed: Optional[int] = ...) -> _Columns: ...
    def step(self, slot: int, action: int) -> Tuple[_Columns, float, bool, bool]: ...
    def step_all(self, actions: Sequence[int]) -> _Columns: ...
    def __len__(self) -> int: ...

@final
class Server:
    @property
    def url(self) -> str: ...
    @property
    def log_dir(self) -> str: ...
    @property
    def experiments_file(self) -> str: ...
    @property
    def admin_token(self) -> str: ...
    @property
    def running(self) -> bool: ...
    @property
    def dashboard_url(self) -> Optional[str]: ...
    def failures(self) -> Dict[str, Tuple[int, Optional[str]]]: ...
    def reload(self) -> str: ...
    def stop(self) -> Optional[Tuple[int, int]]: ...

def simulate(
    world: Union[World, str],
    treatments: Union[Dict[str, Any], str],
    *,
    episodes: int = ...,
    seed: int = ...,
    days: int = ...,
    start_day: int = ...,
    max_steps: int = ...,
    log_dir: Optional[str] = ...,
    experiment: str = ...,
    threads: Optional[int] = ...,
    progress: _Progress = ...,
) -> Dict[str, Any]: ...
def serve(
    world: Union[World, str],
    *,
    experiments_file: str,
    log_dir: str,
    treatments: Optional[Dict[str, Any]] = ...,
    recommenders: Optional[Dict[str, Any]] = ...,
    experiment: str = ...,
    host: str = ...,
    port: int = ...,
    redis: Optional[str] = ...,
    redis_cluster: Optional[List[str]] = ...,
    dashboard: Optional[str] = ...,
) -> Server: ...
def read_log(paths: List[str]) -> Tuple[_Columns, Dict[str, Any]]: ...
def ope(
    paths: List[str],
    catalog: str,
    policy: Union[str, Mapping[str, Any]],
    history: int,
    clip: float,
    samples: int,
    seed: int,
) -> str: ...
def ope_steps(
    reward: Sequence[float], weight: Sequence[float], q: Sequence[float], v: Sequence[float],
    clip: float,
) -> List[Tuple[str, float, float, float]]: ...
def export_parquet(
    paths: List[str], out: str, append: bool = False
) -> Tuple[List[Tuple[str, str, int]], Dict[str, Any]]: ...
def ab(
    logs: List[str],
    experiment: str,
    *,
    confidence: float = ...,
    buckets: Optional[int] = ...,
    pre: Optional[List[str]] = ...,
    metrics: Optional[List[str]] = ...,
    interval: str = ...,
    correction: str = ...,
    primary: str = ...,
    guardrails: List[str] = ...,
    sequential: Optional[float] = ...,
    progress: _Progress = ...,
) -> str: ...
def cli(argv: List[str]) -> int: ...
def train(
    model: str,
    logs: List[str],
    out: str,
    *,
    params: Optional[Dict[str, Any]] = ...,
    catalog: Optional[str] = ...,
    holdout: float = ...,
    seed: int = ...,
    k: int = ...,
    threshold: float = ...,
    eval_k: int = ...,
    progress: _Progress = ...,
) -> Dict[str, Any]: ...
def run_plan(
    plan: Optional[str] = ...,
    plan_file: Optional[str] = ...,
    *,
    dir: Optional[str] = ...,
    in_process: bool = ...,
    redis: Optional[str] = ...,
    redis_cluster: Optional[List[str]] = ...,
    progress: _Progress = ...,
) -> Dict[str, Any]: ...
def default_plan() -> str: ...
