"""Finding any metadata left in an image file, by Pillow and by the bytes themselves."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

RAW_SIGNS = {
    b"Exif\x00\x00": "EXIF",
    b"http://ns.adobe.com/xap/1.0/": "XMP",
    b"<x:xmpmeta": "XMP",
    b"Photoshop 3.0": "IPTC/Photoshop",
    b"8BIM": "IPTC/Photoshop",
    b"ICC_PROFILE": "ICC profile",
}


# Tags that describe a TIFF's own pixel layout, not the photo, its place or its owner.
TIFF_STRUCTURE = {254, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 282, 283, 284, 296, 317, 320, 338, 339}


def jpeg_segments(data: bytes) -> list[int]:
    """Marker bytes of a JPEG's header segments up to the start of the image data."""
    markers, i = [], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: the entropy-coded data follows
            break
        markers.append(marker)
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return markers


def metadata_left(path: Path) -> list[str]:
    import pillow_heif

    pillow_heif.register_heif_opener()
    found = []
    data = path.read_bytes()
    for sign, name in RAW_SIGNS.items():
        if sign in data:
            found.append(name)
    with Image.open(path) as image:
        tags = set(image.getexif()) - (TIFF_STRUCTURE if image.format == "TIFF" else set())
        if tags:
            found.append(f"EXIF tags {sorted(tags)[:5]}")
        for key in ("exif", "xmp", "comment", "photoshop", "icc_profile", "XML:com.adobe.xmp"):
            if image.info.get(key):
                found.append(f"info[{key}]")
        if image.format == "HEIF":
            if image.info.get("thumbnails"):
                found.append("HEIF thumbnails")
            if image.info.get("metadata"):
                found.append("HEIF metadata")
        if image.format == "PNG" and getattr(image, "text", None):
            found.append("PNG text")
        if image.format == "JPEG":
            # APP0 (JFIF) and the image's own tables are fine; APP1-APP15 and COM carry metadata.
            extra = [hex(m) for m in jpeg_segments(data) if 0xE1 <= m <= 0xEF or m == 0xFE]
            if extra:
                found.append(f"JPEG segments {extra}")
    return sorted(set(found))
