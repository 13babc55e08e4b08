"""The listener simulator as Gymnasium environments.

:class:`CandidateEnv` (``botify/Candidates-v0``) is the one reinforcement-learning libraries can
train on: at each step the observation holds ``K`` candidate tracks from a generator, each with
features (popularity, played this session, its artist's plays this session, same artist and
genre as the previous track, and a learned embedding when one is given — never the world's
hidden embeddings), the previous track's features with its listen time and the session's last
listens; the action is ``Discrete(K)``, the reward the listen time of the chosen track.

:class:`ListenerEnv` (``botify/Listener-v0``) is the raw one: observation ``{"user":
Discrete(users), "track": Discrete(tracks), "time": Box(0, 1, (1,), float32)}``, action the next
track's id out of the whole catalogue.

In both an episode is one listening session: ``terminated`` when the listener ends it,
``truncated`` when it reaches ``max_steps``. Sessions are the simulator's own: the same seed gives
the same listeners as ``botify sim``. The vector forms step many sessions at once with numpy
arrays in and out::

    import gymnasium, botify.gym
    env = gymnasium.make("botify/Candidates-v0", world="world", candidates=16)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

from . import BotifyError, World, _botify, _native_world
from ._frame import arrays

__all__ = ["CandidateEnv", "ListenerEnv", "VectorCandidateEnv", "VectorListenerEnv"]

_SEED_BOUND = 2**63


def _single_stream(env: Any, seed: Optional[int]) -> Optional[int]:
    """The native session stream a single environment's ``reset`` restarts: ``seed``'s, a random
    one on a first reset without a seed, else none (the next session of the current stream).
    Call after ``gymnasium.Env.reset`` has seeded ``env.np_random``."""
    stream = None
    if seed is not None:
        stream = int(seed) % _SEED_BOUND
    elif not env._seeded:
        stream = int(env.np_random.integers(_SEED_BOUND))
    env._seeded = True
    return stream


def _vector_stream(env: Any, seed: Optional[int]) -> int:
    """The native session stream a vector environment's ``reset`` restarts (seeding its
    ``np_random``): ``seed``'s, or a random one."""
    env._np_random, _ = gymnasium.utils.seeding.np_random(seed)
    if seed is not None:
        return int(seed) % _SEED_BOUND
    return int(env._np_random.integers(_SEED_BOUND))


def _world(world: Union[World, str, "os.PathLike[str]"]) -> World:
    return world if isinstance(world, World) else World.load(world)


def _single_space(world: World) -> spaces.Dict:
    users = int(world.users["user"].max()) + 1 if world.n_users else 1
    return spaces.Dict(
        {
            "user": spaces.Discrete(users),
            "track": spaces.Discrete(world.n_tracks),
            "time": spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32),
        }
    )


