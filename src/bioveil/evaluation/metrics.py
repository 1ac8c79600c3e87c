"""Verification and identification metrics, on similarity scores (higher means more alike)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FARS = (1e-3, 1e-2, 1e-1)


def threshold_at_far(impostor: np.ndarray, far: float) -> float:
    """The lowest threshold whose false-accept rate on ``impostor`` scores is at most ``far``.

    A pair is accepted when its score is strictly above the threshold. Below the data's resolution
    (``far`` < 1 / len(impostor)) this is the highest impostor score: a false-accept rate of zero.
    """
    impostor = np.sort(np.asarray(impostor, np.float64))[::-1]
    if len(impostor) == 0:
        return -np.inf
    allowed = int(np.floor(far * len(impostor)))
    return float(impostor[min(allowed, len(impostor) - 1)])


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, fars: tuple[float, ...] = FARS) -> dict[str, float]:
    """True-accept rate at each false-accept rate, keyed like ``"1e-03"``."""
    genuine = np.asarray(genuine, np.float64)
    out = {}
    for far in fars:
        threshold = threshold_at_far(impostor, far)
        out[f"{far:.0e}"] = float((genuine > threshold).mean()) if len(genuine) else float("nan")
    return out


def roc_curve(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-accept rates at every threshold, from the strictest down."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    same = np.asarray(same, bool)[order]
    tpr = np.concatenate([[0.0], np.cumsum(same) / max(same.sum(), 1)])
    fpr = np.concatenate([[0.0], np.cumsum(~same) / max((~same).sum(), 1)])
    return fpr, tpr


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (accept above it) with the highest accuracy on these pairs: midway between scores."""
    values = np.unique(np.asarray(scores, np.float64))
    candidates = np.concatenate([[values[0] - 1e-6], (values[1:] + values[:-1]) / 2, [values[-1] + 1e-6]])
    accepted = np.asarray(scores)[None, :] > candidates[:, None]
    accuracy = (accepted == np.asarray(same, bool)[None, :]).mean(axis=1)
    return float(candidates[int(np.argmax(accuracy))])


@dataclass(frozen=True)
class VerificationResult:
    """LFW-style verification: accuracy over folds, each fold's threshold chosen on the others."""

    accuracy: float
    std: float
    fold_accuracies: list[float]
    thresholds: list[float]
    tar_at_far: dict[str, float]
    far_resolution: float
    pairs: int

    def to_dict(self) -> dict[str, object]:
        return {
            "accuracy": self.accuracy,
            "std": self.std,
            "fold_accuracies": self.fold_accuracies,
            "thresholds": self.thresholds,
            "tar_at_far": self.tar_at_far,
            "far_resolution": self.far_resolution,
            "pairs": self.pairs,
        }


def verify_folds(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> VerificationResult:
    """Accuracy by cross-validation: for each fold, the best threshold on the other folds, applied to it."""
    scores = np.asarray(scores, np.float64)
    same = np.asarray(same, bool)
    folds = np.asarray(folds)
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        test = folds == fold
        threshold = best_threshold(scores[~test], same[~test])
        thresholds.append(threshold)
        accuracies.append(float(((scores[test] > threshold) == same[test]).mean()))
    impostor = scores[~same]
    return VerificationResult(
        accuracy=float(np.mean(accuracies)),
        std=float(np.std(accuracies)),
        fold_accuracies=accuracies,
        thresholds=thresholds,
        tar_at_far=tar_at_far(scores[same], impostor),
        far_resolution=1.0 / max(len(impostor), 1),
        pairs=len(scores),
    )


def rank1_rate(similarity: np.ndarray, probe_ids: np.ndarray, gallery_ids: np.ndarray) -> float:
    """Share of probes whose most similar gallery entry is their own identity (rows: probes)."""
    if similarity.shape[0] == 0:
        return float("nan")
    best = np.argmax(similarity, axis=1)
    return float((np.asarray(gallery_ids)[best] == np.asarray(probe_ids)).mean())


def open_set_scores(similarity: np.ndarray, probe_ids: np.ndarray, gallery_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Genuine and impostor scores of every probe against every gallery entry."""
    same = np.asarray(probe_ids)[:, None] == np.asarray(gallery_ids)[None, :]
    return similarity[same], similarity[~same]
