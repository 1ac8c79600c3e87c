"""The metadata exposure reader on real camera files, checked against exifread, and on files built here.

Real files: every file of exif_samples (100: JPEG, HEIC/HEIF, TIFF, and the broken ones in jpg/invalid,
jpg/tests and corrupted.jpg) gives metadata; none of them needs a named error, as measured. GPS, make,
model and capture time match exifread, an independent reader. Built files (from a real photo, in
tmp_path): XMP face regions, IPTC, an EXIF thumbnail of the uncropped photo in a cropped one, an XML
bomb in XMP, phone-style video tags, broken headers.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from bioveil.errors import CorruptMediaError, EmptyFileError, MediaError, UnsupportedFormatError
from bioveil.media.image import read_image
from bioveil.scan import thumbnail as thumbnails
from bioveil.scan import xmp
from bioveil.scan.metadata import CATEGORIES, Metadata, _iso6709, read_metadata

pytestmark = pytest.mark.data

SAMPLES = "exif_samples"
# Real thumbnails that do not show their photo, each checked by eye (see bioveil.scan.thumbnail).
THUMBNAILS_THAT_DIFFER = {
    "jpg/tests/35-empty.jpg",  # cropped after the camera wrote the thumbnail
    "jpg/exif-org/ricoh-rdc5300.jpg",  # a 4:3 preview of a 3:2 photo, framed differently
    "jpg/exif-org/sony-d700.jpg",  # a preview from another moment: the people have moved
}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("README"))


@pytest.fixture(scope="module")
def samples(data: Path) -> Path:
    return data / SAMPLES


@pytest.fixture(scope="module")
def decoded(samples: Path) -> dict[str, np.ndarray | None]:
    """Every sample's pixels as the scan decodes them (None when bioveil cannot)."""
    pixels: dict[str, np.ndarray | None] = {}
    for path in _files(samples):
        try:
            pixels[path.relative_to(samples).as_posix()] = read_image(path).pixels
        except MediaError:
            pixels[path.relative_to(samples).as_posix()] = None
    return pixels


@pytest.fixture(scope="module")
def scanned(samples: Path, decoded: dict[str, np.ndarray | None]) -> dict[str, Metadata | MediaError]:
    """Every sample read once, the way the scan reads it: with the pixels it has decoded."""
    results: dict[str, Metadata | MediaError] = {}
    for name, pixels in decoded.items():
        path = samples / name
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        try:
            results[name] = read_metadata(path, pixels)
        except MediaError as exc:
            results[name] = exc
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before, path
    return results


@pytest.fixture(scope="module")
def reference(samples: Path) -> dict[str, dict]:
    """exifread's tags of every JPEG and HEIC file (exifread logs its own complaints; silenced here)."""
    import exifread  # a test dependency: the independent reader the results are checked against

    logging.getLogger("exifread").setLevel(logging.CRITICAL)
    tags = {}
    for path in _files(samples):
        if path.suffix.lower() in (".jpg", ".jpeg", ".heic", ".heif"):
            with open(path, "rb") as stream:
                tags[path.relative_to(samples).as_posix()] = exifread.process_file(stream, details=True)
    return tags


# --- real files ---------------------------------------------------------------------------------------


def test_every_sample_is_read(scanned: dict[str, Metadata | MediaError]) -> None:
    assert len(scanned) == 100
    errors = {name: repr(result) for name, result in scanned.items() if not isinstance(result, Metadata)}
    # The broken files (jpg/invalid, jpg/tests, corrupted.jpg) still give their partial metadata.
    assert errors == {}
    for result in scanned.values():
        assert isinstance(result, Metadata)
        report = result.to_dict()
        json.dumps(report, allow_nan=False)  # valid JSON: no NaN, only plain types
        assert set(report) == {"gps", "captured", "device", "owner", "software", "history", "thumbnail",
                               "face_regions", "people", "keywords", "other"}
        assert set(result.categories()) <= set(CATEGORIES)
        # One sentence per leak; a thumbnail that differs is said in one sentence with the thumbnail.
        assert len(result.risks()) >= len(result.categories()) - ("thumbnail_differs" in result.categories())


def _ratio(value: object) -> float:
    return float(Fraction(value.num, value.den)) if value.den else float("nan")  # type: ignore[attr-defined]


