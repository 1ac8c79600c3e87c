"""What a file holds, by its first bytes rather than its name."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from bioveil.media.image import IMAGE_SUFFIXES
from bioveil.media.video import VIDEO_SUFFIXES

Kind = Literal["image", "video"]

_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}


def media_kind(path: Path) -> Kind:
    """"image" or "video" by content; by suffix when the bytes say nothing (or cannot be read)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(16)
    except OSError:
        head = b""
    if head[4:8] == b"ftyp":
        return "image" if head[8:12] in _IMAGE_BRANDS else "video"
    if head.startswith(b"\x1aE\xdf\xa3") or (head.startswith(b"RIFF") and head[8:12] == b"AVI "):
        return "video"
    if head.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01")):
        return "video"  # an Annex B elementary stream (raw H.264 / H.265)
    if head.startswith((b"\xff\xd8", b"\x89PNG", b"II*\x00", b"MM\x00*", b"GIF8", b"BM")) or head[8:12] == b"WEBP":
        return "image"
    suffix = path.suffix.lower()
    return "video" if suffix in VIDEO_SUFFIXES and suffix not in IMAGE_SUFFIXES else "image"
