"""Cloaking a batch of photo files: every input gets a result, failures never stop the others.

Photos are read and their faces found and embedded first, so that faces of the same person across
the whole batch share one decoy; then each photo is cloaked and written atomically with its
metadata stripped (unless asked to keep it), in the input's own format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bioveil.batch.engine import Engine, Finished, LocalEngine, Task, hashed
from bioveil.batch.runner import BatchResult as Batch
from bioveil.batch.runner import Resume, run_batch
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
from bioveil.detection.base import SURE_SCORE, Detector, get_detector
from bioveil.detection.ensemble import FACES_DETECTOR
from bioveil.errors import BioveilError, UnexpectedError
from bioveil.media.atomic import Claims, ensure_not_input
from bioveil.media.discover import plan_outputs
from bioveil.media.image import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, Picture, jpeg_round_trip, read_image, write_image
from bioveil.recognition.base import Recognizer
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


CloakBatchResult = Batch[CloakFileResult]  # what cloak_batch returns (bioveil.batch.runner.BatchResult)


@dataclass
class _Prepared:
    """A photo read, its faces found and embedded: the first step, before the decoys across the batch."""

    input: Path
    target: Path
    picture: Picture
    faces: Faces
    maps: dict[str, np.ndarray]
    embeddings: dict[str, np.ndarray]
    notes: list[str]
    seconds: float
    works: list[FaceWork | None] = field(default_factory=list)
    failure: Exception | None = None
    output: Path | None = None  # written in the second step
    error: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return True

    def to_record(self) -> dict[str, Any]:
        return {"input": str(self.input), "status": "prepared"}


@dataclass
class _CloakModels:
    detector: Detector
    recognizers: list[Recognizer]


@dataclass
class PrepareWork:
    """The first, per-file step of ``bioveil cloak``: read, detect and embed (see :class:`bioveil.batch.engine.Work`)."""

    settings: CloakSettings
    protected: frozenset[Path] = frozenset()
    claims: Claims | None = None
    name: str = "cloak-prepare"

    def setup(self) -> _CloakModels:
        return _CloakModels(get_detector(self.settings.detector or FACES_DETECTOR), load_recognizers(self.settings.recognizers))

    def run(self, context: _CloakModels, task: Task) -> _Prepared | CloakFileResult:
        settings, source, target = self.settings, task.source, task.target
        assert target is not None, "cloak plans an output for every input"
        started = time.perf_counter()
        picture = read_image(source, max_pixels=settings.max_pixels)
        notes = []
        suffix = picture.suffix_for(source)
        if suffix != target.suffix:
            notes.append(f"content is {picture.format}, not what the name {source.name!r} says: written as {suffix}")
            target = target.with_suffix(suffix)
            if self.claims is not None:
                self.claims.claim(target, source)
        ensure_not_input(target, self.protected)
        faces = context.detector.detect(picture.pixels, SURE_SCORE if settings.threshold is None else settings.threshold)
        if not len(faces):
            notes.append("no face found: written unchanged (metadata stripped)")
        maps, embeddings = clean_embeddings(picture.pixels, faces, context.recognizers)
        return _Prepared(source, target, picture, faces, maps, embeddings, notes, time.perf_counter() - started)

    def failed(self, task: Task, error: BioveilError, seconds: float) -> CloakFileResult:
        return CloakFileResult(task.source, None, "failed", error=type(error).__name__, message=str(error), seconds=seconds)

    def serial(self, task: Task) -> bool:
        return False


def cloak_batch(inputs: list[Path], outdir: Path, settings: CloakSettings,
                on_result: Callable[[CloakFileResult], None] | None = None,
                on_plan: Callable[[int], None] | None = None, resume: Resume | None = None,
                engine: Engine | None = None) -> CloakBatchResult:
    """Cloak every photo found in ``inputs`` into ``outdir``; never raises for a bad file.

    Resumable (manifest in ``outdir/.bioveil/manifest.sqlite``, see :mod:`bioveil.batch.runner`). Every
    photo is read and embedded, done before or not, so that the people, their decoys and each photo's
    seeds are those of an uninterrupted run; only the photos not done are cloaked and written.
    """
    plan = plan_outputs(inputs, outdir, IMAGE_SUFFIXES)
    work = PrepareWork(settings, plan.protected, Claims([target for _, target in plan.jobs]))
    engine = engine or LocalEngine(1)

    def process(todo: list[Task], every: list[Task], on_start: Callable[[Task], None]) -> Iterator[Finished[CloakFileResult]]:
        if not todo:  # nothing to cloak: the decoys need not be worked out again
            return
        wanted = {task.index for task in todo}
        prepared: list[tuple[Task, _Prepared]] = []
        for finished in engine.map(work, every):
            if isinstance(finished.result, _Prepared):
                prepared.append((finished.task, finished.result))
            elif finished.task.index in wanted:
                yield Finished(finished.task, finished.result)
        yield from _cloak_prepared(prepared, wanted, settings, work, on_start)

    return run_batch(inputs, work, suffixes=IMAGE_SUFFIXES, settings=asdict(settings), outdir=outdir, plan=plan,
                     resume=resume, engine=engine, process=process, on_plan=on_plan, on_result=on_result)  # type: ignore[arg-type]


def _cloak_prepared(prepared: list[tuple[Task, _Prepared]], wanted: set[int], settings: CloakSettings, work: PrepareWork,
                    on_start: Callable[[Task], None]) -> Iterator[Finished[CloakFileResult]]:
    """One decoy per person across every prepared photo; then the photos of ``wanted`` cloaked and written."""
    mode = get_mode(settings.mode)
    recognizers = load_recognizers(settings.recognizers)
    items = [item for _, item in prepared]
    counts = [len(p.faces) for p in items]
    all_embeddings = {r.name: np.concatenate([p.embeddings[r.name] for p in items]) if items else
                      np.zeros((0, r.embedding_size), np.float32) for r in recognizers}
    groups = group_people(all_embeddings, {r.name: r.threshold for r in recognizers}, {r.name: r.similarity for r in recognizers})
    targets = assign_decoys(all_embeddings, groups, settings.seed, settings.decoys,
                            rng=np.random.default_rng(settings.seed))
    bounds = np.cumsum([0, *counts])
    chosen = [k for k, (task, _) in enumerate(prepared) if task.index in wanted]

    # Every face to cloak goes to the lanes at once (one face per core, see bioveil.cloaking.lanes);
    # photos are then finished and written in order, as their faces come back. The lanes are sized
    # for every face of the batch, done before or not: a face's cloak depends on whether it runs on
    # a lane, so a resumed batch writes the bytes an uninterrupted one writes.
    for k, item in enumerate(items):
        try:
            item.works = face_works(item.picture.pixels, recognizers, mode, item.maps, item.embeddings,
                                    {n: v[bounds[k] : bounds[k + 1]] for n, v in targets.items()},
                                    face_seeds(len(item.faces), settings.seed + k), item.faces.xyxy,
                                    written_as(item.picture))
        except Exception as exc:  # reported in this photo's turn below
            item.failure = exc
    with Lanes(sum(work is not None for item in items for work in item.works)) as lanes:
        for k in chosen:
            on_start(prepared[k][0])
        pending = {k: submit_faces(lanes, items[k].works, recognizers, mode) for k in chosen}
        for k in chosen:
            task, item = prepared[k]
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
                yield Finished(task, _failed(item.input, exc, started - item.seconds))
                continue
            except Exception as exc:
                yield Finished(task, _unexpected(item.input, exc, started - item.seconds))
                continue
            result.seconds += sum(face.seconds for face in result.per_face)  # the faces' own time, on their lanes
            done = CloakFileResult(item.input, item.target, "ok", cloak=result, notes=item.notes,
                                   seconds=item.seconds + result.seconds)
            yield hashed(work, task, done, started)  # type: ignore[arg-type]


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
