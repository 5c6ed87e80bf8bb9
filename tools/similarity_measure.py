#!/usr/bin/env python3
"""Which normalisation of the embeddings finds similar tracks best (README, "Similar tracks and
playlists"). Reads the analysis cache tools/similarity_measure.sh filled and prints, per set,
model and normalisation, how many clips have a clip of their own song as nearest neighbour and
the mean average precision (mAP) of retrieving all the other clips of their song.

Usage: similarity_measure.py CACHE.sqlite
"""
import os
import sqlite3
import sys

import numpy as np


def load(db):
    """{(set, model, mode): [(song, embedding)]}; the set is the clip's folder name."""
    groups = {}
    for path, model, mode, blob in sqlite3.connect(db).execute(
        "SELECT path, model, mode, embedding FROM results WHERE embedding IS NOT NULL"
    ):
        path = path.decode("utf-8", "replace") if isinstance(path, bytes) else path
        song = os.path.basename(path).split(".")[0]
        key = (os.path.basename(os.path.dirname(path)), model, mode)
        groups.setdefault(key, []).append((song, np.frombuffer(blob, dtype="<f4").astype(np.float64)))
    return groups


def unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def normalisations(x):
    """(name, distance matrix) for each candidate, statistics over the set itself."""
    mean = x.mean(0)
    sd = x.std(0)
    sd[sd < 1e-12] = np.inf
    centred = x - mean
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    lam = s**2 / len(x)
    keep = lam > 1e-9 * lam.max()
    cos = lambda y: 1 - unit(y) @ unit(y).T  # noqa: E731
    return [
        ("raw, Euclidean", np.linalg.norm(x[:, None] - x[None], axis=2)),
        ("raw cosine (= L2-normalised)", cos(x)),
        ("centred cosine", cos(centred)),
        ("z-scored cosine (chosen)", cos(centred / sd)),
        ("PCA-whitened cosine", cos((centred @ vt[keep].T) / np.sqrt(lam[keep]))),
        ("PCA-whitened cosine, regularised", cos((centred @ vt.T) / np.sqrt(lam + 0.1 * lam.mean()))),
    ]


def scores(songs, d):
    d = d.copy()
    np.fill_diagonal(d, np.inf)
    own, aps = 0, []
    for i in range(len(songs)):
        order = [j for j in np.argsort(d[i], kind="stable") if j != i]
        rel = np.array([songs[j] == songs[i] for j in order])
        own += int(rel[0])
        hits = np.cumsum(rel)
        aps.append(np.mean((hits / np.arange(1, len(rel) + 1))[rel]))
    return own, float(np.mean(aps))


def main():
    groups = load(sys.argv[1])
    print("| set | model | normalisation | nearest is own song | mAP |")
    print("|---|---|---|---|---|")
    for (folder, model, mode), items in sorted(groups.items()):
        songs = [s for s, _ in items]
        x = np.stack([e for _, e in items])
        for name, d in normalisations(x):
            own, m = scores(songs, d)
            print(f"| {folder} ({len(songs)} clips, {mode}) | {model} | {name} | {own} of {len(songs)} | {m:.3f} |")


if __name__ == "__main__":
    main()
