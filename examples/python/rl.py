"""Trains Stable-Baselines3's PPO on Botify's candidate-set environment and compares it with a
random policy and StickyArtist (both choosing among the same candidates), on sessions none of them
trained on. Writes the learning curve to rl_curve.png and prints the table of docs/rl.md.

    pip install "./python[rl]"          # stable-baselines3 (and torch) and matplotlib
    python examples/python/rl.py --steps 200000

CPU only; the figures of docs/rl.md came from this command.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import botify
import botify.gym


def evaluate(world, policy, sessions: int, seed: int, k: int) -> tuple[float, float]:
    """Mean and standard error of the return (listen time per session) over `sessions` fresh
    sessions of `seed`'s stream, policy(obs, candidates) -> index."""
    env = botify.gym.CandidateEnv(world, candidates=k, flat=True)
    returns = []
    obs, info = env.reset(seed=seed)
    total = 0.0
    while len(returns) < sessions:
        obs, r, terminated, truncated, info = env.step(policy(obs, info))
        total += r
        if terminated or truncated:
            returns.append(total)
            total = 0.0
            obs, info = env.reset()
    x = np.array(returns)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x)))


def main() -> None:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.monitor import Monitor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", default="world-rl", help="world directory (generated if missing)")
    ap.add_argument("--tracks", type=int, default=50_000)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--candidates", type=int, default=16)
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--envs", type=int, default=8)
    ap.add_argument("--sessions", type=int, default=2_000, help="evaluation sessions per policy")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    try:
        world = botify.World.load(args.world)
    except botify.BotifyError:
        world = botify.World.generate(args.world, tracks=args.tracks, users=args.users)
    k = args.candidates
    curve: list[tuple[int, float]] = []

    def make():
        return Monitor(botify.gym.CandidateEnv(world, candidates=k, flat=True))

    venv = make_vec_env(make, n_envs=args.envs, seed=args.seed)
    model = PPO("MlpPolicy", venv, seed=args.seed, verbose=0, n_steps=256, batch_size=512,
                learning_rate=3e-4, gamma=0.9, ent_coef=0.01)
    started = time.time()
    chunk = max(args.steps // 20, 1)
    done = 0
    while done < args.steps:
        model.learn(chunk, reset_num_timesteps=False)
        done += chunk
        ep = [e["r"] for e in model.ep_info_buffer]
        curve.append((done, float(np.mean(ep)) if ep else float("nan")))
        print(f"{done:>9} steps  mean return of the last {len(ep)} training sessions "
              f"{curve[-1][1]:.3f}  ({time.time() - started:.0f} s)", flush=True)
    minutes = (time.time() - started) / 60

    rng = np.random.default_rng(args.seed)
    names = botify.gym.CandidateEnv(world, candidates=k).feature_names
    same_artist = names.index("same_artist")

    def candidates(obs):
        return obs[: k * len(names)].reshape(k, len(names))

    def random_policy(obs, info):
        return int(rng.integers(k))

    def sticky_artist(obs, info):
        # StickyArtist among the candidates: a random one by the previous track's artist.
        same = np.flatnonzero(candidates(obs)[:, same_artist] == 1.0)
        return int(rng.choice(same)) if len(same) else int(rng.integers(k))

    def ppo(obs, info):
        return int(model.predict(obs, deterministic=True)[0])

    eval_seed = 10_000 + args.seed
    rows = [(name, *evaluate(world, policy, args.sessions, eval_seed, k))
            for name, policy in [("random", random_policy), ("sticky_artist", sticky_artist),
                                 (f"PPO, {args.steps:,} steps", ppo)]]
    print(f"\nPPO trained {args.steps:,} steps in {minutes:.1f} min on CPU; "
          f"{args.sessions:,} evaluation sessions per policy (seed {eval_seed})")
    print("| policy | listen time per session | ± se |\n| --- | --- | --- |")
    for name, mean, se in rows:
        print(f"| {name} | {mean:.3f} | {se:.3f} |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    xs, ys = zip(*curve)
    ax.plot(xs, ys, marker="o", label="PPO (mean return of recent training sessions)")
    for name, mean, _ in rows[:2]:
        ax.axhline(mean, linestyle="--", color="grey" if name == "random" else "tab:orange",
                   label=f"{name} (evaluation)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("listen time per session")
    ax.set_title(f"PPO on botify/Candidates-v0, K={k}")
    ax.legend()
    fig.tight_layout()
    fig.savefig("rl_curve.png")
    print("learning curve: rl_curve.png")


if __name__ == "__main__":
    main()
