"""LFW's verification protocol: pairs of photos, same person or not, accuracy over ten folds.

The pairs file is LFW's format: an optional header ``folds<TAB>n`` then, per fold, ``n`` matched
lines ``name i j`` followed by ``n`` mismatched lines ``name1 i name2 j``. With that header, each
fold's threshold is chosen on the other nine (LFW's "unrestricted, labeled outside data" protocol);
without it, pairs are split into ten folds at random (seeded) and cross-validated the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioveil.detection.base import get_detector
from bioveil.errors import BioveilError, MediaError
from bioveil.evaluation.metrics import VerificationResult, roc_curve, verify_folds
from bioveil.evaluation.photos import embed_subjects, locate_subjects, read_images
from bioveil.recognition.base import get_recognizer, parse_recognizers

log = logging.getLogger(__name__)

DEFAULT_DETECTOR = "ensemble"


class PairsFormatError(BioveilError, ValueError):
    """A pairs file that is not in LFW's format."""


@dataclass(frozen=True)
class PairList:
    """Pairs of image paths, whether each is the same person, and each pair's fold."""

    first: list[Path]
    second: list[Path]
    same: np.ndarray
    folds: np.ndarray
    official_folds: bool

    def __len__(self) -> int:
        return len(self.first)


def lfw_path(images: Path, name: str, number: str) -> Path:
    return images / name / f"{name}_{int(number):04d}.jpg"


def read_pairs(path: Path, images: Path, seed: int = 0) -> PairList:
    """Parse an LFW pairs file; raises :class:`PairsFormatError` naming the bad line."""
    try:
        lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise PairsFormatError(f"{path}: cannot read the pairs file ({exc})") from exc
    header: tuple[int, int] | None = None
    if lines and len(lines[0]) == 2 and all(item.isdigit() for item in lines[0]):
        header = (int(lines[0][0]), int(lines[0][1]))
        lines = lines[1:]
    first, second, same = [], [], []
    for number, items in enumerate(lines, start=2 if header else 1):
        if len(items) == 3 and items[1].isdigit() and items[2].isdigit():
            first.append(lfw_path(images, items[0], items[1]))
            second.append(lfw_path(images, items[0], items[2]))
            same.append(True)
        elif len(items) == 4 and items[1].isdigit() and items[3].isdigit():
            first.append(lfw_path(images, items[0], items[1]))
            second.append(lfw_path(images, items[2], items[3]))
            same.append(False)
        else:
            raise PairsFormatError(f"{path}, line {number}: expected 'name i j' or 'name1 i name2 j', got {' '.join(items)!r}")
    if not first:
        raise PairsFormatError(f"{path}: no pairs found")
    count = len(first)
    official = header is not None and header[0] * header[1] * 2 == count
    if header is not None and not official:
        log.warning("%s: header says %d folds of %d+%d pairs but the file has %d pairs; using random folds",
                    path, header[0], header[1], header[1], count)
    if official:
        assert header is not None
        folds = np.repeat(np.arange(header[0]), 2 * header[1])
    else:
        folds = np.random.default_rng(seed).permutation(np.arange(count) % 10)
    return PairList(first, second, np.array(same), folds, official)


@dataclass
class PairsReport:
    """Per-recognizer verification results, and what is needed for ROC curves."""

    pairs: int
    official_folds: bool
    faces_not_found: int
    results: dict[str, VerificationResult] = field(default_factory=dict)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    same: np.ndarray | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "protocol": "lfw-10-fold" if self.official_folds else "10-fold-cross-validation",
            "pairs": self.pairs,
            "faces_not_found": self.faces_not_found,
            "recognizers": {name: result.to_dict() for name, result in self.results.items()},
        }

    def roc(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        assert self.same is not None
        return roc_curve(self.scores[name], self.same)


def evaluate_pairs(
    pairs_file: Path,
    images: Path,
    recognizers: str | Sequence[str] = ("dlib", "facenet", "sface"),
    detector: str = DEFAULT_DETECTOR,
) -> PairsReport:
    """Verification accuracy of each recognizer on an LFW-format pairs file."""
    names = parse_recognizers(recognizers)
    pairs = read_pairs(Path(pairs_file), Path(images))
    unique = sorted(set(pairs.first) | set(pairs.second))
    missing = [path for path in unique if not path.is_file()]
    if missing:
        raise MediaError(missing[0], f"not found ({len(missing)} of the {len(unique)} photos the pairs name are missing)")
    log.info("%d pairs over %d photos", len(pairs), len(unique))
    pictures = read_images(unique)
    subjects = locate_subjects(pictures, get_detector(detector))
    index = {path: i for i, path in enumerate(unique)}
    a = np.array([index[p] for p in pairs.first])
    b = np.array([index[p] for p in pairs.second])
    report = PairsReport(len(pairs), pairs.official_folds, sum(not s.found for s in subjects), same=pairs.same)
    for name in names:
        recognizer = get_recognizer(name)
        embeddings = embed_subjects(recognizer, pictures, [s.faces for s in subjects])
        scores = recognizer.pair_similarity(embeddings[a], embeddings[b])
        report.scores[name] = scores
        report.results[name] = verify_folds(scores, pairs.same, pairs.folds)
        log.info("%s: accuracy %.4f", name, report.results[name].accuracy)
    return report
