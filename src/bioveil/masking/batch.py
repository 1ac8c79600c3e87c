"""Masking a batch: every input gets a result, failures never stop the others."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from bioveil.concurrency import map_in_order, opencv_single_threaded
from bioveil.detection.base import get_detector
from bioveil.detection.ensemble import DEFAULT_DETECTOR, DEFAULT_VIDEO_DETECTOR
from bioveil.errors import UnexpectedError
from bioveil.masking.maskers import RegionMasker, get_masker
from bioveil.masking.photo import FileResult, mask_photo_file
from bioveil.masking.video import VideoSettings, mask_video_file
from bioveil.media.atomic import Claims
from bioveil.media.discover import plan_outputs
from bioveil.media.image import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES
from bioveil.media.sniff import media_kind
from bioveil.media.video import VIDEO_SUFFIXES

log = logging.getLogger(__name__)


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


@dataclass
class BatchResult:
    results: list[FileResult] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    @property
    def failures(self) -> list[FileResult]:
        return [result for result in self.results if not result.ok]

    @property
    def face_count(self) -> int:
        return sum(result.face_count for result in self.results)


def masker_for(detector: object, settings: MaskSettings) -> RegionMasker:
    """The masker of ``settings``; its scale, unless given, is the detector's own (its boxes' fit)."""
    scale = settings.scale if settings.scale is not None else getattr(detector, "mask_scale", None)
    return get_masker(settings.method, scale=scale, shape=settings.shape, color=settings.color)


def mask_batch(inputs: list[Path], outdir: Path, settings: MaskSettings,
               on_result: Callable[[FileResult], None] | None = None,
               on_plan: Callable[[int], None] | None = None,
               on_frame: Callable[[], None] | None = None) -> BatchResult:
    """Mask every photo and video found in ``inputs`` into ``outdir``; never raises for a bad file.

    Photos go through ``settings.workers`` at a time; videos one at a time (each uses threads of
    its own). ``on_frame`` is called for every video frame written.
    """
    detector = get_detector(settings.detector or DEFAULT_DETECTOR)
    video_detector = get_detector(settings.detector or DEFAULT_VIDEO_DETECTOR)
    masker = masker_for(detector, settings)
    video_masker = masker_for(video_detector, settings)
    plan = plan_outputs(inputs, outdir, IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    batch = BatchResult(skipped=plan.skipped)
    if on_plan:
        on_plan(len(plan.jobs) + len(plan.errors))
    protected = plan.protected
    claims = Claims([target for _, target in plan.jobs])

    def record(result: FileResult) -> None:
        batch.results.append(result)
        if on_result:
            on_result(result)

    for source, exc in plan.errors:
        record(FileResult(source, None, "failed", error=type(exc).__name__, message=str(exc)))

    def photo(job: tuple[Path, Path]) -> FileResult:
        source, target = job
        return guarded(source, lambda: mask_photo_file(
            source, target, detector, masker, threshold=settings.threshold, keep_metadata=settings.keep_metadata,
            max_pixels=settings.max_pixels, protected=protected, claims=claims))

    def video(job: tuple[Path, Path]) -> FileResult:
        source, target = job
        return guarded(source, lambda: mask_video_file(
            source, target, video_detector, video_masker, settings=settings.video, threshold=settings.threshold,
            keep_metadata=settings.keep_metadata, protected=protected, on_frame=on_frame))

    kinds = {job: media_kind(job[0]) for job in plan.jobs}
    photos = [job for job in plan.jobs if kinds[job] == "image"]
    # Several photos in flight and the detector's passes already keep every core busy: OpenCV's own
    # threads (YuNet, resizing, the blur) would only compete with them. One photo alone keeps them.
    with opencv_single_threaded() if settings.workers > 1 and len(photos) > 1 else nullcontext():
        for result in map_in_order(photo, photos, settings.workers, "mask"):
            record(result)
    for job in [job for job in plan.jobs if kinds[job] == "video"]:
        record(video(job))
    return batch


def guarded(source: Path, work: Callable[[], FileResult]) -> FileResult:
    """``work()``, or a failed result if it raised anything: one file never stops the batch."""
    try:
        return work()
    except Exception as exc:  # a bug or an unforeseen library error: recorded, then the batch goes on
        log.exception("unexpected failure on %s", source)
        error = UnexpectedError.wrap(source, exc)
        return FileResult(source, None, "failed", error=type(error).__name__, message=str(error))
