"""Masking one video: decode, detect on keyframes, track, mask every frame, encode, keep the audio.

Three threads overlap the work: one decodes, the caller's detects and masks, one encodes. Frames
wait in a short buffer until the tracker has seen its horizon (12 frames) past them, so a face found
a little late is masked from before it was found, and one the detector loses is held.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bioveil.concurrency import opencv_single_threaded
from bioveil.detection.base import Detector, detect_at_scale
from bioveil.detection.tracking import Tracker
from bioveil.errors import BioveilError, OutputError
from bioveil.masking.maskers import RegionMasker
from bioveil.masking.photo import FileResult, failed
from bioveil.media.atomic import atomic_path, ensure_not_input
from bioveil.media.video import AudioPacket, Frame, VideoReader, VideoWriter
from bioveil.types import Faces

log = logging.getLogger(__name__)

_END = object()


@dataclass
class VideoSettings:
    """How a video is searched: every ``every``-th frame is a keyframe, detected at ``detect_height``
    pixels high at most (smaller frames are detected at their own size). Tracks are held ``hold``
    frames after they are lost and reach ``lookahead`` frames back before they are found; masked
    boxes are grown by ``grow`` for the motion between keyframes.

    The defaults were chosen on street_faces.mp4 against a slow reference detector (bench/video.py):
    at 720 px every 3rd frame, no frame leaks a face of 24 px or more; 540 px left one.
    """

    every: int = 2
    detect_height: int = 540
    hold: int = 8
    lookahead: int = 6
    grow: float = 1.25


@dataclass
class VideoStats:
    frames: int = 0
    faces_per_frame: list[int] = field(default_factory=list)
    tracks: int = 0
    keyframes: int = 0
    masked: list[Faces] | None = None  # the faces masked in each frame, when asked (benchmarks)

    def to_record(self) -> dict[str, Any]:
        return {"frames": self.frames, "keyframes": self.keyframes, "tracks": self.tracks,
                "faces_per_frame": self.faces_per_frame}


def _produce(reader: VideoReader, out: queue.Queue, stop: threading.Event) -> None:
    try:
        for item in reader.read():
            if stop.is_set():
                return
            out.put(item)
        out.put(_END)
    except BaseException as exc:
        out.put(exc)


def _consume(writer: VideoWriter, inbox: queue.Queue, errors: list[BaseException]) -> None:
    try:
        while (item := inbox.get()) is not _END:
            if isinstance(item, AudioPacket):
                writer.write_audio(item.packet)
            else:
                writer.write_frame(*item)
    except BaseException as exc:
        errors.append(exc)
        while inbox.get() is not _END:  # drain so the producer side never blocks
            pass


@runtime_checkable
class KeyframeDetector(Protocol):
    """A detector that searches a video's keyframes in turns (e.g. :class:`~bioveil.detection.ensemble.Cadence`)."""

    def for_keyframe(self, number: int) -> Detector: ...


def detect_keyframe(detector: Detector, pixels: np.ndarray, max_height: int, threshold: float | None) -> Faces:
    """Faces in a keyframe, searched at ``max_height`` pixels high at most."""
    return detect_at_scale(detector, pixels, min(1.0, max_height / pixels.shape[0]), threshold)


# Keyframes searched at once. Two keep both cores busy: an ensemble's members take unequal time,
# and while one keyframe's slow member runs, the next keyframe's start.
IN_FLIGHT = 2
_POOL: ThreadPoolExecutor | None = None


def _keyframe_pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="bioveil-keyframe")
    return _POOL


