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
from bioveil.cloaking.attack import DEFAULT_MODE, Mode, get_mode
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

    On the local engine the faces of the whole batch share one set of lanes in this process. On an engine
    of other processes (``--engine ray``: ``engine.in_process`` false), the decoys are still decided here,
    across the batch, and each photo is then a per-file job (:class:`CloakWork`) that reads it again,
    cloaks its faces on lanes of the worker's own CPUs and writes it.
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
        decided = _decide(prepared, settings)
        if engine.in_process:
            yield from _cloak_prepared(prepared, decided, wanted, settings, work, on_start)
            return
        chosen = [task for task, _ in prepared if task.index in wanted]
        photos = {task.index: decided.photo(k, item, settings.seed) for k, (task, item) in enumerate(prepared)
                  if task.index in wanted}
        # The faces go on lanes as on a local machine of two cores or more, which puts every face of a batch of
        # two or more faces on a lane: a face's cloak depends on it (bioveil.cloaking.lanes).
        yield from engine.map(CloakWork(settings, photos, pooled=decided.faces > 1), chosen, on_start)

    return run_batch(inputs, work, suffixes=IMAGE_SUFFIXES, settings=asdict(settings), outdir=outdir, plan=plan,
                     resume=resume, engine=engine, process=process, on_plan=on_plan, on_result=on_result)  # type: ignore[arg-type]


@dataclass
class _Decoys:
    """The step across the batch: who is who, and each face's decoy."""

    groups: np.ndarray
    targets: dict[str, np.ndarray]
    bounds: np.ndarray  # the faces of prepared photo k are bounds[k]:bounds[k + 1]
    faces: int  # faces with a region to cloak, across the batch (the lanes' size)

    def photo(self, k: int, item: _Prepared, seed: int) -> _Decided:
        a, b = self.bounds[k], self.bounds[k + 1]
        return _Decided(item.target, item.faces, item.maps, item.embeddings, {n: v[a:b] for n, v in self.targets.items()},
                        self.groups[a:b], seed + k, item.notes, item.seconds)


@dataclass
class _Decided:
    """What the decoy step decided for one photo: all a worker needs to cloak it, but its pixels (read again)."""

    target: Path
    faces: Faces
    maps: dict[str, np.ndarray]
    embeddings: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    groups: np.ndarray
    seed: int
    notes: list[str]
    seconds: float  # the first step's


def _decide(prepared: list[tuple[Task, _Prepared]], settings: CloakSettings) -> _Decoys:
    """One decoy per person across every prepared photo."""
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
    for k, item in enumerate(items):
        try:
            item.works = face_works(item.picture.pixels, recognizers, mode, item.maps, item.embeddings,
                                    {n: v[bounds[k] : bounds[k + 1]] for n, v in targets.items()},
                                    face_seeds(len(item.faces), settings.seed + k), item.faces.xyxy,
                                    written_as(item.picture))
        except Exception as exc:  # reported in this photo's turn
            item.failure = exc
    return _Decoys(groups, targets, bounds, sum(work is not None for item in items for work in item.works))


def _cloak_prepared(prepared: list[tuple[Task, _Prepared]], decided: _Decoys, wanted: set[int], settings: CloakSettings,
                    work: PrepareWork, on_start: Callable[[Task], None]) -> Iterator[Finished[CloakFileResult]]:
    """The photos of ``wanted`` cloaked and written, in this process."""
    mode = get_mode(settings.mode)
    recognizers = load_recognizers(settings.recognizers)
    items = [item for _, item in prepared]
    chosen = [k for k, (task, _) in enumerate(prepared) if task.index in wanted]

    # Every face to cloak goes to the lanes at once (one face per core, see bioveil.cloaking.lanes);
    # photos are then finished and written in order, as their faces come back. The lanes are sized
    # for every face of the batch, done before or not: a face's cloak depends on whether it runs on
    # a lane, so a resumed batch writes the bytes an uninterrupted one writes.
    with Lanes(decided.faces) as lanes:
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
                done = _written(item.picture, decided.photo(k, item, settings.seed), item.works, steps, recognizers,
                                mode, settings, item.input)
            except BioveilError as exc:
                log.info("%s: %s", type(exc).__name__, exc)
                yield Finished(task, _failed(item.input, exc, started - item.seconds))
                continue
            except Exception as exc:
                yield Finished(task, _unexpected(item.input, exc, started - item.seconds))
                continue
            yield hashed(work, task, done, started)  # type: ignore[arg-type]


def _written(picture: Picture, photo: _Decided, works: list[FaceWork | None], steps: list[tuple[np.ndarray, float] | None],
             recognizers: list[Recognizer], mode: Mode, settings: CloakSettings, source: Path) -> CloakFileResult:
    """The faces' perturbations put into the photo, measured, and the photo written atomically."""
    cloaked, result = finish_photo(picture.pixels, photo.faces, recognizers, mode, works, steps,
                                   (photo.maps, photo.embeddings), photo.groups, time.perf_counter(), written_as(picture))
    write_image(picture, cloaked, photo.target, keep_metadata=settings.keep_metadata,
                quality=CLOAK_JPEG_QUALITY, subsampling=_subsampling(picture))
    result.seconds += sum(face.seconds for face in result.per_face)  # the faces' own time, on their lanes
    return CloakFileResult(source, photo.target, "ok", cloak=result, notes=photo.notes, seconds=photo.seconds + result.seconds)


@dataclass
class CloakWork:
    """The second, per-file step of ``bioveil cloak`` on an engine of other processes: one photo read again,
    its faces cloaked towards the decoys the driver decided, written (see :class:`bioveil.batch.engine.Work`)."""

    settings: CloakSettings
    photos: dict[int, _Decided]  # by task index
    pooled: bool  # faces on lanes even with one (as the local batch runs them)
    name: str = "cloak"

    def setup(self) -> list[Recognizer]:
        return load_recognizers(self.settings.recognizers)

    def run(self, context: list[Recognizer], task: Task) -> CloakFileResult:
        photo, mode = self.photos[task.index], get_mode(self.settings.mode)
        picture = read_image(task.source, max_pixels=self.settings.max_pixels)
        works = face_works(picture.pixels, context, mode, photo.maps, photo.embeddings, photo.targets,
                           face_seeds(len(photo.faces), photo.seed), photo.faces.xyxy, written_as(picture))
        with Lanes(sum(work is not None for work in works), pooled=self.pooled) as lanes:
            steps = [None if face is None else face.result() for face in submit_faces(lanes, works, context, mode)]
        return _written(picture, photo, works, steps, context, mode, self.settings, task.source)

    def failed(self, task: Task, error: BioveilError, seconds: float) -> CloakFileResult:
        return CloakFileResult(task.source, None, "failed", error=type(error).__name__, message=str(error), seconds=seconds)

    def serial(self, task: Task) -> bool:
        return False


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
