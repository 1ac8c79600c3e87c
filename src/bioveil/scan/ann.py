"""The neighbour graph of a large collection from an approximate nearest neighbour index (HNSW, in faiss).

Every face asks the index for its ``k`` nearest faces and keeps those closer than the threshold; a face
whose ``k``-th neighbour is still closer asks again with twice ``k``, until its list ends beyond the
threshold, so a person with many photos keeps all their edges. The pairs found are made symmetric
(i < j), their distances recomputed exactly from the embeddings, and sorted, as the exact graph's are:
when both find the same pairs, both graphs are the same.

Time grows as n log n instead of n squared; memory is the embeddings, the index's links (about 2 x 16
ids a face) and the edges. The index is built on one thread, so that the same input gives the same
index and the same graph on every run; the searches, which do not change it, run on every core.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from bioveil.errors import MissingDependencyError

log = logging.getLogger(__name__)

CHUNK = 65_536


@dataclass(frozen=True)
class HnswSettings:
    """HNSW parameters (Malkov & Yashunin 2018): links per face, candidates while building and searching."""

    links: int = 16
    build_candidates: int = 80
    search_candidates: int = 64
    k: int = 32  # neighbours asked for first; doubled for faces whose k-th is still within the threshold
    threads: int = 0  # for the searches; 0: every core


def _faiss():  # type: ignore[no-untyped-def]
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError("scan's neighbour index", "pip install faiss-cpu==1.15.1") from exc
    return faiss


def _exact_distances(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    out = np.empty(len(rows), np.float32)
    for start in range(0, len(rows), chunk):
        r, c = rows[start : start + chunk], cols[start : start + chunk]
        out[start : start + chunk] = np.sqrt(((x[r] - x[c]) ** 2).sum(1))
    return out


def ann_graph(embeddings: np.ndarray, threshold: float,
              settings: HnswSettings = HnswSettings()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (i, j, weight) with i < j and Euclidean distance below ``threshold``, found through HNSW;
    weight = 1 - d / threshold (as :func:`bioveil.scan.cluster.neighbour_graph`)."""
    faiss = _faiss()
    x = np.ascontiguousarray(embeddings, np.float32)
    count = len(x)
    if count < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    threads = settings.threads or os.cpu_count() or 1
    faiss.omp_set_num_threads(1)  # one thread while building: the same index on every run
    index = faiss.IndexHNSWFlat(x.shape[1], settings.links)
    index.hnsw.efConstruction = settings.build_candidates
    index.add(x)
    faiss.omp_set_num_threads(threads)
    limit = threshold * threshold  # faiss gives squared distances
    pending = np.arange(count)
    k = min(settings.k, count)
    found_rows, found_cols = [], []
    while len(pending):
        index.hnsw.efSearch = max(settings.search_candidates, k)
        full = []
        for start in range(0, len(pending), CHUNK):  # in chunks: the results of a million searches stay small
            faces = pending[start : start + CHUNK]
            squared, ids = index.search(x[faces], k)
            close = (squared < limit) & (ids >= 0)
            found_rows.append(np.broadcast_to(faces[:, None], close.shape)[close])
            found_cols.append(ids[close])
            if k < count:
                full.append(faces[close[:, -1]])
        pending = np.concatenate(full) if full else np.zeros(0, np.int64)
        if len(pending):
            log.debug("%d faces have %d neighbours within the threshold: asking for %d", len(pending), k, 2 * k)
        k = min(2 * k, count)
    rows, cols = np.concatenate(found_rows).astype(np.int64), np.concatenate(found_cols).astype(np.int64)
    low, high = np.minimum(rows, cols), np.maximum(rows, cols)
    pairs = np.unique(np.stack([low, high], 1)[low != high], axis=0)  # sorted by (i, j), as the exact graph
    rows, cols = pairs[:, 0], pairs[:, 1]
    distance = _exact_distances(x, rows, cols)
    keep = distance < threshold
    log.info("neighbour graph of %d faces through HNSW: %d edges", count, int(keep.sum()))
    return rows[keep], cols[keep], (1.0 - distance[keep] / threshold).astype(np.float32)
