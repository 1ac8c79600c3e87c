"""Masking one photo, from file to file: read, detect, mask, write, and say what happened."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bioveil.detection.base import Detector
from bioveil.errors import BioveilError
from bioveil.masking.maskers import Masker
from bioveil.media.atomic import Claims, ensure_not_input
from bioveil.media.image import DEFAULT_MAX_PIXELS, read_image, write_image
from bioveil.types import Faces

log = logging.getLogger(__name__)


@dataclass
class FileResult:
    """What happened to one input file (the rows of ``--json``)."""

    input: Path
    output: Path | None
    status: str  # "ok" or "failed"
    faces: Faces = field(default_factory=Faces.empty)
    error: str | None = None  # the exception's class name
    message: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    video: dict[str, Any] | None = None  # frames, keyframes, tracks, faces per frame (videos only)

    @property
    def face_count(self) -> int:
        """Faces in a photo; distinct tracked faces in a video."""
        return int(self.video["tracks"]) if self.video else len(self.faces)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_record(self) -> dict[str, Any]:
        return {
            "input": str(self.input),
            "status": self.status,
            "output": None if self.output is None else str(self.output),
            "faces": self.faces.to_records(),
            "error": self.error,
            "message": self.message,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
            **({"video": self.video} if self.video is not None else {}),
        }


def failed(source: Path, exc: BioveilError, started: float) -> FileResult:
    return FileResult(source, None, "failed", error=type(exc).__name__, message=str(exc),
                      seconds=time.perf_counter() - started)


def mask_photo_file(source: Path, target: Path, detector: Detector, masker: Masker, *,
                    threshold: float | None = None, keep_metadata: bool = False,
                    max_pixels: int = DEFAULT_MAX_PIXELS, protected: frozenset[Path] = frozenset(),
                    claims: Claims | None = None) -> FileResult:
    """Mask every face of the photo ``source`` into ``target`` (its suffix may be corrected).

    Never raises for a bad file: the :class:`FileResult` carries the named error instead.
    ``protected`` lists resolved input paths that must never be written; ``claims`` holds the
    batch's outputs, so a corrected suffix cannot land on another input's output.
    """
    started = time.perf_counter()
    try:
        picture = read_image(source, max_pixels=max_pixels)
        notes = []
        suffix = picture.suffix_for(source)
        if suffix != target.suffix:
            notes.append(f"content is {picture.format}, not what the name {source.name!r} says: written as {suffix}")
            target = target.with_suffix(suffix)
            if claims is not None:
                claims.claim(target, source)
        ensure_not_input(target, protected)
        if picture.had_profile:
            log.debug("%s: colour profile applied to the pixels and removed", source)
        faces = detector.detect(picture.pixels, threshold)
        masked = masker.apply(picture.pixels, faces)
        write_image(picture, masked, target, keep_metadata=keep_metadata)
    except BioveilError as exc:
        log.info("%s: %s", type(exc).__name__, exc)
        return failed(source, exc, started)
    return FileResult(source, target, "ok", faces=faces, notes=notes, seconds=time.perf_counter() - started)
