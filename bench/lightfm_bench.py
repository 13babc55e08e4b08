"""LightFM WARP on a Botify event log, with Botify's split and metric, for a side-by-side benchmark.

    python3 bench/lightfm_bench.py LOG_DIR/data.json [THREADS] [EPOCHS]

Split and metric exactly as `botify train mf --holdout 0.2`: listens sorted by timestamp, the last
20% held out; positives are listens with time >= 0.7; each user's train-heard tracks are excluded
from the top 10; precision@10 is averaged over users with a held-out positive. Prints the mean
seconds per epoch (fit_partial, no evaluation inside the timing) and precision@10.
"""
import json
import sys
import time

import numpy as np
from lightfm import LightFM
from scipy.sparse import coo_matrix

path = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 10

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

pos = train & (times >= 0.7)
pairs = np.unique(np.stack([users[pos], tracks[pos]], axis=1), axis=0)
X = coo_matrix((np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])), shape=(n_users, n_items)).tocsr()
heard = {}
for u, t in zip(users[train], tracks[train]):
    heard.setdefault(u, set()).add(t)
held = {}
for u, t, x in zip(users[test], tracks[test], times[test]):
    if x >= 0.7:
        held.setdefault(u, set()).add(t)

model = LightFM(no_components=64, loss="warp", learning_rate=0.05, max_sampled=50, random_state=31337)
spent = []
for e in range(epochs):
    t0 = time.perf_counter()
    model.fit_partial(X, epochs=1, num_threads=threads)
    spent.append(time.perf_counter() - t0)

U = model.user_embeddings; V = model.item_embeddings; b = model.item_biases
hits = 0.0
for u, p in held.items():
    s = V @ U[u] + b
    for t in heard.get(u, ()):
        s[t] = -np.inf
    top = np.argpartition(-s, 10)[:10]
    hits += len(p.intersection(top.tolist())) / 10
print(f"LightFM WARP: {len(pairs)} train positives, {np.mean(spent):.3f} s/epoch over {epochs} epochs "
      f"({threads} threads), precision@10 {hits / len(held):.4f} over {len(held)} users")
