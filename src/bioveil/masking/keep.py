"""Faces left unmasked on purpose: a consenting person (``mask --keep-person``) or faces the app's user kept.

The masking detector still finds every face, recall first; a detection is then left out only when it is
a kept face (:func:`kept`). In a video this happens on every keyframe: a face recognised on one keyframe
and not the next is masked there, and the tracks hold it, so a stranger wrongly kept on one keyframe stays
masked by their track. A person is recognised by the audit's detector (sure faces with landmarks)
and SFace, against reference photos of them alone. The similarity a stranger must not reach is set on
LFW for at most 1 stranger's face in 1,000 kept (``bench/keep_person.py``, BENCHMARKS.md); a face too
small or blurred to embed is masked. Privacy first: in doubt, a face is masked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bioveil.detection.base import SURE_SCORE, Detector, get_detector
from bioveil.detection.boxes import box_area, intersection_matrix
from bioveil.errors import BioveilError
from bioveil.media.image import read_image
from bioveil.types import Faces

log = logging.getLogger(__name__)

# A detection is the kept face when it overlaps the face's box this much, or lies inside it (80% of the
# detection) while being at least a tenth of its size: the detector's partial boxes of the same face. A
# smaller face in front of a kept one stays masked.
KEEP_IOU = 0.3
KEEP_INSIDE = 0.8
KEEP_MIN_AREA = 0.1
KEEP_RECOGNIZER = "sface"
# SFace cosine similarity to the nearest reference a face must reach to be kept (SFace's own same-person
# cut is 0.363). bench/keep_person.py, on LFW: the cut for 1 stranger's face in 1,000 set on half of the
# people (0.391) keeps 1.1 in 1,000 on the other half, over the target; so the cut is the one set for
# 1 in 10,000 (0.446): on the unseen half 0.8 in 10,000 strangers' faces kept, 99.6% of the person's own.
KEEP_SIMILARITY = 0.45


class KeepPersonError(BioveilError, ValueError):
    """A reference photo for ``--keep-person`` does not show exactly one clear face."""


def kept(faces: Faces, keep: np.ndarray) -> np.ndarray:
    """Which of ``faces`` (by their masked box) are faces left unmasked (boxes ``keep``, (k, 4))."""
    if not len(faces) or not len(keep):
        return np.zeros(len(faces), bool)
    boxes = faces.mask_xyxy
    overlap = intersection_matrix(boxes, keep)
    area, kept_area = box_area(boxes)[:, None], box_area(keep)[None, :]
    iou = overlap / np.maximum(area + kept_area - overlap, 1e-9)
    inside = (overlap >= KEEP_INSIDE * area) & (area >= KEEP_MIN_AREA * kept_area)
    return ((iou >= KEEP_IOU) | inside).any(axis=1)


@dataclass
class Keeping:
    """``detector`` with faces left out and boxes added: ``keep(image)`` gives the boxes of faces to leave
    unmasked, ``draw`` boxes drawn by hand over faces the detector missed (masked like a detected face)."""

    detector: Detector
    keep: Callable[[np.ndarray], np.ndarray]
    draw: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    name: str = "keeping"

    @property
    def mask_scale(self) -> float | None:
        return getattr(self.detector, "mask_scale", None)

    def for_keyframe(self, number: int) -> Keeping:
        """For video: the same edits around the detector that searches keyframe ``number`` (a video's cadence)."""
        turn = getattr(self.detector, "for_keyframe", None)
        return replace(self, detector=turn(number)) if callable(turn) else self

    def detect(self, image: np.ndarray, threshold: float | None = None) -> Faces:
        faces = self.detector.detect(image, threshold)
        faces = faces[~kept(faces, np.asarray(self.keep(image), np.float32).reshape(-1, 4))]
        if not len(self.draw):
            return faces
        drawn = Faces(self.draw, np.ones(len(self.draw), np.float32))
        return Faces.concatenate([faces, drawn]).clipped(image.shape[1], image.shape[0])


@dataclass
class Person:
    """One person to leave unmasked: the embeddings of their reference faces."""

    references: np.ndarray  # (k, d)
    threshold: float = KEEP_SIMILARITY
    recognizer: Any = None
    detector: Detector | None = None

    def boxes(self, image: np.ndarray) -> np.ndarray:
        """Boxes of this person's faces in ``image`` (the sure faces close enough to a reference)."""
        from bioveil.scan.faces import face_quality

        faces = _sure_faces(self.detector, image)
        if not len(faces):
            return np.zeros((0, 4), np.float32)
        usable = np.array([quality.embeddable for quality in face_quality(image, faces)], bool)
        if not usable.any():
            return np.zeros((0, 4), np.float32)
        faces = faces[usable]
        nearest = self.recognizer.similarity(self.recognizer.embed(image, faces), self.references).max(axis=1)
        log.debug("keep-person similarities %s (cut %.3f)", np.round(nearest, 3).tolist(), self.threshold)
        return faces.xyxy[nearest >= self.threshold]


def _sure_faces(detector: Detector | None, image: np.ndarray) -> Faces:
    from bioveil.detection.ensemble import FACES_DETECTOR

    faces = (detector or get_detector(FACES_DETECTOR)).detect(image, SURE_SCORE)
    return faces[faces.score >= SURE_SCORE].clipped(image.shape[1], image.shape[0])


def load_person(photos: Sequence[Path | str], threshold: float = KEEP_SIMILARITY) -> Person:
    """The person shown alone in each of ``photos``; raises :class:`KeepPersonError` for a photo with no
    clear face or with several."""
    from bioveil.detection.ensemble import FACES_DETECTOR
    from bioveil.recognition.base import get_recognizer
    from bioveil.scan.faces import face_quality

    if not photos:
        raise KeepPersonError("--keep-person needs at least one photo of the person alone")
    detector, recognizer = get_detector(FACES_DETECTOR), get_recognizer(KEEP_RECOGNIZER)
    references = []
    for path in map(Path, photos):
        pixels = read_image(path).pixels
        faces = _sure_faces(detector, pixels)
        if len(faces) != 1:
            raise KeepPersonError(f"{path}: shows {len(faces)} clear faces; --keep-person needs photos of the person "
                                  "alone, one face each")
        if not face_quality(pixels, faces)[0].embeddable:
            raise KeepPersonError(f"{path}: the face is too small or blurred to recognise; give a sharper, closer photo")
        references.append(recognizer.embed(pixels, faces)[0])
    return Person(np.array(references, np.float32), threshold, recognizer, detector)
