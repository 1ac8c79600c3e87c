"""How linking people (``cluster_faces``: the neighbour graph, then Chinese whispers) grows with the
number of faces: the exact graph against HNSW (``bioveil.scan.ann``), at 10k, 100k and 1M faces.

First, all of LFW (the target face of each photo, SFace, scan's default recognizer and threshold):
BCubed precision and recall of the people linked through the exact graph and through HNSW.

Then the scale runs. The faces are LFW's real embeddings and rotated copies of them
(``synthetic_faces``: each copy a random rotation of the whole set, with identities of its own). Each
size and method runs in its own process; reported: seconds, peak memory above the embeddings, edges,
BCubed against the synthetic identities, and, for HNSW, the recall of the true threshold edges (exact
graph where it is run; at 1M, the exact neighbours of 2,000 sampled faces). The exponent is the slope of
log(seconds) over log(faces).

    nice -n 5 python bench/scan_scale.py [--sizes 10000,100000,1000000] [--exact-up-to 100000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bioveil.scan.cluster import build_graph, chinese_whispers, cluster_faces
from bioveil.scan.collection import CLUSTER_THRESHOLDS
from lfw_faces import bcubed, lfw_embeddings
from process_memory import reset_peak, status_mb
from synthetic_faces import rotated_copies

THRESHOLD = CLUSTER_THRESHOLDS["sface"]
SAMPLED = 2000


def scored(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """BCubed with every face left out of all clusters counted as a cluster of its own."""
    labels = labels.copy()
    singles = labels < 0
    labels[singles] = labels.max() + 1 + np.arange(singles.sum())
    return bcubed(labels, truth)


def fast_bcubed(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """The same BCubed through a contingency table (for a million faces)."""
    labels = labels.copy()
    singles = labels < 0
    labels[singles] = labels.max() + 1 + np.arange(singles.sum())
    _, cluster = np.unique(labels, return_inverse=True)
    _, person = np.unique(truth, return_inverse=True)
    pair = cluster.astype(np.int64) * (person.max() + 1) + person
    _, cell, both = np.unique(pair, return_inverse=True, return_counts=True)
    both = both[cell]
    return float(np.mean(both / np.bincount(cluster)[cluster])), float(np.mean(both / np.bincount(person)[person]))


def edge_recall(x: np.ndarray, edges: tuple[np.ndarray, np.ndarray, np.ndarray], true_pairs: set | None) -> float:
    """Share of the true threshold pairs that the graph has: all of them, or those of sampled faces."""
    found = set(zip(edges[0].tolist(), edges[1].tolist(), strict=True))
    if true_pairs is None:  # too many faces for the exact graph: the exact neighbours of a sample
        sample = np.sort(np.random.default_rng(0).choice(len(x), SAMPLED, replace=False))
        squared = (x * x).sum(1)
        true_pairs = set()
        for start in range(0, SAMPLED, 64):
            faces = sample[start : start + 64]
            distance = np.sqrt(np.maximum(squared[faces, None] + squared[None, :] - 2 * x[faces] @ x.T, 0))
            for row, other in zip(*np.nonzero(distance < THRESHOLD), strict=True):
                face = int(faces[row])
                if other != face:
                    true_pairs.add((min(face, int(other)), max(face, int(other))))
        sampled = set(sample.tolist())
        found = {pair for pair in found if pair[0] in sampled or pair[1] in sampled}
    return len(found & true_pairs) / max(len(true_pairs), 1)


def child(data: Path, graph: str, count: int) -> None:
    x = np.load(data / "x.npy", mmap_mode="r")[:count].copy()
    truth = np.load(data / "truth.npy")[:count]
    before = reset_peak()
    start = time.perf_counter()
    edges = build_graph(x, THRESHOLD, graph)
    graphed = time.perf_counter()
    labels = chinese_whispers(count, edges)
    seconds = time.perf_counter() - start
    memory = status_mb("VmHWM") - before
    np.save(data / f"edges_{graph}_{count}.npy", np.stack(edges[:2]))
    sizes = np.bincount(labels)
    labels = np.where(sizes[labels] < 2, -1, labels)
    precision, recall = fast_bcubed(labels, truth)
    result = {"seconds": seconds, "graph_s": graphed - start, "memory_mb": memory, "edges": len(edges[0]),
              "precision": precision, "recall": recall}
    exact = data / f"edges_exact_{count}.npy"
    if graph == "ann":
        pairs = set(map(tuple, np.load(exact).T.tolist())) if exact.exists() else None
        result["edge_recall"] = edge_recall(x, edges, pairs)
    print(json.dumps(result))


def lfw_section(embeddings: np.ndarray, truth: np.ndarray) -> None:
    print(f"LFW: {len(embeddings)} target faces, {len(np.unique(truth))} identities, threshold {THRESHOLD}")
    exact = build_graph(embeddings, THRESHOLD, "exact")
    ann = build_graph(embeddings, THRESHOLD, "ann")
    true_pairs = set(zip(exact[0].tolist(), exact[1].tolist(), strict=True))
    found = set(zip(ann[0].tolist(), ann[1].tolist(), strict=True))
    recall = len(found & true_pairs) / len(true_pairs)
    print(f"  edges: exact {len(true_pairs)}, HNSW {len(found)}, recall of the exact edges {recall:.4f}")
    print(f"  {'graph':<6} {'precision':>9} {'recall':>7}")
    labels = {}
    for graph in ("exact", "ann"):
        labels[graph] = cluster_faces(embeddings, THRESHOLD, graph=graph)
        print(f"  {graph:<6} {{:>9.4f}} {{:>7.4f}}".format(*scored(labels[graph], truth)))
    print(f"  same people: {bool((labels['exact'] == labels['ann']).all())}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--exact-up-to", type=int, default=100_000, help="largest size the exact graph is run at")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], int(args.child[2]))
        return 0
    lfw = lfw_embeddings("sface")
    lfw_section(lfw.embeddings, lfw.truth)
    sizes = [int(size) for size in args.sizes.split(",")]
    x, truth = rotated_copies(lfw.embeddings, lfw.truth, max(sizes))
    print(f"\nscale: LFW's {len(lfw.embeddings)} faces and rotated copies, {x.shape[1]} dims, "
          f"{x.nbytes / 2**20:.0f} MB at {len(x)}")
    print(f"{'faces':>9} {'graph':<6} {'seconds':>8} {'of which graph':>14} {'MB':>6} {'edges':>9} {'precision':>9} "
          f"{'recall':>7} {'edge recall':>11}")
    timings: dict[str, list[tuple[int, float]]] = {"exact": [], "ann": []}
    with tempfile.TemporaryDirectory() as temporary:
        data = Path(temporary)
        np.save(data / "x.npy", x)
        np.save(data / "truth.npy", truth)
        del x
        for size in sizes:
            for graph in ("exact", "ann"):
                if graph == "exact" and size > args.exact_up_to:
                    continue
                out = subprocess.run([sys.executable, __file__, "--child", str(data), graph, str(size)],
                                     capture_output=True, text=True, check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                timings[graph].append((size, r["seconds"]))
                recall = f"{r['edge_recall']:.4f}" if "edge_recall" in r else ""
                print(f"{size:>9} {graph:<6} {r['seconds']:>8.1f} {r['graph_s']:>14.1f} {r['memory_mb']:>6.0f} "
                      f"{r['edges']:>9} {r['precision']:>9.4f} {r['recall']:>7.4f} {recall:>11}", flush=True)
    for graph, points in timings.items():
        if len(points) >= 2:
            slope = np.polyfit(np.log([p[0] for p in points]), np.log([p[1] for p in points]), 1)[0]
            print(f"{graph}: seconds grow as faces^{slope:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
