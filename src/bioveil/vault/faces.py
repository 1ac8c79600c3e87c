"""Faces into embeddings for the vault: quality-checked enrolment photos, and the live photo of a check.

Enrolment is strict, because a poor template fails its owner later: each photo must hold exactly one
clear face (a second face at least half as tall is refused: crop to yours), at least ``ENROL_MIN_PX``
tall, found with a confident score, and all photos must agree with each other (every pair above the
recognizer's threshold) so that nobody enrols a stranger's photo by mistake. The template is the
normalised mean of the photos' embeddings.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioveil.detection.base import get_detector
from bioveil.errors import MediaError
from bioveil.media.image import decode_image, read_image
from bioveil.recognition.base import get_recognizer
from bioveil.types import Faces
from bioveil.vault.errors import EnrolmentError

log = logging.getLogger(__name__)

# YuNet on the photo and on a pyramid level (shrunk to 640 px), so a close-up portrait's face is seen at a
# size YuNet was trained for; YuNet's licence (Apache-2.0) suits a service run by an organisation.
DETECTOR = "yunet-pyramid"
ENROL_MIN_PHOTOS = 3
ENROL_MIN_PX = 80
# Between real faces and the face-like things YuNet is sure of: on 400 LFW people (own size and 4x) 99% of
# the target faces score 0.898 or more, every test portrait 0.929 or more, while a dog, a
# pumpkin and a pan among the camera files score up to 0.865 (bench/enrol_scores.py, BENCHMARKS.md).
ENROL_MIN_SCORE = 0.88
PROBE_MAX_BYTES = 10 * 1024 * 1024
PROBE_MAX_PIXELS = 25_000_000


@dataclass(frozen=True)
class Enrolment:
    embedding: np.ndarray  # unit vector
    photos: int
    min_agreement: float  # the lowest pairwise similarity between the photos


def _main_face(faces: Faces) -> tuple[Faces, int]:
    """The tallest face, and how many others are at least half as tall."""
    heights = faces.xyxy[:, 3] - faces.xyxy[:, 1]
    best = int(np.argmax(heights))
    return faces[best], int((heights >= heights[best] / 2).sum()) - 1


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, np.float64).ravel()
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


@functools.lru_cache(maxsize=256)
def _enrolment_face(path: Path, stamp: tuple[int, int], recognizer: str) -> np.ndarray:
    """One enrolment photo's embedding, after its checks (memoised by path, mtime and size: accepting a
    grant re-reads the photos the owner enrolled)."""
    try:
        pixels = read_image(path).pixels
    except MediaError as exc:
        raise EnrolmentError(f"{exc}; use another photo") from exc
    faces = get_detector(DETECTOR).detect(pixels)
    faces = faces[faces.score >= ENROL_MIN_SCORE]
    if len(faces) == 0:
        raise EnrolmentError(f"{path}: no clear face found; use a well-lit photo facing the camera")
    face, others = _main_face(faces)
    if others:
        raise EnrolmentError(f"{path}: {others + 1} faces of similar size; crop the photo to your face alone")
    height = float(face.xyxy[0, 3] - face.xyxy[0, 1])
    if height < ENROL_MIN_PX:
        raise EnrolmentError(f"{path}: the face is {height:.0f} px tall, under {ENROL_MIN_PX}; use a closer photo")
    return get_recognizer(recognizer).embed(pixels, face)[0]


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError as exc:
        raise EnrolmentError(f"{path}: cannot be read ({exc.strerror}); check the path") from None
    return info.st_mtime_ns, info.st_size


def enrol_photos(paths: Sequence[Path], recognizer: str = "sface") -> Enrolment:
    """The owner's template embedding from their own photos; EnrolmentError says which photo fails and why."""
    if len(paths) < ENROL_MIN_PHOTOS:
        raise EnrolmentError(f"enrolment needs at least {ENROL_MIN_PHOTOS} photos of you, got {len(paths)}")
    model = get_recognizer(recognizer)
    stack = np.stack([_enrolment_face(Path(p), _stamp(Path(p)), recognizer) for p in paths])
    agreement = model.similarity(stack, stack)
    worst = np.unravel_index(np.argmin(agreement), agreement.shape)
    if agreement[worst] < model.threshold:
        raise EnrolmentError(
            f"{paths[worst[0]]} and {paths[worst[1]]} do not look like the same person to the {recognizer} "
            "recognizer; enrol only photos of yourself"
        )
    return Enrolment(_unit(np.mean([_unit(e) for e in stack], axis=0)), len(paths), float(agreement[worst]))


def probe_embedding(photo: bytes, recognizer: str = "sface") -> np.ndarray | None:
    """The embedding of the largest face in a live photo, or None when there is none (or no image)."""
    if len(photo) > PROBE_MAX_BYTES:
        return None
    try:
        pixels = decode_image(photo, Path("live photo"), PROBE_MAX_PIXELS).pixels
    except MediaError as exc:
        log.info("live photo unreadable: %s", exc)
        return None
    faces = get_detector(DETECTOR).detect(pixels)
    if len(faces) == 0:
        return None
    face, _ = _main_face(faces)
    return _unit(get_recognizer(recognizer).embed(pixels, face)[0])
