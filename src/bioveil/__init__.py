"""bioveil: see what photos expose, mask it, and keep biometric identity under the owner's control.

The front door: plain arrays in and out, good defaults, earlier results accepted so nothing is
computed twice::

    import bioveil
    faces = bioveil.detect("photo.jpg")          # or an RGB uint8 array
    masked = bioveil.mask("photo.jpg", faces)     # an RGB uint8 array
    cloaked, result = bioveil.cloak("photo.jpg", faces)   # pixels, and a CloakResult (per-face figures)
    vectors = bioveil.embed("photo.jpg", faces, recognizer="sface")   # (n, 128) embeddings
    report = bioveil.evaluate_pairs("lfw/pairs.txt", "lfw/identities")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bioveil.errors import BioveilError
from bioveil.types import Faces

__version__ = "0.1.0"
__all__ = ["BioveilError", "Faces", "__version__", "cloak", "detect", "embed", "evaluate_pairs", "evaluate_protection", "mask"]


def _pixels(image: np.ndarray | str | Path) -> np.ndarray:
    if isinstance(image, (str, Path)):
        from bioveil.media.image import read_image

        return read_image(Path(image)).pixels
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise BioveilError(f"expected an RGB uint8 image of shape (h, w, 3) or a path, got {array.dtype} {array.shape}")
    return array


def detect(image: np.ndarray | str | Path, detector: str | None = None, threshold: float | None = None,
           *, candidates: bool = False) -> Faces:
    """The faces in ``image`` (a path, or RGB uint8 pixels), one box a face, by the default detector unless named.

    By default only faces the detector is sure of (score ``SURE_SCORE``, 0.5, or ``threshold``), found by
    SCRFD at two scales: what to count, crop or align. ``candidates=True`` returns what masking covers
    instead (the masking detector at its own low cuts: recall first, so some are not faces); each face's
    ``cover`` is the area to mask.
    """
    from bioveil.detection.base import SURE_SCORE, get_detector
    from bioveil.detection.ensemble import DEFAULT_DETECTOR, FACES_DETECTOR

    if candidates:
        return get_detector(detector or DEFAULT_DETECTOR).detect(_pixels(image), threshold)
    return get_detector(detector or FACES_DETECTOR).detect(_pixels(image), SURE_SCORE if threshold is None else threshold)


def mask(image: np.ndarray | str | Path, faces: Faces | None = None, method: str = "blur", **options: Any) -> np.ndarray:
    """A copy of ``image`` with every face masked; ``faces`` defaults to every candidate the default
    detector finds (``detect(image, candidates=True)``).

    ``options``: ``scale``, ``shape`` ("ellipse" or "box") and the method's own, e.g. ``color=(255, 0, 255)``
    for ``solid``, ``strength`` for ``blur``, ``blocks`` for ``pixelate``.
    """
    from bioveil.masking.maskers import get_masker

    pixels = _pixels(image)
    masker = get_masker(method, **options)
    return masker.apply(pixels, detect(pixels, candidates=True) if faces is None else faces)


def cloak(image: np.ndarray | str | Path, faces: Faces | None = None, mode: str = "high",
          recognizers: str | list[str] | None = None, seed: int = 0, generator: Any = None,
          decoys: str = "consistent") -> tuple[np.ndarray, Any]:
    """A cloaked copy of ``image`` and a :class:`bioveil.cloaking.CloakResult`; ``faces`` defaults to :func:`detect`'s.

    ``mode``: the face budget, "low", "mid", "high" or "visible" (see :mod:`bioveil.cloaking.attack`);
    ``recognizers``: the ensemble (default: all of them);
    ``seed`` or a ``torch.Generator`` fix the randomness; ``decoys``: "consistent" or "random"
    (see :mod:`bioveil.cloaking.decoys`). Needs ``pip install bioveil[recognition]``.
    """
    from bioveil.cloaking import cloak_pixels, load_recognizers

    pixels = _pixels(image)
    return cloak_pixels(pixels, detect(pixels) if faces is None else faces, load_recognizers(recognizers), mode,
                        seed=seed, generator=generator, decoys=decoys)


def embed(image: np.ndarray | str | Path, faces: Faces | None = None, recognizer: str = "dlib") -> np.ndarray:
    """Embeddings (n, d) of ``faces`` in ``image`` by ``recognizer`` ("dlib", "facenet" or "sface").

    Compare them with ``bioveil.recognition.base.get_recognizer(name).similarity(a, b)``: higher is
    more alike, and the recognizer's ``threshold`` separates same from different people.
    """
    from bioveil.recognition.base import get_recognizer

    pixels = _pixels(image)
    return get_recognizer(recognizer).embed(pixels, detect(pixels) if faces is None else faces)


def evaluate_pairs(pairs_file: str | Path, images: str | Path, recognizers: str = "dlib,facenet,sface") -> Any:
    """LFW-protocol verification of each recognizer (see :mod:`bioveil.evaluation.pairs`)."""
    from bioveil.evaluation.pairs import evaluate_pairs as run

    return run(Path(pairs_file), Path(images), recognizers)


def evaluate_protection(gallery: str | Path, probes: str | Path, protected: str | Path, **options: Any) -> Any:
    """Identification before and after protection (see :mod:`bioveil.evaluation.protection`)."""
    from bioveil.evaluation.protection import evaluate_protection as run

    return run(Path(gallery), Path(probes), Path(protected), **options)
