"""The detector protocol and the registry that builds each detector lazily, once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from bioveil.errors import UnknownNameError
from bioveil.types import Faces


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


_FACTORIES: dict[str, Callable[[], Detector]] = {}
_INSTANCES: dict[str, Detector] = {}
_LOCK = threading.Lock()


def register_detector(name: str) -> Callable[[Callable[[], Detector]], Callable[[], Detector]]:
    """Register a zero-argument factory under ``name`` (used as a decorator)."""

    def decorator(factory: Callable[[], Detector]) -> Callable[[], Detector]:
        _FACTORIES[name] = factory
        return factory

    return decorator


def detector_names() -> list[str]:
    _load_builtin()
    return sorted(_FACTORIES)


def get_detector(name: str) -> Detector:
    """The shared instance of detector ``name``, built on first use."""
    _load_builtin()
    if name not in _FACTORIES:
        raise UnknownNameError("detector", name, list(_FACTORIES))
    with _LOCK:
        if name not in _INSTANCES:
            _INSTANCES[name] = _FACTORIES[name]()
        return _INSTANCES[name]


def _load_builtin() -> None:
    # Importing the modules runs their @register_detector decorators; the models themselves
    # load only when a factory is called.
    from bioveil.detection import centerface, ensemble, yunet  # noqa: F401
