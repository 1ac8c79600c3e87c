"""Embedded thumbnails: find them (EXIF IFD1, HEIF thumbnail items) and tell whether they show the photo.

A camera writes a small preview of the photo into the file. Editors often leave it as it was, so a photo
cropped or retouched afterwards can still carry the uncropped, unretouched original in its thumbnail.

How "differs" is decided: letterbox bars that a camera adds to fit a 4:3 preview are cut off the
thumbnail; the photo is then shrunk to the thumbnail's size (stretched, not cropped: some cameras store a
3:2 photo squeezed into a 160x120 preview), both are turned to grey, shrunk to 48 pixels on the long side
and band-passed (edges and objects a few pixels across stay; JPEG noise and smooth gradients go). The
pattern term is ``(1 - ncc) / 2`` of their normalised cross-correlation: 0 for the same picture, about
0.5 for unrelated ones. The shape term is how far the aspect ratios differ (``|ln|`` of their ratio)
beyond what rounding to whole pixels explains. ``difference`` is the larger of the two, in [0, 1].

:data:`DIFFERS_AT` comes from measurement over every thumbnail in the exif-samples collection (56 real
camera files, JPEG and HEIC) and crops made from each of those photos with the uncropped photo's
thumbnail (``tests/scan/test_metadata.py`` repeats both). Real thumbnails of their own photo: median
0.004, largest 0.014 (0.022 for ``corrupted.jpg``, whose damaged pixels differ from its intact
thumbnail). Crops: cutting 10 % off one side scores 0.083 or more, the central 80 % 0.12 or more, the
central 90 % 0.04 to 0.4 (54 of 56 caught). The cut is 0.05, near the geometric mean of 0.014 and 0.12.
Three real files score above it, each for a reason found by looking: ``35-empty.jpg`` (0.37) was
cropped after the camera wrote its thumbnail, which shows more of the street; ``ricoh-rdc5300.jpg``
(0.21) has a 4:3 preview of a 3:2 photo framed differently; ``sony-d700.jpg`` (0.07) has a preview from
a moment apart (the people have moved).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

#: ``difference`` above which the thumbnail is reported as not showing the photo (see the module docstring).
DIFFERS_AT = 0.05
#: Both pictures are compared at most this size on the long side: enough for framing, small enough that
#: JPEG noise of a 160x120 preview averages out.
_COMPARE_SIDE = 48
#: Band-pass of the comparison, in pixels at that size: Gaussian blurs whose difference is compared.
_BAND_SIGMAS = (1.0, 4.0)
#: A border row or column whose grey values vary less than this (out of 255) is a letterbox bar.
_BAR_STD = 4.0
#: Below this spread of band-passed grey values a picture is flat (a blank frame): compared by plain distance.
_FLAT_STD = 0.5
#: A thumbnail larger than this is not a thumbnail (and not decoded).
_MAX_THUMBNAIL_BYTES = 4 * 1024 * 1024
_MAX_THUMBNAIL_PIXELS = 4096 * 4096

# EXIF orientation -> the transposition that makes the stored picture upright (as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


class Found(NamedTuple):
    """A thumbnail found in a file: ``image`` is None when it is present but cannot be decoded."""

    present: bool
    image: Image.Image | None


@dataclass
class Thumbnail:
    """Whether the file carries a thumbnail, and whether it shows something else than the photo.

    ``differs`` and ``difference`` are ``None`` when there is a thumbnail that could not be compared
    (undecodable, or the photo's pixels were not available).
    """

    present: bool = False
    differs: bool | None = False
    difference: float | None = None
    size_wh: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"present": self.present, "differs": self.differs,
                "difference": None if self.difference is None else round(self.difference, 4)}


def exif_thumbnail(path: object, raw_exif: bytes | None, ifd1: dict[int, Any], orientation: int) -> Found:
    """The IFD1 thumbnail of an EXIF block, upright (the main image's orientation applies to it).

    ``raw_exif`` is the TIFF structure (with or without the ``Exif\\0\\0`` prefix); IFD1's offsets count
    from its header. JPEG thumbnails (tags 0x0201/0x0202) and uncompressed 8-bit RGB strips are read.
    """
    tiff = _tiff_part(raw_exif) if raw_exif else None
    if tiff is None or not _names_thumbnail(ifd1):
        return Found(False, None)
    try:
        if ifd1.get(0x0201) is not None:
            image = _jpeg_thumbnail(path, tiff, int(ifd1[0x0201]), int(ifd1[0x0202]))
        else:
            image = _uncompressed_thumbnail(path, tiff, ifd1)
    except Exception as exc:  # Pillow raises many kinds on broken data
        log.warning("%s: EXIF thumbnail present but unreadable (%s)", path, exc)
        return Found(True, None)
    return Found(True, None if image is None else upright(image.convert("RGB"), orientation))


def _names_thumbnail(ifd1: dict[int, Any]) -> bool:
    """IFD1 names thumbnail data: a JPEG of non-zero length, or strips."""
    try:
        if ifd1.get(0x0201) is not None:
            return int(ifd1.get(0x0202, 0)) > 0
    except (TypeError, ValueError):
        return False
    return 0x0111 in ifd1 and 0x0100 in ifd1


def _jpeg_thumbnail(path: object, tiff: bytes, offset: int, length: int) -> Image.Image | None:
    if length > _MAX_THUMBNAIL_BYTES or offset <= 0 or offset + length > len(tiff):
        log.warning("%s: EXIF thumbnail points outside the EXIF block (offset %s, %s bytes); not read", path, offset, length)
        return None
    image = Image.open(io.BytesIO(tiff[offset:offset + length]))
    if image.width * image.height > _MAX_THUMBNAIL_PIXELS:
        log.warning("%s: EXIF thumbnail of %sx%s pixels is too large for a thumbnail; not read", path, image.width, image.height)
        return None
    image.load()
    return image


def _tiff_part(raw: bytes) -> bytes | None:
    for start in (0, 6):
        if raw[start:start + 4] in (b"II*\x00", b"MM\x00*"):
            return raw[start:]
    found = min((i for i in (raw.find(b"II*\x00"), raw.find(b"MM\x00*")) if i >= 0), default=-1)
    return raw[found:] if found >= 0 else None


def _uncompressed_thumbnail(path: object, tiff: bytes, ifd1: dict[int, Any]) -> Image.Image | None:
    """An uncompressed TIFF-style thumbnail (old Kodak and Sony cameras): 8-bit RGB in one run of strips."""
    width, height = int(ifd1.get(0x0100, 0)), int(ifd1.get(0x0101, 0))
    photometric, compression = ifd1.get(0x0106), ifd1.get(0x0103, 1)
    offsets, counts = ifd1.get(0x0111), ifd1.get(0x0117)
    if not width or not height or offsets is None or counts is None:
        return None
    if compression != 1 or photometric != 2 or width * height > _MAX_THUMBNAIL_PIXELS:
        log.warning("%s: EXIF thumbnail in a layout bioveil does not decode (compression %s, photometric %s)",
                    path, compression, photometric)
        return None
    offsets = offsets if isinstance(offsets, tuple) else (offsets,)
    counts = counts if isinstance(counts, tuple) else (counts,)
    data = b"".join(tiff[int(o):int(o) + int(c)] for o, c in zip(offsets, counts, strict=False))
    if len(data) < width * height * 3:
        log.warning("%s: EXIF thumbnail truncated (%d of %d bytes)", path, len(data), width * height * 3)
        return None
    return Image.frombytes("RGB", (width, height), data[: width * height * 3])


def heif_thumbnail(path: object, data: bytes) -> Found:
    """The largest thumbnail of a HEIF file's primary image, upright."""
    try:
        import pillow_heif

        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        primary = heif[heif.primary_index]
        count = len(primary.info.get("thumbnails", []))
        if not count:
            return Found(False, None)
        # The largest thumbnail compares best; libheif applies its rotation, so it is upright already.
        thumbnails = [primary.get_thumbnail(i) for i in range(count)]
        best = max(thumbnails, key=lambda t: t.size[0] * t.size[1])
        return Found(True, best.to_pillow().convert("RGB"))
    except Exception as exc:  # libheif errors come as several types
        log.warning("%s: HEIF thumbnail unreadable (%s)", path, exc)
        return Found(False, None)


def upright(image: Image.Image, orientation: int) -> Image.Image:
    for method in _TRANSPOSE.get(orientation, ()):
        image = image.transpose(method)
    return image


def compare(thumbnail: Image.Image, pixels: np.ndarray) -> float:
    """``difference`` in [0, 1] between an upright thumbnail and the upright photo (RGB uint8)."""
    thumb = np.asarray(thumbnail.convert("L"), dtype=np.float32)
    height, width = pixels.shape[:2]
    thumb = _trim_bars(thumb, width / height)
    th, tw = thumb.shape
    # Shapes differ beyond what rounding to whole pixels explains: a crop that changed the aspect ratio.
    rounding = 1 / tw + 1 / th + 1 / width + 1 / height
    shape_term = max(0.0, abs(float(np.log((tw / th) / (width / height)))) - rounding)
    scale = min(1.0, _COMPARE_SIDE / max(th, tw))
    size = (max(1, round(tw * scale)), max(1, round(th * scale)))
    small_thumb = np.asarray(Image.fromarray(thumb).resize(size, Image.Resampling.BOX), dtype=np.float32)
    photo = Image.fromarray(pixels).resize(size, Image.Resampling.BOX, reducing_gap=2.0)
    small_photo = np.asarray(photo.convert("L"), dtype=np.float32)
    return float(min(1.0, max(shape_term, _pattern_difference(small_thumb, small_photo))))


def _pattern_difference(a: np.ndarray, b: np.ndarray) -> float:
    """(1 - normalised cross-correlation) / 2 of two same-sized grey pictures, band-passed.

    The band-pass keeps structure a few pixels across (edges, objects): JPEG noise of the thumbnail is
    below it, and smooth gradients (sky, vignetting) above it, which would hide a crop's shift.
    """
    band_a, band_b = _band(a), _band(b)
    sa, sb = float(band_a.std()), float(band_b.std())
    if sa < _FLAT_STD or sb < _FLAT_STD:
        # A flat picture has no pattern to correlate: compare the grey levels themselves.
        return float(np.clip(np.abs(a - b).mean() / 255.0, 0.0, 1.0))
    return float(np.clip((1.0 - (band_a * band_b).mean() / (sa * sb)) / 2.0, 0.0, 1.0))


def _band(grey: np.ndarray) -> np.ndarray:
    import cv2

    band = cv2.GaussianBlur(grey, (0, 0), _BAND_SIGMAS[0]) - cv2.GaussianBlur(grey, (0, 0), _BAND_SIGMAS[1])
    return band - band.mean()


def _trim_bars(grey: np.ndarray, target_ratio: float) -> np.ndarray:
    """Cut uniform bands off the thumbnail's edges when that brings its shape closer to the photo's."""
    top, bottom, left, right = 0, grey.shape[0], 0, grey.shape[1]
    while bottom - top > 2 and grey[top].std() < _BAR_STD and grey[bottom - 1].std() < _BAR_STD:
        top, bottom = top + 1, bottom - 1
    while right - left > 2 and grey[:, left].std() < _BAR_STD and grey[:, right - 1].std() < _BAR_STD:
        left, right = left + 1, right - 1
    trimmed = grey[top:bottom, left:right]
    before = abs(np.log(grey.shape[1] / grey.shape[0] / target_ratio))
    after = abs(np.log(trimmed.shape[1] / trimmed.shape[0] / target_ratio))
    # Uniform edges may be real content (a white sky); only cut when they were bars added to fit a shape.
    return trimmed if after < before - 0.02 else grey
