"""The HNSW neighbour graph (bioveil.scan.ann) against the exact one, on every face scan finds in real
LFW photos: the same threshold edges, the same people, the same result twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bioveil.errors import UnknownNameError
from bioveil.scan.ann import HnswSettings, ann_graph
from bioveil.scan.cluster import EXACT_UP_TO, build_graph, cluster_faces, neighbour_graph
from bioveil.scan.collection import CLUSTER_THRESHOLDS, ScanSettings, scan_collection

THRESHOLD = CLUSTER_THRESHOLDS["sface"]


@pytest.fixture(scope="module")
def embeddings(data: Path, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Every embedded face of 1,600 LFW photos (whole identities, in order) and 400 one-photo strangers."""
    photos = sorted((data / "lfw" / "identities").glob("*/*.jpg"))[:1600]
    photos += sorted((data / "lfw" / "distractors").glob("*.jpg"))[:400]
    result = scan_collection(photos, ScanSettings(cache_dir=tmp_path_factory.mktemp("cache")))
    rows = [row for sha in result.shas if sha for row in result.cache.get(sha).embeddings if not np.isnan(row).any()]
    assert len(rows) >= 2000
    return np.array(rows, np.float32)


def same_people(a: np.ndarray, b: np.ndarray) -> float:
    """Share of faces whose cluster has the same members in both labellings (-1: a cluster of its own)."""
    def members(labels: np.ndarray) -> list[tuple[int, ...]]:
        ids = np.where(labels < 0, -1 - np.arange(len(labels)), labels).tolist()
        clusters: dict[int, list[int]] = {}
        for face, label in enumerate(ids):
            clusters.setdefault(label, []).append(face)
        return [tuple(clusters[label]) for label in ids]

    return float(np.mean([x == y for x, y in zip(members(a), members(b), strict=True)]))


def pairs(edges: tuple[np.ndarray, np.ndarray, np.ndarray]) -> set[tuple[int, int]]:
    return set(zip(edges[0].tolist(), edges[1].tolist(), strict=True))


@pytest.mark.data
@pytest.mark.parametrize("k", [32, 2])  # k = 2: most faces ask again, with 4, 8, ... neighbours
def test_hnsw_finds_the_exact_threshold_edges(embeddings: np.ndarray, k: int) -> None:
    exact = neighbour_graph(embeddings, THRESHOLD)
    ann = ann_graph(embeddings, THRESHOLD, HnswSettings(k=k))
    true, found = pairs(exact), pairs(ann)
    assert len(true) > len(embeddings) // 2  # people with several photos: a graph worth linking
    assert len(found - true) <= len(true) // 1000  # a pair at the threshold may round either way
    assert len(found & true) / len(true) >= 0.99
    common = {pair: i for i, pair in enumerate(zip(exact[0].tolist(), exact[1].tolist(), strict=True))}
    order = [common[pair] for pair in zip(ann[0].tolist(), ann[1].tolist(), strict=True)]
    assert order == sorted(order)  # edges in the exact graph's order
    np.testing.assert_allclose(ann[2], exact[2][order], atol=1e-5)


@pytest.mark.data
def test_people_are_the_same_and_the_same_twice(embeddings: np.ndarray) -> None:
    exact = cluster_faces(embeddings, THRESHOLD, graph="exact")
    ann = cluster_faces(embeddings, THRESHOLD, graph="ann")
    assert exact.max() >= 300  # hundreds of people linked
    assert same_people(ann, exact) >= 0.99
    assert (cluster_faces(embeddings, THRESHOLD, graph="ann") == ann).all()


def test_auto_is_exact_for_small_collections_and_names_are_checked() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 16)).astype(np.float32)
    points = np.concatenate([points, points[:10] + 0.01]).astype(np.float32)
    assert EXACT_UP_TO >= 10_000
    auto, exact = build_graph(points, 0.5), neighbour_graph(points, 0.5)
    assert all((a == b).all() for a, b in zip(auto, exact, strict=True)) and len(auto[0]) == 10
    assert pairs(ann_graph(points, 0.5)) == pairs(exact)
    with pytest.raises(UnknownNameError, match="auto, exact"):
        cluster_faces(points, 0.5, graph="hnsw")
