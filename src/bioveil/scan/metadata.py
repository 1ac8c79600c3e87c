"""What a photo or video says about itself: where, when, with which device, by whom, edited how.

:func:`read_metadata` reads EXIF (with Canon, Nikon and Fujifilm maker-note serials and owner names),
XMP (:mod:`bioveil.scan.xmp`), IPTC, PNG text, the embedded thumbnail (:mod:`bioveil.scan.thumbnail`),
and for videos the container's tags (QuickTime and Android GPS, creation time, device). The result,
:class:`Metadata`, gives the ``metadata`` object of the scan report (``docs/scan_schema.md``), the
exposure categories it shows and one plain-language risk sentence per leak.

Metadata is untrusted input. A field that cannot be read is logged as a warning and left out; the rest
of the file is still read. Only a file that cannot be opened at all raises (a :class:`MediaError`
child, as :func:`bioveil.media.image.read_image` does). Values are reported as the file states them,
never guessed; camera default texts ("OLYMPUS DIGITAL CAMERA", a description that repeats the model)
are not reported as identifying text.
"""

from __future__ import annotations

import io
import logging
import math
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, IptcImagePlugin

from bioveil.errors import CorruptMediaError, ImageTooLargeError, UnreadableInputError
from bioveil.media.image import _register_heif, read_image  # _register_heif: bioveil's one HEIF registration
from bioveil.media.sniff import media_kind
from bioveil.media.video import VideoReader
from bioveil.scan import thumbnail as thumbnails
from bioveil.scan import xmp
from bioveil.scan.thumbnail import Thumbnail
from bioveil.scan.xmp import FaceRegion

log = logging.getLogger(__name__)

#: Texts longer than this are cut in the report (a 64 KB comment would swamp it).
MAX_TEXT = 1000
#: The categories this module can report, in the schema's order (``faces`` comes from the face scan).
CATEGORIES = ("gps", "time", "device", "serial", "owner", "software", "history", "thumbnail",
              "thumbnail_differs", "face_regions", "people_tags", "keywords", "text")


@dataclass
class Gps:
    lat: float | None = None
    lon: float | None = None
    altitude_m: float | None = None
    source: str | None = None  # "exif", "xmp" or "video"; None when there is no position

    def to_dict(self) -> dict[str, Any]:
        return {"lat": _round(self.lat, 7), "lon": _round(self.lon, 7), "altitude_m": _round(self.altitude_m, 2),
                "source": self.source}


@dataclass
class Device:
    make: str | None = None
    model: str | None = None
    serial: str | None = None
    lens_make: str | None = None
    lens_model: str | None = None
    lens_serial: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Owner:
    owner_name: str | None = None
    artist: str | None = None
    copyright: str | None = None
    creator: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Metadata:
    """What one file exposes. ``to_dict`` is the report's ``metadata`` object."""

    kind: str = "image"  # "image" or "video": only the wording of the risks depends on it
    gps: Gps = field(default_factory=Gps)
    captured: str | None = None
    device: Device = field(default_factory=Device)
    owner: Owner = field(default_factory=Owner)
    software: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    thumbnail: Thumbnail = field(default_factory=Thumbnail)
    face_regions: list[FaceRegion] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    other: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            # null when the file states no position (the report's consumers test ``if gps``)
            "gps": self.gps.to_dict() if self.gps.lat is not None else None,
            "captured": self.captured,
            "device": self.device.to_dict(),
            "owner": self.owner.to_dict(),
            "software": list(self.software),
            "history": list(self.history),
            "thumbnail": self.thumbnail.to_dict(),
            "face_regions": [region.to_dict() for region in self.face_regions],
            "people": list(self.people),
            "keywords": list(self.keywords),
            "other": dict(self.other),
        }

    def categories(self) -> list[str]:
        """The schema's exposure categories this metadata shows (``faces`` is the face scan's to add)."""
        device = self.device
        shown = {
            "gps": self.gps.lat is not None,
            "time": self.captured is not None,
            "device": any((device.make, device.model, device.lens_make, device.lens_model)),
            "serial": bool(device.serial or device.lens_serial),
            "owner": any(vars(self.owner).values()),
            "software": bool(self.software),
            "history": bool(self.history),
            "thumbnail": self.thumbnail.present,
            "thumbnail_differs": bool(self.thumbnail.differs),
            "face_regions": bool(self.face_regions),
            "people_tags": bool(self.people),
            "keywords": bool(self.keywords),
            "text": bool(self.other),
        }
        return [name for name in CATEGORIES if shown[name]]

    def risks(self) -> list[str]:
        """One plain-language sentence per leak, for someone who has never heard of EXIF."""
        return list(_risks(self))


