"""The one data type that flows through every stage: :class:`Faces`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _as_float_array(value: Any, shape_tail: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float32)
    if array.size == 0:
        array = array.reshape((0, *shape_tail))
    if array.ndim != 1 + len(shape_tail) or array.shape[1:] != shape_tail:
        raise ValueError(f"Faces.{name} must have shape (n, {', '.join(map(str, shape_tail))}), got {array.shape}")
    return array


@dataclass(frozen=True)
class Faces:
    """Faces found in one image, in pixel coordinates of that image.

    ``xyxy`` is (n, 4) boxes as x1, y1, x2, y2; ``score`` is (n,); ``landmarks`` is (n, 5, 2)
    as x, y of right eye, left eye, nose, right and left mouth corner (NaN where a detector gives
    none); ``track_id`` is (n,) or None; ``data`` holds per-face extras (each value has n rows).

    One row is one face. ``cover`` is (n, 4) xyxy or None: the area a mask must cover for each face,
    the union of every box a detector fused into it (recall first), where ``xyxy`` is the one box
    that fits the face best, for counting, cropping and aligning. :attr:`mask_xyxy` gives it.
    """

    xyxy: np.ndarray
    score: np.ndarray
    landmarks: np.ndarray | None = None
    track_id: np.ndarray | None = None
    data: dict[str, np.ndarray] = field(default_factory=dict)
    cover: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = _as_float_array(self.xyxy, (4,), "xyxy")
        n = len(xyxy)
        score = np.asarray(self.score, dtype=np.float32).reshape(-1)
        if len(score) != n:
            raise ValueError(f"Faces.score has {len(score)} rows, xyxy has {n}")
        if self.landmarks is None:
            landmarks = np.full((n, 5, 2), np.nan, dtype=np.float32)
        else:
            landmarks = _as_float_array(self.landmarks, (5, 2), "landmarks")
        if len(landmarks) != n:
            raise ValueError(f"Faces.landmarks has {len(landmarks)} rows, xyxy has {n}")
        track_id = None if self.track_id is None else np.asarray(self.track_id, dtype=np.int64).reshape(-1)
        if track_id is not None and len(track_id) != n:
            raise ValueError(f"Faces.track_id has {len(track_id)} rows, xyxy has {n}")
        cover = None if self.cover is None else _as_float_array(self.cover, (4,), "cover")
        if cover is not None and len(cover) != n:
            raise ValueError(f"Faces.cover has {len(cover)} rows, xyxy has {n}")
        for key, value in self.data.items():
            if len(value) != n:
                raise ValueError(f"Faces.data[{key!r}] has {len(value)} rows, xyxy has {n}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "landmarks", landmarks)
        object.__setattr__(self, "track_id", track_id)
        object.__setattr__(self, "cover", cover)

    @classmethod
    def empty(cls) -> Faces:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Faces:
        """Select faces by a boolean mask, an index array or a slice; returns a new ``Faces``."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Faces(
            xyxy=self.xyxy[index],
            score=self.score[index],
            landmarks=self.landmarks[index],
            track_id=None if self.track_id is None else self.track_id[index],
            data={key: np.asarray(value)[index] for key, value in self.data.items()},
            cover=None if self.cover is None else self.cover[index],
        )

    @classmethod
    def concatenate(cls, parts: list[Faces]) -> Faces:
        parts = [part for part in parts if len(part)]
        if not parts:
            return cls.empty()
        keys = set.intersection(*(set(part.data) for part in parts))
        with_tracks = all(part.track_id is not None for part in parts)
        with_cover = any(part.cover is not None for part in parts)
        return cls(
            xyxy=np.concatenate([part.xyxy for part in parts]),
            score=np.concatenate([part.score for part in parts]),
            landmarks=np.concatenate([part.landmarks for part in parts]),
            track_id=np.concatenate([part.track_id for part in parts]) if with_tracks else None,
            data={key: np.concatenate([np.asarray(part.data[key]) for part in parts]) for key in keys},
            cover=np.concatenate([part.mask_xyxy for part in parts]) if with_cover else None,
        )

    @property
    def mask_xyxy(self) -> np.ndarray:
        """(n, 4) the boxes a mask must cover: ``cover`` where a detector fused several boxes, else ``xyxy``."""
        return self.xyxy if self.cover is None else self.cover

    @property
    def size_wh(self) -> np.ndarray:
        """(n, 2) widths and heights of the boxes."""
        return self.xyxy[:, 2:] - self.xyxy[:, :2]

    def scaled(self, factor_x: float, factor_y: float | None = None) -> Faces:
        """Coordinates multiplied by the factors (e.g. to map from a resized image back)."""
        factor_y = factor_x if factor_y is None else factor_y
        scale = np.array([factor_x, factor_y], dtype=np.float32)
        return Faces(
            xyxy=self.xyxy * np.tile(scale, 2),
            score=self.score,
            landmarks=self.landmarks * scale,
            track_id=self.track_id,
            data=dict(self.data),
            cover=None if self.cover is None else self.cover * np.tile(scale, 2),
        )

    def clipped(self, width: int, height: int) -> Faces:
        """Boxes clipped to the image; faces left with no area are dropped."""
        def clip(boxes: np.ndarray) -> np.ndarray:
            boxes = boxes.copy()
            boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
            boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
            return boxes

        cover = None if self.cover is None else clip(self.cover)
        clipped = Faces(clip(self.xyxy), self.score, self.landmarks, self.track_id, dict(self.data), cover)
        wh = clipped.size_wh
        return clipped[(wh[:, 0] > 0) & (wh[:, 1] > 0)]

    def to_records(self) -> list[dict[str, Any]]:
        """Plain JSON-ready dicts: box as [x1, y1, x2, y2] and the score, rounded."""
        return [
            {"box": [round(float(v), 1) for v in box], "score": round(float(score), 4)}
            for box, score in zip(self.xyxy, self.score, strict=True)
        ]
