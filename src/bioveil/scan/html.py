"""The self-contained HTML report of ``bioveil scan``: one file, readable offline, that loads nothing.

``write_html(report, images, target)`` turns the JSON report (``docs/scan_schema.md``) into a page for
the people who took or hold the photos, not for engineers: a summary in plain words, one tapestry of face
crops per person found in several photos, the capture places on a map without tiles and the capture times
on a timeline (both inline SVG), then every photo, most revealing first, with its faces boxed and what it
gives away, and the files that could not be read.

Safety: every string in the report comes from strangers' files, so everything is escaped (text and
attribute values alike), control and bidirectional-override characters are shown as ``\\uXXXX`` so a file
name cannot disguise itself, and a Content-Security-Policy forbids any network load and any script. Images
are ``data:`` URIs. Anchors and element ids are made from indices, never from report text.

The page is written as it is made, photo by photo, to a temporary file that replaces ``target`` only when
complete (:func:`bioveil.media.atomic.atomic_path`), so 10,000 photos never sit in memory as HTML.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bioveil.errors import BioveilError
from bioveil.media.atomic import atomic_path
from bioveil.scan.words import CATEGORIES as _CATEGORIES
from bioveil.scan.words import ORDER as _ORDER
from bioveil.scan.words import PROBLEMS as _PROBLEMS
from bioveil.scan.words import RECOGNISABLE as _RECOGNISABLE
from bioveil.scan.words import SEVERITY_WORD as _SEVERITY_WORD
from bioveil.scan.words import Category as _Category
from bioveil.scan.words import category as _category

__all__ = ["CSP", "ImageSource", "ReportFormatError", "write_html"]

log = logging.getLogger(__name__)

SCHEMA = "bioveil.scan/1"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
MAX_CROPS_PER_PERSON = 120
"""A person's tapestry shows at most this many faces (and says how many more there are)."""
MAX_TIMELINE_LANES = 12
"""The timeline gives the largest persons a lane each, up to this many; everyone else shares one."""
_CLIP = 400  # characters of one metadata value shown; the rest is cut with an ellipsis


class ReportFormatError(BioveilError, ValueError):
    """The report given to :func:`write_html` is not a ``bioveil.scan/1`` report."""


class ImageSource(Protocol):
    """Where the report's pictures come from (the scan cache, or a test)."""

    def thumbnail(self, file_index: int) -> bytes | None:
        """A JPEG of ``report["files"][file_index]``, upright, longest side <= 320 px; ``None`` if there is none."""
        ...

    def face_crop(self, file_index: int, face_index: int) -> bytes | None:
        """A JPEG of that file's face ``face_index`` (about 96 px); ``None`` if there is none."""
        ...


# ---------------------------------------------------------------------------------------------- categories


# (colour, text colour on it); colour-blind-safe hues first, dark enough for white labels
_PALETTE = [("#0b6bcb", "#fff"), ("#d55e00", "#fff"), ("#008060", "#fff"), ("#b8327e", "#fff"),
            ("#6b3fa0", "#fff"), ("#e0a100", "#111"), ("#2a9fd6", "#111"), ("#8c564b", "#fff"),
            ("#4d7f00", "#fff"), ("#c0392b", "#fff"), ("#00897b", "#fff"), ("#5b6b8c", "#fff")]
_NOBODY = ("#8a93a3", "#fff")
_STRANGER = ("#3d4452", "#fff")  # a person id the persons list does not have

# ---------------------------------------------------------------------------------------------- text


_HIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")


def _e(value: object) -> str:
    """Text from the report, safe in element content and in quoted attribute values."""
    text = value if isinstance(value, str) else str(value)
    text = _HIDDEN.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    return html.escape(text, quote=True)


def _clip(text: str, limit: int = _CLIP) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _text(value: object) -> str:
    """A metadata value as one line of plain text (lists joined, anything else as JSON)."""
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, list | tuple):
        return _clip(", ".join(_text(item) for item in value))
    return _clip(json.dumps(value, ensure_ascii=False, default=str))