def _risks(meta: Metadata) -> Iterator[str]:
    thing, taken, took = ("video", "recorded", "recorded") if meta.kind == "video" else ("photo", "taken", "took")
    gps, device, owner = meta.gps, meta.device, meta.owner
    if gps.lat is not None and gps.lon is not None:
        height = f", {gps.altitude_m:.0f} m above sea level" if gps.altitude_m is not None else ""
        yield f"GPS position {gps.lat:.5f}, {gps.lon:.5f}{height}: where the {thing} was {taken}"
    if meta.captured:
        yield f"Date and time {meta.captured}: when the {thing} was {taken}"
    camera = " ".join(_unique([v for v in (device.make, device.model) if v]))
    if camera:
        yield f"Camera {_short(camera)}: the device that {took} the {thing}"
    lens = " ".join(_unique([v for v in (device.lens_make, device.lens_model) if v]))
    if lens:
        yield f"Lens {_short(lens)}: narrows down which camera {took} it"
    if device.serial:
        yield f"Camera serial number {_short(device.serial)} links every {thing} {taken} with this camera"
    if device.lens_serial:
        yield f"Lens serial number {_short(device.lens_serial)} links every {thing} {taken} with this lens"
    if owner.owner_name:
        yield f"Camera owner name \"{_short(owner.owner_name)}\" is stored in the file"
    if owner.artist:
        yield f"Author \"{_short(owner.artist)}\" names who {took} the {thing}"
    if owner.creator and owner.creator != owner.artist:
        yield f"Creator \"{_short(owner.creator)}\" names who made the {thing}"
    if owner.copyright:
        yield f"Copyright notice \"{_short(owner.copyright)}\" names the rights holder"
    if meta.software:
        yield f"Software {_short(', '.join(meta.software))}: the programs or firmware that made or edited it"
    if meta.history:
        steps = f"{len(meta.history)} step{'s' if len(meta.history) > 1 else ''}"
        yield f"Edit history of {steps}: when and with what the {thing} was changed, from \"{_short(meta.history[0])}\""
    if meta.thumbnail.differs:
        yield f"Embedded thumbnail differs from the {thing}: it may show what was cropped or edited out"
    elif meta.thumbnail.present:
        yield (f"Embedded thumbnail: a small copy of the {thing} that editing programs may leave unchanged "
               "when the picture is cropped or retouched")
    if meta.face_regions:
        names = _unique([r.name for r in meta.face_regions if r.name])
        who = f", named {_short(', '.join(names))}" if names else " (no names)"
        count = f"{len(meta.face_regions)} face region{'s' if len(meta.face_regions) > 1 else ''}"
        yield f"{count} marked{who}: who is where in the {thing}"
    if meta.people:
        yield f"People named in the tags: {_short(', '.join(meta.people))}"
    if meta.keywords:
        yield f"Keywords {_short(', '.join(meta.keywords))}: describe the content, events or places"
    for tag, text in meta.other.items():
        yield f"Text field {tag} \"{_short(text)}\" may name people, places or events"


def read_metadata(path: Path, pixels: np.ndarray | None = None) -> Metadata:
    """Read what ``path`` exposes. ``pixels`` is the upright RGB image as bioveil decoded it, if it did.

    Raises a :class:`MediaError` child when the file cannot be opened at all; a file whose pixels are
    broken but whose header reads still gives its metadata (a truncated photo still leaks its GPS).
    """
    path = Path(path)
    if media_kind(path) == "video":
        return _read_video(path)
    if pixels is None:
        try:
            pixels = read_image(path).pixels
        except (CorruptMediaError, ImageTooLargeError) as exc:
            log.warning("%s: pixels not decoded (%s); metadata read without the thumbnail check", path, exc)
    return _read_image(path, pixels)


# --- images -----------------------------------------------------------------------------------------

# EXIF tags by name (Pillow's ExifTags.Base) used below.
_TAG = ExifTags.Base
_TEXT_TAGS = (_TAG.ImageDescription, _TAG.UserComment, _TAG.XPTitle, _TAG.XPComment, _TAG.XPAuthor, _TAG.XPSubject,
              _TAG.DocumentName, _TAG.HostComputer, _TAG.ImageUniqueID)
