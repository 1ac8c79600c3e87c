"""Photos of one subject each: where the subject's face is, and its embedding by each recognizer.

Evaluation photos (LFW and the like) show one subject, centred, maybe with others around. The
subject's face is the detected face nearest the centre among the larger ones; where no detector
finds it, a central box stands in, and the photo is counted as not found.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioveil.detection.base import Detector
from bioveil.media.image import read_image
from bioveil.recognition.base import Recognizer
from bioveil.types import Faces

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subject:
    """The subject's face in one photo: one-row ``Faces``, and whether a detector found it."""

    faces: Faces
    found: bool


def central_box(width: int, height: int, side: float = 0.45) -> Faces:
    """A square box of ``side`` times the shorter side, centred: the subject's place in a portrait crop."""
    half = side * min(width, height) / 2
    cx, cy = width / 2, height / 2
    return Faces(np.array([[cx - half, cy - half, cx + half, cy + half]]), np.zeros(1))


def subject_face(faces: Faces, width: int, height: int) -> Subject:
    """The face nearest the photo's centre among those at least half as tall as the tallest."""
    if len(faces) == 0:
        return Subject(central_box(width, height), found=False)
    heights = faces.xyxy[:, 3] - faces.xyxy[:, 1]
    centres = (faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2
    distance = np.hypot(centres[:, 0] - width / 2, centres[:, 1] - height / 2)
    distance[heights < heights.max() / 2] = np.inf
    return Subject(faces[int(np.argmin(distance))], found=True)


def locate_subjects(images: Sequence[np.ndarray], detector: Detector) -> list[Subject]:
    """The subject of each image."""
    out = []
    for image in images:
        height, width = image.shape[:2]
        out.append(subject_face(detector.detect(image), width, height))
    return out


def read_images(paths: Sequence[Path]) -> list[np.ndarray]:
    """RGB uint8 images, EXIF orientation applied (as the masking pipeline reads them)."""
    return [read_image(path).pixels for path in paths]


def embed_subjects(recognizer: Recognizer, images: Sequence[np.ndarray], subjects: Sequence[Faces]) -> np.ndarray:
    """Embeddings (n, d) of one face per image, batched across images."""
    chips = [recognizer.chips(image, faces) for image, faces in zip(images, subjects, strict=True)]
    if not chips:
        return np.zeros((0, recognizer.embedding_size), np.float32)
    return recognizer.embed_chip_array(np.concatenate(chips))
