"""Box arithmetic shared by detectors, trackers and maskers: IoU, suppression, merging, scaling."""

from __future__ import annotations

import numpy as np

from bioveil.types import Faces


def box_area(xyxy: np.ndarray) -> np.ndarray:
    return np.clip(xyxy[..., 2] - xyxy[..., 0], 0, None) * np.clip(xyxy[..., 3] - xyxy[..., 1], 0, None)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of two sets of xyxy boxes."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def nms(xyxy: np.ndarray, score: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-score, kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(order), dtype=bool)
    ious = iou_matrix(xyxy[order], xyxy[order]) if len(order) else np.zeros((0, 0))
    for rank, index in enumerate(order):
        if suppressed[rank]:
            continue
        keep.append(int(index))
        suppressed |= ious[rank] > iou_threshold
    return np.asarray(keep, dtype=np.int64)


def scale_boxes(xyxy: np.ndarray, factor: float) -> np.ndarray:
    """Boxes grown (factor > 1) or shrunk about their centres."""
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    half = (xyxy[:, 2:] - xyxy[:, :2]) / 2 * factor
    return np.concatenate([centre - half, centre + half], axis=1)


def merge_overlapping(faces: Faces, merge_iou: float) -> Faces:
    """One face per group of boxes overlapping above ``merge_iou``: best score, enclosing box."""
    if len(faces) == 0:
        return faces
    keep = nms(faces.xyxy, faces.score, merge_iou)
    overlap = iou_matrix(faces.xyxy[keep], faces.xyxy) > merge_iou
    xyxy = np.empty((len(keep), 4), dtype=np.float32)
    landmarks = faces.landmarks[keep].copy()
    has_marks = ~np.isnan(faces.landmarks).any(axis=(1, 2))
    for row, members in enumerate(overlap):
        members[keep[row]] = True
        xyxy[row, :2] = faces.xyxy[members, :2].min(axis=0)
        xyxy[row, 2:] = faces.xyxy[members, 2:].max(axis=0)
        if np.isnan(landmarks[row]).any() and (members & has_marks).any():
            best = np.flatnonzero(members & has_marks)[np.argmax(faces.score[members & has_marks])]
            landmarks[row] = faces.landmarks[best]
    return Faces(xyxy, faces.score[keep], landmarks)
