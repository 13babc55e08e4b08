#!/usr/bin/env python3
"""Per-track lists of the nearest tracks by the world's hidden embeddings (inner product).

A check of how far a policy could go with perfect knowledge of the tracks, never a model: the
service and the trainers must not read tracks.npy (docs/models.md, "The goal against perfect
information"). The file has the format of every per-track list file, so `session_anchor` serves
it:

    python3 bench/true_lists.py --world W --out /tmp/true.jsonl
    botify sim --world W --seed SEED --start-day 3 --recommender \\
        '{ type = "session_anchor", file = "/tmp/true.jsonl", liked = 1.0, fusion = 60.0 }'

Needs numpy.
"""

import argparse
import json
import pathlib

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", required=True, help="world directory (tracks.npy)")
    ap.add_argument("--out", required=True, help="the list file to write (JSON lines)")
    ap.add_argument("--k", type=int, default=300, help="tracks per list")
    ap.add_argument("--block", type=int, default=1000, help="query tracks scored at once")
    a = ap.parse_args()
    emb = np.load(pathlib.Path(a.world) / "tracks.npy").astype(np.float32)
    n = len(emb)
    k = min(a.k, n - 1)
    with open(a.out, "w") as out:
        for start in range(0, n, a.block):
            scores = emb[start:start + a.block] @ emb.T
            rows = np.arange(scores.shape[0])
            scores[rows, start + rows] = -np.inf  # not the track itself
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            for i, cand in enumerate(top):
                # Nearest first, ties by lower id (as the simulator's exact lists).
                order = np.lexsort((cand, -scores[i, cand]))
                out.write(json.dumps({"track": start + i,
                                      "recommendations": cand[order].tolist()}) + "\n")


if __name__ == "__main__":
    main()
