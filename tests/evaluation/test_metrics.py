"""Verification and identification metrics, on cases whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bioveil.evaluation.metrics import best_threshold, rank1_rate, roc_curve, tar_at_far, threshold_at_far, verify_folds


@pytest.mark.parametrize(
    ("impostor", "far", "expected"),
    [
        ([0.1, 0.2, 0.3, 0.4], 0.25, 0.3),  # one impostor of four may pass: the second highest
        ([0.1, 0.2, 0.3, 0.4], 0.0, 0.4),  # none may pass: the highest
        ([0.1, 0.2, 0.3, 0.4], 1e-3, 0.4),  # below resolution: none may pass
        ([0.5], 1.0, 0.5),
    ],
)
def test_threshold_at_far(impostor: list[float], far: float, expected: float) -> None:
    assert threshold_at_far(np.array(impostor), far) == expected


def test_tar_at_far_counts_genuine_pairs_above_the_threshold() -> None:
    genuine = np.array([0.35, 0.45, 0.5, 0.9])
    impostor = np.array([0.1, 0.2, 0.3, 0.4])
    assert tar_at_far(genuine, impostor, (0.3, 1e-3)) == {"3e-01": 1.0, "1e-03": 0.75}


def test_roc_curve_runs_from_zero_to_one() -> None:
    fpr, tpr = roc_curve(np.array([0.9, 0.8, 0.3, 0.1]), np.array([True, False, True, False]))
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]


def test_best_threshold_separates_separable_scores() -> None:
    scores = np.array([0.1, 0.2, 0.7, 0.8])
    threshold = best_threshold(scores, np.array([False, False, True, True]))
    assert 0.2 < threshold < 0.7


def test_folds_choose_thresholds_on_the_other_folds() -> None:
    # Fold 0 alone would put the threshold near 0.55; its pairs are judged with fold 1's (near 0.25).
    scores = np.array([0.5, 0.6, 0.2, 0.3, 0.5, 0.6, 0.2, 0.3])
    same = np.array([False, True, False, True, True, True, False, True])
    folds = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    result = verify_folds(scores, same, folds)
    assert result.pairs == 8 and len(result.fold_accuracies) == 2
    assert 0 <= result.accuracy <= 1 and result.far_resolution == 1 / 3


def test_rank1() -> None:
    similarity = np.array([[0.9, 0.1, 0.2], [0.8, 0.3, 0.1]])
    assert rank1_rate(similarity, np.array(["a", "b"]), np.array(["a", "b", "c"])) == 0.5
