"""The listener simulator as Gymnasium environments.

An episode is one listening session. Observation: ``{"user": Discrete(users), "track":
Discrete(tracks), "time": Box(0, 1, (), float32)}`` — the user, the previous track and how much of
it they listened to (the first observation is the session's first track, listened fully). Action:
the next track's id. Reward: the listen time of that track. ``terminated`` when the listener
ends the session (or it reaches ``max_steps``). Sessions are the simulator's own: the same seed
gives the same listeners as ``botify sim``.

``import botify.gym`` registers ``botify/Listener-v0``::

    import gymnasium, botify.gym
    env = gymnasium.make("botify/Listener-v0", world="world")

:class:`VectorListenerEnv` runs many sessions per step with numpy arrays in and out.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple, Union

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

from . import World, _botify, _native_world
from ._frame import arrays

__all__ = ["ListenerEnv", "VectorListenerEnv"]

_SEED_BOUND = 2**63


def _world(world: Union[World, str, "os.PathLike[str]"]) -> World:
    return world if isinstance(world, World) else World.load(world)


def _single_space(world: World) -> spaces.Dict:
    users = int(world.users["user"].max()) + 1 if world.n_users else 1
    return spaces.Dict(
        {
            "user": spaces.Discrete(users),
            "track": spaces.Discrete(world.n_tracks),
            "time": spaces.Box(0.0, 1.0, shape=(), dtype=np.float32),
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
            "time": np.asarray(o[2], dtype=np.float32),
        }

    def reset(
        self, *, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None
    ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """Opens the next session; with ``seed``, session 0 of that seed's stream."""
        super().reset(seed=seed)
        stream = None
        if seed is not None:
            stream = int(seed) % _SEED_BOUND
        elif not self._seeded:
            stream = int(self.np_random.integers(_SEED_BOUND))
        self._seeded = True
        obs, number = self._sessions.reset(0, stream)
        return self._obs(obs), {"session": number}

    def step(self, action: Any) -> Tuple[Dict[str, Any], float, bool, bool, Dict[str, Any]]:
        obs, reward, over = self._sessions.step(0, int(action))
        return self._obs(obs), float(reward), bool(over), False, {}


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
        self._np_random, _ = gymnasium.utils.seeding.np_random(seed)
        stream = int(seed) % _SEED_BOUND if seed is not None else int(
            self._np_random.integers(_SEED_BOUND)
        )
        cols = arrays(self._sessions.reset_all(stream))
        return self._obs(cols, ""), {}

    @staticmethod
    def _obs(cols: Dict[str, np.ndarray], prefix: str) -> Dict[str, np.ndarray]:
        return {
            "user": cols[prefix + "user"].astype(np.int64),
            "track": cols[prefix + "track"].astype(np.int64),
            "time": cols[prefix + "time"],
        }

    def step(
        self, actions: Any
    ) -> Tuple[Dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, Dict[str, Any]]:
        a = np.asarray(actions, dtype=np.int64).reshape(-1)
        cols = arrays(self._sessions.step_all(a.tolist()))
        terminated = cols["terminated"].astype(bool)
        infos: Dict[str, Any] = {}
        if terminated.any():
            infos["final_obs"] = self._obs(cols, "final_")
            infos["_final_obs"] = terminated
        return (
            self._obs(cols, ""),
            cols["reward"].astype(np.float32),
            terminated,
            np.zeros(self.num_envs, dtype=bool),
            infos,
        )


if "botify/Listener-v0" not in gymnasium.registry:
    gymnasium.register(id="botify/Listener-v0", entry_point="botify.gym:ListenerEnv")
