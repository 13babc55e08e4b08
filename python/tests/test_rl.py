"""The candidate-set environment: Gymnasium semantics, its generators and features, and a small
policy-gradient agent in numpy that learns on it (its return rises above a random policy's)."""

import json

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import botify
import botify.gym
from botify.gym import CandidateEnv, ListenerEnv, VectorCandidateEnv


@pytest.mark.parametrize("flat", [False, True])
def test_check_env_passes(world, flat):
    check_env(CandidateEnv(world, candidates=8, flat=flat), skip_render_check=True)


def test_registered_with_dict_observations_and_no_zero_dim_spaces(world):
    env = gymnasium.make("botify/Candidates-v0", world=str(world.dir), candidates=12, history=4)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert obs["candidates"].shape == (12, 5) and obs["history"].shape == (4, 6)
    assert len(set(info["candidates"].tolist())) == 12
    for space in env.observation_space.spaces.values():
        assert space.shape and all(n > 0 for n in space.shape)
    obs, reward, terminated, truncated, info = env.step(0)
    assert 0.0 <= reward <= 1.0 and isinstance(info["track"], int)


def test_the_step_cap_truncates_and_the_listener_terminates(world):
    env = CandidateEnv(world, candidates=8, max_steps=8)
    ends = []
    env.reset(seed=5)
    for step in range(400):
        # The last candidates are random tracks (mostly skipped), the first the artist's.
        _, _, terminated, truncated, _ = env.step(7 if step % 3 else 0)
        if terminated or truncated:
            assert not (terminated and truncated)
            ends.append("terminated" if terminated else "truncated")
            env.reset()
    assert {"terminated", "truncated"} <= set(ends)
    raw = ListenerEnv(world, max_steps=2)
    obs, _ = raw.reset(seed=1)
    assert obs["time"].shape == (1,)
    done = []
    for _ in range(50):
        track = (int(obs["track"]) + 1) % world.n_tracks
        obs, _, terminated, truncated, _ = raw.step(track)
        if terminated or truncated:
            done.append(truncated)
            obs, _ = raw.reset()
    assert any(done), "reaching max_steps is a truncation"


def test_same_seed_same_episodes(world):
    def run(seed):
        env = CandidateEnv(world, candidates=8)
        out, (obs, info) = [], env.reset(seed=seed)
        for _ in range(100):
            obs, r, te, tr, info = env.step(int(np.argmax(obs["candidates"][:, 3])))
            out.append((info["track"], r))
            if te or tr:
                obs, info = env.reset()
        return out
    assert run(4) == run(4) and run(4) != run(5)


def test_generators_callable_lists_and_learned_embeddings(world, tmp_path):
    calls = []

    def next_ids(user, prev, session):
        calls.append((user, prev, list(session)))
        return [(prev + j) % world.n_tracks for j in range(1, 4)]

    env = CandidateEnv(world, candidates=6, generator=next_ids)
    _, info = env.reset(seed=0)
    assert calls and calls[0][2] == [calls[0][1]]
    assert info["candidates"][:3].tolist() == [(calls[0][1] + j) % world.n_tracks for j in (1, 2, 3)]
    lists = tmp_path / "i2i.jsonl"
    lists.write_text("".join(
        json.dumps({"track": t, "recommendations": [(t * 7 + j) % world.n_tracks for j in range(1, 6)]}) + "\n"
        for t in range(world.n_tracks)))
    env = CandidateEnv(world, candidates=8, generator=lists)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    emb = np.random.default_rng(0).normal(size=(world.n_tracks, 3)).astype(np.float32)
    env = CandidateEnv(world, candidates=8, embedding=emb)
    obs, info = env.reset(seed=0)
    assert obs["candidates"].shape == (8, 8)
    np.testing.assert_array_equal(obs["candidates"][:, 5:], emb[info["candidates"]])
    taste = tmp_path / "taste.jsonl"
    artists = world.tracks["artist"].unique()
    taste.write_text("".join(json.dumps({"artist": a, "vector": [float(i), 1.0], "tracks": []}) + "\n"
                             for i, a in enumerate(artists)))
    env = CandidateEnv(world, candidates=8, embedding=taste)
    obs, info = env.reset(seed=0)
    first = world.tracks["artist"].to_numpy()[info["candidates"][0]]
    assert obs["candidates"][0, 5:].tolist() == [float(list(artists).index(first)), 1.0]


