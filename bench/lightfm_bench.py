"""LightFM WARP on a Botify event log, with Botify's split and metric, for a side-by-side benchmark.

    python3 bench/lightfm_bench.py LOG_DIR/data.json [THREADS] [EPOCHS]

Split and metric as `botify train mf --holdout 0.2` (see botify_log.py); positives are train
listens with time >= 0.7. Prints the mean seconds per epoch (fit_partial alone) and precision@10.
"""
import sys
import time

import numpy as np
from lightfm import LightFM
from scipy.sparse import coo_matrix

from botify_log import load, precision_at_10

path = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
users, tracks, times, heard, held, n_users = load(path)

pos = times >= 0.7
pairs = np.unique(np.stack([users[pos], tracks[pos]], axis=1), axis=0)
X = coo_matrix((np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])), shape=(n_users, 50000)).tocsr()

model = LightFM(no_components=64, loss="warp", learning_rate=0.05, max_sampled=50, random_state=31337)
spent = []
for e in range(epochs):
    t0 = time.perf_counter()
    model.fit_partial(X, epochs=1, num_threads=threads)
    spent.append(time.perf_counter() - t0)

p10 = precision_at_10(model.user_embeddings, model.item_embeddings, model.item_biases, heard, held)
print(f"LightFM WARP: {len(pairs)} train positives, {np.mean(spent):.3f} s/epoch over {epochs} epochs "
      f"({threads} threads), precision@10 {p10:.4f} over {len(held)} users")
