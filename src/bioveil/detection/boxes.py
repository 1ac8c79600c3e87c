"""Box arithmetic shared by detectors, trackers and maskers: IoU, suppression, merging, scaling."""

from __future__ import annotations

import numpy as np

from bioveil.types import Faces


def box_area(xyxy: np.ndarray) -> np.ndarray:
    return np.clip(xyxy[..., 2] - xyxy[..., 0], 0, None) * np.clip(xyxy[..., 3] - xyxy[..., 1], 0, None)


def intersection_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) areas of the intersections of two sets of xyxy boxes."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of two sets of xyxy boxes."""
    inter = intersection_matrix(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def nms(xyxy: np.ndarray, score: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first: a box goes when its
    IoU with a better kept box is above ``iou_threshold``. Only boxes that meet are compared
    (:func:`overlapping_pairs`): at low score cuts a large photo has tens of thousands of candidates, too
    many for an all-pairs IoU matrix (50,000 boxes: 10 GB)."""
    order = np.argsort(-score, kind="stable")
    boxes = xyxy[order]  # rank r is the r-th best box
    a, b = overlapping_pairs(boxes)
    iou, _ = _pair_overlaps(boxes, a, b)
    is_leader, _ = _greedy_leaders(len(order), a, b, iou > iou_threshold)
    return order[is_leader].astype(np.int64)


def _pair_overlaps(boxes: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For box pairs (a, b): their IoU, and the share of the smaller box inside the other."""
    top_left = np.maximum(boxes[a, :2], boxes[b, :2])
    bottom_right = np.minimum(boxes[a, 2:], boxes[b, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    area_a, area_b = box_area(boxes[a]), box_area(boxes[b])
    return inter / np.maximum(area_a + area_b - inter, 1e-9), inter / np.maximum(np.minimum(area_a, area_b), 1e-9)


def _greedy_leaders(count: int, a: np.ndarray, b: np.ndarray, link: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy grouping of ``count`` boxes ranked best first, given linked pairs (a, b): a box that links to
    no better leader leads a group of its own, any other joins the best leader it links to. Returns
    which boxes lead and each box's leader."""
    better, worse = np.minimum(a[link], b[link]), np.maximum(a[link], b[link])
    by_worse = np.argsort(worse, kind="stable")
    better, worse = better[by_worse], worse[by_worse]
    starts = np.searchsorted(worse, np.arange(count + 1))
    group = np.arange(count)
    is_leader = np.zeros(count, dtype=bool)
    for rank in range(count):
        candidates = better[starts[rank]:starts[rank + 1]]
        leaders = candidates[is_leader[candidates]] if len(candidates) else candidates
        if len(leaders):
            group[rank] = leaders.min()
        else:
            is_leader[rank] = True
    return is_leader, group


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


def overlapping_pairs(xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j, in the given order's terms) of boxes that intersect, without the all-pairs
    matrix: a sweep over boxes sorted by left edge (a crowd photo at a low score cut has thousands)."""
    order = np.argsort(xyxy[:, 0], kind="stable")
    left, right = xyxy[order, 0], xyxy[order, 2]
    # Box order[k] can only meet the boxes after it whose left edge is before its right edge.
    ends = np.searchsorted(left, right, side="left")
    counts = np.maximum(ends - np.arange(len(order)) - 1, 0)
    first = np.repeat(np.arange(len(order)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    second = first + 1 + offsets
    a, b = order[first], order[second]
    meet = (np.minimum(xyxy[a, 3], xyxy[b, 3]) > np.maximum(xyxy[a, 1], xyxy[b, 1])) & \
           (np.minimum(xyxy[a, 2], xyxy[b, 2]) > np.maximum(xyxy[a, 0], xyxy[b, 0]))
    return a[meet], b[meet]


def fuse_faces(faces: Faces, merge_iou: float, contain: float) -> Faces:
    """One face per group of boxes that overlap (IoU above ``merge_iou``) or lie one inside the other
    (``contain`` of the smaller box inside the larger): a large face seen at several scales, or whose
    eyes and mouth a detector also took for faces, becomes one face.

    Groups form greedily, best score first (:func:`_greedy_leaders`, the rule of :func:`nms` with links
    beyond IoU). The leader's box, score and landmarks are the face's (landmarks from the best member that
    has them, where the leader has none); ``cover`` is the box enclosing every member, for masking."""
    if len(faces) == 0:
        return faces
    order = np.argsort(-faces.score, kind="stable")
    boxes = faces.xyxy[order]  # rank r is the r-th best box
    a, b = overlapping_pairs(boxes)
    iou, inside = _pair_overlaps(boxes, a, b)
    is_leader, group = _greedy_leaders(len(order), a, b, (iou > merge_iou) | (inside >= contain))
    leaders = np.flatnonzero(is_leader)
    row_of = np.cumsum(is_leader) - 1
    rows = row_of[group]
    cover = np.empty((len(leaders), 4), dtype=np.float32)
    cover[:, :2] = np.inf
    cover[:, 2:] = -np.inf
    np.minimum.at(cover[:, 0], rows, boxes[:, 0])
    np.minimum.at(cover[:, 1], rows, boxes[:, 1])
    np.maximum.at(cover[:, 2], rows, boxes[:, 2])
    np.maximum.at(cover[:, 3], rows, boxes[:, 3])
    marks = faces.landmarks[order]
    has_marks = ~np.isnan(marks).any(axis=(1, 2))
    landmarks = marks[leaders].copy()
    for row in np.flatnonzero(~has_marks[leaders]):
        marked = np.flatnonzero((rows == row) & has_marks)
        if len(marked):
            landmarks[row] = marks[marked[0]]
    kept = order[leaders]
    return Faces(faces.xyxy[kept], faces.score[kept], landmarks, cover=cover)
