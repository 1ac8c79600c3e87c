"""People across a collection: Chinese whispers (Biemann 2006) on a graph of near-identical faces.

Faces are joined by an edge when their embeddings are closer than a threshold; each face then takes,
repeatedly and in a seeded random order, the label that weighs most among its neighbours. Unlike
joining connected components, one wrong edge does not merge two people.

Two ways to build the graph, named in :data:`GRAPHS`: ``exact`` compares every pair of faces, block by
block (memory grows with the number of edges, time with the square of the number of faces); ``ann``
asks an HNSW index for each face's nearest (:mod:`bioveil.scan.ann`: time close to linear). ``auto``, the
default, is exact up to :data:`EXACT_UP_TO` faces, where it takes seconds, and HNSW beyond.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from bioveil.errors import UnknownNameError

log = logging.getLogger(__name__)

BLOCK = 2048
# Up to this many faces the exact graph is as fast as HNSW or faster (bench/scan_scale.py: 3 s against
# 7 s at 10,000 faces, quadratic beyond) and exact; beyond, HNSW.
EXACT_UP_TO = 20_000


def neighbour_graph(embeddings: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (i, j, weight) with i < j and Euclidean distance below ``threshold``; weight = 1 - d / threshold."""
    x = np.asarray(embeddings, np.float32)
    squared = (x * x).sum(1)
    rows, cols, weights = [], [], []
    for start in range(0, len(x), BLOCK):
        block = x[start : start + BLOCK]
        distance = np.sqrt(np.maximum(squared[start : start + BLOCK, None] + squared[None, :] - 2 * block @ x.T, 0))
        i, j = np.nonzero(distance < threshold)
        i = i + start
        keep = i < j
        rows.append(i[keep])
        cols.append(j[keep])
        weights.append(1.0 - distance[i[keep] - start, j[keep]] / threshold)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(weights).astype(np.float32)


def chinese_whispers(count: int, edges: tuple[np.ndarray, np.ndarray, np.ndarray], iterations: int = 30,
                     seed: int = 0) -> np.ndarray:
    """A cluster label (n,) for each of ``count`` nodes, labels numbered from 0 by descending size."""
    rows, cols, weights = edges
    neighbours: list[list[int]] = [[] for _ in range(count)]
    strengths: list[list[float]] = [[] for _ in range(count)]
    for i, j, w in zip(rows.tolist(), cols.tolist(), weights.tolist(), strict=True):
        neighbours[i].append(j)
        strengths[i].append(w)
        neighbours[j].append(i)
        strengths[j].append(w)
    labels = np.arange(count)
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        changed = 0
        for node in rng.permutation(count):
            if not neighbours[node]:
                continue
            votes: dict[int, float] = {}
            for other, weight in zip(neighbours[node], strengths[node], strict=True):
                label = int(labels[other])
                votes[label] = votes.get(label, 0.0) + weight
            best = max(votes.items(), key=lambda item: (item[1], -item[0]))[0]
            if best != labels[node]:
                labels[node] = best
                changed += 1
        if changed == 0:
            break
    _, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse]


Edges = tuple[np.ndarray, np.ndarray, np.ndarray]


def _ann_graph(embeddings: np.ndarray, threshold: float) -> Edges:
    from bioveil.scan.ann import ann_graph

    return ann_graph(embeddings, threshold)


GRAPHS: dict[str, Callable[[np.ndarray, float], Edges]] = {"exact": neighbour_graph, "ann": _ann_graph}


def build_graph(embeddings: np.ndarray, threshold: float, graph: str = "auto") -> Edges:
    """The threshold graph of ``embeddings`` by the method named ``graph`` (``auto`` or one of :data:`GRAPHS`)."""
    if graph == "auto":
        graph = "exact" if len(embeddings) <= EXACT_UP_TO else "ann"
    if graph not in GRAPHS:
        raise UnknownNameError("neighbour graph", graph, ["auto", *GRAPHS])
    log.debug("%s neighbour graph of %d faces", graph, len(embeddings))
    return GRAPHS[graph](embeddings, threshold)


def cluster_faces(embeddings: np.ndarray, threshold: float, seed: int = 0, graph: str = "auto") -> np.ndarray:
    """Person labels (n,) for face embeddings; a face alone in its cluster gets -1.

    ``graph``: how the threshold graph is built, ``auto`` (exact for small collections, HNSW for large),
    ``exact`` or ``ann``."""
    if graph != "auto" and graph not in GRAPHS:
        raise UnknownNameError("neighbour graph", graph, ["auto", *GRAPHS])
    if len(embeddings) == 0:
        return np.zeros(0, np.int64)
    labels = chinese_whispers(len(embeddings), build_graph(embeddings, threshold, graph), seed=seed)
    sizes = np.bincount(labels)
    singletons = sizes[labels] < 2
    # Renumber the clusters of two or more faces 0, 1, ... (already by descending size).
    kept = np.unique(labels[~singletons])
    remap = np.full(labels.max() + 1, -1)
    remap[kept] = np.arange(len(kept))
    return np.where(singletons, -1, remap[labels])