# XMP properties that are free text about the content, the people or the place.
_XMP_TEXT = ("dc:title", "dc:description", "photoshop:Headline", "photoshop:Instructions", "photoshop:AuthorsPosition",
             "photoshop:CaptionWriter", "photoshop:Credit", "photoshop:City", "photoshop:State", "photoshop:Country",
             "photoshop:TransmissionReference", "Iptc4xmpCore:Location", "Iptc4xmpCore:CreatorContactInfo",
             "Iptc4xmpExt:LocationShown", "xmpRights:Owner", "xmpRights:WebStatement", "photoshop:TextLayers")
# IPTC-IIM datasets (record 2) that are free text, by their IPTC names.
_IPTC_TEXT = {5: "ObjectName", 40: "SpecialInstructions", 85: "By-lineTitle", 90: "City", 92: "Sub-location",
              95: "Province-State", 101: "Country", 103: "OriginalTransmissionReference", 105: "Headline",
              110: "Credit", 120: "Caption-Abstract", 122: "Writer-Editor"}
# PNG text keys that say nothing about the picture's content or owner.
_PNG_TECHNICAL = re.compile(r"^(XML:com\.adobe\.xmp|Raw profile type .*|icc|exif|dpi|gamma|chromaticity|.*profile.*)$", re.I)
_CAMERA_DEFAULT = re.compile(r"^[\w .,&()-]*\bdigital camera$", re.I)


