"""The HTML report: safe to open (escaped, nothing loaded, no script), streamed, and readable in a real browser.

The browser tests render a hand-made ``bioveil.scan/1`` report of real LFW and PASCAL VOC photos in Debian's
headless Chromium (see ``tests/scan/browser.py``) and save a screenshot to ``test-artifacts/scan_report.png``.
"""

from __future__ import annotations

import io
import math
import tracemalloc
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageOps

from bioveil.scan.html import CSP, ReportFormatError, write_html
from tests.scan.browser import Visit, chromium, visit

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

# Payloads a stranger could put in a file name or a metadata field. Each sets window.__xss if it ever runs.
XSS_PATH = 'protest/"><img src=x onerror="window.__xss=1">.jpg'
XSS_ARTIST = "<script>window.__xss=2</script>"
XSS_KEYWORD = "\"'><svg onload=\"window.__xss=3\">"
XSS_FAILED = "broken<script>window.__xss=4</script>.jpg"
XSS_STYLE = "</style><script>window.__xss=5</script>"
TRACKER = "https://evil.example/track.png"
PAYLOADS = [XSS_PATH, XSS_ARTIST, XSS_KEYWORD, XSS_FAILED, XSS_STYLE, TRACKER]


# ---------------------------------------------------------------------------------------------- building reports


def face(box: list[float], person: str | None, identifiability: str = "high") -> dict[str, Any]:
    height = box[3] - box[1]
    return {"box": box, "score": 0.97, "person": person, "height_px": height, "sharpness": 0.8, "yaw_degrees": 5.0,
            "identifiability": identifiability}


def metadata(**fields: Any) -> dict[str, Any]:
    """Metadata as the schema has it, with nothing found except ``fields``."""
    empty: dict[str, Any] = {
        "gps": {"lat": None, "lon": None, "altitude_m": None, "source": None}, "captured": None,
        "device": {"make": None, "model": None, "serial": None, "lens_make": None, "lens_model": None, "lens_serial": None},
        "owner": {"owner_name": None, "artist": None, "copyright": None, "creator": None},
        "software": [], "history": [], "thumbnail": {"present": False, "differs": False, "difference": None},
        "face_regions": [], "people": [], "keywords": [], "other": {},
    }
    for key, value in fields.items():
        empty[key] = {**empty[key], **value} if isinstance(empty[key], dict) and key != "other" else value
    return empty


def categories(entry: dict[str, Any]) -> list[str]:
    """The categories a file shows, worked out from its metadata and faces (as the scanner would)."""
    meta = entry["metadata"] or metadata()
    found = {
        "gps": meta["gps"]["lat"] is not None, "time": bool(meta["captured"]),
        "device": bool(meta["device"]["make"] or meta["device"]["model"]),
        "serial": bool(meta["device"]["serial"] or meta["device"]["lens_serial"]),
        "owner": any(meta["owner"].values()), "software": bool(meta["software"]), "history": bool(meta["history"]),
        "thumbnail": meta["thumbnail"]["present"], "thumbnail_differs": meta["thumbnail"]["differs"],
        "face_regions": bool(meta["face_regions"]), "people_tags": bool(meta["people"]),
        "keywords": bool(meta["keywords"]), "faces": bool(entry["faces"]), "text": bool(meta["other"]),
    }
    return [key for key, present in found.items() if present]


def photo(path: str, size: tuple[int, int], faces: list[dict[str, Any]], risks: list[str], **meta: Any) -> dict[str, Any]:
    entry = {"path": path, "status": "ok", "error": None, "kind": "image", "sha256": "0" * 64,
             "width": size[0], "height": size[1], "faces": faces, "metadata": metadata(**meta), "risks": risks}
    entry["categories"] = categories(entry)
    return entry


def failure(path: str, kind: str, message: str) -> dict[str, Any]:
    return {"path": path, "status": "failed", "error": {"type": kind, "message": message}, "kind": "image",
            "sha256": "1" * 64, "width": None, "height": None, "faces": [], "metadata": None, "categories": [], "risks": []}