def _num(value: object) -> float | None:
    """A finite number from the report, or ``None`` (strings, booleans, NaN and null are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(value: object, default: int) -> int:
    number = _num(value)
    return int(number) if number is not None else default


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    return [str(item) for item in _list(value) if item not in (None, "")]


def _data_uri(data: bytes | None) -> str | None:
    """``data:`` URI of an image, or ``None`` when there is none or it is not an image format we know."""
    if not data:
        return None
    if data.startswith(b"\xff\xd8\xff"):
        mime = "image/jpeg"
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        mime = "image/png"
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    else:
        log.warning("an image for the HTML report is neither JPEG, PNG nor WebP (%d bytes); it is left out", len(data))
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# ---------------------------------------------------------------------------------------------- the model


@dataclass
class _Index:
    """What the page needs before it writes photos: small lists of indices, not HTML."""

    files: list[dict[str, Any]]
    persons: list[dict[str, Any]]
    person_ids: list[str]
    colours: dict[str, tuple[str, str]]
    anchors: dict[str, str]
    faces_of: dict[str, list[tuple[int, int]]]
    ok: list[int]
    failed: list[int]


def _index(report: dict[str, Any]) -> _Index:
    files = [_dict(entry) for entry in _list(report.get("files"))]
    first: dict[str, dict[str, Any]] = {}
    for entry in map(_dict, _list(report.get("persons"))):
        first.setdefault(str(entry.get("id")), entry)  # one entry per id: the first, in the report's order
    persons, person_ids = list(first.values()), list(first)
    colours = {pid: _PALETTE[rank % len(_PALETTE)] for rank, pid in enumerate(person_ids)}
    anchors = {pid: f"p{rank}" for rank, pid in enumerate(person_ids)}
    faces_of: dict[str, list[tuple[int, int]]] = {pid: [] for pid in person_ids}
    ok: list[int] = []
    failed: list[int] = []
    for file_index, entry in enumerate(files):
        if entry.get("status") == "failed":
            failed.append(file_index)
            continue
        ok.append(file_index)
        for face_index, face in enumerate(_list(entry.get("faces"))):
            person = _dict(face).get("person")
            if person is not None and str(person) in faces_of:
                faces_of[str(person)].append((file_index, face_index))
    return _Index(files, persons, person_ids, colours, anchors, faces_of, ok, failed)


def _categories_of(entry: dict[str, Any]) -> list[_Category]:
    keys = dict.fromkeys(str(key) for key in _list(entry.get("categories")))
    return sorted((_category(key) for key in keys), key=lambda c: (-c.severity, _ORDER.get(c.key, len(_ORDER)), c.key))


def _seriousness(entry: dict[str, Any]) -> tuple[int, int, int]:
    """How much a photo gives away: its count of high, medium and low findings (compared in that order)."""
    severities = [category.severity for category in _categories_of(entry)]
    return severities.count(3), severities.count(2), severities.count(1)


def _persons_in(entry: dict[str, Any]) -> list[str]:
    found = (_dict(face).get("person") for face in _list(entry.get("faces")))
    return list(dict.fromkeys(str(person) for person in found if person is not None))


def _gps(entry: dict[str, Any]) -> tuple[float, float] | None:
    gps = _dict(_dict(entry.get("metadata")).get("gps"))
    lat, lon = _num(gps.get("lat")), _num(gps.get("lon"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


_EXIF_DATE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})")


def _parse_time(stated: object) -> datetime | None:
    """An ISO 8601 time (or EXIF's ``2024:07:14 21:03:11``) as written, or ``None``."""
    if not isinstance(stated, str) or not stated:
        return None
    try:
        return datetime.fromisoformat(_EXIF_DATE.sub(r"\1-\2-\3", stated.strip()))
    except ValueError:
        return None


def _time(entry: dict[str, Any]) -> datetime | None:
    """The capture time as the file states it: wall-clock time, any stated offset dropped for the axis."""
    moment = _parse_time(_dict(entry.get("metadata")).get("captured"))
    return moment.replace(tzinfo=None) if moment is not None else None


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def _when(stated: object) -> str:
    """A capture time in words (``14 July 2024 at 21:03:11``), or the text as stated if it is not a time."""
    moment = _parse_time(stated)
    if moment is None:
        return _text(stated)
    words = f"{moment.day} {moment:%B %Y} at {moment:%H:%M:%S}"
    offset = moment.utcoffset()
    if offset is not None:
        minutes = round(offset.total_seconds() / 60)
        words += f" (UTC{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d})"
    return words


# ---------------------------------------------------------------------------------------------- the page


_STYLE = """
:root{--ink:#1c2230;--muted:#5a6478;--line:#dfe3ea;--bg:#f4f5f8;--card:#fff;--accent:#1747b5;
--high:#a4161a;--high-bg:#fdeced;--mid:#8a5000;--mid-bg:#fff3d9;--low:#4a5568;--low-bg:#edf0f4}
*{box-sizing:border-box}
html{background:var(--bg)}
body{margin:0;color:var(--ink);font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:28px 22px 72px}
a{color:var(--accent)}
h1{font-size:2.1rem;line-height:1.2;margin:0 0 .3em}
h2{font-size:1.5rem;margin:2.4em 0 .4em;padding-bottom:.2em;border-bottom:2px solid var(--line)}
h3{font-size:1.12rem;margin:0 0 .3em;overflow-wrap:anywhere}
h4{font-size:.95rem;margin:.2em 0 .4em;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
p{margin:.4em 0 .8em}
.lead{font-size:1.15rem;max-width:52em}
.warn{background:#fff8e6;border-left:4px solid #e0a100;padding:.6em .9em;border-radius:4px;max-width:52em}
.intro{color:var(--muted);max-width:52em}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin:14px 0}
.cats{list-style:none;padding:0;margin:.4em 0;display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:8px}
.sev-3{--sev:var(--high);--sev-bg:var(--high-bg)}
.sev-2{--sev:#d08a00;--sev-bg:var(--mid-bg)}
.sev-1{--sev:#a3acbb;--sev-bg:var(--low-bg)}
.cats li{padding:.5em .8em;border-radius:6px;border-left:5px solid var(--sev);background:var(--sev-bg)}
.cats b{font-size:1.1em}
.none{color:var(--muted);font-size:.93rem}
nav{margin:1.2em 0 0;font-size:.95rem}
nav a{margin-right:1.2em;white-space:nowrap}
.chips{margin:.1em 0 .7em}
.chip{display:inline-block;font-size:.78rem;font-weight:600;padding:.12em .6em;margin:0 .3em .3em 0;border-radius:999px}
.chip.sev-3{background:var(--high);color:#fff}
.chip.sev-2{background:var(--mid-bg);color:var(--mid);border:1px solid #e8c47a}
.chip.sev-1{background:var(--low-bg);color:var(--low);border:1px solid var(--line)}
.chip.kind{background:#e6ecfb;color:var(--accent)}
.person h3{display:flex;align-items:center;gap:.5em}
.swatch{display:inline-block;width:1em;height:1em;border-radius:50%;vertical-align:-.15em;flex:none;margin-right:.35em}
.tapestry{display:flex;flex-wrap:wrap;gap:6px;margin:.6em 0 .2em}
.tapestry a{display:block;width:80px;height:80px;border-radius:6px;overflow:hidden;border:3px solid var(--c);background:#e9ecf1}
.tapestry img{display:block;width:100%;height:100%;object-fit:cover}
.tapestry .missing{display:flex;align-items:center;justify-content:center;color:var(--muted);font-size:.8rem;text-decoration:none}
.more{color:var(--muted);font-size:.92rem}
ul.risks{margin:.2em 0 .8em;padding-left:1.2em}
ul.risks li{margin:.15em 0}
figure{margin:0}
.plot svg{display:block;width:100%;height:auto;background:#fff}
.legend{list-style:none;padding:0;margin:.6em 0 0;display:flex;flex-wrap:wrap;gap:.3em 1.3em;font-size:.92rem}
.photo{scroll-margin-top:12px}
.photo:target{outline:3px solid var(--accent);outline-offset:2px}
.photo-body{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.shot{position:relative;flex:none;background:#e9ecf1;border-radius:4px;overflow:visible}
.shot img{display:block;width:100%;height:100%;border-radius:4px}
.shot .noimg{display:flex;align-items:center;justify-content:center;height:100%;color:var(--muted);font-size:.9rem;padding:1em}
.box{position:absolute;border:2px solid var(--c);box-shadow:0 0 0 1px rgba(255,255,255,.7)}
.box.unmatched{border-style:dashed}
.tag{position:absolute;left:-2px;bottom:100%;background:var(--c);color:var(--t);font:700 11px/1.5 system-ui,sans-serif;
padding:0 4px;border-radius:3px 3px 0 0;white-space:nowrap}
.tag.in{bottom:auto;top:0;border-radius:0 0 3px 0}
.facts{flex:1 1 380px;min-width:0}
table{border-collapse:collapse;width:100%;font-size:.93rem}
th,td{text-align:left;vertical-align:top;padding:.35em .6em;border-bottom:1px solid var(--line);overflow-wrap:anywhere}
table.leaks th{width:11em;font-weight:600}
table.leaks tr{border-left:4px solid var(--sev)}
.level{font-size:.75rem;font-weight:700;text-transform:uppercase;white-space:nowrap}
tr.sev-3 .level{color:var(--high)}
tr.sev-2 .level{color:var(--mid)}
tr.sev-1 .level{color:var(--low)}
.clean{color:#1e6b3a;font-weight:600}
.failed td:first-child{font-weight:600}
.failed td:nth-child(2){width:13em}
.type{display:block;color:var(--muted);font-size:.8rem}
code{font-size:.9em;background:var(--low-bg);padding:0 .3em;border-radius:3px}
footer{margin-top:3em;color:var(--muted);font-size:.88rem;border-top:1px solid var(--line);padding-top:1em}
"""


def write_html(report: dict[str, Any], images: ImageSource, target: Path) -> None:
    """Write the HTML report of ``report`` (a ``bioveil.scan/1`` dict) to ``target``, atomically.

    Pictures come from ``images``; a ``None`` leaves a labelled gap. The page is streamed: each photo's
    section is written as soon as it is made.
    """
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        schema = report.get("schema") if isinstance(report, dict) else type(report).__name__
        raise ReportFormatError(f"the HTML report reads {SCHEMA!r} reports, but this one is {schema!r}; "
                                "make the report with the same bioveil version")
    index = _index(report)
    with atomic_path(target) as temporary, open(temporary, "w", encoding="utf-8", errors="backslashreplace",
                                                newline="\n") as stream:
        out = stream.write
        _head(out)
        _summary(out, report, index)
        _persons(out, index, images)
        _map(out, index)
        _timeline(out, index)
        _photos(out, index, images)
        _failures(out, index)
        _footer(out, report)
    log.info("HTML report with %d photos and %d persons written to %s", len(index.ok), len(index.persons), target)


_Out = Callable[[str], object]


def _head(out: _Out) -> None:
    out('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<title>What these photos give away - bioveil scan</title>\n'
        f"<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n")


def _summary(out: _Out, report: dict[str, Any], index: _Index) -> None:
    summary = _dict(report.get("summary"))
    files = _int(summary.get("files"), len(index.files))
    failed = _int(summary.get("failed"), len(index.failed))
    faces = _int(summary.get("faces"), sum(len(_list(index.files[i].get("faces"))) for i in index.ok))
    persons = _int(summary.get("persons"), len(index.persons))
    read = f"{failed:,} could not be read (they are listed at the end)" if failed else "all of them could be read"
    people = (f"<b>{_plural(persons, 'person', 'people')}</b> appear more than once, so the photos they are in "
              "can be linked to each other." if persons else "No face appears more than once.")
    out('<header id="summary">\n<h1>What these photos give away</h1>\n'
        f'<p class="lead">bioveil checked <b>{_plural(files, "file")}</b>; {read}. '
        f"It found <b>{_plural(faces, 'face')}</b>. {people}</p>\n"
        '<p class="warn">This report is as sensitive as the photos themselves: it shows their faces, places and '
        "names. Keep it private. It loads nothing from the internet, so it is safe to open offline.</p>\n"
        "<h2>What the files reveal</h2>\n")
    counts = _dict(summary.get("categories"))
    if not counts:  # an older or hand-made report: count from the files
        for i in index.ok:
            for category in _categories_of(index.files[i]):
                counts[category.key] = counts.get(category.key, 0) + 1
    shown = sorted((_category(str(key)) for key, count in counts.items() if (_num(count) or 0) > 0),
                   key=lambda c: (-c.severity, _ORDER.get(c.key, len(_ORDER)), c.key))
    if shown:
        out('<p class="intro">Most serious first. Red: can identify or locate someone. Amber: narrows it down. '
            "Grey: minor on its own.</p>\n<ul class=\"cats\">\n")
        for category in shown:
            count = _int(counts.get(category.key), 0)
            what = category.one if count == 1 else category.many
            out(f'<li class="sev-{category.severity}"><b>{_plural(count, "file")}</b> {_e(what)}</li>\n')
        out("</ul>\n")
    else:
        out('<p class="clean">Nothing identifying was found in the files that could be read.</p>\n')
    missing = [c.label.lower() for c in _CATEGORIES if _int(counts.get(c.key), 0) == 0]
    if shown and missing:
        out(f'<p class="none">Not found in any file: {_e(", ".join(missing))}.</p>\n')
    links = [("people", "People"), ("places", "Places"), ("times", "Times"), ("photos", "Photos")]
    if index.failed:
        links.append(("failed", "Files that could not be read"))
    out("<nav>Jump to: " + "".join(f'<a href="#{anchor}">{name}</a>' for anchor, name in links) + "</nav>\n</header>\n")


def _swatch(colour: str) -> str:
    return f'<span class="swatch" style="background:{colour}"></span>'


def _persons(out: _Out, index: _Index, images: ImageSource) -> None:
    out('<section id="people">\n<h2>People who appear more than once</h2>\n')
    if not index.persons:
        out('<p class="intro">No face was found in more than one place, so nobody is linked across these photos.</p>\n'
            "</section>\n")
        return
    out('<p class="intro">The same face, found several times. Anyone with these photos can follow this person from one '
        "photo to the next. Click a face to see its photo.</p>\n")
    for rank, person in enumerate(index.persons):
        pid = index.person_ids[rank]
        colour = index.colours[pid][0]
        faces = index.faces_of[pid]
        photos = len({file_index for file_index, _ in faces}) or len(_list(person.get("files")))
        count = _int(person.get("faces"), len(faces))
        out(f'<div class="card person" id="{index.anchors[pid]}">\n<h3>{_swatch(colour)}Person {_e(pid)}'
            f' <small class="more">- {_plural(count, "face")} in {_plural(photos, "file")}</small></h3>\n')
        risks = _strings(person.get("risks"))
        if risks:
            out('<ul class="risks">' + "".join(f"<li>{_e(_clip(risk))}</li>" for risk in risks) + "</ul>\n")
        out(f'<div class="tapestry" style="--c:{colour}">\n')
        for file_index, face_index in faces[:MAX_CROPS_PER_PERSON]:
            name = _e(f"{pid} in {index.files[file_index].get('path')}")
            uri = _data_uri(images.face_crop(file_index, face_index))
            if uri is None:
                out(f'<a class="missing" href="#f{file_index}" title="{name}">no image</a>\n')
            else:
                out(f'<a href="#f{file_index}" title="{name}"><img src="{uri}" alt="{name}" width="80" height="80"></a>\n')
        out("</div>\n")
        if len(faces) > MAX_CROPS_PER_PERSON:
            out(f'<p class="more">Showing {MAX_CROPS_PER_PERSON} of {len(faces):,} faces; '
                "every photo below shows the rest.</p>\n")
        out("</div>\n")
    out("</section>\n")


def _legend(index: _Index, persons: Iterable[str], nobody: str) -> str:
    items = [f"<li>{_swatch(index.colours[pid][0])}Person {_e(pid)}</li>" for pid in persons]
    items.append(f"<li>{_swatch(_NOBODY[0])}{_e(nobody)}</li>")
    return '<ul class="legend">' + "".join(items) + "</ul>\n"


_GRID_STEPS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 45, 90]


