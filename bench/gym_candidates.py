"""Steps per second of the vector candidate-set environment with a trivial (uniformly random)
policy: the environment's own cost, what an RL library pays per step before its learning.

    python bench/gym_candidates.py WORLD_DIR [--envs 256] [--candidates 16] [--steps 2000]
"""

import argparse
import time

import numpy as np

import botify
import botify.gym

ap = argparse.ArgumentParser()
ap.add_argument("world")
ap.add_argument("--envs", type=int, default=256)
ap.add_argument("--candidates", type=int, default=16)
ap.add_argument("--steps", type=int, default=2_000)
ap.add_argument("--flat", action="store_true")
args = ap.parse_args()

venv = botify.gym.VectorCandidateEnv(botify.World.load(args.world), num_envs=args.envs,
                                     candidates=args.candidates, flat=args.flat)
rng = np.random.default_rng(0)
venv.reset(seed=0)
for _ in range(50):  # warm: the first sessions' exact neighbour search
    venv.step(rng.integers(0, args.candidates, args.envs))
started = time.perf_counter()
for _ in range(args.steps):
    venv.step(rng.integers(0, args.candidates, args.envs))
seconds = time.perf_counter() - started
print(f"{args.steps * args.envs / seconds:,.0f} steps/s ({args.envs} envs, K={args.candidates}, "
      f"{'flat' if args.flat else 'dict'} observations, {seconds:.2f} s)")
