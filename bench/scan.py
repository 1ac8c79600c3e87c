"""``bioveil scan`` on LFW: BCubed precision and recall of its person clusters, and photos/s against
the ``face_recognition`` command-line tool on the same photos in the same run.

Clusters: every photo of ``lfw/identities`` (identity = folder) and ``lfw/distractors`` (one photo
each); each photo's target face is the one nearest its centre; a face left out of every cluster
counts as a cluster of its own. The threshold sweep re-clusters the same embeddings, through the exact
neighbour graph and through HNSW (``bioveil.scan.ann``).

Speed: ``bioveil scan`` (CLI, empty cache) and ``face_recognition --cpus 2`` (HOG detector, dlib C++
encodings, matching against one known photo) over the same 4,669 photos, timed end to end.

    python bench/scan.py [--recognizer sface|dlib] [--skip-anchor]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bioveil.scan.cache import ScanCache
from bioveil.scan.cluster import cluster_faces
from bioveil.scan.collection import ScanSettings
from lfw_faces import bcubed, identity, target_face
from wider_data import DATA

# Euclidean distances between embeddings; for SFace's unit vectors, d = sqrt(2 (1 - cosine similarity)).
THRESHOLDS = {"sface": (0.9, 0.95, 1.0, 1.05, 1.1), "dlib": (0.4, 0.45, 0.5, 0.55, 0.6)}


def clusters(report: dict, cache: ScanCache, truth: dict[str, str], recognizer: str) -> None:
    """BCubed of the scan's own clusters, then of a threshold sweep on the same embeddings."""
    records = report["files"]
    vectors, labels_out, names = [], [], []
    for record in records:
        index = target_face(record)
        entry = cache.get(record["sha256"]) if record["sha256"] and index is not None else None
        if entry is None or np.isnan(entry.embeddings[index]).any():
            vectors.append(None)
            labels_out.append(None)
        else:
            vectors.append(entry.embeddings[index])
            labels_out.append(record["faces"][index]["person"])
        names.append(truth[Path(record["path"]).name])
    truth_array = np.array(names)
    usable = np.array([v is not None for v in vectors])
    print(f"{usable.sum()} target faces embedded, {(~usable).sum()} photos without one (each counted as its own cluster)")

    def score(labels: np.ndarray) -> tuple[float, float, int]:
        labels = labels.copy()
        singles = labels < 0
        labels[singles] = labels.max() + 1 + np.arange(singles.sum())
        precision, recall = bcubed(labels, truth_array)
        return precision, recall, len(np.unique(labels))

    own = np.array([-1 if label is None else int(label[1:]) for label in labels_out])
    threshold = report["settings"]["cluster_threshold"]
    print(f"recognizer {recognizer}: the scan's own clusters (threshold {threshold}): "
          "precision {:.4f}, recall {:.4f}, {} clusters".format(*score(own)))
    embeddings = np.stack([v for v in vectors if v is not None])
    print(f"{'threshold':>9} {'graph':>6} {'precision':>10} {'recall':>8} {'clusters':>9}")
    for sweep in THRESHOLDS[recognizer]:
        for graph in ("exact", "ann"):  # HNSW forced here: scan uses it only beyond EXACT_UP_TO faces
            labels = np.full(len(records), -1)
            labels[usable] = cluster_faces(embeddings, sweep, graph=graph)
            print(f"{sweep:>9.2f} {graph:>6} {{:>10.4f}} {{:>8.4f}} {{:>9}}".format(*score(labels)))
    print(f"(identities: {len(np.unique(truth_array))})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recognizer", default="sface", choices=sorted(THRESHOLDS))
    parser.add_argument("--skip-anchor", action="store_true", help="do not run face_recognition")
    args = parser.parse_args()
    photos = sorted((DATA / "lfw" / "identities").glob("*/*.jpg")) + sorted((DATA / "lfw" / "distractors").glob("*.jpg"))
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        (root / "known").mkdir()
        (root / "photos").mkdir()
        shutil.copy(photos[0], root / "known" / "someone.jpg")
        truth = {}
        for i, photo in enumerate(photos):  # face_recognition reads one flat folder: both get the same one
            name = f"{i:05d}_{photo.name}"
            shutil.copy(photo, root / "photos" / name)
            truth[name] = identity(photo)
        start = time.perf_counter()
        subprocess.run([str(bin_dir / "bioveil"), "scan", "--no-progress", "--cache", str(root / "cache"),
                        "--recognizer", args.recognizer, str(root / "photos"), "--json", str(root / "scan.json")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ours = time.perf_counter() - start
        print(f"{len(photos)} photos: bioveil scan {len(photos) / ours:.2f} photos/s ({ours:.1f} s, CLI, empty cache)")
        if not args.skip_anchor:
            start = time.perf_counter()
            subprocess.run([str(bin_dir / "face_recognition"), "--cpus", "2", str(root / "known"), str(root / "photos")],
                           check=True, stdout=subprocess.DEVNULL)
            theirs = time.perf_counter() - start
            print(f"{len(photos)} photos: face_recognition {len(photos) / theirs:.2f} photos/s ({theirs:.1f} s): "
                  f"bioveil is {theirs / ours:.2f}x its speed")
        report = json.loads((root / "scan.json").read_text())
        settings = ScanSettings(recognizer=args.recognizer)
        clusters(report, ScanCache(root / "cache", settings.key()), truth, args.recognizer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