def _degrees(value: float, step: float, positive: str, negative: str) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    hemisphere = positive if value > 0 else negative if value < 0 else ""
    return f"{abs(value):.{decimals}f}\u00b0{hemisphere}"


def _map(out: _Out, index: _Index) -> None:
    """Capture places: an equirectangular scatter zoomed to the points, with a graticule and no tiles."""
    out('<section id="places">\n<h2>Where the photos were taken</h2>\n')
    points = [(i, where) for i in index.ok if (where := _gps(index.files[i])) is not None]
    if not points:
        out('<p class="intro">No photo carries a GPS position.</p>\n</section>\n')
        return
    out(f'<p class="intro">{_plural(len(points), "photo")} carry a GPS position, accurate to a few metres: enough to '
        "find a home or a meeting place. Each dot is one photo, coloured by the people in it; click a dot to see "
        "the photo. Lines are degrees of latitude and longitude (there is no map, so nothing is loaded).</p>\n")
    lats = [lat for _, (lat, _) in points]
    lons = [lon for _, (_, lon) in points]
    lat0 = (min(lats) + max(lats)) / 2
    squeeze = max(math.cos(math.radians(lat0)), 0.2)  # equirectangular with its standard parallel at the centre
    span_x = max((max(lons) - min(lons)) * squeeze * 1.25, 0.02)
    span_y = max((max(lats) - min(lats)) * 1.25, 0.02)
    width = 760.0
    height = min(max(width * span_y / span_x, 240.0), 460.0)
    scale = min(width / span_x, height / span_y)
    lon_c, lat_c = (min(lons) + max(lons)) / 2, lat0

    def x_of(lon: float) -> float:
        return width / 2 + (lon - lon_c) * squeeze * scale

    def y_of(lat: float) -> float:
        return height / 2 - (lat - lat_c) * scale

    lon_lo, lon_hi = lon_c - width / 2 / (squeeze * scale), lon_c + width / 2 / (squeeze * scale)
    lat_lo, lat_hi = lat_c - height / 2 / scale, lat_c + height / 2 / scale
    lon_step = next((s for s in _GRID_STEPS if (lon_hi - lon_lo) / s <= 9), 90)
    lat_step = next((s for s in _GRID_STEPS if (lat_hi - lat_lo) / s <= 6), 90)
    out(f'<figure class="card plot"><svg viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        'aria-label="Capture places: a scatter of latitude and longitude">\n'
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#eef1f5"/>\n'
        f'<rect x="{x_of(-180):.1f}" y="{y_of(90):.1f}" width="{x_of(180) - x_of(-180):.1f}" '
        f'height="{y_of(-90) - y_of(90):.1f}" fill="#f9fbfd"/>\n<g stroke="#c9d0db" stroke-width="1">\n')
    lines: list[str] = []
    for k in range(math.ceil(max(lon_lo, -180) / lon_step), math.floor(min(lon_hi, 180) / lon_step) + 1):
        x = x_of(k * lon_step)
        out(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height:.0f}"/>\n')
        if x < width - 48:  # a label at the right edge would be cut
            lines.append(f'<text x="{x + 3:.1f}" y="{height - 6:.0f}">{_degrees(k * lon_step, lon_step, "E", "W")}</text>')
    for k in range(math.ceil(max(lat_lo, -90) / lat_step), math.floor(min(lat_hi, 90) / lat_step) + 1):
        y = y_of(k * lat_step)
        out(f'<line x1="0" y1="{y:.1f}" x2="{width:.0f}" y2="{y:.1f}"/>\n')
        if 18 < y < height - 22:  # a label at the top would be cut; one at the bottom would meet the longitudes
            lines.append(f'<text x="4" y="{y - 4:.1f}">{_degrees(k * lat_step, lat_step, "N", "S")}</text>')
    out('</g>\n<g font-size="12" fill="#5a6478" stroke="#f9fbfd" stroke-width="3" paint-order="stroke">\n'
        + "\n".join(lines) + "\n</g>\n<g stroke=\"#fff\" stroke-width=\"1.5\">\n")
    seen: dict[str, None] = {}
    for i, (lat, lon) in points:
        people = _persons_in(index.files[i])
        seen.update(dict.fromkeys(people))
        colours = [index.colours.get(pid, _STRANGER)[0] for pid in people] or [_NOBODY[0]]
        x, y = x_of(lon), y_of(lat)
        label = _e(f"{index.files[i].get('path')} - {lat:.5f}, {lon:.5f}" + (f" - {', '.join(people)}" if people else ""))
        out(f'<a href="#f{i}"><title>{label}</title>')
        for k, colour in enumerate(colours):
            out(f'<circle class="place" cx="{x + (k - (len(colours) - 1) / 2) * 9:.1f}" cy="{y:.1f}" r="6" fill="{colour}"/>')
        out("</a>\n")
    out("</g>\n</svg>\n")
    out(_legend(index, [pid for pid in index.person_ids if pid in seen], "Photo with nobody recognised"))
    out("</figure>\n</section>\n")