def _exifread_position(tags: dict) -> tuple[float, float] | None:
    if "GPS GPSLatitude" not in tags or "GPS GPSLongitude" not in tags:
        return None
    lat = sum(_ratio(v) / 60**i for i, v in enumerate(tags["GPS GPSLatitude"].values))
    lon = sum(_ratio(v) / 60**i for i, v in enumerate(tags["GPS GPSLongitude"].values))
    if str(tags.get("GPS GPSLatitudeRef", "N")).strip().upper().startswith("S"):
        lat = -lat
    if str(tags.get("GPS GPSLongitudeRef", "E")).strip().upper().startswith("W"):
        lon = -lon
    return lat, lon


def test_gps_matches_exifread(scanned: dict, reference: dict) -> None:
    gps_folder = [name for name in reference if name.startswith("jpg/gps/")]
    assert len(gps_folder) == 9
    compared = 0
    for name, tags in reference.items():
        expected = _exifread_position(tags)
        gps = scanned[name].gps
        if expected is None:
            assert gps.lat is None or gps.source == "xmp", name
            continue
        assert gps.source == "exif", name
        assert abs(gps.lat - expected[0]) < 1e-6 and abs(gps.lon - expected[1]) < 1e-6, name
        compared += 1
    # jpg/gps (9), Kodak, both iPhone HDR shots, the Nokia JPEG, two tests/ files and three HEIC/HEIF.
    assert compared == 18
    assert all(scanned[name].gps.source == "exif" for name in gps_folder)


def _exifread_time(tags: dict) -> str | None:
    for key in ("EXIF DateTimeOriginal", "EXIF DateTimeDigitized"):
        value = str(tags.get(key, "")).strip()
        if len(value) == 19 and value[:4] != "0000":
            suffix = key.removeprefix("EXIF DateTime")
            when = value[:10].replace(":", "-") + "T" + value[11:]
            subsec = str(tags.get(f"EXIF SubSecTime{suffix}", "")).strip()
            offset = str(tags.get(f"EXIF OffsetTime{suffix}", "")).strip()
            return when + (f".{subsec}" if subsec.isdigit() else "") + (offset if len(offset) == 6 else "")
    return None


def test_make_model_and_time_match_exifread(scanned: dict, reference: dict) -> None:
    with_exif = 0
    for name, tags in reference.items():
        meta = scanned[name]
        if not any(key.startswith(("Image ", "EXIF ")) for key in tags):
            continue
        with_exif += 1
        for key, value in (("Image Make", meta.device.make), ("Image Model", meta.device.model)):
            expected = str(tags.get(key, "")).strip() or None
            assert value == expected, (name, key)
        expected_time = _exifread_time(tags)
        if expected_time:
            assert meta.captured == expected_time, name
        elif "Image DateTime" in tags:
            assert meta.captured is not None, name
    assert with_exif == 83  # of the 93 JPEG and HEIC files, those with any EXIF at all


def test_canon_owner_names_match_exifread(scanned: dict, reference: dict) -> None:
    owners = {name: str(tags["MakerNote OwnerName"]).strip() for name, tags in reference.items()
              if str(tags.get("MakerNote OwnerName", "")).strip()}
    assert owners == {name: scanned[name].owner.owner_name for name in owners}
    assert len(owners) == 3  # two Canon cameras named by their owners, one shared by a couple


def test_heic_gives_gps_and_time(scanned: dict) -> None:
    heic = {name: meta for name, meta in scanned.items() if name.startswith("heic/")}
    assert {name for name, meta in heic.items() if meta.gps.lat is not None} == {
        "heic/IMG_5195.HEIC", "heic/mobile/HMD_Nokia_8.3_5G.heif", "heic/mobile/HMD_Nokia_8.3_5G_hdr.heif"}
    assert {name for name, meta in heic.items() if meta.captured} == set(heic) - {"heic/samplefilehub.heif"}
    iphone = heic["heic/IMG_5195.HEIC"]
    assert iphone.captured == "2021-04-11T15:47:53.054-05:00"
    assert (iphone.device.make, iphone.device.model) == ("Apple", "iPhone 11 Pro Max")
    assert heic["heic/mobile/iphone_13_pro_max.HEIC"].thumbnail.present  # the one HEIF thumbnail item


