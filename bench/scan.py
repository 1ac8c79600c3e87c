"""``bioveil scan`` on LFW: BCubed precision and recall of its person clusters, and photos/s against
the ``face_recognition`` command-line tool on the same photos in the same run.

Clusters: every photo of ``lfw/identities`` (identity = folder) and ``lfw/distractors`` (one photo
each); each photo's target face is the one nearest its centre; a face left out of every cluster
counts as a cluster of its own. The threshold sweep re-clusters the same embeddings.

Speed: ``bioveil scan --no-cache`` and ``face_recognition --cpus 2`` (HOG detector, dlib C++ encodings,
matching against one known photo) over the same --speed-photos photos, timed end to end.

    python bench/scan.py [--speed-photos 400] [--skip-speed]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bioveil.scan.cluster import cluster_faces
from bioveil.scan.collection import ScanSettings, scan_collection
from wider_data import DATA

THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6)


def bcubed(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """BCubed precision and recall (Bagga & Baldwin 1998), averaged over items."""
    precision, recall = [], []
    for i in range(len(labels)):
        same_cluster = labels == labels[i]
        same_truth = truth == truth[i]
        both = np.logical_and(same_cluster, same_truth).sum()
        precision.append(both / same_cluster.sum())
        recall.append(both / same_truth.sum())
    return float(np.mean(precision)), float(np.mean(recall))


def target_face(record: dict) -> int | None:
    if not record["faces"]:
        return None
    centre = np.array([record["width"], record["height"]]) / 2
    boxes = np.array([face["box"] for face in record["faces"]])
    return int(np.argmin(np.hypot(*(((boxes[:, :2] + boxes[:, 2:]) / 2) - centre).T)))


def identity(path: Path) -> str:
    return path.parent.name if path.parent.parent.name == "identities" else f"distractor:{path.stem}"


def clustering(photos: list[Path]) -> None:
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        result = scan_collection(photos, ScanSettings(cache_dir=Path(cache), use_cache=True))
        seconds = time.perf_counter() - start
        records = result.report["files"]
        print(f"scanned {len(records)} photos in {seconds:.1f} s ({len(records) / seconds:.1f} photos/s, in process); "
              f"failed {result.report['summary']['failed']}")
        # The target face's embedding of every photo, read back from the cache.
        vectors, truth, missing = [], [], 0
        for record, sha in zip(records, result.shas, strict=True):
            index = target_face(record)
            entry = result.cache.get(sha) if sha and index is not None else None
            if entry is None or np.isnan(entry.embeddings[index]).any():
                missing += 1
                vectors.append(np.full(128, np.nan, np.float32))
            else:
                vectors.append(entry.embeddings[index])
            truth.append(identity(Path(record["path"])))
        embeddings, truth_array = np.array(vectors), np.array(truth)
        usable = ~np.isnan(embeddings).any(axis=1)
        print(f"{usable.sum()} target faces embedded, {missing} photos without one (each counted as its own cluster)")
        print(f"{'threshold':>9} {'precision':>10} {'recall':>8} {'clusters':>9}")
        for threshold in THRESHOLDS:
            labels = np.full(len(records), -1)
            labels[usable] = cluster_faces(embeddings[usable], threshold)
            singles = labels < 0
            labels[singles] = labels.max() + 1 + np.arange(singles.sum())
            precision, recall = bcubed(labels, truth_array)
            print(f"{threshold:>9.2f} {precision:>10.4f} {recall:>8.4f} {len(np.unique(labels)):>9}")
        print(f"(identities: {len(np.unique(truth_array))})")


def speed(photos: list[Path]) -> None:
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        (root / "known").mkdir()
        (root / "photos").mkdir()
        shutil.copy(photos[0], root / "known" / "someone.jpg")
        for i, photo in enumerate(photos):
            shutil.copy(photo, root / "photos" / f"{i:05d}_{photo.name}")
        start = time.perf_counter()
        subprocess.run([str(bin_dir / "bioveil"), "scan", "--no-cache", "--no-progress", str(root / "photos"),
                        "--json", str(root / "scan.json")], check=True, stdout=subprocess.DEVNULL)
        ours = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([str(bin_dir / "face_recognition"), "--cpus", "2", str(root / "known"), str(root / "photos")],
                       check=True, stdout=subprocess.DEVNULL)
        theirs = time.perf_counter() - start
    print(f"{len(photos)} photos: bioveil scan {len(photos) / ours:.2f} photos/s ({ours:.1f} s), "
          f"face_recognition {len(photos) / theirs:.2f} photos/s ({theirs:.1f} s): ratio {theirs / ours:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed-photos", type=int, default=400)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-clusters", action="store_true")
    args = parser.parse_args()
    photos = sorted((DATA / "lfw" / "identities").glob("*/*.jpg")) + sorted((DATA / "lfw" / "distractors").glob("*.jpg"))
    if not args.skip_speed:
        speed(photos[:: max(1, len(photos) // args.speed_photos)][: args.speed_photos])
    if not args.skip_clusters:
        clustering(photos)
    return 0


if __name__ == "__main__":
    sys.exit(main())