class _Reader:
    """Collects one image's metadata, field group by field group, each guarded on its own."""

    def __init__(self, path: Path, data: bytes, image: Image.Image) -> None:
        self.path, self.data, self.image = path, data, image
        self.meta = Metadata()
        self.times: list[tuple[int, str]] = []  # (priority, ISO time): the lowest priority is the capture time
        self.exif = Image.Exif()
        self.ifd: dict[int, Any] = {}  # Exif sub-IFD
        self.raw_exif: bytes | None = None
        self.xmp: dict[str, Any] = {}

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # Pillow and the data raise any kind of error on malformed metadata
            log.warning("%s: %s unreadable (%s: %s); skipped", self.path, what, type(exc).__name__, exc)

    def read(self, pixels: np.ndarray | None) -> Metadata:
        with self.guard("EXIF"):
            raw = self.image.info.get("exif")
            self.raw_exif = raw if isinstance(raw, bytes) else None
            self.exif = self.image.getexif()
        with self.guard("EXIF sub-IFD"):
            self.ifd = self.exif.get_ifd(ExifTags.IFD.Exif)
        with self.guard("XMP"):
            self.xmp = xmp.parse(self.path, self.image.info.get("xmp"))
        for what, step in (("GPS", self.read_gps), ("capture time", self.read_exif_times), ("device", self.read_device),
                           ("maker note", self.read_maker_note), ("owner", self.read_owner),
                           ("software", self.read_software), ("text fields", self.read_exif_text),
                           ("XMP fields", self.read_xmp), ("IPTC", self.read_iptc), ("PNG text", self.read_png_text),
                           ("JPEG comment", self.read_comment)):
            with self.guard(what):
                step()
        with self.guard("thumbnail"):
            self.meta.thumbnail = self.read_thumbnail(pixels)
        self.meta.captured = min(self.times)[1] if self.times else None
        self.meta.people = _unique(self.meta.people + [r.name for r in self.meta.face_regions if r.name])
        self.meta.keywords = _unique(self.meta.keywords)
        self.meta.software = _unique(self.meta.software)
        return self.meta

    # -- helpers

    def set_once(self, target: object, name: str, value: str | None) -> None:
        """Set ``target.name`` to a meaningful ``value`` unless an earlier source set it."""
        if getattr(target, name) is None and self.meaningful(value):
            setattr(target, name, _cap(value))

    def meaningful(self, value: str | None) -> bool:
        if not value or not any(ch.isalnum() for ch in value):
            return False
        device = " ".join(v for v in (self.meta.device.make, self.meta.device.model) if v).casefold()
        folded = value.casefold()
        if folded in (device, (self.meta.device.make or "").casefold(), (self.meta.device.model or "").casefold()):
            return False  # a description that repeats the camera's name
        return not _CAMERA_DEFAULT.match(value)

    def add_other(self, tag: str, value: str | None) -> None:
        if self.meaningful(value) and value not in self.meta.other.values():
            self.meta.other[tag] = _cap(value)  # type: ignore[arg-type]

    # -- EXIF

    def read_gps(self) -> None:
        gps = self.exif.get_ifd(ExifTags.IFD.GPSInfo)
        if not gps:
            return
        lat = _dms(gps.get(ExifTags.GPS.GPSLatitude))
        lon = _dms(gps.get(ExifTags.GPS.GPSLongitude))
        if lat is None or lon is None:
            if ExifTags.GPS.GPSLatitude in gps:
                log.warning("%s: EXIF GPS position unreadable or a 0/0 placeholder; ignored", self.path)
            return
        lat_ref, lon_ref = _text(gps.get(ExifTags.GPS.GPSLatitudeRef)), _text(gps.get(ExifTags.GPS.GPSLongitudeRef))
        lat = -lat if (lat_ref or "N").upper().startswith("S") else lat
        lon = -lon if (lon_ref or "E").upper().startswith("W") else lon
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
            log.warning("%s: EXIF GPS position %s, %s out of range or a 0, 0 placeholder; ignored", self.path, lat, lon)
            return
        altitude = _number(gps.get(ExifTags.GPS.GPSAltitude))
        if altitude is not None and _int(gps.get(ExifTags.GPS.GPSAltitudeRef)) == 1:
            altitude = -altitude
        self.meta.gps = Gps(lat, lon, altitude, "exif")
        stamp, date = gps.get(ExifTags.GPS.GPSTimeStamp), _text(gps.get(ExifTags.GPS.GPSDateStamp))
        if date and isinstance(stamp, tuple) and len(stamp) == 3:
            hms = [_number(v) for v in stamp]
            if all(v is not None for v in hms):
                h, m, s = (int(v) for v in hms)  # type: ignore[arg-type]
                when = _exif_time(f"{date} {h:02d}:{m:02d}:{s:02d}", None, "+00:00")
                if when:
                    self.times.append((7, when))

    def read_exif_times(self) -> None:
        tags = ((0, _TAG.DateTimeOriginal, _TAG.SubsecTimeOriginal, _TAG.OffsetTimeOriginal, self.ifd),
                (1, _TAG.DateTimeDigitized, _TAG.SubsecTimeDigitized, _TAG.OffsetTimeDigitized, self.ifd),
                (6, _TAG.DateTime, _TAG.SubsecTime, _TAG.OffsetTime, None))
        for priority, tag, subsec, offset, ifd in tags:
            source = ifd if ifd is not None else self.exif
            # DateTime sits in IFD0; its sub-second and offset tags in the Exif sub-IFD.
            value = _text(source.get(tag))
            if value:
                when = _exif_time(value, _text(self.ifd.get(subsec)), _text(self.ifd.get(offset)))
                if when:
                    self.times.append((priority, when))
                else:
                    log.warning("%s: EXIF %s %r is not a date; ignored", self.path, ExifTags.TAGS.get(tag, tag), value)

    def read_device(self) -> None:
        for name, tag, ifd in (("make", _TAG.Make, self.exif), ("model", _TAG.Model, self.exif),
                               ("serial", _TAG.BodySerialNumber, self.ifd), ("lens_make", _TAG.LensMake, self.ifd),
                               ("lens_model", _TAG.LensModel, self.ifd), ("lens_serial", _TAG.LensSerialNumber, self.ifd)):
            self.set_device_once(name, _text(ifd.get(tag)))

    def read_maker_note(self) -> None:
        """Serial numbers and owner names in maker notes whose layout is simple: Canon, Nikon, Fujifilm."""
        note = self.ifd.get(_TAG.MakerNote)
        make = (self.meta.device.make or "").upper()
        if not isinstance(note, bytes) or not note:
            return
        with warnings.catch_warnings():
            # Maker notes are undocumented and often point past their own end: Pillow's warnings about
            # them say nothing about the file, so they are not passed on.
            warnings.simplefilter("ignore")
            self.read_maker_note_of(make, note)

    def read_maker_note_of(self, make: str, note: bytes) -> None:
        if make.startswith("CANON") and self.raw_exif:
            found = _canon_maker_note(self.raw_exif, note)
            self.set_once(self.meta.owner, "owner_name", _text(found.get(0x0009)))
            serial = found.get(0x000C)
            self.set_device_once("serial", str(serial) if isinstance(serial, int) else None)
        elif make.startswith("NIKON") and note.startswith(b"Nikon\x00\x02"):
            nikon = Image.Exif()
            nikon.load(note[10:])  # type 3 maker notes carry their own TIFF header after the "Nikon" tag
            self.set_device_once("serial", _text(nikon.get(0x001D)))
        elif make.startswith("FUJIFILM"):
            self.set_device_once("serial", _text(self.exif.get_ifd(ExifTags.IFD.MakerNote).get(0x0010)))

    def read_owner(self) -> None:
        owner = self.meta.owner
        self.set_once(owner, "owner_name", _text(self.ifd.get(_TAG.CameraOwnerName)))
        self.set_once(owner, "artist", _text(self.exif.get(_TAG.Artist)))
        raw = self.exif.get(_TAG.Copyright)
        if isinstance(raw, str):
            # EXIF stores "photographer's notice NUL editor's notice".
            raw = "; ".join(p.strip() for p in raw.split("\x00") if p.strip())
        self.set_once(owner, "copyright", _text(raw))

    def read_software(self) -> None:
        for tag in (_TAG.Software, _TAG.ProcessingSoftware):
            value = _text(self.exif.get(tag))
            if value and any(ch.isalnum() for ch in value):
                self.meta.software.append(_cap(value))

    def read_exif_text(self) -> None:
        for tag in _TEXT_TAGS:
            source = self.ifd if tag in (_TAG.UserComment, _TAG.ImageUniqueID) else self.exif
            if tag in source:
                self.add_other(ExifTags.TAGS[tag], _text(source[tag], tag))
        keywords = _text(self.exif.get(_TAG.XPKeywords), _TAG.XPKeywords)
        if keywords:
            self.meta.keywords += [k.strip() for k in keywords.split(";") if k.strip()]

    # -- XMP, IPTC, PNG text, JPEG comment

    def read_xmp(self) -> None:
        props, meta = self.xmp, self.meta
        if not props:
            return
        if meta.gps.lat is None:
            position = xmp.gps(self.path, props)
            if position:
                meta.gps = Gps(*position, source="xmp")
        for priority, name in ((2, "exif:DateTimeOriginal"), (3, "photoshop:DateCreated"), (5, "xmp:CreateDate"),
                               (5, "exif:DateTimeDigitized")):
            value = xmp.first_text(props, name)
            when = _xmp_time(value) if value else None
            if when:
                self.times.append((priority, when))
        self.set_device_once("make", xmp.first_text(props, "tiff:Make"))
        self.set_device_once("model", xmp.first_text(props, "tiff:Model"))
        self.set_device_once("serial", xmp.first_text(props, "exifEX:BodySerialNumber", "aux:SerialNumber"))
        self.set_device_once("lens_make", xmp.first_text(props, "exifEX:LensMake"))
        self.set_device_once("lens_model", xmp.first_text(props, "exifEX:LensModel", "aux:Lens"))
        self.set_device_once("lens_serial", xmp.first_text(props, "exifEX:LensSerialNumber", "aux:LensSerialNumber"))
        owner = meta.owner
        self.set_once(owner, "owner_name", xmp.first_text(props, "exifEX:CameraOwnerName", "aux:OwnerName"))
        self.set_once(owner, "artist", xmp.first_text(props, "tiff:Artist"))
        self.set_once(owner, "copyright", "; ".join(xmp.texts(props.get("dc:rights"))) or None)
        self.set_once(owner, "creator", ", ".join(xmp.texts(props.get("dc:creator"))) or None)
        for name in ("xmp:CreatorTool", "tiff:Software"):
            meta.software += xmp.texts(props.get(name))[:1]
        meta.history = [_cap(line) for line in xmp.history(props)]
        meta.face_regions = xmp.face_regions(self.path, props)
        meta.people += xmp.texts(props.get("Iptc4xmpExt:PersonInImage"))
        meta.keywords += xmp.texts(props.get("dc:subject"))
        for name in _XMP_TEXT:
            self.add_other(name, _joined(props.get(name)))

    def set_device_once(self, name: str, value: str | None) -> None:
        """Device fields are kept even when they repeat each other; serials of only zeros are placeholders."""
        if getattr(self.meta.device, name) is not None or not value or not any(ch.isalnum() for ch in value):
            return
        if name.endswith("serial") and not value.strip("0 -"):
            return
        setattr(self.meta.device, name, _cap(value))

    def read_iptc(self) -> None:
        info = IptcImagePlugin.getiptcinfo(self.image)
        if not info:
            return
        utf8 = info.get((1, 90)) == b"\x1b%G"

        def values(dataset: int) -> list[str]:
            raw = info.get((2, dataset))
            items = raw if isinstance(raw, list) else [raw] if raw is not None else []
            return [t for t in (_decode(item, utf8) for item in items) if t]

        self.meta.keywords += values(25)
        self.set_once(self.meta.owner, "creator", ", ".join(values(80)) or None)
        self.set_once(self.meta.owner, "copyright", "; ".join(values(116)) or None)
        date, time = values(55), values(60)
        if date and re.fullmatch(r"\d{8}", date[0]):
            when = f"{date[0][:4]}-{date[0][4:6]}-{date[0][6:]}"
            match = re.fullmatch(r"(\d{2})(\d{2})(\d{2})([+-]\d{2})?(\d{2})?", time[0]) if time else None
            if match:
                hh, mm, ss, oh, om = match.groups()
                when += f"T{hh}:{mm}:{ss}" + (f"{oh}:{om or '00'}" if oh else "")
            self.times.append((4, when))
        for dataset, name in _IPTC_TEXT.items():
            self.add_other(f"IPTC:{name}", "; ".join(values(dataset)) or None)

    def read_png_text(self) -> None:
        if self.image.format != "PNG":
            return
        # Text chunks before the pixel data are in ``info`` (``Image.text`` would decode the pixels again to
        # reach any after them); non-text entries there (dpi, gamma) are not strings.
        for key, value in self.image.info.items():
            text = _text(value) if isinstance(value, str) else None
            if not text or _PNG_TECHNICAL.match(key):
                continue
            lowered = key.lower()
            if lowered == "software":
                self.meta.software.append(_cap(text))
            elif lowered == "author":
                self.set_once(self.meta.owner, "artist", text)
            elif lowered == "copyright":
                self.set_once(self.meta.owner, "copyright", text)
            elif lowered == "creation time" and _xmp_time(text):
                self.times.append((6, _xmp_time(text)))  # type: ignore[arg-type]
            else:  # a creation time in another form (RFC 1123 is common) is reported as text
                self.add_other(f"PNG:{key}", text)

    def read_comment(self) -> None:
        comment = self.image.info.get("comment")
        if comment:
            self.add_other("Comment", _decode(comment, False) if isinstance(comment, bytes) else _text(comment))

    # -- thumbnail

    def read_thumbnail(self, pixels: np.ndarray | None) -> Thumbnail:
        orientation = _int(self.exif.get(_TAG.Orientation)) or 1
        found = thumbnails.exif_thumbnail(self.path, self.raw_exif, self.exif.get_ifd(ExifTags.IFD.IFD1), orientation)
        if not found.present and self.image.format == "HEIF":
            found = thumbnails.heif_thumbnail(self.path, self.data)
        if not found.present:
            return Thumbnail()
        if found.image is None or pixels is None:
            return Thumbnail(present=True, differs=None, difference=None)
        difference = thumbnails.compare(found.image, pixels)
        return Thumbnail(True, difference > thumbnails.DIFFERS_AT, difference, found.image.size)


