"""`implicit`'s CPU ALS on a Botify event log, with Botify's data, split and metric.

    python3 bench/implicit_bench.py LOG_DIR/data.json [ITERATIONS]

As `botify train als --holdout 0.2`: listens sorted by timestamp, the last 20% held out; a
(user, track) pair with a train listen >= 0.7 gets confidence 1 + 10 * (its total train listen
time); 64 factors, regularisation 0.1, 3 conjugate-gradient steps; each user's train-heard tracks
are excluded from the top 10; precision@10 over users with a held-out positive (>= 0.7).
"""
import json
import sys
import time

import numpy as np
from implicit.als import AlternatingLeastSquares
from scipy.sparse import coo_matrix

path = sys.argv[1]
iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 8

users, tracks, times, stamps = [], [], [], []
with open(path) as f:
    for line in f:
        e = json.loads(line)
        users.append(e["user"]); tracks.append(e["track"]); times.append(e["time"]); stamps.append(e["timestamp"])
users = np.array(users); tracks = np.array(tracks); times = np.array(times, dtype=np.float32)
stamps = np.array(stamps)
cut = np.sort(stamps)[int(np.floor(len(stamps) * 0.8))]
train, test = stamps < cut, stamps >= cut
n_users, n_items = users.max() + 1, 50000

total, liked = {}, set()
heard = {}
for u, t, x in zip(users[train], tracks[train], times[train]):
    total[(u, t)] = total.get((u, t), 0.0) + x
    if x >= 0.7:
        liked.add((u, t))
    heard.setdefault(u, set()).add(t)
rows = np.array([u for u, _ in liked]); cols = np.array([t for _, t in liked])
vals = np.array([1.0 + 10.0 * total[p] for p in liked], dtype=np.float32)
X = coo_matrix((vals, (rows, cols)), shape=(n_users, n_items)).tocsr()
held = {}
for u, t, x in zip(users[test], tracks[test], times[test]):
    if x >= 0.7:
        held.setdefault(u, set()).add(t)

model = AlternatingLeastSquares(factors=64, regularization=0.1, iterations=iterations, use_cg=True,
                                calculate_training_loss=False, random_state=31337)
t0 = time.perf_counter()
model.fit(X, show_progress=False)
spent = time.perf_counter() - t0

U = model.user_factors; V = model.item_factors
hits = 0.0
for u, p in held.items():
    s = V @ U[u]
    for t in heard.get(u, ()):
        s[t] = -np.inf
    top = np.argpartition(-s, 10)[:10]
    hits += len(p.intersection(top.tolist())) / 10
print(f"implicit ALS: {len(liked)} train pairs, {spent:.2f} s for {iterations} iterations "
      f"({spent / iterations:.3f} s/iteration), precision@10 {hits / len(held):.4f} over {len(held)} users")
