"""Faces over time: detections on keyframes linked into tracks, and the boxes to mask per frame.

A detector misses a face now and then, and on video it runs only on some frames. So each frame is
masked with what the tracks say of it: a box interpolated between the keyframes before and after,
a box held for ``hold`` frames after a track was last seen, and a box reaching ``lookahead`` frames
back before a track was first seen (the frames wait in a buffer until their future is known).

A frame's boxes depend only on the keyframes up to a fixed horizon after it, never on how many more
happen to have been searched when it is masked: the same video gives the same masks on every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bioveil.detection.boxes import iou_matrix, merge_overlapping, scale_boxes
from bioveil.types import Faces


@dataclass
class Track:
    track_id: int
    frames: list[int] = field(default_factory=list)  # keyframe indices, increasing
    boxes: list[np.ndarray] = field(default_factory=list)  # xyxy at those keyframes
    scores: list[float] = field(default_factory=list)

    def add(self, frame: int, box: np.ndarray, score: float) -> None:
        self.frames.append(frame)
        self.boxes.append(box)
        self.scores.append(score)

    def seen_by(self, horizon: int) -> int:
        """How many of the track's keyframes are at or before ``horizon``."""
        return int(np.searchsorted(self.frames, horizon, side="right"))

    def confirmed(self, score: float, horizon: int) -> bool:
        """Seen on two keyframes or more up to ``horizon``, or once with a confident score."""
        return self.seen_by(horizon) > 1 or self.scores[0] >= score

    def box_at(self, frame: int, hold: int, lookahead: int, max_gap: int, horizon: int) -> np.ndarray | None:
        """The box to mask at ``frame`` from the keyframes up to ``horizon``, or None when the track
        says nothing there."""
        seen = self.seen_by(horizon)
        position = int(np.searchsorted(self.frames[:seen], frame))
        if position < seen and self.frames[position] == frame:
            return self.boxes[position]
        before = position - 1 if position > 0 else None
        after = position if position < seen else None
        if before is not None and after is not None and self.frames[after] - self.frames[before] <= max_gap:
            a, b = self.frames[before], self.frames[after]
            t = (frame - a) / (b - a)
            box_a, box_b = self.boxes[before], self.boxes[after]
            # The interpolated box, grown to enclose both ends' centres' paths: safe for curved motion.
            middle = (1 - t) * box_a + t * box_b
            spread = np.abs(box_b - box_a).max() * min(t, 1 - t)
            return middle + np.array([-spread, -spread, spread, spread], dtype=np.float32)
        if before is not None and frame - self.frames[before] <= hold:
            return self.boxes[before]
        if after is not None and self.frames[after] - frame <= lookahead:
            return self.boxes[after]
        return None


def _affinity(tracks: np.ndarray, detections: np.ndarray) -> np.ndarray:
    """IoU, or for boxes whose centres are within a third of their size, at least 0.5: small
    faces move more than their own overlap allows between keyframes."""
    ious = iou_matrix(tracks, detections)
    centre_t = (tracks[:, :2] + tracks[:, 2:]) / 2
    centre_d = (detections[:, :2] + detections[:, 2:]) / 2
    size_t = (tracks[:, 2:] - tracks[:, :2]).max(axis=1)
    size_d = (detections[:, 2:] - detections[:, :2]).max(axis=1)
    size = np.maximum(size_t[:, None], size_d[None])
    near = np.linalg.norm(centre_t[:, None] - centre_d[None], axis=2) < size / 3
    return np.where(near, np.maximum(ious, 0.5), ious)


class Tracker:
    """Greedy IoU association of keyframe detections into tracks."""

    def __init__(self, iou: float = 0.2, hold: int = 8, lookahead: int = 8, max_gap: int = 12,
                 grow: float = 1.0, every: int = 1, confident: float = 0.5) -> None:
        self.iou, self.hold, self.lookahead, self.max_gap, self.grow = iou, hold, lookahead, max_gap, grow
        # A one-off low-score detection (most often not a face) spans only to its neighbouring
        # keyframes; a confirmed track is held and reached back to in full.
        self.every, self.confident = every, confident
        self.tracks: list[Track] = []
        self._next_id = 0
        self.last_keyframe = -1

    def update(self, frame: int, faces: Faces) -> None:
        """Add the detections of keyframe ``frame`` (frames must come in increasing order)."""
        self.last_keyframe = frame
        faces = Faces(faces.mask_xyxy, faces.score)  # tracks follow what must be masked
        live = [t for t in self.tracks if frame - t.frames[-1] <= self.max_gap]
        unmatched = list(range(len(faces)))
        if live and len(faces):
            # Predict each live track's box at this frame from its last two observations.
            predicted = np.stack([self._predict(t, frame) for t in live])
            ious = _affinity(predicted, faces.xyxy)
            while ious.size and ious.max() > self.iou:
                row, col = np.unravel_index(int(np.argmax(ious)), ious.shape)
                live[row].add(frame, faces.xyxy[col].copy(), float(faces.score[col]))
                unmatched.remove(int(col))
                ious[row, :] = -1
                ious[:, col] = -1
        for col in unmatched:
            track = Track(self._next_id)
            self._next_id += 1
            track.add(frame, faces.xyxy[col].copy(), float(faces.score[col]))
            self.tracks.append(track)

    @property
    def track_count(self) -> int:
        """Tracks started so far (forgotten ones included)."""
        return self._next_id

    @staticmethod
    def _predict(track: Track, frame: int) -> np.ndarray:
        if len(track.frames) < 2:
            return track.boxes[-1]
        (a, b), (box_a, box_b) = track.frames[-2:], track.boxes[-2:]
        return box_b + (box_b - box_a) * (frame - b) / max(b - a, 1)

    @property
    def horizon(self) -> int:
        """How many frames after a frame its boxes may look: the farthest a track reaches back or
        interpolates across."""
        return max(self.lookahead, self.max_gap)

    def ready(self, frame: int) -> bool:
        """Whether every keyframe that decides ``frame``'s boxes has been seen."""
        return self.last_keyframe >= frame + self.horizon

    def faces_at(self, frame: int) -> Faces:
        """The boxes to mask at ``frame``, one per track that covers it, with track ids; keyframes
        past ``frame + horizon`` are not looked at, whether or not they have arrived."""
        horizon = frame + self.horizon
        boxes, scores, ids = [], [], []
        for track in self.tracks:
            seen = track.seen_by(horizon)
            if not seen:
                continue
            if track.confirmed(self.confident, horizon):
                box = track.box_at(frame, self.hold, self.lookahead, self.max_gap, horizon)
            else:
                box = track.box_at(frame, self.every, self.every, self.max_gap, horizon)
            if box is not None:
                boxes.append(box)
                scores.append(max(track.scores[:seen]))
                ids.append(track.track_id)
        if not boxes:
            return Faces(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), track_id=np.zeros(0, np.int64))
        xyxy = scale_boxes(np.stack(boxes).astype(np.float32), self.grow)
        faces = Faces(xyxy, np.array(scores, np.float32), track_id=np.array(ids, np.int64))
        # Tracks of one face (seen twice, or a lost track and its successor) are masked once, with a
        # box enclosing them all, so no part of either is dropped.
        return merge_overlapping(faces, 0.5)

    def forget_before(self, frame: int) -> None:
        """Drop tracks that can no longer cover ``frame`` or any later frame."""
        self.tracks = [t for t in self.tracks if t.frames[-1] + max(self.hold, self.max_gap) >= frame]
