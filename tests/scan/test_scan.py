"""``bioveil scan`` end to end on real photos: people linked across photos, the JSON schema, the cache,
``--fail-on``, and bad inputs that fail alone with their named errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bioveil.cli.main import main
from bioveil.scan.cluster import cluster_faces
from bioveil.scan.collection import ScanSettings, scan_collection

PEOPLE = ["Colin_Powell", "Gloria_Macapagal_Arroyo", "Vladimir_Putin"]


def test_clusters_need_two_faces_and_are_numbered_by_size() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 128)).astype(np.float32)
    points = np.concatenate([centres[0] + 0.01 * rng.normal(size=(4, 128)), centres[1] + 0.01 * rng.normal(size=(2, 128)),
                             centres[2:3]]).astype(np.float32)
    labels = cluster_faces(points, threshold=0.5)
    assert labels.tolist() == [0, 0, 0, 0, 1, 1, -1]


@pytest.fixture(scope="module")
def collection(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three photos each of three people, two strangers, a GPS camera file, and three broken files."""
    root = tmp_path_factory.mktemp("collection")
    for name in PEOPLE:
        for photo in sorted((data / "lfw" / "identities" / name).glob("*.jpg"))[:3]:
            shutil.copy(photo, root / photo.name)
    for photo in sorted((data / "lfw" / "distractors").glob("*.jpg"))[:2]:
        shutil.copy(photo, root / photo.name)
    gps = sorted((data / "exif_samples" / "jpg" / "gps").glob("*.jpg"))[0]
    shutil.copy(gps, root / "camera_with_gps.jpg")
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.jpg").write_text("not a photo")
    sample = (data / "lfw" / "identities" / PEOPLE[0] / f"{PEOPLE[0]}_0001.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(sample[: len(sample) // 3])
    return root


@pytest.fixture(scope="module")
def scanned(collection: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict]:
    out = tmp_path_factory.mktemp("scan")
    code = main(["scan", "--no-progress", "--cache", str(out / "cache"), str(collection), "--json", str(out / "scan.json")])
    return code, json.loads((out / "scan.json").read_text())


@pytest.mark.data
def test_each_person_is_one_cluster_across_their_photos(scanned: tuple[int, dict]) -> None:
    _, report = scanned
    by_name: dict[str, set[str | None]] = {name: set() for name in PEOPLE}
    for record in report["files"]:
        name = Path(record["path"]).stem.rsplit("_", 1)[0]
        if name in by_name and record["faces"]:
            centre = np.array([record["width"], record["height"]]) / 2
            boxes = np.array([face["box"] for face in record["faces"]])
            target = int(np.argmin(np.hypot(*(((boxes[:, :2] + boxes[:, 2:]) / 2) - centre).T)))
            by_name[name].add(record["faces"][target]["person"])
    ids = [next(iter(persons)) for persons in by_name.values()]
    assert all(len(persons) == 1 for persons in by_name.values()), by_name
    assert None not in ids and len(set(ids)) == len(PEOPLE)
    persons = {person["id"]: person for person in report["persons"]}
    for person_id in ids:
        assert len(persons[person_id]["files"]) == 3


@pytest.mark.data
def test_report_follows_the_schema(scanned: tuple[int, dict]) -> None:
    code, report = scanned
    assert code == 1  # three broken files
    assert report["schema"] == "bioveil.scan/1"
    assert report["summary"]["files"] == 3 * len(PEOPLE) + 2 + 1 + 3
    for record in report["files"]:
        assert set(record) >= {"path", "status", "faces", "metadata", "categories", "risks"}
        assert record["status"] in ("ok", "failed")
        for face in record["faces"]:
            x1, y1, x2, y2 = face["box"]
            assert 0 <= x1 < x2 <= record["width"] + 1 and 0 <= y1 < y2 <= record["height"] + 1
            assert isinstance(face["score"], float) and (face["person"] is None or face["person"].startswith("P"))
        if record["status"] == "ok":
            gps = record["metadata"]["gps"]
            assert gps is None or (-90 <= gps["lat"] <= 90 and -180 <= gps["lon"] <= 180)
    for person in report["persons"]:
        assert person["id"].startswith("P") and len(person["files"]) >= 1 and person["risks"]


@pytest.mark.data
def test_gps_is_found_and_broken_files_get_named_errors(scanned: tuple[int, dict]) -> None:
    _, report = scanned
    records = {Path(record["path"]).name: record for record in report["files"]}
    camera = records["camera_with_gps.jpg"]
    assert camera["metadata"]["gps"] is not None and "gps" in camera["categories"]
    assert any("GPS" in risk for risk in camera["risks"])
    assert records["empty.jpg"]["error"]["type"] == "EmptyFileError"
    assert records["notes.jpg"]["error"]["type"] == "UnsupportedFormatError"
    assert records["truncated.jpg"]["error"]["type"] == "CorruptMediaError"


@pytest.mark.data
def test_fail_on_exits_4_only_for_categories_found(collection: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for photo in sorted(collection.glob(f"{PEOPLE[0]}_*.jpg")):
        shutil.copy(photo, photos)
    cache = ["--cache", str(tmp_path / "cache"), "--no-progress"]
    assert main(["scan", *cache, str(photos), "--fail-on", "gps,serial"]) == 0
    assert main(["scan", *cache, str(photos), "--fail-on", "faces"]) == 4
    assert main(["scan", *cache, str(collection / "camera_with_gps.jpg"), "--fail-on", "gps"]) == 4
    with pytest.raises(SystemExit) as usage:
        main(["scan", *cache, str(photos), "--fail-on", "gsp"])
    assert usage.value.code == 2


@pytest.mark.data
def test_rerun_only_scans_new_files(collection: Path, tmp_path: Path) -> None:
    folder = tmp_path / "growing"
    folder.mkdir()
    for photo in sorted(collection.glob(f"{PEOPLE[1]}_*.jpg"))[:2]:
        shutil.copy(photo, folder)
    settings = ScanSettings(cache_dir=tmp_path / "cache")
    first: list[bool] = []
    scan_collection([folder], settings, progress=lambda scan: first.append(scan.cached)).close()
    shutil.copy(sorted(collection.glob(f"{PEOPLE[1]}_*.jpg"))[2], folder)
    second: list[bool] = []
    result = scan_collection([folder], settings, progress=lambda scan: second.append(scan.cached))
    assert first == [False, False] and sorted(second) == [False, True, True]
    assert len(result.report["persons"]) == 1 and len(result.report["persons"][0]["files"]) == 3
    assert (tmp_path / "cache").stat().st_mode & 0o077 == 0  # biometric data: private to the user
