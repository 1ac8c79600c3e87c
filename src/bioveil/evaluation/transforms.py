"""What a scraper's upload pipeline does to a photo, as named transforms, and what a tracker that
expects cloaked photos might do first to wash a perturbation out (``purify_*``).

Each takes an RGB uint8 image and returns the transformed image and the scale applied to its
geometry (so known face positions can follow a resize).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

from bioveil.errors import UnknownNameError

Transform = Callable[[np.ndarray], tuple[np.ndarray, float]]


def _jpeg(quality: int) -> Transform:
    def transform(image: np.ndarray) -> tuple[np.ndarray, float]:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        return np.asarray(Image.open(buffer).convert("RGB")), 1.0

    return transform


def _downscale(factor: int) -> Transform:
    def transform(image: np.ndarray) -> tuple[np.ndarray, float]:
        import cv2

        height, width = image.shape[:2]
        size = (max(1, round(width / factor)), max(1, round(height / factor)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA), size[0] / width

    return transform


def _blur(sigma: float) -> Transform:
    def transform(image: np.ndarray) -> tuple[np.ndarray, float]:
        import cv2

        return cv2.GaussianBlur(image, (0, 0), sigma), 1.0

    return transform


def _down_up(factor: int) -> Transform:
    """Down by ``factor``, then back to the original size: fine detail (and a perturbation in it) is
    lost, the geometry is kept."""

    def transform(image: np.ndarray) -> tuple[np.ndarray, float]:
        import cv2

        small, _ = _downscale(factor)(image)
        return cv2.resize(small, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_CUBIC), 1.0

    return transform


def _denoise(strength: float) -> Transform:
    """OpenCV's non-local means (its default windows), luminance and colour at ``strength``
    (OpenCV's default is 3)."""

    def transform(image: np.ndarray) -> tuple[np.ndarray, float]:
        import cv2

        bgr = np.ascontiguousarray(image[:, :, ::-1])  # its luminance is computed from BGR
        return cv2.fastNlMeansDenoisingColored(bgr, None, strength, strength, 7, 21)[:, :, ::-1].copy(), 1.0

    return transform


TRANSFORMS: dict[str, Transform] = {
    "none": lambda image: (image, 1.0),
    "jpeg95": _jpeg(95),
    "jpeg85": _jpeg(85),
    "jpeg75": _jpeg(75),
    "down2": _downscale(2),
    "blur": _blur(1.0),
    "purify_jpeg50": _jpeg(50),
    "purify_downup2": _down_up(2),
    "purify_denoise": _denoise(5.0),
}
DEFAULT_TRANSFORMS = ("none", "jpeg95", "jpeg85", "jpeg75", "down2", "blur")


def parse_transforms(names: str | list[str]) -> list[str]:
    """``"none,jpeg85"`` -> checked names, in order."""
    items = [name.strip() for name in (names.split(",") if isinstance(names, str) else names)]
    for item in items:
        if item not in TRANSFORMS:
            raise UnknownNameError("transform", item, list(TRANSFORMS))
    return list(dict.fromkeys(items))
