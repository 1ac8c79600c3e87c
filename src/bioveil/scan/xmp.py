"""XMP packets: parsed as the untrusted XML they are, then read for what they expose.

The packet comes from the file, so anyone could have written it. It is parsed with ``defusedxml``
with DTDs forbidden: XMP never needs one, and a DTD is how entity expansion bombs ("billion laughs")
and external entities get in. A refused or broken packet is logged and skipped; the rest of the file's
metadata is still read.

RDF allows the same property to be written as an attribute or as an element, and a structure as
``rdf:parseType="Resource"``, a nested ``rdf:Description`` or attributes on an empty element. All these
forms are flattened into plain Python values: a string, a list (``rdf:Bag``/``Seq``/``Alt``) or a dict
keyed by ``"prefix:name"`` (the usual prefixes below, whatever prefix the file used).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

log = logging.getLogger(__name__)

#: Packets larger than this are not parsed (a JPEG holds at most 64 KB of main XMP; TIFF and PNG more).
MAX_PACKET_BYTES = 8 * 1024 * 1024
#: RDF nested deeper than this is not followed (real packets nest 6 or 7 levels).
_MAX_DEPTH = 40

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XML = "http://www.w3.org/XML/1998/namespace"
#: Namespace URI -> the prefix bioveil uses for it.
PREFIXES = {
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/rights/": "xmpRights",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#": "stEvt",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/exif/1.0/aux/": "aux",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://www.metadataworkinggroup.com/schemas/regions/": "mwg-rs",
    "http://ns.adobe.com/xmp/sType/Area#": "stArea",
    "http://ns.adobe.com/xap/1.0/sType/Dimensions#": "stDim",
    "http://ns.microsoft.com/photo/1.2/": "MP",
    "http://ns.microsoft.com/photo/1.2/t/RegionInfo#": "MPRI",
    "http://ns.microsoft.com/photo/1.2/t/Region#": "MPReg",
    "http://ns.microsoft.com/photo/1.0/": "MicrosoftPhoto",
    "http://ns.adobe.com/lightroom/1.0/": "lr",
    "http://ns.adobe.com/xap/1.0/g/img/": "xmpGImg",
}


@dataclass
class FaceRegion:
    """A face marked in the file's metadata. ``box_xyxy`` is in fractions of the upright image, or None
    for a named region whose area cannot be read."""

    name: str | None
    box_xyxy: tuple[float, float, float, float] | None
    source: str  # "mwg" or "mp"

    def to_dict(self) -> dict[str, Any]:
        box = None if self.box_xyxy is None else [round(v, 6) for v in self.box_xyxy]
        return {"name": self.name, "box": box, "source": self.source}


def parse(path: object, packet: bytes | str | None) -> dict[str, Any]:
    """All properties of an XMP packet, flattened; empty when there is none or it is refused."""
    if not packet:
        return {}
    data = packet.encode("utf-8") if isinstance(packet, str) else bytes(packet)
    if len(data) > MAX_PACKET_BYTES:
        log.warning("%s: XMP packet of %d bytes is over the %d limit; skipped", path, len(data), MAX_PACKET_BYTES)
        return {}
    try:
        root = fromstring(_document(data), forbid_dtd=True)
    except DefusedXmlException as exc:
        log.warning("%s: XMP refused, it declares a DTD or entities (%s); the rest of the metadata is read", path,
                    type(exc).__name__)
        return {}
    except (ParseError, ValueError) as exc:
        log.warning("%s: XMP unreadable (%s); skipped", path, exc)
        return {}
    properties: dict[str, Any] = {}
    # Top-level descriptions are the children of rdf:RDF; nested ones are structures of their parent.
    for rdf in root.iter(f"{{{RDF}}}RDF"):
        for description in rdf:
            if description.tag == f"{{{RDF}}}Description":
                for key, value in _properties(description, 0).items():
                    properties.setdefault(key, value)
    return properties


def _document(data: bytes) -> bytes:
    """The packet from its first markup to its last, without the padding (spaces, NULs) around it."""
    start, end = data.find(b"<"), data.rfind(b">")
    return data[max(start, 0): end + 1] if end > start else data


def _name(tag: str) -> str | None:
    if not tag.startswith("{"):
        return tag
    uri, _, local = tag[1:].partition("}")
    if uri in (RDF, _XML):
        return None
    prefix = PREFIXES.get(uri)
    if prefix is None:  # an unknown schema: keep its last path part so it stays readable
        prefix = re.sub(r"[^A-Za-z0-9_-]", "", uri.rstrip("/#").rsplit("/", 1)[-1]) or "ns"
    return f"{prefix}:{local}"


def _properties(element: Element, depth: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if depth > _MAX_DEPTH:
        return found
    for key, value in element.attrib.items():
        name = _name(key)
        if name is not None:
            found[name] = value.strip()
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        if child.tag == f"{{{RDF}}}Description":
            found.update(_properties(child, depth + 1))
            continue
        name = _name(child.tag)
        if name is not None:
            found[name] = _value(child, depth + 1)
    return found


def _value(element: Element, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return None
    if element.get(f"{{{RDF}}}parseType") == "Resource":
        return _properties(element, depth)
    resource = element.get(f"{{{RDF}}}resource")
    if resource is not None:
        return resource
    children = [child for child in element if isinstance(child.tag, str)]
    if children:
        first = children[0]
        if first.tag in (f"{{{RDF}}}Bag", f"{{{RDF}}}Seq", f"{{{RDF}}}Alt"):
            return [_value(item, depth + 1) for item in first if item.tag == f"{{{RDF}}}li"]
        return _properties(element, depth)
    if any(_name(key) for key in element.attrib):
        return _properties(element, depth)
    return (element.text or "").strip()


def texts(value: Any) -> list[str]:
    """The non-empty strings of a value (a language alternative or list gives each of its items)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [text for item in value for text in texts(item)]
    return []