def _read_image(path: Path, pixels: np.ndarray | None) -> Metadata:
    _register_heif()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableInputError(path, f"cannot be read ({exc.strerror or exc}); check its permissions") from exc
    # Pillow reports damaged metadata with warnings.warn; they become log warnings naming the file.
    # (catch_warnings is process-wide: a thread running beside this one may see its warnings logged here.)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image = Image.open(io.BytesIO(data))
        except Exception as exc:  # read_image has opened it (or the caller has): only a changed file comes here
            raise CorruptMediaError(path, f"its header cannot be read ({exc}); was it changed while scanning?") from exc
        meta = _Reader(path, data, image).read(pixels)
    for warning in caught:
        log.warning("%s: %s", path, warning.message)
    return meta


def _canon_maker_note(raw_exif: bytes, note: bytes) -> dict[int, Any]:
    """Canon's maker note is a plain IFD whose offsets count from the EXIF block's TIFF header."""
    from PIL.TiffImagePlugin import ImageFileDirectory_v2

    tiff = raw_exif[6:] if raw_exif.startswith(b"Exif\x00\x00") else raw_exif
    offset = tiff.find(note)
    if offset < 0:
        return {}
    directory = ImageFileDirectory_v2(ifh=tiff[:8])
    stream = io.BytesIO(tiff)
    stream.seek(offset)
    directory.load(stream)
    return {tag: directory[tag] for tag in (0x0009, 0x000C) if tag in directory}


