"""The detector protocol and the registry that builds each detector lazily, once."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from bioveil.registry import Registry
from bioveil.types import Faces

# The score from which a detection counts as a face for everything that counts, crops or aligns faces
# (scan, cloak, the vault, bioveil.detect); masking goes lower, recall first.
SURE_SCORE = 0.5


@runtime_checkable
class Detector(Protocol):
    """Finds faces in an RGB uint8 image of shape (h, w, 3)."""

    name: str

    def detect(self, image: np.ndarray, threshold: float | None = None) -> Faces:
        """Faces in ``image``; ``threshold`` overrides the detector's default score cut."""
        ...


def detect_at_scale(detector: Detector, image: np.ndarray, scale: float, threshold: float | None = None) -> Faces:
    """``detector`` run on ``image`` resized by ``scale``, faces mapped back to ``image``'s pixels."""
    if scale == 1.0:
        return detector.detect(image, threshold)
    import cv2

    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return detector.detect(resized, threshold).scaled(width / size[0], height / size[1])


def _load_builtin() -> None:
    # Importing the modules runs their @register_detector decorators; the models themselves
    # load only when a factory is called.
    from bioveil.detection import centerface, ensemble, scrfd, yunet  # noqa: F401


_REGISTRY: Registry[Detector] = Registry("detector", _load_builtin)
register_detector = _REGISTRY.register
detector_names = _REGISTRY.names
get_detector = _REGISTRY.get
