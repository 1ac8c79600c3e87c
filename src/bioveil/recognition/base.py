"""The recognizer protocol: faces in a photo -> aligned chips -> embeddings -> similarities.

A :class:`Recognizer` pairs a ported network with its alignment and its comparison rule. Scores
are similarities everywhere (higher means more alike; dlib's Euclidean distance is negated), so
thresholds, ROC curves and rank-1 identification treat every recognizer alike.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from bioveil.errors import UnknownNameError
from bioveil.registry import Registry
from bioveil.types import Faces

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

BATCH = 32


class Recognizer(ABC):
    """One face recognizer, run in PyTorch from its original model file.

    ``threshold`` is the similarity above which its authors call two faces the same person.
    """

    name: str
    metric: str  # "cosine" or "euclidean"
    threshold: float

    def __init__(self, model: torch.nn.Module) -> None:
        import torch

        # Channels-last memory suits these networks on the CPU (oneDNN): per face, batch 1 forward+backward,
        # FaceNet 78 instead of 110 ms, dlib 18 instead of 22; batches of 32: FaceNet -25%, dlib -20%; SFace's
        # depthwise convolutions 14 instead of 23 ms. Embeddings move by about 2e-7.
        self.model = model.to(memory_format=torch.channels_last)
        self.input_size: int = model.input_size
        self.embedding_size: int = model.embedding_size

    @abstractmethod
    def chip_maps(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        """Chip-to-photo affine maps (n, 2, 3) for ``faces`` in the RGB uint8 ``image``."""

    def chips(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        """Aligned chips (n, size, size, 3) uint8, cut as the reference implementation cuts them."""
        from bioveil.recognition.align import warp_reference

        maps = self.chip_maps(image, faces)
        return np.stack([warp_reference(image, m, self.input_size) for m in maps]) if len(maps) else self._no_chips()

    def embed_chips(self, chips: torch.Tensor) -> torch.Tensor:
        """Embeddings of float chips (N, 3, size, size), RGB in [0, 255]; differentiable; unit length for cosine."""
        import torch
        import torch.nn.functional as F

        out = self.model(chips.contiguous(memory_format=torch.channels_last))
        return F.normalize(out, dim=1) if self.metric == "cosine" else out

    def embed_chip_array(self, chips: np.ndarray) -> np.ndarray:
        """Embeddings (n, d) float32 of uint8 chips (n, size, size, 3), in batches, without gradients."""
        import torch

        if len(chips) == 0:
            return np.zeros((0, self.embedding_size), np.float32)
        out = []
        with torch.inference_mode():
            for start in range(0, len(chips), BATCH):
                batch = torch.from_numpy(np.ascontiguousarray(chips[start : start + BATCH])).permute(0, 3, 1, 2).float()
                out.append(self.embed_chips(batch).numpy())
        return np.concatenate(out).astype(np.float32)

    def embed(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        """Embeddings (n, d) float32 of ``faces`` in ``image``."""
        return self.embed_chip_array(self.chips(image, faces))

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Similarities (len(a), len(b)) between two sets of embeddings: higher is more alike."""
        a = np.atleast_2d(np.asarray(a, np.float64))
        b = np.atleast_2d(np.asarray(b, np.float64))
        if self.metric == "cosine":
            return a @ b.T
        squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return -np.sqrt(np.maximum(squared, 0.0))

    def pair_similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Similarities (n,) between rows of ``a`` and the same rows of ``b``."""
        a = np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
        if self.metric == "cosine":
            return (a * b).sum(1)
        return -np.linalg.norm(a - b, axis=1)

    def _no_chips(self) -> np.ndarray:
        return np.zeros((0, self.input_size, self.input_size, 3), np.uint8)


def _load_builtin() -> None:
    from bioveil.recognition import zoo  # noqa: F401


_REGISTRY: Registry[Recognizer] = Registry("recognizer", _load_builtin)
register_recognizer = _REGISTRY.register
recognizer_names = _REGISTRY.names
get_recognizer = _REGISTRY.get


def parse_recognizers(names: str | Sequence[str]) -> list[str]:
    """``"dlib,facenet"`` or a list of names -> checked names, in order, without repeats."""
    items = names.split(",") if isinstance(names, str) else list(names)
    valid = recognizer_names()
    out: list[str] = []
    for item in (name.strip() for name in items):
        if item not in valid:
            raise UnknownNameError("recognizer", item, valid)
        if item not in out:
            out.append(item)
    return out