class ListenerEnv(gymnasium.Env):
    """One listener's session per episode; see the module's documentation for the spaces."""

    metadata: Dict[str, Any] = {"render_modes": []}

    def __init__(self, world: Union[World, str, "os.PathLike[str]"], max_steps: int = 1_000) -> None:
        self.world = _world(world)
        self.observation_space = _single_space(self.world)
        self.action_space = spaces.Discrete(self.world.n_tracks)
        self._sessions = _botify.Sessions(_native_world(self.world), 1, 0, int(max_steps))
        self._seeded = False

    @staticmethod
    def _obs(o: Tuple[int, int, float]) -> Dict[str, Any]:
        return {
            "user": np.int64(o[0]),
            "track": np.int64(o[1]),
            "time": np.asarray([o[2]], dtype=np.float32),
        }

    def reset(
        self, *, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None
    ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """Opens the next session; with ``seed``, session 0 of that seed's stream."""
        super().reset(seed=seed)
        stream = _single_stream(self, seed)
        obs, number = self._sessions.reset(0, stream)
        return self._obs(obs), {"session": number}

    def step(self, action: Any) -> Tuple[Dict[str, Any], float, bool, bool, Dict[str, Any]]:
        obs, reward, terminated, truncated = self._sessions.step(0, int(action))
        return self._obs(obs), float(reward), bool(terminated), bool(truncated), {}


class VectorListenerEnv(VectorEnv):
    """``num_envs`` sessions stepped together: actions an int array, observations a dict of
    arrays. A session that ends is replaced in the same step (its row then shows the new
    session's first observation; the ended one's last is in ``infos["final_obs"]`` where
    ``infos["_final_obs"]`` is set)."""

    metadata: Dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        world: Union[World, str, "os.PathLike[str]"],
        num_envs: int = 256,
        max_steps: int = 1_000,
    ) -> None:
        self.world = _world(world)
        self.num_envs = int(num_envs)
        self.single_observation_space = _single_space(self.world)
        self.single_action_space = spaces.Discrete(self.world.n_tracks)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        try:
            from gymnasium.vector import AutoresetMode

            self.metadata = {**self.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        except ImportError:  # gymnasium < 1.1 has one autoreset mode
            pass
        self._sessions = _botify.Sessions(
            _native_world(self.world), self.num_envs, 0, int(max_steps)
        )

    def reset(
        self, *, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None
    ) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
        """Opens sessions 0..num_envs-1 of ``seed``'s stream (a random stream without one)."""
        stream = _vector_stream(self, seed)
        cols = arrays(self._sessions.reset_all(stream))
        return self._obs(cols, ""), {}

    @staticmethod
    def _obs(cols: Dict[str, np.ndarray], prefix: str) -> Dict[str, np.ndarray]:
        return {
            "user": cols[prefix + "user"].astype(np.int64),
            "track": cols[prefix + "track"].astype(np.int64),
            "time": cols[prefix + "time"].reshape(-1, 1),
        }

    def step(
        self, actions: Any
    ) -> Tuple[Dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, Dict[str, Any]]:
        a = np.asarray(actions, dtype=np.int64).reshape(-1)
        cols = arrays(self._sessions.step_all(a.tolist()))
        terminated = cols["terminated"].astype(bool)
        truncated = cols["truncated"].astype(bool)
        infos: Dict[str, Any] = {}
        ended = terminated | truncated
        if ended.any():
            infos["final_obs"] = self._obs(cols, "final_")
            infos["_final_obs"] = ended
        return (
            self._obs(cols, ""),
            cols["reward"].astype(np.float32),
            terminated,
            truncated,
            infos,
        )


Generator = Union[str, "os.PathLike[str]", Callable[[int, int, List[int]], Sequence[int]]]
Embedding = Union[None, np.ndarray, str, "os.PathLike[str]"]


def _embedding(world: World, embedding: Embedding) -> Optional[np.ndarray]:
    """A learned embedding per track: an array ``[n_tracks, dim]``, or a trained ``taste`` file
    (each track gets its artist's vector; artists the file lacks get zeros)."""
    if embedding is None:
        return None
    if not isinstance(embedding, np.ndarray):
        rows = [json.loads(line) for line in Path(os.fspath(embedding)).read_text().splitlines()
                if line.strip()]
        if not rows or "vector" not in rows[0] or "artist" not in rows[0]:
            raise BotifyError(
                f"embedding {os.fspath(embedding)!r}: expected a taste file (JSON lines with "
                "artist and vector), as `botify train taste` writes")
        dim = len(rows[0]["vector"])
        by_artist = {r["artist"]: r["vector"] for r in rows}
        zero = [0.0] * dim
        embedding = np.asarray([by_artist.get(a, zero) for a in world.tracks["artist"]],
                               dtype=np.float32)
    e = np.ascontiguousarray(embedding, dtype=np.float32)
    if e.ndim != 2 or e.shape[0] != world.n_tracks or e.shape[1] == 0:
        raise BotifyError(f"embedding: expected shape [{world.n_tracks}, dim], got {e.shape}")
    if not np.isfinite(e).all():
        raise BotifyError("embedding: every value must be finite")
    return e


def _candidate_sessions(world: World, slots: int, candidates: int, generator: Generator,
                        embedding: Embedding, history: int, max_steps: int,
                        flat: bool) -> Tuple[Any, "_CandidateSpaces"]:
    """The native sessions of a candidate environment and its spaces."""
    e = _embedding(world, embedding)
    gen = generator if callable(generator) else os.fspath(generator)
    native = _botify.CandidateSessions(
        _native_world(world), slots, 0, int(max_steps), int(candidates), int(history), gen,
        None if e is None else (e.astype("<f4").tobytes(), e.shape[1]))
    return native, _CandidateSpaces(world, native, int(candidates), int(history), flat, e)


_BASE_FEATURES = ["popularity", "played", "artist_plays", "same_artist", "same_genre"]


class _CandidateSpaces:
    """The spaces of one candidate observation (``flat``: one float vector). The catalogue
    features and listen times lie in [0, 1]; an embedding's dimensions within its own range."""

    def __init__(self, world: World, native: Any, k: int, history: int, flat: bool,
                 embedding: Optional[np.ndarray]) -> None:
        self.k, self.history, self.flat = k, history, flat
        self.width = int(native.width)
        base = self.width if embedding is None else self.width - embedding.shape[1]
        self.names = _BASE_FEATURES + [f"embedding_{i}" for i in range(self.width - base)]
        low, high = np.zeros(self.width, np.float32), np.ones(self.width, np.float32)
        if embedding is not None:
            low[base:] = np.minimum(embedding.min(axis=0), 0)
            high[base:] = np.maximum(embedding.max(axis=0), 0)
        low1, high1 = np.append(low, 0).astype(np.float32), np.append(high, 1).astype(np.float32)
        artists = int(world.tracks["artist"].nunique())
        self.dict = spaces.Dict({
            "candidates": spaces.Box(np.tile(low, (k, 1)), np.tile(high, (k, 1)), dtype=np.float32),
            "candidate_artist": spaces.Box(0, max(artists - 1, 0), (k,), np.int64),
            "candidate_genre": spaces.Box(0, int(native.genres), (k,), np.int64),
            "previous": spaces.Box(low1, high1, dtype=np.float32),
            "history": spaces.Box(np.tile(low1, (history, 1)), np.tile(high1, (history, 1)),
                                  dtype=np.float32),
        })
        flat_low = np.concatenate([np.tile(low, k), np.tile(low1, 1 + history)])
        flat_high = np.concatenate([np.tile(high, k), np.tile(high1, 1 + history)])
        self.space = spaces.Box(flat_low, flat_high, dtype=np.float32) if flat else self.dict

    def batch(self, cols: Dict[str, np.ndarray], prefix: str) -> Any:
        n = len(cols[prefix + "user"])
        k, w, h = self.k, self.width, self.history
        feats = cols[prefix + "features"].reshape(n, k, w)
        prev = cols[prefix + "previous"].reshape(n, w + 1)
        hist = cols[prefix + "history"].reshape(n, h, w + 1)
        if self.flat:
            return np.concatenate(
                [feats.reshape(n, -1), prev, hist.reshape(n, -1)], axis=1).astype(np.float32)
        return {
            "candidates": feats,
            "candidate_artist": cols[prefix + "artist"].reshape(n, k).astype(np.int64),
            "candidate_genre": cols[prefix + "genre"].reshape(n, k).astype(np.int64),
            "previous": prev,
            "history": hist,
        }


class CandidateEnv(gymnasium.Env):
    """A listening session per episode; at each step pick one of ``candidates`` tracks.

    ``generator``: where candidates come from — ``"default"`` (no model needed: the previous
    artist's unplayed tracks, popular tracks and random ones), ``"artist"``, ``"popular"``,
    ``"random"``, a trained item-to-item file (e.g. ``models/i2i.jsonl``), or a callable
    ``(user, previous_track, session_tracks) -> track ids`` (topped up with random tracks).
    ``embedding``: a learned track embedding as features — an array ``[n_tracks, dim]`` or a
    trained ``taste`` file. ``history``: listens kept in the observation. ``flat``: one float
    vector instead of a ``Dict`` (what Stable-Baselines3's ``MlpPolicy`` takes). The chosen
    candidate's track id is ``info["track"]`` after a step; ``info["candidates"]`` are the ids
    of the current candidates. ``feature_names`` names a candidate's features (a row of
    ``obs["candidates"]``; in the flat layout the ``K`` rows come first, then the previous track's
    features and listen time, then the history's).
    """

    metadata: Dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        world: Union[World, str, "os.PathLike[str]"],
        candidates: int = 16,
        *,
        generator: Generator = "default",
        embedding: Embedding = None,
        history: int = 8,
        max_steps: int = 1_000,
        flat: bool = False,
    ) -> None:
        self.world = _world(world)
        self._native, self._spaces = _candidate_sessions(
            self.world, 1, candidates, generator, embedding, history, max_steps, flat)
        self.observation_space = self._spaces.space
        self.action_space = spaces.Discrete(int(candidates))
        self.feature_names: List[str] = self._spaces.names
        self._seeded = False
        self._candidates = np.zeros(int(candidates), dtype=np.int64)

    def _observe(self, cols_list: Any) -> Tuple[Any, Dict[str, Any]]:
        cols = arrays(cols_list)
        self._candidates = cols["candidates"].astype(np.int64)
        obs = self._spaces.batch(cols, "")
        one = obs[0] if self._spaces.flat else {k: v[0] for k, v in obs.items()}
        return one, {"user": int(cols["user"][0]), "candidates": self._candidates.copy()}

    def reset(
        self, *, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None
    ) -> Tuple[Any, Dict[str, Any]]:
        """Opens the next session; with ``seed``, session 0 of that seed's stream."""
        super().reset(seed=seed)
        stream = _single_stream(self, seed)
        return self._observe(self._native.reset(0, stream))

    def step(self, action: Any) -> Tuple[Any, float, bool, bool, Dict[str, Any]]:
        a = int(action)
        track = int(self._candidates[a]) if 0 <= a < len(self._candidates) else -1
        cols, reward, terminated, truncated = self._native.step(0, a)
        obs, info = self._observe(cols)
        info["track"] = track
        return obs, float(reward), bool(terminated), bool(truncated), info


