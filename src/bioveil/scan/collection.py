"""Scanning a collection: every file analysed once (or taken from the cache), faces clustered into
people across the whole collection, and the versioned report of ``docs/scan_schema.md`` assembled.

Files stream through two workers; what stays in memory per file is its report entry and its face
embeddings, never its pixels.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bioveil import __version__
from bioveil.batch.engine import Engine, LocalEngine, Task, execute
from bioveil.batch.manifest import manifest_path
from bioveil.batch.runner import Resume, run_batch
from bioveil.detection.base import get_detector
from bioveil.errors import BioveilError, UnreadableInputError
from bioveil.media.image import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES
from bioveil.media.sniff import media_kind
from bioveil.media.video import VIDEO_SUFFIXES
from bioveil.recognition.base import get_recognizer
from bioveil.scan.analyse import Models, analyse_photo, analyse_video
from bioveil.scan.cache import Entry, ScanCache, default_cache_dir, file_sha256
from bioveil.scan.cluster import cluster_faces
from bioveil.scan.persons import describe_persons, face_risks

log = logging.getLogger(__name__)

SCHEMA = "bioveil.scan/1"
CATEGORIES = ("gps", "time", "device", "serial", "owner", "software", "history", "thumbnail", "thumbnail_differs",
              "face_regions", "people_tags", "keywords", "faces", "text")
# Faces closer than this (Euclidean distance between embeddings) are joined in the graph that is
# clustered. Measured on all of LFW (bench/scan.py, BENCHMARKS.md): SFace's unit vectors at 1.0 (cosine
# similarity 0.5, stricter than its 0.363 same-person cut) give BCubed precision 0.996 and recall 0.979;
# dlib's best trade-off, 0.45, gives only 0.974 and 0.833, so SFace is the default.
CLUSTER_THRESHOLDS = {"sface": 1.0, "dlib": 0.45}
SCAN_DETECTOR = "ensemble-fast"


@dataclass
class ScanSettings:
    detector: str = SCAN_DETECTOR  # faces scored 0.5 or more are kept: the mirrored passes add little there
    video_detector: str = SCAN_DETECTOR  # a few frames sampled per video, each searched in full
    recognizer: str = "sface"
    cluster_threshold: float | None = None  # None: the recognizer's own, CLUSTER_THRESHOLDS
    cache_dir: Path | None = None  # None: the user's cache folder; see use_cache
    use_cache: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    workers: int = 2

    def key(self) -> dict[str, object]:
        """What a cached entry depends on (the clustering threshold does not change entries)."""
        return {"detector": self.detector, "video_detector": self.video_detector, "recognizer": self.recognizer,
                "bioveil": __version__, "max_pixels": self.max_pixels}


@dataclass
class FileScan:
    """What happened to one file of a scan (see :class:`bioveil.batch.engine.FileOutcome`)."""

    path: Path
    status: str  # "ok" or "failed"
    sha256: str | None = None
    entry: Entry | None = None
    error: str | None = None  # the exception's class name
    message: str | None = None
    cached: bool = False  # taken from the cache, not computed in this run
    output: Path | None = None  # the cache entry
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def input(self) -> Path:
        return self.path

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_record(self) -> dict[str, Any]:
        """What the manifest keeps: the report record lives in the cache entry, not here."""
        return {"input": str(self.path), "status": self.status, "sha256": self.sha256, "error": self.error,
                "message": self.message}


@dataclass
class ScanResult:
    report: dict[str, Any]
    cache: ScanCache
    shas: list[str | None] = field(default_factory=list)
    _temporary: tempfile.TemporaryDirectory[str] | None = None

    @property
    def failed(self) -> int:
        return int(self.report["summary"]["failed"])

    def found(self, categories: set[str]) -> set[str]:
        counts = self.report["summary"]["categories"]
        return {name for name in categories if counts.get(name, 0) > 0}

    def close(self) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()


@dataclass
class ScanWork:
    """The per-file job of ``bioveil scan`` (see :class:`bioveil.batch.engine.Work`): analyse a file into
    its cache entry, the task's target. An entry already there for the same content is taken as it is
    (another path with the same bytes, or a cache from before the manifest) unless ``reuse`` is off."""

    settings: ScanSettings
    cache: ScanCache
    reuse: bool = True
    name: str = "scan"

    def setup(self) -> Models:
        settings = self.settings
        return Models(get_detector(settings.detector), get_detector(settings.video_detector),
                      get_recognizer(settings.recognizer), settings.max_pixels)

    def run(self, context: Models, task: Task) -> FileScan:
        started = time.perf_counter()
        entry = self.cache.get(task.sha256) if self.reuse else None
        if entry is not None:
            return FileScan(task.source, "ok", task.sha256, entry, cached=True, output=task.target)
        entry = analyse_video(task.source, context) if task.kind == "video" else analyse_photo(task.source, context)
        self.cache.put(task.sha256, entry)
        return FileScan(task.source, "ok", task.sha256, entry, output=self.cache.path_for(task.sha256),
                        seconds=time.perf_counter() - started)

    def failed(self, task: Task, error: BioveilError, seconds: float) -> FileScan:
        return FileScan(task.source, "failed", error=type(error).__name__, message=str(error), seconds=seconds)

    def serial(self, task: Task) -> bool:
        return False  # a few frames sampled per video: as light as a photo


def analyse_file(path: Path, cache: ScanCache, models: Models) -> FileScan:
    """One file, never raising: a bad file gives a failed :class:`FileScan` with its named error."""
    work = ScanWork(ScanSettings(), cache)
    try:
        sha = file_sha256(path)
    except OSError as exc:
        error = UnreadableInputError(path, f"cannot be read ({exc.strerror or exc}); check the path and permissions")
        return FileScan(path, "failed", error=type(error).__name__, message=str(error))
    return execute(work, models, Task(0, path, cache.path_for(sha), media_kind(path), sha)).result


def file_record(scan: FileScan) -> dict[str, Any]:
    if scan.entry is None:
        return {"path": str(scan.path), "status": "failed",
                "error": {"type": scan.error, "message": scan.message} if scan.error else None,
                "kind": media_kind(scan.path) if scan.path.exists() else None, "sha256": scan.sha256,
                "width": None, "height": None, "faces": [], "metadata": None, "categories": [], "risks": []}
    entry = scan.entry
    faces = []
    for box, score, quality in zip(entry.faces.xyxy, entry.faces.score, entry.quality, strict=True):
        face = {"box": [round(float(v), 1) for v in box], "score": round(float(score), 3), "person": None}
        face.update({key: value for key, value in quality.items() if key != "embeddable"})
        faces.append(face)
    categories = list(entry.categories) + (["faces"] if faces else [])
    return {"path": str(scan.path), "status": "ok", "error": None, "kind": entry.kind, "sha256": scan.sha256,
            "width": entry.width, "height": entry.height, "faces": faces, "metadata": entry.metadata,
            "categories": categories, "risks": face_risks(faces) + list(entry.risks)}


def scan_collection(inputs: list[Path], settings: ScanSettings | None = None,
                    progress: Callable[[FileScan], None] | None = None, resume: Resume | None = None,
                    engine: Engine | None = None) -> ScanResult:
    """Scan every photo and video in ``inputs`` (files and folders, recursive) into a report.

    Resumable: the manifest of the cache (``<cache>/.bioveil/manifest.sqlite``) says which files are
    done; their entries are read back and only new or changed files are computed, and the report
    covers every file. ``progress`` is called once per file, computed or not.
    """
    settings = settings or ScanSettings()
    resume = resume or Resume()
    temporary = None
    if settings.use_cache:
        root = settings.cache_dir or default_cache_dir()
    else:
        temporary = tempfile.TemporaryDirectory(prefix="bioveil-scan-")
        root = Path(temporary.name)
    cache = ScanCache(root, settings.key())
    work = ScanWork(settings, cache, reuse=not resume.force)
    batch = run_batch(inputs, work, suffixes=IMAGE_SUFFIXES | VIDEO_SUFFIXES, settings=settings.key(),
                      manifest=manifest_path(cache.root), resume=resume, engine=engine or LocalEngine(settings.workers),
                      target_of=cache.path_for, on_result=progress)
    scans = list(zip((task.index for task in batch.tasks), batch.results, strict=True))
    for task, row in batch.done:
        entry = cache.get(task.sha256)
        if entry is None:  # gone or damaged since its hash was checked: computed again
            log.warning("cache entry of %s unreadable: scanning it again", task.source)
            scan = execute(work, work.setup(), task).result
        else:
            scan = FileScan(task.source, "ok", task.sha256, entry, cached=True, output=row.output)
        if progress is not None:
            progress(scan)
        scans.append((task.index, scan))
    scans.sort(key=lambda pair: pair[0])  # the order the files were found in, planning failures first
    models_recognizer = get_recognizer(settings.recognizer)
    records: list[dict[str, Any]] = []
    shas: list[str | None] = []
    vectors: list[np.ndarray] = []
    owners: list[tuple[int, int]] = []  # (file index, face index) of each embedded face
    for _, scan in scans:
        index = len(records)
        records.append(file_record(scan))
        shas.append(scan.sha256 if scan.entry is not None else None)
        if scan.entry is not None:
            for face_index, row in enumerate(scan.entry.embeddings):
                if not np.isnan(row).any():
                    vectors.append(row)
                    owners.append((index, face_index))
    embeddings = np.array(vectors, np.float32).reshape(-1, models_recognizer.embedding_size)
    threshold = settings.cluster_threshold or CLUSTER_THRESHOLDS[settings.recognizer]
    labels = cluster_faces(embeddings, threshold)
    for (file_index, face_index), label in zip(owners, labels.tolist(), strict=True):
        if label >= 0:
            records[file_index]["faces"][face_index]["person"] = f"P{label + 1}"
    persons = describe_persons(records)
    report = {
        "schema": SCHEMA,
        "bioveil_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {"detector": settings.detector, "video_detector": settings.video_detector,
                     "recognizer": settings.recognizer, "cluster_threshold": threshold},
        "summary": {**_summary(records, persons), "skipped": sum(scan.cached for _, scan in scans)},
        "files": records,
        "persons": persons,
    }
    return ScanResult(report, cache, shas, temporary)


def _summary(records: list[dict[str, Any]], persons: list[dict[str, Any]]) -> dict[str, Any]:
    categories = dict.fromkeys(CATEGORIES, 0)
    for record in records:
        for name in record["categories"]:
            categories[name] = categories.get(name, 0) + 1
    failed = sum(record["status"] == "failed" for record in records)
    return {"files": len(records), "scanned": len(records) - failed, "failed": failed,
            "faces": sum(len(record["faces"]) for record in records), "persons": len(persons),
            "categories": categories}


class CachedImages:
    """Thumbnails and face crops of a scan, read back from its cache (for the HTML report)."""

    def __init__(self, result: ScanResult) -> None:
        self._cache = result.cache
        self._shas = result.shas
        self._last: tuple[int, Entry | None] = (-1, None)

    def _entry(self, file_index: int) -> Entry | None:
        if self._last[0] != file_index:
            sha = self._shas[file_index]
            self._last = (file_index, self._cache.get(sha) if sha else None)
        return self._last[1]

    def thumbnail(self, file_index: int) -> bytes | None:
        entry = self._entry(file_index)
        return entry.thumbnail if entry else None

    def face_crop(self, file_index: int, face_index: int) -> bytes | None:
        entry = self._entry(file_index)
        if entry is None or face_index >= len(entry.crops):
            return None
        return entry.crops[face_index]

