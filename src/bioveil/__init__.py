"""bioveil: see what photos expose, mask it, and keep biometric identity under the owner's control.

The front door: plain arrays in and out, good defaults, earlier results accepted so nothing is
computed twice::

    import bioveil
    faces = bioveil.detect("photo.jpg")          # or an RGB uint8 array
    masked = bioveil.mask("photo.jpg", faces)     # an RGB uint8 array
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bioveil.errors import BioveilError
from bioveil.types import Faces

__version__ = "0.1.0"
__all__ = ["BioveilError", "Faces", "__version__", "detect", "mask"]


def _pixels(image: np.ndarray | str | Path) -> np.ndarray:
    if isinstance(image, (str, Path)):
        from bioveil.media.image import read_image

        return read_image(Path(image)).pixels
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise BioveilError(f"expected an RGB uint8 image of shape (h, w, 3) or a path, got {array.dtype} {array.shape}")
    return array


def detect(image: np.ndarray | str | Path, detector: str | None = None, threshold: float | None = None) -> Faces:
    """Faces in ``image`` (a path, or RGB uint8 pixels), by the default fused detector unless named."""
    from bioveil.detection.base import get_detector
    from bioveil.detection.ensemble import DEFAULT_DETECTOR

    return get_detector(detector or DEFAULT_DETECTOR).detect(_pixels(image), threshold)


def mask(image: np.ndarray | str | Path, faces: Faces | None = None, method: str = "blur", **options: Any) -> np.ndarray:
    """A copy of ``image`` with every face masked; ``faces`` defaults to :func:`detect`'s.

    ``options``: ``scale``, ``shape`` ("ellipse" or "box") and the method's own, e.g. ``color=(255, 0, 255)``
    for ``solid``, ``strength`` for ``blur``, ``blocks`` for ``pixelate``.
    """
    from bioveil.masking.maskers import get_masker

    pixels = _pixels(image)
    masker = get_masker(method, **options)
    return masker.apply(pixels, detect(pixels) if faces is None else faces)
