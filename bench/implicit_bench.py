"""`implicit`'s CPU ALS on a Botify event log, with Botify's data, split and metric.

    python3 bench/implicit_bench.py LOG_DIR/data.json [ITERATIONS]

As `botify train als --holdout 0.2` (split and metric in botify_log.py): a (user, track) pair with
a train listen >= 0.7 gets confidence 1 + 10 * (its total train listen time); 64 factors,
regularisation 0.1, 3 conjugate-gradient steps.
"""
import sys
import time

import numpy as np
from implicit.als import AlternatingLeastSquares
from scipy.sparse import coo_matrix

from botify_log import load, precision_at_10

path = sys.argv[1]
iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 8
users, tracks, times, heard, held, n_users = load(path)

total, liked = {}, set()
for u, t, x in zip(users, tracks, times):
    total[(u, t)] = total.get((u, t), 0.0) + x
    if x >= 0.7:
        liked.add((u, t))
rows = np.array([u for u, _ in liked]); cols = np.array([t for _, t in liked])
vals = np.array([1.0 + 10.0 * total[p] for p in liked], dtype=np.float32)
X = coo_matrix((vals, (rows, cols)), shape=(n_users, 50000)).tocsr()

model = AlternatingLeastSquares(factors=64, regularization=0.1, iterations=iterations, use_cg=True,
                                calculate_training_loss=False, random_state=31337)
t0 = time.perf_counter()
model.fit(X, show_progress=False)
spent = time.perf_counter() - t0

p10 = precision_at_10(model.user_factors, model.item_factors, 0.0, heard, held)
print(f"implicit ALS: {len(liked)} train pairs, {spent:.2f} s for {iterations} iterations "
      f"({spent / iterations:.3f} s/iteration), precision@10 {p10:.4f} over {len(held)} users")
