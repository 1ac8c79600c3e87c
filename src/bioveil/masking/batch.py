"""Masking a batch: every input gets a result, failures never stop the others."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bioveil.batch.engine import Engine, LocalEngine, Task
from bioveil.batch.manifest import file_sha256
from bioveil.batch.runner import BatchResult as Batch
from bioveil.batch.runner import Resume, run_batch
from bioveil.detection.base import Detector, get_detector
from bioveil.detection.ensemble import DEFAULT_DETECTOR, DEFAULT_VIDEO_DETECTOR
from bioveil.errors import BioveilError
from bioveil.masking.keep import Keeping, Person, load_person
from bioveil.masking.maskers import RegionMasker, get_masker
from bioveil.masking.photo import FileResult, mask_photo_file
from bioveil.masking.video import VideoSettings, mask_video_file
from bioveil.media.atomic import Claims
from bioveil.media.discover import plan_outputs
from bioveil.media.image import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES
from bioveil.media.video import VIDEO_SUFFIXES

log = logging.getLogger(__name__)

SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES
BatchResult = Batch[FileResult]  # what mask_batch returns (bioveil.batch.runner.BatchResult)


@dataclass
class MaskSettings:
    """Everything ``bioveil mask`` can be told; the defaults are the privacy-first ones."""

    method: str = "blur"
    scale: float | None = None  # None: the masker's default
    shape: str = "ellipse"
    color: tuple[int, int, int] | None = None  # for solid
    detector: str | None = None  # None: the default for photos, and the faster default for video
    threshold: float | None = None  # None: the detector's own
    keep_metadata: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    workers: int = 2  # photos in flight at once (decode and encode overlap detection)
    video: VideoSettings = field(default_factory=VideoSettings)
    keep_person: tuple[str, ...] = ()  # photos of one consenting person alone: their faces stay unmasked


def masker_for(detector: object, settings: MaskSettings) -> RegionMasker:
    """The masker of ``settings``; its scale, unless given, is the detector's own (its boxes' fit)."""
    scale = settings.scale if settings.scale is not None else getattr(detector, "mask_scale", None)
    return get_masker(settings.method, scale=scale, shape=settings.shape, color=settings.color)


@dataclass
class MaskModels:
    """What every file of a mask batch needs, loaded once per worker."""

    detector: Detector
    masker: RegionMasker
    video_detector: Detector
    video_masker: RegionMasker
    person: Person | None = None  # --keep-person


@dataclass
class MaskWork:
    """The per-file job of ``bioveil mask`` (see :class:`bioveil.batch.engine.Work`)."""

    settings: MaskSettings
    protected: frozenset[Path] = frozenset()
    claims: Claims | None = None  # outputs taken in this batch (a corrected suffix must not land on another's)
    on_frame: Callable[[], None] | None = None
    name: str = "mask"

    def setup(self) -> MaskModels:
        detector = get_detector(self.settings.detector or DEFAULT_DETECTOR)
        video_detector = get_detector(self.settings.detector or DEFAULT_VIDEO_DETECTOR)
        person = load_person([Path(path) for path in self.settings.keep_person]) if self.settings.keep_person else None
        return MaskModels(detector, masker_for(detector, self.settings), video_detector,
                          masker_for(video_detector, self.settings), person)

    def run(self, context: MaskModels, task: Task) -> FileResult:
        settings, target = self.settings, task.target
        assert target is not None, "mask plans an output for every input"
        if task.kind == "video":
            video_detector = context.video_detector
            if context.person is not None:
                video_detector = Keeping(video_detector, context.person.boxes)  # type: ignore[assignment]
            return mask_video_file(task.source, target, video_detector, context.video_masker,
                                   settings=settings.video, threshold=settings.threshold,
                                   keep_metadata=settings.keep_metadata, protected=self.protected, on_frame=self.on_frame)
        return mask_photo_file(task.source, target, self.photo_detector(context, task), context.masker,
                               threshold=settings.threshold,
                               keep_metadata=settings.keep_metadata, max_pixels=settings.max_pixels,
                               protected=self.protected, claims=self.claims)

    def photo_detector(self, context: MaskModels, task: Task) -> Detector:
        """The detector of one photo: the batch's, with the kept person's faces left out (--keep-person)."""
        if context.person is None:
            return context.detector
        return Keeping(context.detector, context.person.boxes)

    def failed(self, task: Task, error: BioveilError, seconds: float) -> FileResult:
        return FileResult(task.source, None, "failed", error=type(error).__name__, message=str(error), seconds=seconds)

    def serial(self, task: Task) -> bool:
        return task.kind == "video"  # each video keeps the cores busy with threads of its own

    def portable(self) -> MaskWork:
        """This job for a worker process (Ray): without the frame callback, which stays with the driver,
        and with a copy of the claims (each worker then checks its own files' corrected suffixes)."""
        return replace(self, on_frame=None)


def mask_settings_key(settings: MaskSettings) -> dict[str, object]:
    """What a masked file depends on (not how many photos are in flight; the person kept by their photos' content)."""
    key = {name: value for name, value in asdict(settings).items() if name != "workers"}
    key["keep_person"] = [file_sha256(Path(path)) for path in settings.keep_person]
    return key


def mask_batch(inputs: list[Path], outdir: Path, settings: MaskSettings,
               on_result: Callable[[FileResult], None] | None = None,
               on_plan: Callable[[int], None] | None = None,
               on_frame: Callable[[], None] | None = None,
               resume: Resume | None = None, engine: Engine | None = None) -> BatchResult:
    """Mask every photo and video found in ``inputs`` into ``outdir``; never raises for a bad file.

    Photos go through ``settings.workers`` at a time; videos one at a time (each uses threads of
    its own). ``on_frame`` is called for every video frame written. The batch is resumable: its
    manifest is ``outdir/.bioveil/manifest.sqlite`` (see :mod:`bioveil.batch.runner`).
    """
    plan = plan_outputs(inputs, outdir, SUFFIXES)
    work = MaskWork(settings, plan.protected, Claims([target for _, target in plan.jobs]), on_frame)
    return run_batch(inputs, work, suffixes=SUFFIXES, settings=mask_settings_key(settings), outdir=outdir,
                     plan=plan, resume=resume, engine=engine or LocalEngine(settings.workers),
                     on_plan=on_plan, on_result=on_result)