def first_text(properties: dict[str, Any], *names: str) -> str | None:
    for name in names:
        found = texts(properties.get(name))
        if found:
            return found[0]
    return None


# --- what the packet exposes ----------------------------------------------------------------------


def gps(path: object, properties: dict[str, Any]) -> tuple[float, float, float | None] | None:
    """(lat, lon, altitude in metres or None) from ``exif:GPSLatitude``/``GPSLongitude`` ("48,51.498N")."""
    raw_lat, raw_lon = first_text(properties, "exif:GPSLatitude"), first_text(properties, "exif:GPSLongitude")
    if raw_lat is None or raw_lon is None:
        return None
    lat, lon = _coordinate(raw_lat, "NS"), _coordinate(raw_lon, "EW")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        log.warning("%s: XMP GPS position %r, %r is not a valid position; ignored", path, raw_lat, raw_lon)
        return None
    altitude = _rational(first_text(properties, "exif:GPSAltitude"))
    if altitude is not None and first_text(properties, "exif:GPSAltitudeRef") == "1":
        altitude = -altitude
    return lat, lon, altitude


def _coordinate(text: str, hemispheres: str) -> float | None:
    """XMP GPSCoordinate: "DDD,MM,SSk" or "DDD,MM.mmk" (k a hemisphere letter), or a signed decimal."""
    text = text.strip().upper()
    sign = 1.0
    if text and text[-1] in "NSEW":
        if text[-1] not in hemispheres:
            return None
        sign = -1.0 if text[-1] in "SW" else 1.0
        text = text[:-1]
    try:
        parts = [float(part) for part in text.split(",")]
    except ValueError:
        return None
    if not 1 <= len(parts) <= 3 or any(not math.isfinite(part) for part in parts):
        return None
    if len(parts) > 1 and (parts[0] < 0 or any(not 0 <= part < 60 for part in parts[1:])):
        return None
    value = sum(part / 60**i for i, part in enumerate(parts))
    return sign * value


def _rational(text: str | None) -> float | None:
    if not text:
        return None
    try:
        numerator, _, denominator = text.partition("/")
        value = float(numerator) / float(denominator) if denominator else float(numerator)
    except (ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


def history(properties: dict[str, Any]) -> list[str]:
    """``xmpMM:History`` events as "<when> <action> by <agent> (<parameters>)"."""
    events = properties.get("xmpMM:History")
    lines = []
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict):
            continue
        when, action = first_text(event, "stEvt:when"), first_text(event, "stEvt:action")
        agent, parameters = first_text(event, "stEvt:softwareAgent"), first_text(event, "stEvt:parameters")
        words = [w for w in (when, action or "changed") if w]
        if agent:
            words.append(f"by {agent}")
        if parameters:
            words.append(f"({parameters})")
        lines.append(" ".join(words))
    return lines


def face_regions(path: object, properties: dict[str, Any]) -> list[FaceRegion]:
    """Named or unnamed faces from MWG regions, else Microsoft Photo regions.

    MWG areas are centre-based fractions of the image as displayed (its EXIF orientation applied), so
    they are already upright; Microsoft's rectangles are top-left based fractions.
    """
    regions = list(_mwg_regions(path, properties))
    return regions or list(_mp_regions(path, properties))


def _mwg_regions(path: object, properties: dict[str, Any]) -> Iterator[FaceRegion]:
    info = properties.get("mwg-rs:Regions")
    items = info.get("mwg-rs:RegionList") if isinstance(info, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        kind, name = first_text(item, "mwg-rs:Type"), first_text(item, "mwg-rs:Name")
        if kind not in ("Face", None) or (kind is None and name is None):
            continue  # pets, barcodes, focus areas
        area = item.get("mwg-rs:Area")
        try:
            x, y, w, h = (float(area[f"stArea:{key}"]) for key in "xywh")  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            log.warning("%s: XMP face region %r has no readable area; its name is still reported", path, name)
            if name:
                yield FaceRegion(name, None, "mwg")
            continue
        if isinstance(area, dict) and first_text(area, "stArea:unit") not in (None, "normalized"):
            log.warning("%s: XMP face region %r in unit %r is not read", path, name, area.get("stArea:unit"))
            continue
        yield FaceRegion(name, _clip_box(x - w / 2, y - h / 2, x + w / 2, y + h / 2), "mwg")


def _mp_regions(path: object, properties: dict[str, Any]) -> Iterator[FaceRegion]:
    info = properties.get("MP:RegionInfo")
    items = info.get("MPRI:Regions") if isinstance(info, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        name = first_text(item, "MPReg:PersonDisplayName")
        try:
            x, y, w, h = (float(v) for v in (first_text(item, "MPReg:Rectangle") or "").split(","))
        except ValueError:
            log.warning("%s: XMP person region %r has no readable rectangle; its name is still reported", path, name)
            if name:
                yield FaceRegion(name, None, "mp")
            continue
        yield FaceRegion(name, _clip_box(x, y, x + w, y + h), "mp")


def _clip_box(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float, float, float]:
    return (min(max(x1, 0.0), 1.0), min(max(y1, 0.0), 1.0), min(max(x2, 0.0), 1.0), min(max(y2, 0.0), 1.0))