# --- videos -----------------------------------------------------------------------------------------

_VIDEO_GPS = ("com.apple.quicktime.location.iso6709", "location", "location-eng", "com.android.location")
_VIDEO_TIME = ("com.apple.quicktime.creationdate", "creation_time", "date")
_VIDEO_MAKE = ("com.apple.quicktime.make", "make", "com.android.manufacturer", "manufacturer")
_VIDEO_MODEL = ("com.apple.quicktime.model", "model", "com.android.model")
_VIDEO_SOFTWARE = ("com.apple.quicktime.software", "software", "encoder")
_VIDEO_TEXT = ("title", "comment", "description", "synopsis", "com.apple.quicktime.title",
               "com.apple.quicktime.description", "com.apple.quicktime.comment", "com.apple.quicktime.location.name")
# Times muxers write when they know none (the QuickTime and Unix epochs).
_NO_TIME = re.compile(r"^(1904|1970)-01-01T00:00:00")


def _read_video(path: Path) -> Metadata:
    meta = Metadata(kind="video")
    with VideoReader(path) as reader:
        tags = {key.lower(): value for key, value in reader.container.metadata.items()}
        for stream in reader.container.streams:
            for key, value in stream.metadata.items():
                if key.lower() in ("creation_time", "location"):
                    tags.setdefault(key.lower(), value)

    def first(names: tuple[str, ...]) -> str | None:
        for name in names:
            value = _text(tags.get(name))
            if value:
                return value
        return None

    for name in _VIDEO_GPS:
        if tags.get(name):
            position = _iso6709(str(tags[name]))
            if position:
                meta.gps = Gps(*position, source="video")
                break
            log.warning("%s: video location %r is not an ISO 6709 position; ignored", path, tags[name])
    for name in _VIDEO_TIME:
        value = _text(tags.get(name))
        if value and not _NO_TIME.match(value):
            meta.captured = value
            break
    meta.device.make, meta.device.model = first(_VIDEO_MAKE), first(_VIDEO_MODEL)
    meta.device.lens_model = first(("com.apple.quicktime.camera.lens_model",))
    meta.software = _unique([v for v in (_text(tags.get(name)) for name in _VIDEO_SOFTWARE) if v])
    if tags.get("com.android.version"):
        meta.software.append(f"Android {tags['com.android.version']}")
    meta.owner.artist = first(("artist", "com.apple.quicktime.artist", "author"))
    meta.owner.creator = first(("com.apple.quicktime.author",))
    meta.owner.copyright = first(("copyright", "com.apple.quicktime.copyright"))
    keywords = first(("keywords", "com.apple.quicktime.keywords"))
    meta.keywords = [k.strip() for k in re.split(r"[;,]", keywords) if k.strip()] if keywords else []
    for name in _VIDEO_TEXT:
        value = _text(tags.get(name))
        if value and value not in meta.other.values():
            meta.other[name] = _cap(value)
    return meta


