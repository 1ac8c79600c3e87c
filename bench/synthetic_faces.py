"""A collection of any size made from real LFW embeddings: copies of the whole LFW set, each turned by
its own random rotation.

Copy 0 is LFW as scanned; copy c is every LFW embedding times one random orthogonal matrix Q_c (QR of a
Gaussian matrix, seeded by c), and its identities are new ones, ``(c, name)``. A rotation keeps every
distance inside a copy, so each copy has LFW's real identities, real spreads within an identity and real
impostors beside them; across copies, faces are as far apart as random directions, so the number of
edges per face stays that of LFW. The last copy is cut to reach the size asked for.
"""

from __future__ import annotations

import numpy as np


def rotation(dimension: int, seed: int) -> np.ndarray:
    """A random orthogonal matrix, uniform over rotations and reflections (Mezzadri 2007)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dimension, dimension)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def rotated_copies(embeddings: np.ndarray, truth: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` faces (float32 embeddings) and their identity numbers, made of rotated copies of ``embeddings``."""
    x = np.asarray(embeddings, np.float32)
    _, identity = np.unique(truth, return_inverse=True)
    people = int(identity.max()) + 1
    out = np.empty((count, x.shape[1]), np.float32)
    labels = np.empty(count, np.int64)
    for copy, start in enumerate(range(0, count, len(x))):
        size = min(len(x), count - start)
        out[start : start + size] = x[:size] if copy == 0 else x[:size] @ rotation(x.shape[1], copy)
        labels[start : start + size] = identity[:size] + copy * people
    return out, labels
