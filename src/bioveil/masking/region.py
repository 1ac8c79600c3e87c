"""Which pixels a mask covers: ellipses or boxes around faces, grown by a scale factor."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

import numpy as np

from bioveil.detection.boxes import scale_boxes
from bioveil.errors import UnknownNameError
from bioveil.types import Faces


class Shape(StrEnum):
    ELLIPSE = "ellipse"
    BOX = "box"

    @classmethod
    def parse(cls, name: str | Shape) -> Shape:
        try:
            return cls(name)
        except ValueError:
            raise UnknownNameError("mask shape", str(name), [s.value for s in cls]) from None


Patch = tuple[tuple[int, int, int, int], np.ndarray, tuple[float, float]]


def face_patches(faces: Faces, scale: float, width: int, height: int,
                 shape: Shape | str = Shape.ELLIPSE) -> Iterator[Patch]:
    """For each face: its masked box (x1, y1, x2, y2, clipped to the image), a boolean array of
    that box's shape saying which pixels are masked, and the grown box's (width, height).

    Each face's mask box (:attr:`Faces.mask_xyxy`) is grown by ``scale`` about its centre; with ``ellipse`` the masked pixels are
    the ellipse inscribed in that grown box (computed on the unclipped box, so faces at the border
    keep their shape). Faces wholly outside the image are passed over.
    """
    shape = Shape.parse(shape)
    grown = scale_boxes(faces.mask_xyxy, scale)
    boxes = np.round(grown).astype(np.int64)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    for (x1, y1, x2, y2), (cx1, cy1, cx2, cy2) in zip(grown, boxes.tolist(), strict=True):
        if cx2 <= cx1 or cy2 <= cy1:
            continue
        if shape is Shape.BOX:
            inside = np.ones((cy2 - cy1, cx2 - cx1), dtype=bool)
        else:
            ys = (np.arange(cy1, cy2) + 0.5 - (y1 + y2) / 2) / max((y2 - y1) / 2, 0.5)
            xs = (np.arange(cx1, cx2) + 0.5 - (x1 + x2) / 2) / max((x2 - x1) / 2, 0.5)
            inside = ys[:, None] ** 2 + xs[None, :] ** 2 <= 1.0
        yield (cx1, cy1, cx2, cy2), inside, (float(x2 - x1), float(y2 - y1))


def face_region(image_hw: tuple[int, int], faces: Faces, scale: float = 1.55,
                shape: Shape | str = Shape.ELLIPSE) -> np.ndarray:
    """A boolean (h, w) array, True where some face's mask covers the pixel (see :func:`face_patches`)."""
    height, width = image_hw
    region = np.zeros((height, width), dtype=bool)
    for (x1, y1, x2, y2), inside, _ in face_patches(faces, scale, width, height, shape):
        region[y1:y2, x1:x2] |= inside
    return region