def test_serials_and_xmp_fields_of_real_files(scanned: dict) -> None:
    lightroom = scanned["jpg/tests/87_OSError.jpg"]
    assert lightroom.device.serial == "-1000f46"  # EXIF BodySerialNumber, repeated in XMP
    assert "serial" in lightroom.categories()
    assert lightroom.history == ["2015-11-16T01:59:11-08:00 saved by Adobe Photoshop Lightroom 6.2.1 (Macintosh)"]
    assert scanned["jpg/tests/32-lens_data.jpeg"].device.serial == "3105364"  # Nikon maker note 0x001D
    edited = scanned["jpg/xmp/no_exif.jpg"]
    assert len(edited.history) == 49 and edited.keywords == ["tag"] and edited.owner.creator == "CREDIT"
    army = scanned["jpg/long_description.jpg"]
    assert army.captured == "2003-08-31"  # photoshop:DateCreated, not GIMP's later DateTime
    assert army.other["photoshop:City"] == "KANDAHAR ARMY AIRFIELD"
    assert scanned["jpg/xmp/BlueSquare.jpg"].keywords == ["XMP", "Blue Square", "test file", "Photoshop", ".jpg"]
    # Camera default texts are not identifying text.
    assert "ImageDescription" not in scanned["jpg/corrupted.jpg"].other


def test_real_thumbnails_match_their_photo(scanned: dict) -> None:
    with_thumbnail = {name: meta.thumbnail for name, meta in scanned.items() if meta.thumbnail.present}
    assert len(with_thumbnail) == 56
    assert all(t.difference is not None for t in with_thumbnail.values())
    differ = {name for name, t in with_thumbnail.items() if t.differs}
    assert differ == THUMBNAILS_THAT_DIFFER
    others = [t.difference for name, t in with_thumbnail.items() if name not in differ]
    assert max(others) < thumbnails.DIFFERS_AT / 2  # measured: 0.022 (corrupted.jpg), the rest <= 0.014