def test_bad_arguments_raise_clear_errors(world, tmp_path):
    with pytest.raises(botify.BotifyError, match="catalogue has"):
        CandidateEnv(world, candidates=world.n_tracks + 1)
    with pytest.raises(botify.BotifyError, match="embedding"):
        CandidateEnv(world, embedding=np.zeros((3, 2), np.float32))
    with pytest.raises(botify.BotifyError, match="neither default"):
        CandidateEnv(world, generator=str(tmp_path / "missing.jsonl"))
    env = CandidateEnv(world, candidates=4, generator=lambda u, p, s: [-1])
    with pytest.raises(botify.BotifyError, match="not a track id"):
        env.reset(seed=0)
    env = CandidateEnv(world, candidates=4)
    env.reset(seed=0)
    with pytest.raises(botify.BotifyError, match="not a candidate index"):
        env.step(4)


def test_vector_env_autoresets_in_the_same_step(world):
    n = 32
    venv = VectorCandidateEnv(world, num_envs=n, candidates=8, max_steps=5, flat=True)
    obs, info = venv.reset(seed=2)
    assert obs.shape == (n, venv.single_observation_space.shape[0])
    ended = 0
    for _ in range(20):
        obs, r, te, tr, info = venv.step(np.zeros(n, dtype=np.int64))
        assert venv.observation_space.contains(obs)
        if (te | tr).any():
            ended += int((te | tr).sum())
            assert info["_final_obs"].sum() == (te | tr).sum()
            assert info["final_obs"][info["_final_obs"]].any()
    assert ended > 0


# A small policy-gradient agent (REINFORCE with a normalised return-to-go, linear softmax over
# the candidates' features): what the environment must let any learner do.

def _softmax(logits):
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def _sample(p, rng):
    return ((rng.random((len(p), 1)) > p.cumsum(axis=1)).sum(axis=1)).clip(0, p.shape[1] - 1)


def _mean_return(venv, policy, steps, seed):
    obs, _ = venv.reset(seed=seed)
    ret, done = np.zeros(venv.num_envs), []
    for _ in range(steps):
        obs, r, te, tr, _ = venv.step(policy(obs))
        ret += r
        for i in np.flatnonzero(te | tr):
            done.append(ret[i])
            ret[i] = 0.0
    return float(np.mean(done))


def _reinforce(venv, iterations, horizon, lr, gamma, seed):
    rng = np.random.default_rng(seed)
    theta = np.zeros(venv.single_observation_space["candidates"].shape[1])
    obs, _ = venv.reset(seed=seed)
    for _ in range(iterations):
        scores, rewards, ends = [], [], []
        for _ in range(horizon):
            c = obs["candidates"]
            p = _softmax(c @ theta)
            a = _sample(p, rng)
            scores.append(c[np.arange(len(a)), a] - (p[:, :, None] * c).sum(axis=1))
            obs, r, te, tr, _ = venv.step(a)
            rewards.append(r)
            ends.append(te | tr)
        g, returns = np.zeros(venv.num_envs), []
        for r, e in zip(reversed(rewards), reversed(ends)):
            g = r + gamma * g * ~e
            returns.append(g)
        returns = np.array(returns[::-1])
        adv = (returns - returns.mean()) / (returns.std() + 1e-8)
        theta += lr * np.einsum("tn,tnf->f", adv, np.array(scores)) / adv.size
    return theta


@pytest.mark.parametrize("seed", [7, 8])
def test_a_numpy_policy_gradient_agent_learns(tmp_path, seed):
    w = botify.World.generate(tmp_path / "w", tracks=3_000, users=300, dim=16, seed=seed)
    venv = VectorCandidateEnv(w, num_envs=64, candidates=16, max_steps=200)
    rng = np.random.default_rng(1)
    random_return = _mean_return(venv, lambda o: rng.integers(0, 16, venv.num_envs), 300, 99)
    theta = _reinforce(venv, iterations=40, horizon=32, lr=0.5, gamma=0.5, seed=0)
    pick = np.random.default_rng(2)
    learned = _mean_return(venv, lambda o: _sample(_softmax(o["candidates"] @ theta), pick), 300, 99)
    assert learned > 1.15 * random_return, (random_return, learned, theta)
