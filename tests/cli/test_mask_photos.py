"""`bioveil mask` end to end on real files, driven through the CLI's own entry point."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bioveil.cli.main import EXIT_FAILURES, EXIT_NOTHING, EXIT_OK, main
from bioveil.errors import ImageTooLargeError
from bioveil.media.image import read_image
from tests.media.metadata import metadata_left


def digest_tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_json(args: list[str], report: Path) -> tuple[int, dict]:
    code = main(["mask", "--no-progress", "--json", str(report), *args])
    return code, json.loads(report.read_text())


@pytest.fixture(scope="session")
def masked_samples(data, tmp_path_factory):
    """Every real camera file in exif_samples, masked once with the defaults."""
    out = tmp_path_factory.mktemp("exif_out")
    code, report = run_json([str(data / "exif_samples"), "-o", str(out)], out.parent / "exif.json")
    return code, report, out


def test_every_camera_file_is_masked_and_keeps_its_format(masked_samples, data):
    code, report, out = masked_samples
    assert code == EXIT_OK, [f for f in report["files"] if f["status"] != "ok"]
    assert report["summary"]["files"] >= 100
    for entry in report["files"]:
        source, output = Path(entry["input"]), Path(entry["output"])
        assert output.is_relative_to(out)
        assert output.relative_to(out) == source.relative_to(data / "exif_samples")
        with Image.open(source) as a, Image.open(output) as b:
            assert b.format == a.format.replace("MPO", "JPEG"), output
        assert read_image(output).pixels.shape == read_image(source).pixels.shape


def test_no_metadata_survives(masked_samples):
    _, report, _ = masked_samples
    leaks = {entry["output"]: metadata_left(Path(entry["output"])) for entry in report["files"]}
    assert {path: found for path, found in leaks.items() if found} == {}


def test_the_metadata_check_finds_what_cameras_wrote(data):
    assert "EXIF" in metadata_left(data / "exif_samples" / "jpg" / "gps" / "DSCN0010.jpg")
    assert "XMP" in metadata_left(data / "exif_samples" / "jpg" / "xmp" / "BlueSquare.jpg")
    assert any("EXIF" in f for f in metadata_left(data / "exif_samples" / "heic" / "IMG_5195.HEIC"))


def test_keep_metadata_keeps_gps_but_resets_orientation(data, tmp_path):
    source = data / "exif_samples" / "jpg" / "gps" / "DSCN0010.jpg"
    assert main(["mask", "--no-progress", "--keep-metadata", str(source), "-o", str(tmp_path)]) == EXIT_OK
    with Image.open(tmp_path / source.name) as image:
        exif = image.getexif()
        assert exif.get_ifd(0x8825), "GPS IFD kept"
        assert exif.get(0x0112, 1) == 1


def test_alpha_and_png_format_kept(data, tmp_path):
    source = data / "portraits" / "examples" / "alex-lacamoire.png"
    with Image.open(source) as image:
        mode = image.mode
    assert main(["mask", "--no-progress", str(source), "-o", str(tmp_path)]) == EXIT_OK
    with Image.open(tmp_path / source.name) as image:
        assert image.format == "PNG"
        assert ("A" in image.mode) == ("A" in mode)


def test_faces_are_masked_where_detected_and_reported(data, tmp_path):
    source = data / "portraits" / "examples" / "two_people.jpg"
    code, report = run_json(["--method", "solid", "--color", "255,0,255", "--shape", "box", "--mask-scale", "1.0",
                             str(source), "-o", str(tmp_path)], tmp_path / "r.json")
    assert code == EXIT_OK
    faces = report["files"][0]["faces"]
    assert len([f for f in faces if f["score"] > 0.5]) == 2
    out = read_image(tmp_path / source.name).pixels.astype(int)
    for face in faces:
        x1, y1, x2, y2 = (round(v) for v in face["box"])
        x1, y1 = max(x1, 0), max(y1, 0)
        inner = out[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2]
        assert np.abs(inner - [255, 0, 255]).max() <= 40  # JPEG ringing only


def make_bomb(path: Path, side: int = 50_000) -> None:
    """A real 50000x50000 1-bit PNG (a few hundred kB on disk, 2.5 gigapixels decoded)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    compressor, row, parts = zlib.compressobj(9), b"\x00" + bytes((side + 7) // 8), []
    for _ in range(side):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def bad_batch(data, tmp_path_factory):
    """A folder of broken and tricky files beside good ones."""
    folder = tmp_path_factory.mktemp("bad_in")
    samples = data / "exif_samples" / "jpg"
    broken_files = [*sorted((samples / "invalid").glob("*.jpg")), samples / "corrupted.jpg"]
    broken_files += sorted((samples / "tests").glob("*"))
    for broken in broken_files:
        shutil.copy(broken, folder / f"{broken.parent.name}-{broken.name}")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is a text file, not a photo\n")
    good = (data / "portraits" / "examples" / "obama.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "really-a-jpeg.png").write_bytes(good)
    camera = (samples / "Fujifilm_FinePix6900ZOOM.jpg").read_bytes()
    (folder / "cut-in-exif.jpg").write_bytes(camera[: len(camera) // 3])
    make_bomb(folder / "bomb.png")
    return folder


EXPECTED_ERRORS = {
    "empty.jpg": "EmptyFileError",
    "notes.jpg": "UnsupportedFormatError",
    "truncated.jpg": "CorruptMediaError",
    "bomb.png": "ImageTooLargeError",
    "cut-in-exif.jpg": "CorruptMediaError",
}


def test_bad_inputs_get_named_errors_and_the_batch_completes(bad_batch, tmp_path):
    before = digest_tree(bad_batch)
    out = tmp_path / "out"
    code, report = run_json([str(bad_batch), str(tmp_path / "missing.jpg"), "-o", str(out)], tmp_path / "r.json")
    assert code == EXIT_FAILURES
    by_name = {Path(entry["input"]).name: entry for entry in report["files"]}
    assert by_name["missing.jpg"]["error"] == "UnreadableInputError"
    for name, error in EXPECTED_ERRORS.items():
        entry = by_name[name]
        assert (entry["status"], entry["error"]) == ("failed", error), entry
        assert name in entry["message"] and entry["output"] is None
        assert not (out / name).exists()
    # Files with broken metadata but decodable pixels are masked, and lose that metadata.
    others = [entry for name, entry in by_name.items() if name not in EXPECTED_ERRORS and name != "missing.jpg"]
    assert len(others) >= 19 and all(entry["status"] == "ok" for entry in others), others
    assert all(metadata_left(Path(entry["output"])) == [] for entry in others)
    # A JPEG named .png is read by its content and written as what it is.
    assert by_name["really-a-jpeg.png"]["output"].endswith("really-a-jpeg.jpg")
    assert by_name["really-a-jpeg.png"]["notes"]
    assert not [p for p in out.rglob("*") if ".part" in p.name]
    assert digest_tree(bad_batch) == before


def test_output_into_the_input_folder_never_overwrites(data, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("obama.jpg", "biden.jpg"):
        shutil.copy(data / "portraits" / "examples" / name, folder / name)
    before = digest_tree(folder)
    code, report = run_json([str(folder), "-o", str(folder)], tmp_path / "r.json")
    assert code == EXIT_FAILURES
    assert {entry["error"] for entry in report["files"]} == {"OutputError"}
    assert "overwrite an input" in report["files"][0]["message"]
    assert digest_tree(folder) == before


def test_two_inputs_never_write_one_output(data, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    photo = (data / "portraits" / "examples" / "obama.jpg").read_bytes()
    (folder / "a.jpg").write_bytes(photo)
    (folder / "a.png").write_bytes(photo)  # a JPEG too: its output would be a.jpg as well
    code, report = run_json([str(folder), "-o", str(tmp_path / "out")], tmp_path / "r.json")
    assert code == EXIT_FAILURES
    status = {Path(e["input"]).name: (e["status"], e["error"]) for e in report["files"]}
    assert status == {"a.jpg": ("ok", None), "a.png": ("failed", "OutputError")}


def test_photos_over_pillows_own_limit_are_read(tmp_path):
    path = tmp_path / "big.png"
    make_bomb(path, side=9_500)  # 90 million pixels: over Pillow's default limit, under bioveil's
    assert read_image(path).pixels.shape == (9_500, 9_500, 3)
    with pytest.raises(ImageTooLargeError, match="raise --max-pixels"):
        read_image(path, max_pixels=50_000_000)


def test_nothing_to_do_and_usage_errors(tmp_path, capsys):
    (tmp_path / "empty_folder").mkdir()
    assert main(["mask", "--no-progress", str(tmp_path / "empty_folder"), "-o", str(tmp_path / "o")]) == EXIT_NOTHING
    with pytest.raises(SystemExit) as info:
        main(["mask", "x.jpg", "-o", "o", "--color", "300,0,0"])
    assert info.value.code == 2
    assert "R,G,B" in capsys.readouterr().err
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"\xff\xd8 not really")
    assert main(["mask", "--no-progress", str(photo), "-o", str(tmp_path / "o"), "--mask-scale", "0"]) == 2
    assert "mask scale must be a positive factor" in capsys.readouterr().err


def test_unreadable_folder_is_reported_and_the_rest_is_masked(data, tmp_path):
    """Root reads any folder: as root, the CLI runs without the capabilities that bypass permissions."""
    good, locked = tmp_path / "in" / "good", tmp_path / "in" / "locked"
    good.mkdir(parents=True)
    locked.mkdir()
    shutil.copy(data / "portraits" / "examples" / "obama.jpg", good / "obama.jpg")
    shutil.copy(data / "portraits" / "examples" / "biden.jpg", locked / "biden.jpg")
    os.chmod(locked, 0)
    command = [sys.executable, "-m", "bioveil.cli.main", "mask", "--no-progress", "--json", str(tmp_path / "r.json"),
               str(tmp_path / "in"), "-o", str(tmp_path / "out")]
    if os.geteuid() == 0:
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to drop root's file capabilities"
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *command]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    finally:
        os.chmod(locked, 0o755)
    assert result.returncode == EXIT_FAILURES, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    status = {Path(entry["input"]).name: (entry["status"], entry["error"]) for entry in report["files"]}
    assert status == {"locked": ("failed", "UnreadableInputError"), "obama.jpg": ("ok", None)}
    assert (tmp_path / "out" / "good" / "obama.jpg").exists()
