"""Botify's event log as the benchmark scripts need it, split exactly as `botify train --holdout 0.2`.

Listens sorted by timestamp, the last 20% held out; `held` maps each user to the held-out tracks
listened >= 0.7 (the users precision@10 is averaged over), `heard` to every train-heard track
(excluded from the top 10)."""
import json

import numpy as np


def load(path):
    users, tracks, times, stamps = [], [], [], []
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            users.append(e["user"]); tracks.append(e["track"]); times.append(e["time"]); stamps.append(e["timestamp"])
    users = np.array(users); tracks = np.array(tracks); times = np.array(times, dtype=np.float32)
    stamps = np.array(stamps)
    cut = np.sort(stamps)[int(np.floor(len(stamps) * 0.8))]
    train, test = stamps < cut, stamps >= cut
    heard, held = {}, {}
    for u, t in zip(users[train], tracks[train]):
        heard.setdefault(u, set()).add(t)
    for u, t, x in zip(users[test], tracks[test], times[test]):
        if x >= 0.7:
            held.setdefault(u, set()).add(t)
    return users[train], tracks[train], times[train], heard, held, users.max() + 1


def precision_at_10(user_vecs, item_vecs, item_bias, heard, held):
    """Mean precision@10 of the users in `held`, scoring every track."""
    hits = 0.0
    for u, p in held.items():
        s = item_vecs @ user_vecs[u] + item_bias
        for t in heard.get(u, ()):
            s[t] = -np.inf
        top = np.argpartition(-s, 10)[:10]
        hits += len(p.intersection(top.tolist())) / 10
    return hits / len(held)
