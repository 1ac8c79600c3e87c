"""Scanning a collection: every file analysed once (or taken from the cache), faces clustered into
people across the whole collection, and the versioned report of ``docs/scan_schema.md`` assembled.

Files stream through two workers; what stays in memory per file is its report entry and its face
embeddings, never its pixels.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bioveil import __version__
from bioveil.concurrency import map_in_order
from bioveil.detection.base import get_detector
from bioveil.errors import BioveilError, UnexpectedError, UnreadableInputError
from bioveil.media.discover import find_inputs
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
    path: Path
    status: str
    sha256: str | None = None
    entry: Entry | None = None
    error: BioveilError | None = None
    cached: bool = False


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


def analyse_file(path: Path, cache: ScanCache, models: Models) -> FileScan:
    """One file, never raising: a bad file gives a failed :class:`FileScan` with its named error."""
    try:
        try:
            sha = file_sha256(path)
        except OSError as exc:
            raise UnreadableInputError(path, f"cannot be read ({exc.strerror or exc}); check the path and permissions") from exc
        entry = cache.get(sha)
        if entry is not None:
            return FileScan(path, "ok", sha, entry, cached=True)
        entry = analyse_video(path, models) if media_kind(path) == "video" else analyse_photo(path, models)
        cache.put(sha, entry)
        return FileScan(path, "ok", sha, entry)
    except BioveilError as exc:
        log.info("%s: %s", type(exc).__name__, exc)
        return FileScan(path, "failed", error=exc)
    except Exception as exc:  # a bug or an unforeseen library error: recorded, then the scan goes on
        log.exception("unexpected failure on %s", path)
        return FileScan(path, "failed", error=UnexpectedError.wrap(path, exc))


def _file_record(scan: FileScan) -> dict[str, Any]:
    if scan.entry is None:
        error = scan.error
        return {"path": str(scan.path), "status": "failed",
                "error": {"type": type(error).__name__, "message": str(error)} if error else None,
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
                    progress: Callable[[FileScan], None] | None = None) -> ScanResult:
    """Scan every photo and video in ``inputs`` (files and folders, recursive) into a report."""
    settings = settings or ScanSettings()
    temporary = None
    if settings.use_cache:
        root = settings.cache_dir or default_cache_dir()
    else:
        temporary = tempfile.TemporaryDirectory(prefix="bioveil-scan-")
        root = Path(temporary.name)
    cache = ScanCache(root, settings.key())
    found = find_inputs(inputs, IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    models = Models(get_detector(settings.detector), get_detector(settings.video_detector),
                    get_recognizer(settings.recognizer), settings.max_pixels)

    records: list[dict[str, Any]] = []
    shas: list[str | None] = []
    vectors: list[np.ndarray] = []
    owners: list[tuple[int, int]] = []  # (file index, face index) of each embedded face
    for path, error in found.errors:
        records.append(_file_record(FileScan(path, "failed", error=error)))
        shas.append(None)
    for scan in map_in_order(lambda path: analyse_file(path, cache, models), [p for _, p in found.files],
                             settings.workers, "scan"):
        if progress is not None:
            progress(scan)
        index = len(records)
        records.append(_file_record(scan))
        shas.append(scan.sha256 if scan.entry is not None else None)
        if scan.entry is not None:
            for face_index, row in enumerate(scan.entry.embeddings):
                if not np.isnan(row).any():
                    vectors.append(row)
                    owners.append((index, face_index))

    embeddings = np.array(vectors, np.float32).reshape(-1, models.recognizer.embedding_size)
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
        "summary": _summary(records, persons),
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

