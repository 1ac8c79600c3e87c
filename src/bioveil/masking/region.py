"""Which pixels a mask covers: ellipses or boxes around faces, grown by a scale factor."""

from __future__ import annotations

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


def mask_boxes(faces: Faces, scale: float, width: int, height: int) -> np.ndarray:
    """Integer xyxy boxes of the masked regions, clipped to the image."""
    boxes = np.round(scale_boxes(faces.xyxy, scale)).astype(np.int64)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return boxes


def face_region(image_hw: tuple[int, int], faces: Faces, scale: float = 1.6,
                shape: Shape | str = Shape.ELLIPSE) -> np.ndarray:
    """A boolean (h, w) array, True where some face's mask covers the pixel.

    Each face's box is grown by ``scale`` about its centre; with ``ellipse`` the region is the
    ellipse inscribed in that grown box (computed on the unclipped box, so faces at the border
    keep their shape).
    """
    height, width = image_hw
    shape = Shape.parse(shape)
    region = np.zeros((height, width), dtype=bool)
    grown = scale_boxes(faces.xyxy, scale)
    for (x1, y1, x2, y2), (cx1, cy1, cx2, cy2) in zip(grown, mask_boxes(faces, scale, width, height), strict=True):
        if cx2 <= cx1 or cy2 <= cy1:
            continue
        if shape is Shape.BOX:
            region[cy1:cy2, cx1:cx2] = True
            continue
        ys = (np.arange(cy1, cy2) + 0.5 - (y1 + y2) / 2) / max((y2 - y1) / 2, 0.5)
        xs = (np.arange(cx1, cx2) + 0.5 - (x1 + x2) / 2) / max((x2 - x1) / 2, 0.5)
        region[cy1:cy2, cx1:cx2] |= ys[:, None] ** 2 + xs[None, :] ** 2 <= 1.0
    return region