def _iso6709(text: str) -> tuple[float, float, float | None] | None:
    """An ISO 6709 point ("+48.8583+002.2945+035.000/", also DDMM.M and DDMMSS.S forms)."""
    match = re.match(r"^\s*([+-][\d.]+)([+-][\d.]+)([+-][\d.]+)?", text)
    if not match:
        return None
    lat, lon = _iso6709_angle(match.group(1), 2), _iso6709_angle(match.group(2), 3)
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    try:
        altitude = float(match.group(3)) if match.group(3) else None
    except ValueError:
        altitude = None
    return lat, lon, altitude


def _iso6709_angle(text: str, degree_digits: int) -> float | None:
    sign = -1.0 if text[0] == "-" else 1.0
    whole, _, fraction = text[1:].partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()):
        return None
    fraction_value = float(f"0.{fraction}") if fraction else 0.0
    extra = len(whole) - degree_digits  # 0: degrees, 2: degrees and minutes, 4: and seconds
    if extra not in (0, 2, 4):
        return None
    degrees = float(whole[:degree_digits])
    if extra == 0:
        return sign * (degrees + fraction_value)
    minutes = float(whole[degree_digits:degree_digits + 2])
    if extra == 2:
        return sign * (degrees + (minutes + fraction_value) / 60) if minutes < 60 else None
    seconds = float(whole[degree_digits + 2:]) + fraction_value
    return sign * (degrees + minutes / 60 + seconds / 3600) if minutes < 60 and seconds < 60 else None