def report(files: list[dict[str, Any]], persons: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A whole report around ``files``: summary counted from them, persons as given (or none)."""
    counts: dict[str, int] = {}
    for entry in files:
        for key in entry["categories"]:
            counts[key] = counts.get(key, 0) + 1
    failed = sum(entry["status"] == "failed" for entry in files)
    return {
        "schema": "bioveil.scan/1", "bioveil_version": "0.1.0", "created": "2026-11-25T01:00:00+00:00",
        "settings": {"detector": "ensemble", "recognizer": "dlib", "cluster_threshold": 0.5},
        "summary": {"files": len(files), "scanned": len(files) - failed, "failed": failed,
                    "faces": sum(len(entry["faces"]) for entry in files), "persons": len(persons or []), "categories": counts},
        "files": files, "persons": persons or [],
    }


def person_entry(pid: str, files: list[dict[str, Any]], risks: list[str]) -> dict[str, Any]:
    mine = [entry for entry in files if any(f["person"] == pid for f in entry["faces"])]
    return {"id": pid, "faces": sum(f["person"] == pid for entry in mine for f in entry["faces"]),
            "files": [entry["path"] for entry in mine],
            "places": [{"lat": e["metadata"]["gps"]["lat"], "lon": e["metadata"]["gps"]["lon"], "file": e["path"]}
                       for e in mine if e["metadata"]["gps"]["lat"] is not None],
            "times": [{"time": e["metadata"]["captured"], "file": e["path"]} for e in mine if e["metadata"]["captured"]],
            "risks": risks}


def jpeg(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (120, 90, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


class Fixed:
    """An ImageSource that gives the same small JPEG for everything, and can fail or watch on request."""

    def __init__(self, data: bytes | None = None, on_thumbnail: Callable[[int], None] | None = None) -> None:
        self.data = jpeg() if data is None else data
        self.on_thumbnail = on_thumbnail

    def thumbnail(self, file_index: int) -> bytes | None:
        if self.on_thumbnail is not None:
            self.on_thumbnail(file_index)
        return self.data

    def face_crop(self, file_index: int, face_index: int) -> bytes | None:
        return self.data


class Pillow:
    """An ImageSource over real files: upright thumbnails and padded face crops made with Pillow."""

    def __init__(self, report: dict[str, Any], originals: dict[int, Path]) -> None:
        self.report, self.originals = report, originals

    def _image(self, file_index: int) -> Image.Image:
        with Image.open(self.originals[file_index]) as image:
            return ImageOps.exif_transpose(image).convert("RGB")

    @staticmethod
    def _encode(image: Image.Image) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=82)
        return buffer.getvalue()

    def thumbnail(self, file_index: int) -> bytes | None:
        if file_index not in self.originals:
            return None
        image = self._image(file_index)
        image.thumbnail((320, 320))
        return self._encode(image)

    def face_crop(self, file_index: int, face_index: int) -> bytes | None:
        x1, y1, x2, y2 = self.report["files"][file_index]["faces"][face_index]["box"]
        pad = 0.2 * max(x2 - x1, y2 - y1)
        image = self._image(file_index).crop((round(x1 - pad), round(y1 - pad), round(x2 + pad), round(y2 + pad)))
        return self._encode(image.resize((96, 96)))


def synthetic(n: int) -> dict[str, Any]:
    """``n`` identical photos, each with a face of P1, a GPS position and a time, plus nothing else."""
    files = [photo(f"album/IMG_{i:05d}.jpg", (4000, 3000), [face([1000, 750, 2000, 1500], "P1")],
                   ["GPS position 48.85830, 2.29450 (where the photo was taken)"],
                   gps={"lat": 48.8583, "lon": 2.2945, "source": "exif"}, captured="2024-07-14T21:03:11")
             for i in range(n)]
    return report(files, [person_entry("P1", files, [f"appears in {n} photos"])])


def hostile() -> dict[str, Any]:
    """Payloads in every kind of string the report carries."""
    files = [
        photo(XSS_PATH, (640, 480), [face([100, 100, 200, 220], "P1"), face([300, 100, 380, 200], XSS_ARTIST)],
              [f"the artist is {XSS_ARTIST}", TRACKER],
              owner={"artist": XSS_ARTIST}, keywords=[XSS_KEYWORD, TRACKER], other={"ImageDescription": XSS_STYLE},
              captured=XSS_KEYWORD, people=[XSS_ARTIST], face_regions=[{"name": XSS_KEYWORD, "box": [0, 0, 1, 1]}]),
        photo("second.jpg", (640, 480), [face([10, 10, 100, 100], "P1")], [],
              device={"make": XSS_STYLE, "model": TRACKER, "serial": XSS_KEYWORD}, software=[XSS_ARTIST]),
        failure(XSS_FAILED, XSS_ARTIST, XSS_STYLE),
    ]
    persons = [person_entry("P1", files, [XSS_ARTIST]), person_entry("P1", files, ["the same id twice"])]
    return report(files, persons)


# ---------------------------------------------------------------------------------------------- reading pages


class Page(HTMLParser):
    """Tags, attributes and text of a page, as a browser's tokenizer sees them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def with_class(self, tag: str, name: str) -> list[dict[str, str]]:
        return [attrs for attrs in self.all(tag) if name in attrs.get("class", "").split()]


def render(tmp_path: Path, data: dict[str, Any], source: Any = None, name: str = "report.html") -> tuple[Path, Page]:
    target = tmp_path / name
    write_html(data, source or Fixed(), target)
    return target, Page(target.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------- without a browser


def test_page_is_inert_and_untrusted_text_stays_text(tmp_path: Path) -> None:
    _, page = render(tmp_path, hostile())
    metas = page.all("meta")
    assert {"http-equiv": "Content-Security-Policy", "content": CSP} in metas
    assert not page.all("script")
    for tag, attrs in page.tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("src", "srcset", "href", "action", "poster", "data", "xlink:href", "background"):
            value = attrs.get(name, "")
            assert "http:" not in value and "https:" not in value and not value.startswith("//"), (tag, attrs)
        assert "url(" not in attrs.get("style", ""), (tag, attrs)
    assert all(img["src"].startswith("data:image/jpeg;base64,") for img in page.all("img"))
    assert all(a["href"].startswith("#") for a in page.all("a"))
    assert "url(" not in "".join(page.styles) and "@import" not in "".join(page.styles)
    text = "".join(page.text)
    for payload in PAYLOADS:
        assert payload in text, payload
    assert [tag for tag, _ in page.tags].count("style") == 1


def test_ids_and_anchors_come_from_indices_not_from_the_report(tmp_path: Path) -> None:
    _, page = render(tmp_path, hostile())
    ids = [attrs["id"] for _, attrs in page.tags if "id" in attrs]
    assert len(ids) == len(set(ids))
    assert all(identifier.replace("-", "").isalnum() for identifier in ids), ids
    assert {a["href"][1:] for a in page.all("a")} <= set(ids)
    assert len(page.with_class("div", "tapestry")) == 1  # a person id given twice is shown once


def test_hidden_characters_are_shown(tmp_path: Path) -> None:
    files = [photo("invoice\u202egpj.exe\x00.jpg", (100, 100), [], []), photo("bad\udcff.jpg", (100, 100), [], [])]
    _, page = render(tmp_path, report(files))
    text = "".join(page.text)
    assert "invoice\\u202egpj.exe\\u0000.jpg" in text and "bad\\udcff.jpg" in text
    assert "\u202e" not in text


def test_boxes_are_scaled_from_the_file_size(tmp_path: Path) -> None:
    files = [photo("a.jpg", (4000, 3000), [face([1000, 750, 2000, 1500], "P1"), face([3900, -50, 4100, 300], None)], [])]
    _, page = render(tmp_path, report(files, [person_entry("P1", files, [])]))
    boxes = page.with_class("div", "box")
    assert len(boxes) == 2
    assert "left:25.000%;top:25.000%;width:25.000%;height:25.000%" in boxes[0]["style"]
    assert "left:97.500%;top:0.000%;width:2.500%;height:10.000%" in boxes[1]["style"]  # clipped to the image
    assert "unmatched" in boxes[1]["class"]


def test_most_revealing_photos_come_first(tmp_path: Path) -> None:
    files = [
        photo("camera-only.jpg", (100, 100), [], [], device={"make": "Canon"}),
        photo("located.jpg", (100, 100), [], [], gps={"lat": 1.0, "lon": 2.0}, owner={"artist": "Jane"}),
        photo("timed.jpg", (100, 100), [], [], captured="2024-01-01T10:00:00"),
        photo("located-too.jpg", (100, 100), [], [], gps={"lat": 1.0, "lon": 2.0}),
    ]
    _, page = render(tmp_path, report(files))
    assert [attrs["id"] for attrs in page.with_class("section", "photo")] == ["f1", "f3", "f2", "f0"]
    rows = [attrs["class"] for attrs in page.all("tr") if attrs.get("class", "").startswith("sev-")]
    assert rows[:2] == ["sev-3", "sev-3"]  # located.jpg: GPS, then the owner


@pytest.mark.parametrize("entry", [
    pytest.param({"width": None, "height": None}, id="size unknown"),
    pytest.param({"width": "640", "height": 0}, id="size not a number"),
    pytest.param({"faces": [{"box": [1, 2, 3]}, {"box": ["a", 1, 2, 3]}, {"box": None}, {}]}, id="broken boxes"),
    pytest.param({"faces": [{"box": [10, 10, 50, 50], "person": "P99"}]}, id="person not in persons"),
    pytest.param({"metadata": None, "categories": ["not_yet_known"]}, id="no metadata, unknown category"),
    pytest.param({"metadata": metadata(gps={"lat": math.nan, "lon": 500}, captured="2024:07:14 21:03:11")},
                 id="odd gps, exif time"),
    pytest.param({"metadata": metadata(captured="0001-01-01T00:00:00")}, id="time at the start of the calendar"),
    pytest.param({"metadata": metadata(captured="9999-12-31T23:59:59+14:00")}, id="time at the end of the calendar"),
    pytest.param({"metadata": metadata(other={"UserComment": {"nested": [1, 2]}, "X": "y" * 5000})}, id="odd other"),
    pytest.param({"kind": "video"}, id="video"),
])
def test_odd_values_do_not_break_the_page(tmp_path: Path, entry: dict[str, Any]) -> None:
    base = photo("odd.jpg", (640, 480), [face([10, 10, 60, 60], None)], ["a risk"], captured="2024-07-14T21:03:11")
    files = [{**base, **entry}, photo("plain.jpg", (640, 480), [], [], captured="2024-07-15T08:00:00")]
    target, page = render(tmp_path, report(files))
    assert len(page.with_class("section", "photo")) == 2
    assert target.read_text(encoding="utf-8").rstrip().endswith("</html>")


def test_an_empty_collection_still_makes_a_page(tmp_path: Path) -> None:
    _, page = render(tmp_path, report([failure("a.jpg", "EmptyFileError", "a.jpg: the file is empty")]))
    text = "".join(page.text)
    assert "No photo could be read" in text and "EmptyFileError" in text
    assert not page.all("img")


@pytest.mark.parametrize("bad", [{"schema": "bioveil.scan/2", "files": []}, {"files": []}, ["not", "a", "dict"]])
def test_other_reports_are_refused(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(ReportFormatError, match=r"bioveil\.scan/1"):
        write_html(bad, Fixed(), tmp_path / "r.html")
    assert not list(tmp_path.iterdir())


def test_size_grows_linearly_with_the_photos(tmp_path: Path) -> None:
    sizes = {n: render(tmp_path, synthetic(n), name=f"{n}.html")[0].stat().st_size for n in (10, 20, 40, 80)}
    per_photo = [(sizes[b] - sizes[a]) / (b - a) for a, b in ((10, 20), (20, 40), (40, 80))]
    assert max(per_photo) / min(per_photo) < 1.05, per_photo
    assert per_photo[0] < 4 * len(jpeg()) * 4 / 3 + 6000  # a thumbnail, a crop and a few kB of markup each


def test_photos_are_written_as_they_are_made(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    written: list[int] = []

    def watch(_: int) -> None:
        written.append(sum(part.stat().st_size for part in tmp_path.glob(".report.*.part.html")))

    write_html(synthetic(60), Fixed(jpeg((300, 200)), on_thumbnail=watch), target)
    assert len(written) == 60 and written == sorted(written)
    assert written[-1] > target.stat().st_size * 0.8  # most of the page was on disk before the last photo


def test_the_page_is_never_held_in_memory(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    content, source = synthetic(400), Fixed(jpeg((300, 200)))
    tracemalloc.start()
    try:
        write_html(content, source, target)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < target.stat().st_size / 10, (peak, target.stat().st_size)


def test_a_failure_leaves_the_previous_report_in_place(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("previous report", encoding="utf-8")

    def fail(file_index: int) -> None:
        if file_index == 5:
            raise OSError("cache unreadable")

    with pytest.raises(OSError, match="cache unreadable"):
        write_html(synthetic(10), Fixed(on_thumbnail=fail), target)
    assert target.read_text(encoding="utf-8") == "previous report"
    assert [path.name for path in tmp_path.iterdir()] == ["report.html"]


# ---------------------------------------------------------------------------------------------- in Chromium


@pytest.fixture(scope="module")
def browser() -> Any:
    with chromium() as launched:
        yield launched


LFW_BOX = [78.0, 70.0, 172.0, 190.0]  # the target face of a deep-funneled 250x250 LFW photo


def lfw_report(data: Path) -> tuple[dict[str, Any], dict[int, Path]]:
    """Two persons from LFW, a VOC group photo, a stranger's photo with payloads, and a file that failed."""
    lfw = data / "lfw" / "identities"
    bush = [lfw / "George_W_Bush" / f"George_W_Bush_000{k}.jpg" for k in (1, 2, 3)]
    powell = [lfw / "Colin_Powell" / f"Colin_Powell_000{k}.jpg" for k in (1, 2)]
    group = data / "group_photos" / "2008_001009.jpg"  # 360x480, two faces boxed in training.xml
    files = [
        photo("march/IMG_2041.jpg", (250, 250), [face(LFW_BOX, "P1")],
              ["GPS position 48.85830, 2.29450 (where the photo was taken)", "taken on 14 July 2024 at 21:03",
               "camera serial number 4C1234 ties it to one device", "taken with Apple iPhone 12"],
              gps={"lat": 48.8583, "lon": 2.2945, "altitude_m": 35.0, "source": "exif"}, captured="2024-07-14T21:03:11",
              device={"make": "Apple", "model": "iPhone 12", "serial": "4C1234"}, software=["17.5.1"],
              thumbnail={"present": True, "differs": False, "difference": 0.01}),
        photo("march/IMG_2042.jpg", (250, 250), [face(LFW_BOX, "P1")],
              ["GPS position 50.45010, 30.52340 (where the photo was taken)", "taken on 2 September 2024 at 10:15",
               "names its author: Jane Doe"],
              gps={"lat": 50.4501, "lon": 30.5234, "source": "exif"}, captured="2024-09-02T10:15:00",
              owner={"artist": "Jane Doe", "copyright": "(c) Jane Doe"}, device={"make": "Apple", "model": "iPhone 12"}),
        photo(XSS_PATH, (250, 250), [face(LFW_BOX, "P1", "medium")],
              ["names people: " + XSS_ARTIST, "carries keywords", "the preview inside the file differs from the photo"],
              captured="2024-11-20T18:40:00", people=[XSS_ARTIST], keywords=[XSS_KEYWORD, "protest", TRACKER],
              owner={"artist": XSS_ARTIST}, other={"ImageDescription": XSS_STYLE},
              thumbnail={"present": True, "differs": True, "difference": 0.41}),
        photo("meeting/DSC_0007.jpg", (250, 250), [face(LFW_BOX, "P2")],
              ["GPS position 52.52000, 13.40500 (where the photo was taken)", "taken on 3 March 2025 at 09:30",
               "faces tagged with names: Colin Powell"],
              gps={"lat": 52.52, "lon": 13.405, "source": "xmp"}, captured="2025-03-03T09:30:00",
              face_regions=[{"name": "Colin Powell", "box": [0.3, 0.28, 0.38, 0.48], "source": "mwg"}],
              people=["Colin Powell"], device={"make": "NIKON CORPORATION", "model": "NIKON D750"},
              software=["Adobe Lightroom Classic 13.2"], history=["2025-03-04T08:00:00 saved by Adobe Lightroom Classic 13.2"]),
        photo("meeting/DSC_0008.jpg", (250, 250), [face(LFW_BOX, "P2")],
              ["GPS position 52.52050, 13.40420 (where the photo was taken)", "taken on 3 March 2025 at 11:05"],
              gps={"lat": 52.5205, "lon": 13.4042, "source": "exif"}, captured="2025-03-03T11:05:00",
              device={"make": "NIKON CORPORATION", "model": "NIKON D750"}),
        photo("street/group.jpg", (360, 480), [face([145, 79, 221, 155], None), face([125, 214, 215, 305], None, "medium")],
              ["shows 2 faces"], captured="2025-01-10T14:00:00"),
        failure(XSS_FAILED, "CorruptMediaError", f"{XSS_FAILED}: truncated JPEG data; the file was cut short, copy it again"),
        failure("notes.txt", "UnsupportedFormatError", "notes.txt: not an image or a video bioveil reads; leave it out"),
    ]
    persons = [person_entry("P1", files, ["appears in 3 photos, linked across 2 places and 3 dates"]),
               person_entry("P2", files, ["appears in 2 photos, linked across 1 place and 1 date"])]
    originals = {0: bush[0], 1: bush[1], 2: bush[2], 3: powell[0], 4: powell[1], 5: group}
    return report(files, persons), originals


def xss_ran(seen: Visit) -> Any:
    return seen.page.evaluate("() => window.__xss === undefined ? null : window.__xss")


@pytest.mark.data
def test_report_renders_in_chromium(data: Path, browser: Any, tmp_path: Path) -> None:
    content, originals = lfw_report(data)
    target = tmp_path / "report.html"
    write_html(content, Pillow(content, originals), target)
    with visit(browser, target) as seen:
        assert seen.console_errors == []
        assert seen.blocked == []
        images = seen.images()
        assert len(images) == 6 + 5  # six thumbnails, five face crops of the two persons
        assert all(image["complete"] and image["width"] > 0 for image in images), images
        assert seen.count(".tapestry") == 2
        assert seen.count(".tapestry img") == 5
        assert seen.count("section.photo") == 6
        assert seen.count(".shot .box") == 7
        assert seen.count("#places circle.place") == 4
        assert seen.count("#times circle.moment") == 6
        assert seen.count("#failed tr[id]") == 2
        assert seen.page.locator("#f3 .box .tag").inner_text() == "P2"
        assert xss_ran(seen) is None
        assert seen.count("script") == 0 and seen.count("[onerror], [onload]") == 0
        text = seen.page.inner_text("body")
        for payload in (XSS_PATH, XSS_ARTIST, XSS_FAILED, TRACKER):
            assert payload in text, payload
        # the first photo shown is the most revealing one (four high risks), and its worst leak comes first
        assert seen.page.locator("section.photo").first.get_attribute("id") == "f2"
        assert seen.page.locator("#f2 table.leaks th").first.inner_text() == "People named"
        assert seen.page.locator("#f0 table.leaks th").first.inner_text() == "Location (GPS)"
        ARTIFACTS.mkdir(exist_ok=True)
        seen.page.screenshot(path=str(ARTIFACTS / "scan_report.png"), full_page=True)


@pytest.mark.data
def test_payloads_do_not_run_even_without_the_csp(data: Path, browser: Any, tmp_path: Path) -> None:
    content, originals = lfw_report(data)
    target = tmp_path / "report.html"
    write_html(content, Pillow(content, originals), target)
    with visit(browser, target, bypass_csp=True) as seen:
        assert xss_ran(seen) is None
        assert seen.blocked == [] and seen.console_errors == []


def test_the_browser_check_sees_a_request(browser: Any, tmp_path: Path) -> None:
    """The network check is not vacuous: a page that loads something is caught."""
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><title>x</title><img src="http://example.invalid/pixel.png">', encoding="utf-8")
    with visit(browser, page) as seen:
        assert seen.blocked == ["http://example.invalid/pixel.png"]
