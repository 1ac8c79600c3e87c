"""Images in and out: content sniffing, EXIF orientation, metadata stripping, atomic writes.

An image is read into RGB ``uint8`` pixels with its EXIF orientation applied, so detectors see it
upright. On writing, nothing of the original's metadata is carried over unless asked: no EXIF (GPS,
serial numbers, owner, maker notes, embedded thumbnail), XMP, IPTC or comments. An embedded colour
profile is applied to the pixels (converted to sRGB) and then dropped, so colours stay right without
keeping a profile that may name the device.
"""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from bioveil.errors import (
    CorruptMediaError,
    EmptyFileError,
    ImageTooLargeError,
    OutputError,
    UnreadableInputError,
    UnsupportedFormatError,
)
from bioveil.media.atomic import atomic_path

log = logging.getLogger(__name__)

#: Images with more pixels than this are refused (decompression bombs); about 16k x 12k.
DEFAULT_MAX_PIXELS = 200_000_000

# Pillow format name -> (format to write, file suffixes that fit it; the first is the default).
FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "JPEG": ("JPEG", (".jpg", ".jpeg", ".jpe", ".jfif")),
    "MPO": ("JPEG", (".jpg", ".jpeg")),
    "PNG": ("PNG", (".png",)),
    "WEBP": ("WEBP", (".webp",)),
    "TIFF": ("TIFF", (".tif", ".tiff")),
    "HEIF": ("HEIF", (".heic", ".heif", ".hif")),
}
IMAGE_SUFFIXES = frozenset(suffix for _, suffixes in FORMATS.values() for suffix in suffixes)

_heif_registered = False

# bioveil checks the pixel count itself (``max_pixels`` of read_image), so Pillow's own bomb limit,
# which would refuse a 100 MP photo whatever the user allows, is lifted.
Image.MAX_IMAGE_PIXELS = None

# What Pillow's parsers raise on broken data.
_PARSE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError)


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        _heif_registered = True


@dataclass
class Picture:
    """An upright RGB image and what is needed to write it back in its own format."""

    pixels: np.ndarray  # (h, w, 3) uint8 RGB, orientation applied
    alpha: np.ndarray | None  # (h, w) uint8, or None
    format: str  # Pillow's name of the content's format, e.g. "JPEG"
    grayscale: bool
    exif: Image.Exif | None  # kept only for --keep-metadata
    xmp: bytes | None
    had_profile: bool  # a colour profile was applied to the pixels (and is not written back)
    subsampling: int | None = None  # a JPEG's chroma subsampling, as Pillow names it (0 4:4:4, 1 4:2:2, 2 4:2:0)

    @property
    def write_format(self) -> str:
        return FORMATS[self.format][0]

    def suffix_for(self, path: Path) -> str:
        """``path``'s suffix when it fits the content, else the content's usual suffix."""
        suffixes = FORMATS[self.format][1]
        return path.suffix if path.suffix.lower() in suffixes else suffixes[0]


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Read ``path``, whatever its name says, by its content. Raises a :class:`MediaError` child."""
    _register_heif()
    try:
        data = path.read_bytes()
    except IsADirectoryError as exc:
        raise UnreadableInputError(path, "is a folder, not an image file") from exc
    except OSError as exc:
        reason = exc.strerror or exc
        raise UnreadableInputError(path, f"cannot be read ({reason}); check that it exists and its permissions") from exc
    return decode_image(data, path, max_pixels)


def decode_image(data: bytes, path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Decode image ``data`` (named ``path`` in errors) by its content. Raises a :class:`MediaError` child."""
    _register_heif()
    if not data:
        raise EmptyFileError(path, "is empty (0 bytes); it holds no image, re-copy it from the source")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise UnsupportedFormatError(path, "is not an image bioveil reads (JPEG, PNG, WebP, TIFF, HEIC/HEIF)") from exc
    except _PARSE_ERRORS as exc:
        raise CorruptMediaError(path, f"is a damaged image file ({exc}); its header cannot be read") from exc
    if image.width * image.height > max_pixels:
        raise ImageTooLargeError(path, f"has {image.width}x{image.height} pixels, over the limit of "
                                       f"{max_pixels:,}; raise --max-pixels if you trust this file")
    if image.format not in FORMATS:
        raise UnsupportedFormatError(path, f"is {image.format}, which bioveil does not write back; "
                                           "convert it to JPEG, PNG, WebP, TIFF or HEIC first")
    try:
        frames = getattr(image, "n_frames", 1)
        image.load()
    except _PARSE_ERRORS as exc:
        raise CorruptMediaError(path, f"is a damaged {image.format} file ({exc}); the image data cannot be decoded") from exc
    if frames > 1 and image.format not in ("MPO", "HEIF"):
        raise UnsupportedFormatError(path, f"has {frames} frames (animation or pages); only "
                                           "single-frame images are masked: split it into single images first")
    return _to_picture(path, image)