_SECOND_STEPS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400]
_MONTH_STEPS = [1, 3, 6, 12, 24, 60, 120, 240, 600, 1200]
_EPOCH = datetime(2000, 1, 3)  # a Monday, so weekly ticks fall on Mondays


def _ticks(start: datetime, end: datetime, most: int = 10) -> tuple[list[datetime], str]:
    """Round times between ``start`` and ``end`` for the axis, and their unit (``time``, ``day``, ``month``, ``year``)."""
    span = (end - start).total_seconds()
    try:
        for step in _SECOND_STEPS:
            if span / step <= most:
                first = math.ceil((start - _EPOCH).total_seconds() / step)
                ticks = [_EPOCH + timedelta(seconds=(first + k) * step) for k in range(int(span // step) + 2)]
                return [t for t in ticks if t <= end], "time" if step < 86400 else "day"
        for months in _MONTH_STEPS:
            if span / (months * 30.44 * 86400) <= most:
                month = -(-(start.year * 12 + start.month - 1) // months) * months
                ticks = []
                while (tick := datetime(month // 12, month % 12 + 1, 1)) <= end:
                    ticks.append(tick)
                    month += months
                return ticks, "month" if months < 12 else "year"
    except (OverflowError, ValueError):  # times at the ends of the calendar
        pass
    return [start, end], "year"


def _tick_label(tick: datetime, unit: str, previous: datetime | None) -> tuple[str, str]:
    """Two lines under a tick: the fine one, and the coarse one when it changes."""
    if unit == "time":
        return f"{tick:%H:%M}", f"{tick.day} {tick:%b %Y}" if previous is None or previous.date() != tick.date() else ""
    if unit == "day":
        return f"{tick.day} {tick:%b}", str(tick.year) if previous is None or previous.year != tick.year else ""
    if unit == "month":
        return f"{tick:%b}", str(tick.year) if previous is None or previous.year != tick.year else ""
    return str(tick.year), ""


def _timeline(out: _Out, index: _Index) -> None:
    """Capture times: one lane per person (the largest first) and one for everyone else."""
    out('<section id="times">\n<h2>When the photos were taken</h2>\n')
    moments = [(i, moment) for i in index.ok if (moment := _time(index.files[i])) is not None]
    if not moments:
        out('<p class="intro">No photo says when it was taken.</p>\n</section>\n')
        return
    start, end = min(m for _, m in moments), max(m for _, m in moments)
    out(f'<p class="intro">{_plural(len(moments), "photo")} say when they were taken, from {_e(_day(start))} '
        f"to {_e(_day(end))}. Together with faces, times show who was where and when. Each dot is one photo "
        "(times as the camera's clock states them); click a dot to see the photo.</p>\n")
    with_time = {pid for i, _ in moments for pid in _persons_in(index.files[i])}
    lanes = [pid for pid in index.person_ids if pid in with_time][:MAX_TIMELINE_LANES]
    lane_of = {pid: row for row, pid in enumerate(lanes)}
    rest = "Everyone else" if len(with_time) > len(lanes) else "Nobody recognised"
    span = (end - start).total_seconds()
    pad = timedelta(hours=12) if span == 0 else timedelta(seconds=span * 0.03)
    with contextlib.suppress(OverflowError):  # times at the ends of the calendar stay unpadded
        start, end = start - pad, end + pad
    span = max((end - start).total_seconds(), 1.0)
    left, right, top, lane_h = 130.0, 744.0, 14.0, 30.0
    height = top + lane_h * (len(lanes) + 1) + 44

    def x_of(moment: datetime) -> float:
        return left + (moment - start).total_seconds() / span * (right - left)

    out(f'<figure class="card plot"><svg viewBox="0 0 760 {height:.0f}" role="img" aria-label="Capture times on a timeline">\n'
        '<g font-size="12" fill="#1c2230">\n')
    for row, name in enumerate([*[f"Person {pid}" for pid in lanes], rest]):
        y = top + lane_h * row + lane_h / 2
        fill = "#f4f6f9" if row % 2 == 0 else "#fff"
        out(f'<rect x="{left:.0f}" y="{y - lane_h / 2:.0f}" width="{right - left:.0f}" height="{lane_h:.0f}" fill="{fill}"/>'
            f'<text x="{left - 10:.0f}" y="{y + 4:.1f}" text-anchor="end">{_e(_clip(name, 24))}</text>\n')
    axis = top + lane_h * (len(lanes) + 1)
    out(f'<line x1="{left:.0f}" y1="{axis:.0f}" x2="{right:.0f}" y2="{axis:.0f}" stroke="#5a6478"/>\n')
    ticks, unit = _ticks(start, end)
    previous: datetime | None = None
    for tick in ticks:
        if not start <= tick <= end:
            continue
        x = x_of(tick)
        fine, coarse = _tick_label(tick, unit, previous)
        previous = tick
        out(f'<line x1="{x:.1f}" y1="{top:.0f}" x2="{x:.1f}" y2="{axis + 5:.0f}" stroke="#d5dae3"/>'
            f'<text x="{x:.1f}" y="{axis + 18:.0f}" text-anchor="middle" fill="#5a6478">{_e(fine)}</text>')
        if coarse:
            out(f'<text x="{x:.1f}" y="{axis + 34:.0f}" text-anchor="middle" fill="#5a6478" font-weight="600">'
                f"{_e(coarse)}</text>")
        out("\n")
    out('</g>\n<g stroke="#fff" stroke-width="1" fill-opacity="0.85">\n')
    seen_rest = False
    for i, moment in moments:
        people = [pid for pid in _persons_in(index.files[i]) if pid in lane_of]
        rows = [(lane_of[pid], index.colours[pid][0]) for pid in people] or [(len(lanes), _NOBODY[0])]
        seen_rest = seen_rest or not people
        stated = _dict(index.files[i].get("metadata")).get("captured")
        label = _e(f"{index.files[i].get('path')} - {stated}")
        out(f'<a href="#f{i}"><title>{label}</title>')
        for row, colour in rows:
            y = top + lane_h * row + lane_h / 2
            out(f'<circle class="moment" cx="{x_of(moment):.1f}" cy="{y:.1f}" r="6" fill="{colour}"/>')
        out("</a>\n")
    out("</g>\n</svg>\n")
    out(_legend(index, lanes, rest))
    out("</figure>\n</section>\n")


def _row(severity: int, label: str, value: str) -> str:
    """One row of a photo's table; ``value`` is already escaped."""
    return (f'<tr class="sev-{severity}"><th scope="row">{_e(label)}</th><td>{value}</td>'
            f'<td class="level">{_SEVERITY_WORD[severity]}</td></tr>\n')


def _joined(parts: Sequence[str], separator: str = "<br>") -> str:
    return separator.join(_e(_clip(part)) for part in parts)


def _details(entry: dict[str, Any], index: _Index) -> list[str]:
    """The table rows of a photo, most serious first."""
    meta = _dict(entry.get("metadata"))
    rows: list[tuple[int, str]] = []
    gps = _dict(meta.get("gps"))
    if (where := _gps(entry)) is not None:
        text = f"{where[0]:.5f}, {where[1]:.5f}"
        if (altitude := _num(gps.get("altitude_m"))) is not None:
            text += f" ({altitude:,.0f} m above sea level)"
        if gps.get("source"):
            text += f" - from {gps.get('source')}"
        rows.append((0, _row(3, "Location (GPS)", _e(text))))
    if people := _strings(meta.get("people")):
        rows.append((1, _row(3, "People named", _joined(people, ", "))))
    regions = [str(region.get("name")) for region in map(_dict, _list(meta.get("face_regions"))) if region.get("name")]
    if regions:
        rows.append((2, _row(3, "Faces tagged as", _joined(regions, ", "))))
    device = _dict(meta.get("device"))
    serials = [f"{what}: {device[key]}" for key, what in (("serial", "camera"), ("lens_serial", "lens")) if device.get(key)]
    if serials:
        rows.append((3, _row(3, "Serial number", _joined(serials))))
    owner = _dict(meta.get("owner"))
    owners = [f"{what}: {owner[key]}" for key, what in (("owner_name", "Owner"), ("artist", "Artist"),
                                                        ("copyright", "Copyright"), ("creator", "Creator")) if owner.get(key)]
    if owners:
        rows.append((4, _row(3, "Owner / author", _joined(owners))))
    thumbnail = _dict(meta.get("thumbnail"))
    if thumbnail.get("differs"):
        difference = _num(thumbnail.get("difference"))
        note = f" (difference {difference:.2f})" if difference is not None else ""
        rows.append((5, _row(3, "Hidden preview", _e("The small preview inside the file differs from the photo: it may "
                                                      f"show what was cropped or edited out{note}."))))
    faces = [_dict(face) for face in _list(entry.get("faces"))]
    if faces:
        described = []
        for face in faces:
            pid = face.get("person")
            who = f"person {pid}" if pid is not None else "not matched to anyone"
            how = _RECOGNISABLE.get(str(face.get("identifiability")))
            described.append(who + (f", {how}" if how else ""))
        if len(described) > 6:  # a crowd: how many of each kind
            counted = dict.fromkeys(sorted(set(described), key=described.index), 0)
            for text in described:
                counted[text] += 1
            described = [f"{count} \u00d7 {text}" for text, count in counted.items()]
        lead = _e(f"{_plural(len(faces), 'face')}:") + (" " if len(described) == 1 else "<br>")
        rows.append((6, _row(3, "Faces", lead + _joined(described))))
    others = [f"{key}: {_text(value)}" for key, value in _dict(meta.get("other")).items() if value not in (None, "", [])]
    if others:
        rows.append((7, _row(2, "Descriptions", _joined(others))))
    if meta.get("captured"):
        rows.append((8, _row(2, "Taken on", _e(_when(meta.get("captured"))))))
    if keywords := _strings(meta.get("keywords")):
        rows.append((9, _row(2, "Keywords", _joined(keywords, ", "))))
    if history := _strings(meta.get("history")):
        rows.append((10, _row(2, "Edit history", _joined(history))))
    camera = " ".join(str(device[key]) for key in ("make", "model") if device.get(key))
    lens = " ".join(str(device[key]) for key in ("lens_make", "lens_model") if device.get(key))
    cameras = [text for text in (camera, f"lens: {lens}" if lens else "") if text]
    if cameras:
        rows.append((11, _row(1, "Camera", _joined(cameras))))
    if software := _strings(meta.get("software")):
        rows.append((12, _row(1, "Software", _joined(software, ", "))))
    if thumbnail.get("present") and not thumbnail.get("differs"):
        rows.append((13, _row(1, "Embedded preview", _e("A small copy of the photo is stored inside the file."))))
    return [row for _, row in sorted(rows, key=lambda pair: pair[0])]


def _shot(out: _Out, file_index: int, entry: dict[str, Any], index: _Index, images: ImageSource) -> None:
    """The thumbnail with a box over each face, scaled from the file's size (boxes are in full-image pixels)."""
    width, height = _num(entry.get("width")), _num(entry.get("height"))
    known = width is not None and height is not None and width > 0 and height > 0
    if known:
        assert width is not None and height is not None
        ratio = width / height
        shown_w = 320 if ratio >= 1 else max(320 * ratio, 60)
        out(f'<figure class="shot" style="width:{shown_w:.0f}px;aspect-ratio:{width:.0f} / {height:.0f}">')
    else:
        out('<figure class="shot" style="width:320px">')
    name = _e(entry.get("path"))
    uri = _data_uri(images.thumbnail(file_index))
    if uri is not None:
        out(f'<img src="{uri}" alt="{name}">')
    else:
        out('<div class="noimg">No preview available</div>')
    if known:
        assert width is not None and height is not None
        for face_index, face in enumerate(map(_dict, _list(entry.get("faces")))):
            box = [_num(value) for value in _list(face.get("box"))]
            if len(box) != 4 or any(value is None for value in box):
                continue
            limits = (width, height, width, height)
            x1, y1, x2, y2 = (min(max(v or 0.0, 0.0), limit) for v, limit in zip(box, limits, strict=True))
            if x2 <= x1 or y2 <= y1:
                continue
            pid = face.get("person")
            colour, ink = index.colours.get(str(pid), _STRANGER) if pid is not None else _NOBODY
            label = f"{pid}" if pid is not None else "?"
            tip = _e(f"person {pid}" if pid is not None else "a face not matched to anyone else")
            inside = " in" if y1 / height < 0.09 else ""
            out(f'<div class="box{"" if pid is not None else " unmatched"}" id="f{file_index}-{face_index}" title="{tip}" '
                f'style="left:{100 * x1 / width:.3f}%;top:{100 * y1 / height:.3f}%;width:{100 * (x2 - x1) / width:.3f}%;'
                f'height:{100 * (y2 - y1) / height:.3f}%;--c:{colour};--t:{ink}">'
                f'<span class="tag{inside}">{_e(_clip(label, 16))}</span></div>')
    out("</figure>\n")
    if not known and entry.get("faces"):
        out('<p class="more">The file\'s size is unknown, so its faces cannot be marked on the preview.</p>\n')


def _photos(out: _Out, index: _Index, images: ImageSource) -> None:
    out('<section id="photos">\n<h2>Every photo, most revealing first</h2>\n')
    if not index.ok:
        out('<p class="intro">No photo could be read.</p>\n</section>\n')
        return
    out('<p class="intro">Each photo with what it gives away. Boxes mark the faces found; the label is the person it '
        'matches (a dashed box with "?" is a face not matched to anyone: seen once, or too small or blurred to '
        "compare). In the tables, red rows can identify or locate someone on their own.</p>\n")
    order = sorted(index.ok, key=lambda i: (*(-n for n in _seriousness(index.files[i])), i))
    for file_index in order:
        entry = index.files[file_index]
        categories = _categories_of(entry)
        out(f'<section class="card photo" id="f{file_index}">\n<h3>{_e(entry.get("path"))}</h3>\n<p class="chips">')
        if entry.get("kind") == "video":
            out('<span class="chip kind">Video</span>')
        out("".join(f'<span class="chip sev-{c.severity}">{_e(c.label)}</span>' for c in categories) + "</p>\n")
        out('<div class="photo-body">\n')
        _shot(out, file_index, entry, index, images)
        out('<div class="facts">\n')
        risks = _strings(entry.get("risks"))
        people = _persons_in(entry)
        if people:
            links = ", ".join(f'<a href="#{index.anchors[pid]}">{_e(pid)}</a>' if pid in index.anchors else _e(pid)
                              for pid in people)
            out(f"<p>Appears in this photo: {links}</p>\n")
        if risks:
            out('<h4>What it gives away</h4>\n<ul class="risks">'
                + "".join(f"<li>{_e(_clip(risk))}</li>" for risk in risks) + "</ul>\n")
        rows = _details(entry, index)
        if rows:
            out('<h4>Found in the file</h4>\n<table class="leaks">\n' + "".join(rows) + "</table>\n")
        if not risks and not rows:
            out('<p class="clean">Nothing identifying was found in this file.</p>\n')
        out("</div>\n</div>\n</section>\n")
    out("</section>\n")


def _failures(out: _Out, index: _Index) -> None:
    if not index.failed:
        return
    out('<section id="failed">\n<h2>Files that could not be read</h2>\n'
        '<p class="intro">bioveil could not check these files, so they may still give away anything listed above. '
        "Check them another way, or do not share them.</p>\n"
        '<div class="card"><table class="failed">\n<tr><th>File</th><th>Problem</th><th>What happened and what to do</th></tr>\n')
    for file_index in index.failed:
        entry = index.files[file_index]
        error = _dict(entry.get("error"))
        kind = str(error.get("type") or "unknown")
        plain = _PROBLEMS.get(kind, "Could not be checked")
        out(f'<tr id="f{file_index}"><td>{_e(entry.get("path"))}</td><td>{_e(plain)}<span class="type">{_e(kind)}</span></td>'
            f'<td>{_e(_clip(str(error.get("message") or "")))}</td></tr>\n')
    out("</table></div>\n</section>\n")


def _footer(out: _Out, report: dict[str, Any]) -> None:
    settings = _dict(report.get("settings"))
    used = "; ".join(f"{key.replace('_', ' ')}: {_text(value)}" for key, value in settings.items())
    out(f"<footer>Made by bioveil {_e(report.get('bioveil_version') or '')} on {_e(report.get('created') or 'an unknown date')}"
        + (f". Settings - {_e(used)}" if used else "") + ". Report format: " + _e(SCHEMA) + ".</footer>\n"
        "</main>\n</body>\n</html>\n")