# --- small converters --------------------------------------------------------------------------------


def _text(value: Any, tag: int | None = None) -> str | None:
    """A tag's value as clean text: EXIF strings, UserComment's charset prefix, XP* UTF-16 bytes."""
    if value is None:
        return None
    if tag in (_TAG.XPTitle, _TAG.XPComment, _TAG.XPAuthor, _TAG.XPKeywords, _TAG.XPSubject):
        raw = bytes(value) if isinstance(value, (bytes, tuple, list)) else str(value).encode("latin-1", "replace")
        text = raw.decode("utf-16-le", "replace")
    elif tag == _TAG.UserComment and isinstance(value, bytes):
        text = _user_comment(value)
    elif isinstance(value, bytes):
        text = _decode(value, False)
    elif isinstance(value, str):
        try:
            # Pillow decodes EXIF ASCII as Latin-1; cameras and editors often wrote UTF-8 there.
            text = value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            text = value
    else:
        text = str(value)
    text = text.split("\x00")[0].strip()
    return text or None


def _user_comment(value: bytes) -> str:
    prefix, body = value[:8], value[8:]
    if prefix.startswith(b"UNICODE"):
        # The byte order follows the file's; UTF-16 text of Latin letters has zero high bytes to tell.
        return body.decode("utf-16-be" if body[:1] == b"\x00" else "utf-16-le", "replace")
    if prefix.startswith(b"JIS"):
        return body.decode("shift_jis", "replace")
    return _decode(body if prefix.startswith(b"ASCII") or prefix == b"\x00" * 8 else value, False)


def _decode(raw: bytes, utf8: bool) -> str:
    try:
        return raw.decode("utf-8").strip("\x00 ")
    except UnicodeDecodeError:
        return raw.decode("utf-8" if utf8 else "latin-1", "replace").strip("\x00 ")


def _number(value: Any) -> float | None:
    """A finite float from an EXIF number or rational; None for 0/0 placeholders and junk."""
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bytes):
        return value[0] if value else None
    number = _number(value)
    return int(number) if number is not None else None


def _dms(value: Any) -> float | None:
    """Degrees from EXIF's (degrees, minutes, seconds) rationals, or fewer parts (degrees, decimal minutes)."""
    if value is None:
        return None
    parts = value if isinstance(value, tuple) else (value,)
    numbers = [_number(part) for part in parts[:3]]
    if not numbers or any(n is None for n in numbers):
        return None
    degrees, *rest = numbers
    if degrees < 0 or any(not 0 <= n < 60 for n in rest):  # type: ignore[operator]
        return None
    return float(degrees + sum(n / 60 ** (i + 1) for i, n in enumerate(rest)))  # type: ignore[operator]


_EXIF_TIME = re.compile(r"^(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def _exif_time(value: str, subsec: str | None, offset: str | None) -> str | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" with its sub-seconds and UTC offset as ISO 8601; None for placeholders."""
    match = _EXIF_TIME.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    if year == 0 or not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    when = "{}-{}-{}T{}:{}:{}".format(*match.groups())
    if subsec and subsec.strip().isdigit():
        when += f".{subsec.strip()}"
    if offset and re.fullmatch(r"[+-]\d{2}:\d{2}", offset.strip()):
        when += offset.strip()
    return when


_ISO_TIME = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?$")


def _xmp_time(value: str) -> str | None:
    """An XMP date, ISO 8601 already; some writers used the EXIF form, which is converted. A broken
    time zone is cut off rather than the whole time dropped (the local time is still what it says)."""
    value = value.strip()
    if _EXIF_TIME.match(value) and value[4] == ":":
        return _exif_time(value, None, None)
    if value.startswith("0000"):
        return None
    if _ISO_TIME.match(value):
        return value
    kept = re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?", value)
    return kept.group(0) if kept else None


def _joined(value: Any) -> str | None:
    """Free text from an XMP value: a string, a list, or a structure's fields (contact info)."""
    if isinstance(value, dict):
        parts = [t for v in value.values() for t in xmp.texts(v) if t]
        return "; ".join(parts) or None
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return "; ".join(_unique([t for item in value for t in (_joined(item) or "").split("; ")])) or None
    return "; ".join(_unique(xmp.texts(value))) or None


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _cap(value: str | None) -> str:
    value = value or ""
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


def _short(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
