"""All of LFW through ``bioveil scan``: each photo's target face, its embedding and its identity.

The photos are every one of ``lfw/identities`` (identity = folder) and ``lfw/distractors`` (one photo
each). A photo's target face is the one nearest its centre. The scan's cache (``--cache``, by default
``~/.cache/bioveil/bench/lfw``) keeps the embeddings, so a second run only reads them back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioveil.scan.collection import ScanResult, ScanSettings, scan_collection
from wider_data import DATA

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bioveil" / "bench" / "lfw"


def lfw_photos() -> list[Path]:
    return sorted((DATA / "lfw" / "identities").glob("*/*.jpg")) + sorted((DATA / "lfw" / "distractors").glob("*.jpg"))


def identity(path: Path) -> str:
    return path.parent.name if path.parent.parent.name == "identities" else f"distractor:{path.stem}"


def target_face(record: dict) -> int | None:
    if not record["faces"]:
        return None
    centre = np.array([record["width"], record["height"]]) / 2
    boxes = np.array([face["box"] for face in record["faces"]])
    return int(np.argmin(np.hypot(*(((boxes[:, :2] + boxes[:, 2:]) / 2) - centre).T)))


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


@dataclass
class LfwFaces:
    embeddings: np.ndarray  # (n, d) float32: the target faces that were embedded, in photo order
    truth: np.ndarray  # (n,) identity of each
    missing: int  # photos without an embedded target face


def target_embeddings(result: ScanResult, names: list[str]) -> LfwFaces:
    """The target face's embedding of each scanned photo (``names[i]``: identity of file ``i``)."""
    vectors, truth, missing = [], [], 0
    for record, sha, name in zip(result.report["files"], result.shas, names, strict=True):
        index = target_face(record)
        entry = result.cache.get(sha) if sha and index is not None else None
        if entry is None or np.isnan(entry.embeddings[index]).any():
            missing += 1
            continue
        vectors.append(entry.embeddings[index])
        truth.append(name)
    return LfwFaces(np.array(vectors, np.float32), np.array(truth), missing)


def lfw_embeddings(recognizer: str = "sface", cache: Path = DEFAULT_CACHE) -> LfwFaces:
    """Scan all of LFW (only what the cache lacks is computed) and return its target faces."""
    photos = lfw_photos()
    result = scan_collection(photos, ScanSettings(recognizer=recognizer, cache_dir=cache))
    by_path = {str(photo): identity(photo) for photo in photos}
    return target_embeddings(result, [by_path[record["path"]] for record in result.report["files"]])