class VectorCandidateEnv(VectorEnv):
    """``num_envs`` candidate-set sessions stepped together (see :class:`CandidateEnv`); a
    session that ends is replaced in the same step (its last observation is in
    ``infos["final_obs"]`` where ``infos["_final_obs"]`` is set). ``infos["candidates"]`` holds
    every row's candidate track ids."""

    metadata: Dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        world: Union[World, str, "os.PathLike[str]"],
        num_envs: int = 256,
        candidates: int = 16,
        *,
        generator: Generator = "default",
        embedding: Embedding = None,
        history: int = 8,
        max_steps: int = 1_000,
        flat: bool = False,
    ) -> None:
        self.world = _world(world)
        self.num_envs = int(num_envs)
        self._native, self._spaces = _candidate_sessions(
            self.world, self.num_envs, candidates, generator, embedding, history, max_steps, flat)
        self.single_observation_space = self._spaces.space
        self.single_action_space = spaces.Discrete(int(candidates))
        self.feature_names: List[str] = self._spaces.names
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        try:
            from gymnasium.vector import AutoresetMode

            self.metadata = {**self.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        except ImportError:  # gymnasium < 1.1 has one autoreset mode
            pass

    def reset(
        self, *, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None
    ) -> Tuple[Any, Dict[str, Any]]:
        """Opens sessions 0..num_envs-1 of ``seed``'s stream (a random stream without one)."""
        stream = _vector_stream(self, seed)
        cols = arrays(self._native.reset_all(stream))
        k = self._spaces.k
        return self._spaces.batch(cols, ""), {
            "candidates": cols["candidates"].astype(np.int64).reshape(-1, k)}

    def step(self, actions: Any) -> Tuple[Any, np.ndarray, np.ndarray, np.ndarray, Dict[str, Any]]:
        a = np.asarray(actions, dtype=np.int64).reshape(-1)
        cols = arrays(self._native.step_all(a.tolist()))
        terminated = cols["terminated"].astype(bool)
        truncated = cols["truncated"].astype(bool)
        ended = terminated | truncated
        k = self._spaces.k
        infos: Dict[str, Any] = {
            "candidates": cols["candidates"].astype(np.int64).reshape(-1, k)}
        if ended.any():
            final = self._spaces.batch(cols, "final_")
            full = self._spaces.batch(cols, "")
            # One final row per ended slot, in slot order: spread over the batch.
            rows = np.flatnonzero(ended)
            if self._spaces.flat:
                out = np.zeros_like(full)
                out[rows] = final
            else:
                out = {key: np.zeros_like(v) for key, v in full.items()}
                for key in out:
                    out[key][rows] = final[key]
            infos["final_obs"] = out
            infos["_final_obs"] = ended
        return (self._spaces.batch(cols, ""), cols["reward"].astype(np.float32), terminated,
                truncated, infos)


if "botify/Listener-v0" not in gymnasium.registry:
    gymnasium.register(id="botify/Listener-v0", entry_point="botify.gym:ListenerEnv")
if "botify/Candidates-v0" not in gymnasium.registry:
    gymnasium.register(id="botify/Candidates-v0", entry_point="botify.gym:CandidateEnv")
