"""How identifiable people are before and after a protection (masking, cloaking), as a tracker sees it.

Two threat models from the literature, each under what a scraper does to photos (JPEG, resizing,
blur: :mod:`bioveil.evaluation.transforms`):

- evasion: the tracker's gallery holds clean photos of known people plus distractors; it is queried
  with protected photos. Rank-1 identification rate and TAR at FAR, before (clean queries) and after.
- poisoning (Fawkes): the tracker enrols the protected photos (plus distractors) and is queried with
  clean photos of the same people.

The face in a protected photo is aligned where it is in the clean original (an "oracle" tracker
that knows where the face is): the worst case for the protection, so a protection cannot pass by
only hiding the face from one detector. Whether each detector still finds the face is reported apart.

Folders: ``<dir>/<identity>/<photo>`` (a photo directly in ``<dir>`` is its own one-photo identity);
the protected folder holds the protected probes at the probes' relative paths (as ``bioveil mask``
and ``bioveil cloak`` write them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioveil.detection.base import Detector, get_detector
from bioveil.detection.boxes import iou_matrix
from bioveil.errors import BioveilError, MediaError
from bioveil.evaluation.metrics import open_set_scores, rank1_rate, tar_at_far
from bioveil.evaluation.photos import embed_subjects, locate_subjects, read_images
from bioveil.evaluation.transforms import DEFAULT_TRANSFORMS, TRANSFORMS, parse_transforms
from bioveil.media.sniff import media_kind
from bioveil.recognition.base import get_recognizer, parse_recognizers
from bioveil.types import Faces

log = logging.getLogger(__name__)

DEFAULT_DETECTORS = ("centerface", "yunet")
LOCATOR = "ensemble"
FOUND_IOU = 0.3  # a detection this close to the clean face's box counts as finding it


class EvaluationInputError(BioveilError, ValueError):
    """Evaluation folders that do not fit together (no probes, no protected copy of a probe...)."""


@dataclass(frozen=True)
class PhotoSet:
    """Photos with an identity each."""

    paths: list[Path]
    identities: np.ndarray

    @classmethod
    def from_folder(cls, folder: Path, relative_to: Path | None = None) -> PhotoSet:
        folder = Path(folder)
        if not folder.is_dir():
            raise EvaluationInputError(f"{folder}: not a folder; expected <folder>/<identity>/<photo>")
        paths = sorted(p for p in folder.rglob("*") if p.is_file() and media_kind(p) == "image")
        identities = [p.relative_to(folder).parts[0] if len(p.relative_to(folder).parts) > 1 else p.stem for p in paths]
        return cls(paths, np.array(identities, dtype=object))

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class Identification:
    """Rank-1 identification rate and TAR at FAR over the gallery."""

    rank1: float
    tar_at_far: dict[str, float]
    probes: int

    def to_dict(self) -> dict[str, object]:
        return {"rank1": self.rank1, "tar_at_far": self.tar_at_far, "probes": self.probes}


@dataclass
class ProtectionReport:
    gallery_photos: int
    gallery_identities: int
    probes: int
    transforms: list[str]
    evasion: dict[str, dict[str, Identification]] = field(default_factory=dict)  # recognizer -> clean/transform
    poisoning: dict[str, dict[str, Identification]] = field(default_factory=dict)
    detection: dict[str, dict[str, float]] = field(default_factory=dict)  # detector -> clean/transform -> rate
    probes_not_found: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "gallery": {"photos": self.gallery_photos, "identities": self.gallery_identities},
            "probes": self.probes,
            "probe_faces_not_found_clean": self.probes_not_found,
            "alignment": "oracle: each protected face is aligned where the clean original's face is",
            "transforms": self.transforms,
            "recognizers": {
                name: {
                    "evasion": {key: value.to_dict() for key, value in self.evasion[name].items()},
                    "poisoning": {key: value.to_dict() for key, value in self.poisoning[name].items()},
                }
                for name in self.evasion
            },
            "detection": self.detection,
        }


def identify(similarity: np.ndarray, probe_ids: np.ndarray, gallery_ids: np.ndarray) -> Identification:
    genuine, impostor = open_set_scores(similarity, probe_ids, gallery_ids)
    return Identification(rank1_rate(similarity, probe_ids, gallery_ids), tar_at_far(genuine, impostor), len(probe_ids))


def _protected_paths(probes: PhotoSet, probe_root: Path, protected_root: Path) -> list[Path]:
    out = []
    for path in probes.paths:
        relative = path.relative_to(probe_root)
        candidates = [protected_root / relative, *sorted((protected_root / relative.parent).glob(relative.stem + ".*"))]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise EvaluationInputError(f"no protected copy of {path} in {protected_root} (expected {protected_root / relative})")
        out.append(found)
    return out


def _scaled(faces: list[Faces], scale: float) -> list[Faces]:
    return faces if scale == 1.0 else [f.scaled(scale, scale) for f in faces]


def evaluate_protection(
    gallery: Path,
    probes: Path,
    protected: Path,
    distractors: Path | None = None,
    recognizers: str | Sequence[str] = ("dlib", "facenet", "sface"),
    transforms: str | Sequence[str] = DEFAULT_TRANSFORMS,
    detectors: Sequence[str] = DEFAULT_DETECTORS,
) -> ProtectionReport:
    """Identification before and after protection, for evasion and poisoning, under each transform."""
    names = parse_recognizers(recognizers)
    transform_names = parse_transforms(list(transforms))
    known = PhotoSet.from_folder(gallery)
    extra = PhotoSet.from_folder(distractors) if distractors else PhotoSet([], np.array([], dtype=object))
    queries = PhotoSet.from_folder(probes)
    if not len(queries):
        raise EvaluationInputError(f"{probes}: no photos")
    if not len(known):
        raise EvaluationInputError(f"{gallery}: no photos")
    protected_paths = _protected_paths(queries, Path(probes), Path(protected))

    locator = get_detector(LOCATOR)
    try:
        known_images, extra_images, query_images = read_images(known.paths), read_images(extra.paths), read_images(queries.paths)
        protected_images = read_images(protected_paths)
    except MediaError as exc:
        raise EvaluationInputError(f"cannot read an evaluation photo: {exc}") from exc
    for clean, shielded, path in zip(query_images, protected_images, protected_paths, strict=True):
        if clean.shape != shielded.shape:
            raise EvaluationInputError(f"{path}: {shielded.shape[1]}x{shielded.shape[0]}, its clean original is "
                                       f"{clean.shape[1]}x{clean.shape[0]}; protections must keep the size")
    known_faces = [s.faces for s in locate_subjects(known_images, locator)]
    extra_faces = [s.faces for s in locate_subjects(extra_images, locator)]
    query_subjects = locate_subjects(query_images, locator)
    query_faces = [s.faces for s in query_subjects]

    transformed: dict[str, tuple[list[np.ndarray], list[Faces]]] = {}
    for name in transform_names:
        pairs = [TRANSFORMS[name](image) for image in protected_images]
        scale = pairs[0][1] if pairs else 1.0
        transformed[name] = ([image for image, _ in pairs], _scaled(query_faces, scale))

    report = ProtectionReport(len(known), len(set(known.identities)), len(queries), transform_names,
                              probes_not_found=sum(not s.found for s in query_subjects))
    gallery_ids = np.concatenate([known.identities, extra.identities])
    # Poisoning enrols the protected photos of the probes' people; their clean gallery photos query it.
    enrolled = np.isin(known.identities, queries.identities)
    for name in names:
        recognizer = get_recognizer(name)
        log.info("evaluating %s", name)
        known_emb = embed_subjects(recognizer, known_images, known_faces)
        extra_emb = embed_subjects(recognizer, extra_images, extra_faces)
        query_emb = embed_subjects(recognizer, query_images, query_faces)
        gallery_emb = np.concatenate([known_emb, extra_emb])
        evasion = {"clean": identify(recognizer.similarity(query_emb, gallery_emb), queries.identities, gallery_ids)}
        poison_gallery_ids = np.concatenate([queries.identities, extra.identities])
        poisoning = {"clean": identify(recognizer.similarity(known_emb[enrolled], np.concatenate([query_emb, extra_emb])),
                                       known.identities[enrolled], poison_gallery_ids)}
        for transform, (images, faces) in transformed.items():
            shielded = embed_subjects(recognizer, images, faces)
            evasion[transform] = identify(recognizer.similarity(shielded, gallery_emb), queries.identities, gallery_ids)
            poisoning[transform] = identify(recognizer.similarity(known_emb[enrolled], np.concatenate([shielded, extra_emb])),
                                            known.identities[enrolled], poison_gallery_ids)
        report.evasion[name], report.poisoning[name] = evasion, poisoning

    for detector_name in detectors:
        detector = get_detector(detector_name)
        rates = {"clean": _found_rate(detector, query_images, query_faces)}
        for transform, (images, faces) in transformed.items():
            rates[transform] = _found_rate(detector, images, faces)
        report.detection[detector_name] = rates
    return report


def _found_rate(detector: Detector, images: list[np.ndarray], subjects: list[Faces]) -> float:
    """Share of images where ``detector`` finds a face overlapping the subject's clean box."""
    found = 0
    for image, subject in zip(images, subjects, strict=True):
        faces = detector.detect(image)
        if len(faces) and iou_matrix(subject.xyxy, faces.xyxy).max() >= FOUND_IOU:
            found += 1
    return found / max(len(images), 1)
