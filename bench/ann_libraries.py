"""Which approximate nearest neighbour library builds scan's neighbour graph: faiss-cpu, usearch, hnswlib.

The same HNSW graph (M = 16 links, 80 candidates while building, one thread so that the index is the
same on every run) in each library, then every face asks for its 32 nearest (64 candidates) on two
threads. Reported: build and query seconds, peak memory above the embeddings (each library in its own
process), the recall of the true threshold edges (pairs closer than the threshold, from the exact graph),
and whether a second build gives the same neighbours.

The faces: ``--faces`` of LFW's real SFace embeddings and rotated copies of them (``synthetic_faces``).

    pip install usearch==2.26.6 hnswlib==0.8.0   # faiss-cpu comes with bioveil[recognition]
    python bench/ann_libraries.py [--faces 100000] [--threshold 1.0]
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

from bioveil.scan.cluster import neighbour_graph
from lfw_faces import lfw_embeddings
from process_memory import reset_peak, status_mb
from synthetic_faces import rotated_copies

M, EF_BUILD, EF_SEARCH, K = 16, 80, 64, 32


def search(library: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Neighbour ids and squared distances (n, K), build and query seconds."""
    start = time.perf_counter()
    if library == "faiss":
        import faiss

        faiss.omp_set_num_threads(1)
        index = faiss.IndexHNSWFlat(x.shape[1], M)
        index.hnsw.efConstruction = EF_BUILD
        index.add(x)
        built = time.perf_counter()
        faiss.omp_set_num_threads(2)
        index.hnsw.efSearch = EF_SEARCH
        distances, ids = index.search(x, K)
    elif library == "usearch":
        from usearch.index import Index

        index = Index(ndim=x.shape[1], metric="l2sq", dtype="f32", connectivity=M, expansion_add=EF_BUILD,
                      expansion_search=EF_SEARCH)
        index.add(np.arange(len(x)), x, threads=1)
        built = time.perf_counter()
        matches = index.search(x, K, threads=2)
        ids, distances = matches.keys.astype(np.int64), matches.distances
    elif library == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="l2", dim=x.shape[1])
        index.init_index(max_elements=len(x), M=M, ef_construction=EF_BUILD, random_seed=0)
        index.add_items(x, np.arange(len(x)), num_threads=1)
        built = time.perf_counter()
        index.set_ef(EF_SEARCH)
        ids, distances = index.knn_query(x, K, num_threads=2)
    else:
        raise ValueError(f"unknown library {library!r}; one of faiss, usearch, hnswlib")
    return ids.astype(np.int64), np.asarray(distances, np.float32), built - start, time.perf_counter() - built


def child(library: str, data: Path, threshold: float) -> None:
    x = np.load(data / "x.npy")
    before = reset_peak()
    ids, distances, build, query = search(library, x)
    memory = status_mb("VmHWM") - before  # the index, its search results and their working memory
    true_rows, true_cols = np.load(data / "rows.npy"), np.load(data / "cols.npy")
    rows = np.repeat(np.arange(len(x)), ids.shape[1])
    cols, close = ids.ravel(), distances.ravel() < threshold * threshold
    pairs = np.stack([np.minimum(rows, cols), np.maximum(rows, cols)], 1)[close & (rows != cols) & (cols >= 0)]
    found = {tuple(pair) for pair in np.unique(pairs, axis=0).tolist()}
    truth = set(zip(true_rows.tolist(), true_cols.tolist(), strict=True))
    again = search(library, x)[0]
    print(json.dumps({"library": library, "build_s": build, "query_s": query, "memory_mb": memory,
                      "recall": len(found & truth) / max(len(truth), 1), "deterministic": bool((again == ids).all())}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--threshold", type=float, default=1.0)
    parser.add_argument("--libraries", default="faiss,usearch,hnswlib")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.threshold)
        return 0
    lfw = lfw_embeddings("sface")
    x, _ = rotated_copies(lfw.embeddings, lfw.truth, args.faces)
    start = time.perf_counter()
    rows, cols, _ = neighbour_graph(x, args.threshold)
    exact = time.perf_counter() - start
    print(f"{args.faces} faces ({x.shape[1]} dims), threshold {args.threshold}: {len(rows)} true edges, "
          f"exact graph {exact:.1f} s")
    print(f"{'library':<9} {'build s':>8} {'query s':>8} {'MB':>6} {'recall':>7} {'same twice':>10}")
    with tempfile.TemporaryDirectory() as temporary:
        data = Path(temporary)
        for name, array in (("x", x), ("rows", rows), ("cols", cols)):
            np.save(data / f"{name}.npy", array)
        for library in args.libraries.split(","):
            out = subprocess.run([sys.executable, __file__, "--child", library, "--data", str(data),
                                  "--threshold", str(args.threshold)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{library:<9} {r['build_s']:>8.1f} {r['query_s']:>8.1f} {r['memory_mb']:>6.0f} {r['recall']:>7.4f} "
                  f"{r['deterministic']!s:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
