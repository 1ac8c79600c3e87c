"""Cloaking a batch of photo files: every input gets a result, failures never stop the others.

Photos are read and their faces found and embedded first, so that faces of the same person across
the whole batch share one decoy; then each photo is cloaked and written atomically with its
metadata stripped (unless asked to keep it), in the input's own format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bioveil.cloaking.attack import DEFAULT_MODE, get_mode
from bioveil.cloaking.decoys import DecoyKind, assign_decoys, group_people
from bioveil.cloaking.lanes import Lanes
from bioveil.cloaking.photo import (
    CloakResult,
    FaceWork,
    clean_embeddings,
    face_seeds,
    face_works,
    finish_photo,
    load_recognizers,
    submit_faces,
)
from bioveil.detection.base import SURE_SCORE, get_detector
from bioveil.detection.ensemble import FACES_DETECTOR
from bioveil.errors import BioveilError, UnexpectedError
from bioveil.media.atomic import Claims, ensure_not_input
from bioveil.media.discover import plan_outputs
from bioveil.media.image import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, Picture, jpeg_round_trip, read_image, write_image
from bioveil.types import Faces

log = logging.getLogger(__name__)

# Cloaked JPEGs are written at quality 95 with the input's chroma subsampling (4:4:4 when it is not known):
# re-encoding an LFW face (4:2:0) at 4:2:0 costs it 0.002 of SSIM, at 4:4:4 0.0035; obama-720p.jpg (4:4:4)
# falls to 0.982 at 4:2:0 with no cloak at all. The face budget is measured through this codec (``written_as``),
# so it holds on the file.
CLOAK_JPEG_QUALITY = 95
FULL_CHROMA = 0


@dataclass
class CloakSettings:
    """Everything ``bioveil cloak`` can be told."""

    mode: str = DEFAULT_MODE
    recognizers: tuple[str, ...] = ("dlib", "facenet", "sface")
    decoys: str = DecoyKind.CONSISTENT.value
    seed: int = 0
    detector: str | None = None
    threshold: float | None = None
    keep_metadata: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass
class CloakFileResult:
    """What happened to one input file (the rows of ``--json``)."""

    input: Path
    output: Path | None
    status: str  # "ok" or "failed"
    cloak: CloakResult | None = None
    error: str | None = None
    message: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def face_count(self) -> int:
        return 0 if self.cloak is None else len(self.cloak.faces)

    def to_record(self) -> dict[str, Any]:
        return {
            "input": str(self.input),
            "status": self.status,
            "output": None if self.output is None else str(self.output),
            "error": self.error,
            "message": self.message,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
            **(self.cloak.to_dict() if self.cloak is not None else {}),
        }


@dataclass
class CloakBatchResult:
    results: list[CloakFileResult] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    @property
    def failures(self) -> list[CloakFileResult]:
        return [result for result in self.results if not result.ok]

    @property
    def face_count(self) -> int:
        return sum(result.face_count for result in self.results)


@dataclass
class _Prepared:
    source: Path
    target: Path
    picture: Picture
    faces: Faces
    maps: dict[str, np.ndarray]
    embeddings: dict[str, np.ndarray]
    notes: list[str]
    seconds: float
    works: list[FaceWork | None] = field(default_factory=list)
    failure: Exception | None = None


def cloak_batch(inputs: list[Path], outdir: Path, settings: CloakSettings,
                on_result: Callable[[CloakFileResult], None] | None = None,
                on_plan: Callable[[int], None] | None = None) -> CloakBatchResult:
    """Cloak every photo found in ``inputs`` into ``outdir``; never raises for a bad file."""
    mode = get_mode(settings.mode)
    recognizers = load_recognizers(settings.recognizers)
    detector = get_detector(settings.detector or FACES_DETECTOR)
    plan = plan_outputs(inputs, outdir, IMAGE_SUFFIXES)
    batch = CloakBatchResult(skipped=plan.skipped)
    if on_plan:
        on_plan(len(plan.jobs) + len(plan.errors))
    claims = Claims([target for _, target in plan.jobs])

    def record(result: CloakFileResult) -> None:
        batch.results.append(result)
        if on_result:
            on_result(result)

    for source, exc in plan.errors:
        record(CloakFileResult(source, None, "failed", error=type(exc).__name__, message=str(exc)))

    prepared: list[_Prepared] = []
    for source, target in plan.jobs:
        started = time.perf_counter()
        try:
            picture = read_image(source, max_pixels=settings.max_pixels)
            notes = []
            suffix = picture.suffix_for(source)
            if suffix != target.suffix:
                notes.append(f"content is {picture.format}, not what the name {source.name!r} says: written as {suffix}")
                target = target.with_suffix(suffix)
                claims.claim(target, source)
            ensure_not_input(target, plan.protected)
            faces = detector.detect(picture.pixels, SURE_SCORE if settings.threshold is None else settings.threshold)
            if not len(faces):
                notes.append("no face found: written unchanged (metadata stripped)")
            maps, embeddings = clean_embeddings(picture.pixels, faces, recognizers)
            prepared.append(_Prepared(source, target, picture, faces, maps, embeddings, notes, time.perf_counter() - started))
        except BioveilError as exc:
            log.info("%s: %s", type(exc).__name__, exc)
            record(_failed(source, exc, started))
        except Exception as exc:  # a bug or an unforeseen library error: recorded, then the batch goes on
            record(_unexpected(source, exc, started))

    # One decoy per person across the batch.
    counts = [len(p.faces) for p in prepared]
    all_embeddings = {r.name: np.concatenate([p.embeddings[r.name] for p in prepared]) if prepared else
                      np.zeros((0, r.embedding_size), np.float32) for r in recognizers}
    groups = group_people(all_embeddings, {r.name: r.threshold for r in recognizers}, {r.name: r.similarity for r in recognizers})
    targets = assign_decoys(all_embeddings, groups, settings.seed, settings.decoys,
                            rng=np.random.default_rng(settings.seed))
    bounds = np.cumsum([0, *counts])

    # Every face of the batch goes to the lanes at once (one face per core, see bioveil.cloaking.lanes);
    # photos are then finished and written in order, as their faces come back.
    for k, item in enumerate(prepared):
        try:
            item.works = face_works(item.picture.pixels, recognizers, mode, item.maps, item.embeddings,
                                    {n: v[bounds[k] : bounds[k + 1]] for n, v in targets.items()},
                                    face_seeds(len(item.faces), settings.seed + k), item.faces.xyxy,
                                    written_as(item.picture))
        except Exception as exc:  # reported in this photo's turn below
            item.failure = exc
    with Lanes(sum(work is not None for item in prepared for work in item.works)) as lanes:
        pending = [submit_faces(lanes, item.works, recognizers, mode) for item in prepared]
        for k, item in enumerate(prepared):
            started = time.perf_counter()
            try:
                if item.failure is not None:
                    raise item.failure
                steps = [None if face is None else face.result() for face in pending[k]]
                cloaked, result = finish_photo(item.picture.pixels, item.faces, recognizers, mode, item.works, steps,
                                               (item.maps, item.embeddings), groups[bounds[k] : bounds[k + 1]],
                                               time.perf_counter(), written_as(item.picture))
                write_image(item.picture, cloaked, item.target, keep_metadata=settings.keep_metadata,
                            quality=CLOAK_JPEG_QUALITY, subsampling=_subsampling(item.picture))
            except BioveilError as exc:
                log.info("%s: %s", type(exc).__name__, exc)
                record(_failed(item.source, exc, started - item.seconds))
                continue
            except Exception as exc:
                record(_unexpected(item.source, exc, started - item.seconds))
                continue
            result.seconds += sum(face.seconds for face in result.per_face)  # the faces' own time, on their lanes
            record(CloakFileResult(item.source, item.target, "ok", cloak=result, notes=item.notes,
                                   seconds=item.seconds + result.seconds))
    return batch


def written_as(picture: Picture) -> Callable[[np.ndarray], np.ndarray] | None:
    """What the cloak's writer makes of pixels in ``picture``'s output format (None: lossless, or not modelled)."""
    if picture.write_format == "JPEG" and not picture.grayscale:
        return partial(jpeg_round_trip, quality=CLOAK_JPEG_QUALITY, subsampling=_subsampling(picture))
    return None


def _subsampling(picture: Picture) -> int:
    return FULL_CHROMA if picture.subsampling is None else picture.subsampling


def _failed(source: Path, exc: BioveilError, started: float) -> CloakFileResult:
    return CloakFileResult(source, None, "failed", error=type(exc).__name__, message=str(exc),
                           seconds=time.perf_counter() - started)


def _unexpected(source: Path, exc: Exception, started: float) -> CloakFileResult:
    log.exception("unexpected failure on %s", source)
    return _failed(source, UnexpectedError.wrap(source, exc), started)