def mask_frames(items: Iterator[Frame | AudioPacket], detector: Detector, masker: RegionMasker,
                settings: VideoSettings, threshold: float | None, stats: VideoStats,
                emit: Callable[[Frame | AudioPacket, np.ndarray | None], None]) -> None:
    """Detect, track and mask a stream of frames; ``emit`` gets each frame in order with its masked
    pixels (the frame's own YUV array, masked in place).

    Keyframes are searched in the background while later frames arrive and earlier ones are masked;
    their faces reach the tracker in frame order."""
    tracker = Tracker(hold=settings.hold, lookahead=settings.lookahead, grow=settings.grow, every=settings.every)
    pending: deque[Frame] = deque()
    searches: deque[tuple[int, Future[Faces]]] = deque()

    def search(frame: Frame, number: int) -> None:
        searcher = detector.for_keyframe(number) if isinstance(detector, KeyframeDetector) else detector
        job = _keyframe_pool().submit(lambda: detect_keyframe(searcher, frame.rgb(), settings.detect_height, threshold))
        searches.append((frame.index, job))
        stats.keyframes += 1

    def flush(final: bool) -> None:
        # Finished searches go to the tracker in order; wait while more than IN_FLIGHT are running.
        while searches and (final or len(searches) > IN_FLIGHT or searches[0][1].done()):
            index, job = searches.popleft()
            tracker.update(index, job.result())
        while pending and (final or tracker.ready(pending[0].index)):
            frame = pending.popleft()
            faces = tracker.faces_at(frame.index)
            stats.faces_per_frame.append(len(faces))
            if stats.masked is not None:
                stats.masked.append(faces)
            masker.apply_planes(frame.plane_groups(), faces, frame.size)
            emit(frame, frame.yuv)
            tracker.forget_before(frame.index)

    last = -1
    try:
        for item in items:
            if isinstance(item, AudioPacket):
                emit(item, None)
                continue
            last = item.index
            pending.append(item)
            if item.index % settings.every == 0:
                search(item, item.index // settings.every)
            flush(final=False)
        if last >= 0 and last % settings.every:
            # The last frame is always a keyframe, searched in full, so the end of the video is not
            # left to guesswork.
            search(pending[-1], 0)
        flush(final=True)
    finally:
        for _, job in searches:  # after a failure: searches nobody will read
            job.cancel()
    stats.frames = last + 1
    stats.tracks = tracker.track_count


def mask_video_file(source: Path, target: Path, detector: Detector, masker: RegionMasker, *,
                    settings: VideoSettings | None = None, threshold: float | None = None,
                    keep_metadata: bool = False, protected: frozenset[Path] = frozenset(),
                    on_frame: Callable[[], None] | None = None, stats: VideoStats | None = None) -> FileResult:
    """Mask every face in the video ``source`` into ``target``; a bad file gives a failed result.

    Pass ``stats`` (e.g. ``VideoStats(masked=[])``) to get the faces masked in every frame."""
    settings = settings or VideoSettings()
    started = time.perf_counter()
    stats = stats or VideoStats()
    try:
        ensure_not_input(target, protected)
        with opencv_single_threaded(), VideoReader(source) as reader, atomic_path(target) as temporary:
            _run(reader, temporary, target, detector, masker, settings, threshold, keep_metadata, stats, on_frame)
    except BioveilError as exc:
        log.info("%s: %s", type(exc).__name__, exc)
        result = failed(source, exc, started)
        result.video = stats.to_record()
        return result
    result = FileResult(source, target, "ok", seconds=time.perf_counter() - started)
    result.video = stats.to_record()
    return result


def _run(reader: VideoReader, temporary: Path, target: Path, detector: Detector, masker: RegionMasker, settings: VideoSettings,
         threshold: float | None, keep_metadata: bool, stats: VideoStats, on_frame: Callable[[], None] | None) -> None:
    inbox: queue.Queue = queue.Queue(maxsize=16)
    outbox: queue.Queue = queue.Queue(maxsize=16)
    stop = threading.Event()
    writer_errors: list[BaseException] = []
    producer = threading.Thread(target=_produce, args=(reader, inbox, stop), daemon=True, name="bioveil-decode")
    producer.start()
    writer: VideoWriter | None = None
    consumer: threading.Thread | None = None

    def items() -> Iterator[Frame | AudioPacket]:
        while (item := inbox.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item

    def emit(item: Frame | AudioPacket, yuv: np.ndarray | None) -> None:
        nonlocal writer, consumer
        if writer_errors:
            raise _encoding_error(writer_errors[0], target)
        if writer is None:
            if isinstance(item, AudioPacket):
                early_audio.append(item)
                return
            height, width = item.size
            writer = VideoWriter(temporary, reader, width, height, keep_metadata=keep_metadata)
            consumer = threading.Thread(target=_consume, args=(writer, outbox, writer_errors), daemon=True,
                                        name="bioveil-encode")
            consumer.start()
            for packet in early_audio:
                outbox.put(packet)
        outbox.put(item if yuv is None else (item, yuv))
        if yuv is not None and on_frame:
            on_frame()

    early_audio: list[AudioPacket] = []
    try:
        mask_frames(items(), detector, masker, settings, threshold, stats, emit)
    except BaseException:
        stop.set()
        _drain(inbox, producer)
        if consumer is not None:
            outbox.put(_END)
            consumer.join()
        if writer is not None:
            writer.abort()
        raise
    if consumer is None or writer is None:  # pragma: no cover - the reader raises first when no frame decodes
        raise OutputError(target, "no frame was decoded, nothing written")
    outbox.put(_END)
    consumer.join()
    producer.join()
    if writer_errors:
        writer.abort()
        raise _encoding_error(writer_errors[0], target)
    try:
        writer.close()
    except Exception as exc:  # any failure of the muxer is an output failure
        raise _encoding_error(exc, target) from exc


def _encoding_error(error: BaseException, path: Path) -> BioveilError:
    if isinstance(error, BioveilError):
        return error
    return OutputError(path, f"encoding the masked video failed ({type(error).__name__}: {error})")


def _drain(inbox: queue.Queue, producer: threading.Thread) -> None:
    while producer.is_alive():
        try:
            inbox.get(timeout=0.1)
        except queue.Empty:
            continue