def _to_picture(path: Path, image: Image.Image) -> Picture:
    fmt = image.format or "PNG"
    try:
        exif = image.getexif()
    except Exception as exc:
        log.warning("%s: unreadable EXIF ignored (%s)", path, exc)
        exif = None
    try:
        upright = ImageOps.exif_transpose(image) or image
    except Exception as exc:
        log.warning("%s: EXIF orientation unreadable, image used as stored (%s)", path, exc)
        upright = image
    xmp = image.info.get("xmp")
    icc = image.info.get("icc_profile")
    grayscale = upright.mode in ("1", "L", "LA", "I", "I;16", "F")
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info)
    rgba = upright.convert("RGBA") if has_alpha else None
    rgb = (rgba or upright).convert("RGB")
    if icc:
        rgb = _to_srgb(path, rgb, icc)
    return Picture(
        pixels=np.asarray(rgb, dtype=np.uint8).copy(),
        alpha=None if rgba is None else np.asarray(rgba, dtype=np.uint8)[:, :, 3].copy(),
        format=fmt,
        grayscale=grayscale,
        exif=exif,
        xmp=xmp if isinstance(xmp, bytes) else (xmp.encode() if isinstance(xmp, str) else None),
        had_profile=bool(icc),
        subsampling=_jpeg_subsampling(image),
    )


def _jpeg_subsampling(image: Image.Image) -> int | None:
    if image.format not in ("JPEG", "MPO"):
        return None
    from PIL import JpegImagePlugin

    sampling = JpegImagePlugin.get_sampling(image)
    return sampling if sampling in (0, 1, 2) else None


def _to_srgb(path: Path, rgb: Image.Image, icc: bytes) -> Image.Image:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(rgb, source, ImageCms.createProfile("sRGB"), outputMode="RGB") or rgb
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        log.warning("%s: colour profile not applied (%s)", path, exc)
        return rgb


def jpeg_round_trip(pixels: np.ndarray, quality: int = 95, subsampling: int | None = None) -> np.ndarray:
    """``pixels`` (RGB uint8) as :func:`write_image` would write them to a JPEG and a reader would decode them."""
    buffer = io.BytesIO()
    options: dict[str, object] = {"quality": quality}
    if subsampling is not None:
        options["subsampling"] = subsampling
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", **options)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def write_image(picture: Picture, pixels: np.ndarray, target: Path, keep_metadata: bool = False,
                quality: int = 95, subsampling: int | None = None) -> None:
    """Write ``pixels`` (RGB uint8) to ``target`` atomically in ``picture``'s format.

    Only what is named here is written: with ``keep_metadata`` the EXIF (orientation reset, as the
    pixels are upright) and XMP; otherwise nothing. The pixels are sRGB already, so no profile.
    ``subsampling``: JPEG's chroma subsampling (Pillow's 0 for 4:4:4, 2 for 4:2:0; None: Pillow's default).
    """
    image = Image.fromarray(pixels, "RGB")
    if picture.alpha is not None:
        image.putalpha(Image.fromarray(picture.alpha, "L"))
    if picture.grayscale:
        image = image.convert("LA" if picture.alpha is not None else "L")
    fmt = picture.write_format
    options: dict[str, object] = {}
    if fmt in ("JPEG", "WEBP", "HEIF"):
        options["quality"] = quality
    if fmt == "JPEG" and subsampling is not None:
        options["subsampling"] = subsampling
    if fmt == "JPEG" and image.mode in ("RGBA", "LA"):
        image = image.convert("RGB" if image.mode == "RGBA" else "L")
    if fmt == "TIFF":
        options["compression"] = "tiff_lzw"
    if keep_metadata:
        if picture.exif is not None:
            picture.exif[0x0112] = 1  # orientation: the pixels are already upright
            try:
                options["exif"] = picture.exif.tobytes()
            except _PARSE_ERRORS as exc:
                log.warning("%s: the original EXIF is broken and cannot be kept (%s)", target, exc)
        if picture.xmp:
            options["xmp"] = picture.xmp
    try:
        with atomic_path(target) as temporary:
            image.save(temporary, format=fmt, **options)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(target, f"could not be written ({exc}); check free space and permissions") from exc
