import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import botify
import botify.gym
from botify.gym import ListenerEnv, VectorListenerEnv


def test_check_env_passes(world):
    check_env(ListenerEnv(world), skip_render_check=True)


def test_registered_and_made_from_a_directory(world):
    env = gymnasium.make("botify/Listener-v0", world=str(world.dir))
    obs, info = env.reset(seed=1)
    assert env.observation_space.contains(obs)


def play(env, seed, policy, sessions):
    out = []
    obs, _ = env.reset(seed=seed)
    for _ in range(sessions):
        total, steps, done = 0.0, 0, False
        while not done:
            obs, reward, done, truncated, _ = env.step(policy(obs))
            total += reward
            steps += 1
        out.append((round(total, 6), steps))
        obs, _ = env.reset()
    return out


def test_reset_with_a_seed_is_reproducible_and_sessions_end(world):
    env = ListenerEnv(world, max_steps=50)
    same_artist = lambda obs: int(obs["track"]) ^ 1  # a neighbour id
    a = play(env, 11, same_artist, 5)
    b = play(env, 11, same_artist, 5)
    c = play(env, 12, same_artist, 5)
    assert a == b and a != c
    assert all(1 <= steps <= 50 for _, steps in a)
    assert all(0 <= total <= steps for total, steps in a)


def test_the_env_replays_the_simulators_sessions(world):
    # The oracle is out of reach here, but any fixed policy sees the simulator's listeners:
    # the first observation of session 0 is the same whatever the policy.
    env = ListenerEnv(world)
    first = [env.reset(seed=s)[0] for s in range(5)]
    again = [env.reset(seed=s)[0] for s in range(5)]
    assert [(int(o["user"]), int(o["track"])) for o in first] == [
        (int(o["user"]), int(o["track"])) for o in again]
    assert all(o["time"].tolist() == [1.0] for o in first)


def test_episodes_run_across_visits_with_listener_dynamics(tmp_path):
    dynamics = {"returns": 2.0, "drift": 0.05, "taste_pull": 0.1, "boredom": 2.0,
                "genre_boredom": 0.1}
    w = botify.World.generate(tmp_path / "w", tracks=2000, users=50, dim=8, seed=2,
                              dynamics=dynamics)
    assert w.dynamics["boredom"] == 2.0
    check_env(ListenerEnv(w), skip_render_check=True)
    env = ListenerEnv(w, max_steps=50)
    same_artist = lambda obs: int(obs["track"]) ^ 1
    # Five days of visits (about two per listener a day), twice from the same seed.
    a = play(env, 5, same_artist, 500)
    assert a == play(env, 5, same_artist, 500)
    # Listeners tire of the artists they keep hearing: later visits are worth less.
    first, last = sum(t for t, _ in a[:100]), sum(t for t, _ in a[-100:])
    assert last < 0.8 * first, (first, last)


def test_bad_actions_raise(world):
    env = ListenerEnv(world)
    env.reset(seed=0)
    with pytest.raises(botify.BotifyError, match="not a track id"):
        env.step(world.n_tracks)
    with pytest.raises(botify.BotifyError, match="not a track id"):
        env.step(-1)


def test_vector_env_steps_many_sessions_with_same_step_autoreset(world):
    n = 64
    venv = VectorListenerEnv(world, num_envs=n, max_steps=30)
    obs, _ = venv.reset(seed=3)
    assert obs["user"].shape == (n,) and obs["time"].dtype == np.float32
    assert venv.observation_space.contains(obs)
    single = ListenerEnv(world, max_steps=30)
    o0, _ = single.reset(seed=3)
    assert (int(o0["user"]), int(o0["track"])) == (obs["user"][0], obs["track"][0])
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(100):
        actions = rng.integers(0, world.n_tracks, size=n)
        obs, reward, terminated, truncated, infos = venv.step(actions)
        assert reward.shape == (n,) and ((0 <= reward) & (reward <= 1)).all()
        if terminated.any():
            ended += int(terminated.sum())
            assert infos["_final_obs"].tolist() == terminated.tolist()
            # A replaced slot starts a new session: listened fully to its first track.
            assert (obs["time"][terminated] == 1.0).all()
    assert ended > 0
    with pytest.raises(botify.BotifyError, match="actions"):
        venv.step(np.zeros(n + 1, dtype=np.int64))