def test_crops_of_real_photos_are_caught(decoded: dict, scanned: dict) -> None:
    """The measurement behind DIFFERS_AT: each real photo, cropped, against its uncropped thumbnail."""
    lowest = {"central 80 %": 1.0, "10 % off one side": 1.0}
    for name, meta in scanned.items():
        if not meta.thumbnail.present or name in THUMBNAILS_THAT_DIFFER:
            continue
        small = Image.fromarray(decoded[name])
        small.thumbnail((640, 640))  # the crops are compared at thumbnail scale: 640 px loses nothing
        photo = np.asarray(small)
        h, w = photo.shape[:2]
        uncropped = small.copy()
        uncropped.thumbnail((160, 160))
        crops = {"central 80 %": photo[h // 10: h - h // 10, w // 10: w - w // 10], "10 % off one side": photo[:, : w * 9 // 10]}
        for kind, crop in crops.items():
            lowest[kind] = min(lowest[kind], thumbnails.compare(uncropped, np.ascontiguousarray(crop)))
    assert min(lowest.values()) > thumbnails.DIFFERS_AT * 1.5, lowest


def test_gps_photo_categories_and_risks(scanned: dict) -> None:
    meta = scanned["jpg/gps/DSCN0010.jpg"]
    assert meta.categories() == ["gps", "time", "device", "software", "thumbnail"]
    assert meta.risks() == [
        "GPS position 43.46745, 11.88513: where the photo was taken",
        "Date and time 2008-10-22T16:28:39: when the photo was taken",
        "Camera NIKON COOLPIX P6000: the device that took the photo",
        "Software Nikon Transfer 1.1 W: the programs or firmware that made or edited it",
        "Embedded thumbnail: a small copy of the photo that editing programs may leave unchanged when the picture "
        "is cropped or retouched",
    ]
    report = meta.to_dict()
    assert report["gps"] == {"lat": pytest.approx(43.4674483), "lon": pytest.approx(11.8851267), "altitude_m": None,
                             "source": "exif"}
    assert report["thumbnail"]["present"] is True and report["thumbnail"]["differs"] is False


def test_phone_video(data: Path) -> None:
    # street_faces.mp4 was re-muxed by FFmpeg: it carries no place, time or device, only the muxer's name.
    meta = read_metadata(data / "video" / "street_faces.mp4")
    assert meta.kind == "video"
    assert (meta.gps.lat, meta.captured, meta.device.make) == (None, None, None)
    assert meta.software == ["Lavf58.29.100"] and meta.categories() == ["software"]


# --- files built from a real photo ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo(data: Path) -> np.ndarray:
    return read_image(data / SAMPLES / "jpg" / "gps" / "DSCN0010.jpg").pixels


def _real_exif(data: Path) -> Image.Exif:
    """The EXIF of a real Nikon photo with GPS (43.4674483, 11.8851267), to put into files built here."""
    with Image.open(data / SAMPLES / "jpg" / "gps" / "DSCN0010.jpg") as image:
        return image.getexif()  # parsed from the EXIF bytes in memory, so it outlives the file


def _jpeg(image: Image.Image, **options: object) -> bytes:
    stream = io.BytesIO()
    image.save(stream, "JPEG", quality=90, **options)
    return stream.getvalue()


def _exif_with_thumbnail(exif: Image.Exif, thumbnail_jpeg: bytes) -> bytes:
    """EXIF bytes whose IFD1 holds ``thumbnail_jpeg`` (Pillow writes IFD0 and its sub-IFDs, not IFD1)."""
    block = bytearray(exif.tobytes()[6:])
    endian = "<" if block[:2] == b"II" else ">"
    (count,) = struct.unpack(endian + "H", block[8:10])
    next_at = 10 + 12 * count
    block += b"\x00" * (len(block) % 2)
    ifd1 = len(block)
    data_at = ifd1 + 2 + 3 * 12 + 4
    block[next_at:next_at + 4] = struct.pack(endian + "I", ifd1)
    block += struct.pack(endian + "H", 3)
    block += struct.pack(endian + "HHIHH", 0x0103, 3, 1, 6, 0)  # compression: JPEG
    block += struct.pack(endian + "HHII", 0x0201, 4, 1, data_at)
    block += struct.pack(endian + "HHII", 0x0202, 4, 1, len(thumbnail_jpeg))
    block += struct.pack(endian + "I", 0) + thumbnail_jpeg
    return b"Exif\x00\x00" + bytes(block)


def _thumbnail_of(pixels: np.ndarray) -> bytes:
    image = Image.fromarray(pixels)
    image.thumbnail((160, 160))
    return _jpeg(image)


def test_cropped_photo_with_uncropped_thumbnail(tmp_path: Path, photo: np.ndarray, data: Path) -> None:
    exif = _real_exif(data)
    width = photo.shape[1]
    cropped = np.ascontiguousarray(photo[:, int(width * 0.3):])  # someone on the left cut out
    leaky, honest = tmp_path / "cropped.jpg", tmp_path / "honest.jpg"
    leaky.write_bytes(_jpeg(Image.fromarray(cropped), exif=_exif_with_thumbnail(exif, _thumbnail_of(photo))))
    honest.write_bytes(_jpeg(Image.fromarray(cropped), exif=_exif_with_thumbnail(exif, _thumbnail_of(cropped))))
    before = leaky.read_bytes()
    meta = read_metadata(leaky)
    assert leaky.read_bytes() == before
    assert meta.thumbnail.present and meta.thumbnail.differs is True
    assert "thumbnail_differs" in meta.categories()
    assert "Embedded thumbnail differs from the photo: it may show what was cropped or edited out" in meta.risks()
    assert meta.gps.lat == pytest.approx(43.4674483, abs=1e-6)  # the rest of the EXIF is still read
    control = read_metadata(honest, pixels=read_image(honest).pixels)
    assert control.thumbnail.present and control.thumbnail.differs is False


MWG_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
   xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
   xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:dc="http://purl.org/dc/elements/1.1/"
   xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.498N" exif:GPSLongitude="2,17.67E">
  <mwg-rs:Regions rdf:parseType="Resource">
   <mwg-rs:AppliedToDimensions stDim:w="640" stDim:h="480" stDim:unit="pixel"/>
   <mwg-rs:RegionList><rdf:Bag>
    <rdf:li><rdf:Description mwg-rs:Name="Jane Doe" mwg-rs:Type="Face">
     <mwg-rs:Area stArea:x="0.25" stArea:y="0.4" stArea:w="0.1" stArea:h="0.2" stArea:unit="normalized"/>
    </rdf:Description></rdf:li>
    <rdf:li rdf:parseType="Resource"><mwg-rs:Type>Face</mwg-rs:Type><mwg-rs:Name>John Smith</mwg-rs:Name>
     <mwg-rs:Area rdf:parseType="Resource"><stArea:x>0.7</stArea:x><stArea:y>0.5</stArea:y><stArea:w>0.2</stArea:w>
      <stArea:h>0.3</stArea:h><stArea:unit>normalized</stArea:unit></mwg-rs:Area></rdf:li>
    <rdf:li><rdf:Description mwg-rs:Name="Rex" mwg-rs:Type="Pet"><mwg-rs:Area stArea:x="0.5" stArea:y="0.5"
     stArea:w="0.1" stArea:h="0.1"/></rdf:Description></rdf:li>
   </rdf:Bag></mwg-rs:RegionList>
  </mwg-rs:Regions>
  <Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>Jane Doe</rdf:li><rdf:li>Mary Major</rdf:li></rdf:Bag></Iptc4xmpExt:PersonInImage>
  <dc:subject><rdf:Bag><rdf:li>protest</rdf:li><rdf:li>Paris</rdf:li></rdf:Bag></dc:subject>
 </rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""

MP_XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:MP="http://ns.microsoft.com/photo/1.2/"
   xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#" xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#">
  <MP:RegionInfo rdf:parseType="Resource"><MPRI:Regions><rdf:Bag>
   <rdf:li MPReg:Rectangle="0.1, 0.2, 0.3, 0.4" MPReg:PersonDisplayName="Ann Lee"/>
  </rdf:Bag></MPRI:Regions></MP:RegionInfo>
 </rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_xmp_face_regions_people_keywords_and_gps(tmp_path: Path, photo: np.ndarray) -> None:
    path = tmp_path / "tagged.jpg"
    path.write_bytes(_jpeg(Image.fromarray(photo), xmp=MWG_XMP.encode()))
    meta = read_metadata(path)
    regions = [region.to_dict() for region in meta.face_regions]
    assert regions == [{"name": "Jane Doe", "box": pytest.approx([0.2, 0.3, 0.3, 0.5]), "source": "mwg"},
                       {"name": "John Smith", "box": pytest.approx([0.6, 0.35, 0.8, 0.65]), "source": "mwg"}]
    assert meta.people == ["Jane Doe", "Mary Major", "John Smith"]
    assert meta.keywords == ["protest", "Paris"]
    assert (meta.gps.lat, meta.gps.lon, meta.gps.source) == (pytest.approx(48.8583), pytest.approx(2.2945), "xmp")
    assert {"gps", "face_regions", "people_tags", "keywords"} <= set(meta.categories())
    assert "2 face regions marked, named Jane Doe, John Smith: who is where in the photo" in meta.risks()
    microsoft = xmp.face_regions("mp", xmp.parse("mp", MP_XMP))
    assert [(r.name, r.box_xyxy, r.source) for r in microsoft] == [("Ann Lee", pytest.approx((0.1, 0.2, 0.4, 0.6)), "mp")]


def _iptc_segment(datasets: list[tuple[int, bytes]]) -> bytes:
    """An APP13 Photoshop segment holding IPTC-IIM record 2 datasets (UTF-8 declared in 1:90)."""
    iim = b"\x1c\x01\x5a\x00\x03\x1b%G" + b"".join(
        b"\x1c\x02" + bytes([number]) + struct.pack(">H", len(value)) + value for number, value in datasets)
    iim += b"\x00" * (len(iim) % 2)
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    body = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(body) + 2) + body


def test_iptc_keywords_byline_and_place(tmp_path: Path, photo: np.ndarray) -> None:
    jpeg = _jpeg(Image.fromarray(photo))
    iptc = _iptc_segment([(25, b"march"), (25, "Zürich".encode()), (80, b"Jane Doe"), (116, b"(c) Jane Doe"),
                          (90, b"Zurich"), (55, b"20240714"), (60, b"210311+0200")])
    path = tmp_path / "iptc.jpg"
    path.write_bytes(jpeg[:2] + iptc + jpeg[2:])
    meta = read_metadata(path)
    assert meta.keywords == ["march", "Zürich"]
    assert (meta.owner.creator, meta.owner.copyright) == ("Jane Doe", "(c) Jane Doe")
    assert meta.other["IPTC:City"] == "Zurich"
    assert meta.captured == "2024-07-14T21:03:11+02:00"
    assert {"owner", "keywords", "text", "time"} <= set(meta.categories())


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&lol9;</dc:title>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_xml_bomb_in_xmp_is_refused(tmp_path: Path, photo: np.ndarray, data: Path,
                                    caplog: pytest.LogCaptureFixture) -> None:
    exif = _real_exif(data)
    path = tmp_path / "bomb.jpg"
    path.write_bytes(_jpeg(Image.fromarray(photo), exif=exif.tobytes(), xmp=BOMB))
    with caplog.at_level(logging.WARNING, logger="bioveil"):
        meta = read_metadata(path)
    assert any("XMP refused" in record.getMessage() for record in caplog.records)
    assert "dc:title" not in meta.other
    assert meta.gps.lat == pytest.approx(43.4674483, abs=1e-6) and meta.device.model == "COOLPIX P6000"


SUBJECT_XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>beach</rdf:li>
 </rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"""


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "HEIF"])
def test_other_image_formats(tmp_path: Path, photo: np.ndarray, data: Path, fmt: str) -> None:
    from PIL.PngImagePlugin import PngInfo

    from bioveil.media.image import FORMATS, _register_heif

    _register_heif()
    exif = _real_exif(data)
    options: dict[str, object] = {"exif": exif, "xmp": SUBJECT_XMP.encode()}
    if fmt == "PNG":  # Pillow writes PNG XMP and text as iTXt/tEXt chunks
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", SUBJECT_XMP)
        info.add_text("Author", "Jane Doe")
        options = {"exif": exif, "pnginfo": info}
    elif fmt == "TIFF":  # ... and TIFF XMP as tag 700
        exif[700] = SUBJECT_XMP.encode()
        options = {"exif": exif}
    path = tmp_path / f"photo{FORMATS[fmt][1][0]}"
    Image.fromarray(photo).save(path, fmt, **options)
    meta = read_metadata(path)
    assert (meta.gps.lat, meta.gps.lon) == (pytest.approx(43.4674483), pytest.approx(11.8851267))
    assert (meta.device.model, meta.captured) == ("COOLPIX P6000", "2008-10-22T16:28:39")
    assert meta.keywords == ["beach"]
    assert meta.owner.artist == ("Jane Doe" if fmt == "PNG" else None)


def _gps_jpeg(path: Path, gps: dict[int, object]) -> Path:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestMake"
    exif[ExifTags.IFD.GPSInfo] = gps
    path.write_bytes(_jpeg(Image.new("RGB", (64, 48), (90, 120, 150)), exif=exif.tobytes()))
    return path


def _dms(*values: float) -> tuple[IFDRational, ...]:
    return tuple(IFDRational(Fraction(v).limit_denominator(10**6)) for v in values)


@pytest.mark.parametrize(("gps", "expected"), [
    ({1: "S", 2: _dms(33, 52, 7.6), 3: "W", 4: _dms(151, 12, 30.24), 5: b"\x01", 6: IFDRational(12, 1)},
     (-33.8687778, -151.2084, -12.0)),
    ({1: "N", 2: _dms(48, 51.498), 3: "E", 4: _dms(2, 17.67)}, (48.8583, 2.2945, None)),  # degrees, decimal minutes
    ({1: "N", 2: (IFDRational(0, 0),) * 3, 3: "E", 4: (IFDRational(0, 0),) * 3}, None),  # 0/0 placeholders
    ({1: "N", 2: _dms(0, 0, 0), 3: "E", 4: _dms(0, 0, 0)}, None),  # "null island": no fix
    ({1: "N", 2: _dms(95, 0, 0), 3: "E", 4: _dms(2, 0, 0)}, None),  # latitude out of range
    ({1: "N", 2: _dms(48, 75, 0), 3: "E", 4: _dms(2, 0, 0)}, None),  # 75 minutes
])
def test_exif_gps_forms(tmp_path: Path, gps: dict, expected: tuple | None) -> None:
    meta = read_metadata(_gps_jpeg(tmp_path / "gps.jpg", gps))
    if expected is None:
        assert meta.gps.lat is None and meta.gps.source is None and "gps" not in meta.categories()
    else:
        assert (meta.gps.lat, meta.gps.lon, meta.gps.altitude_m) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("text", "expected"), [
    ("+48.8583+002.2945+035.000/", (48.8583, 2.2945, 35.0)),
    ("+48.8583+002.2945/", (48.8583, 2.2945, None)),
    ("-33.8688+151.2093+058.000CRSWGS_84/", (-33.8688, 151.2093, 58.0)),
    ("+4851.498+00217.670/", (48.8583, 2.2945, None)),  # degrees and decimal minutes
    ("+485129.88+0021740.2/", (48.858300, 2.294500, None)),  # degrees, minutes, seconds
    ("+95.0000+002.2945/", None),
    ("somewhere", None),
])
def test_iso6709(text: str, expected: tuple | None) -> None:
    assert _iso6709(text) == (None if expected is None else pytest.approx(expected, abs=1e-5))


@pytest.mark.parametrize(("muxer", "suffix", "options", "tags"), [
    ("mov", ".mov", {}, {"location": "+48.8583+002.2945+035.000/", "make": "Apple", "model": "iPhone 12",
                         "creation_time": "2024-07-14T19:03:11.000000Z"}),  # QuickTime ©xyz, ©mak, ©mod
    ("mp4", ".mp4", {"movflags": "use_metadata_tags"},
     {"com.apple.quicktime.location.ISO6709": "+48.8583+002.2945+035.000/", "com.apple.quicktime.make": "Apple",
      "com.apple.quicktime.model": "iPhone 12", "com.apple.quicktime.creationdate": "2024-07-14T21:03:11+0200"}),
    ("mp4", ".mp4", {}, {"location": "+48.8583+002.2945/", "creation_time": "2024-07-14T19:03:11.000000Z"}),  # 3GPP loci
])
def test_phone_video_tags(tmp_path: Path, muxer: str, suffix: str, options: dict, tags: dict) -> None:
    import av

    path = tmp_path / f"phone{suffix}"
    with av.open(str(path), "w", format=muxer, options=options) as container:
        for key, value in tags.items():
            container.metadata[key] = value
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode(None))
    meta = read_metadata(path)
    assert meta.kind == "video" and meta.gps.source == "video"
    assert (meta.gps.lat, meta.gps.lon) == (pytest.approx(48.8583), pytest.approx(2.2945))
    assert meta.captured == tags.get("com.apple.quicktime.creationdate", tags.get("creation_time"))
    assert meta.device.model == tags.get("model", tags.get("com.apple.quicktime.model"))
    assert meta.risks()[0].startswith("GPS position 48.85830, 2.29450")
    assert meta.risks()[0].endswith(": where the video was recorded")


def test_broken_files(tmp_path: Path, data: Path) -> None:
    original = (data / SAMPLES / "jpg" / "gps" / "DSCN0010.jpg").read_bytes()
    empty, text, header = tmp_path / "empty.jpg", tmp_path / "notes.jpg", tmp_path / "header.jpg"
    empty.write_bytes(b"")
    text.write_bytes(b"not a photo at all\n" * 10)
    header.write_bytes(original[:300])  # the EXIF segment itself is cut
    for path, error in ((empty, EmptyFileError), (text, UnsupportedFormatError), (header, CorruptMediaError)):
        with pytest.raises(error):
            read_metadata(path)
    # The pixels cut short: the metadata before them is still read, the thumbnail is not compared.
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(original[: len(original) * 2 // 3])
    meta = read_metadata(truncated)
    assert meta.gps.lat == pytest.approx(43.4674483, abs=1e-6)
    assert meta.thumbnail.present and meta.thumbnail.differs is None and meta.thumbnail.difference is None
    # A garbage EXIF block: nothing from it, no crash.
    jpeg = _jpeg(Image.new("RGB", (64, 48)))
    garbage = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08" + bytes(range(256)) * 4
    broken_exif = tmp_path / "garbage.jpg"
    broken_exif.write_bytes(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(garbage) + 2) + garbage + jpeg[2:])
    assert read_metadata(broken_exif).categories() == []
