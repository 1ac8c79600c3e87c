"""The app with the bad files ``mask`` is tested with: each gets its named error, in words, on its card;
the rest of the batch goes on, and the download holds only the good ones (no half-written file)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.app.running import running_app
from tests.cli.test_mask_photos import make_bomb
from tests.cli.test_mask_video import audio_only


def test_bad_files_fail_by_name_and_the_rest_goes_on(data: Path, tmp_path: Path) -> None:
    good = data / "portraits" / "examples" / "obama-720p.jpg"
    files = tmp_path / "files"
    files.mkdir()
    (files / "empty.jpg").write_bytes(b"")
    (files / "notes.jpg").write_text("this is a text file, not a photo\n")
    (files / "cut.jpg").write_bytes(good.read_bytes()[:4000])
    make_bomb(files / "bomb.png")
    audio_only(files / "sound.mp4")
    expected = {"empty.jpg": "EmptyFileError", "notes.jpg": "UnsupportedFormatError", "cut.jpg": "CorruptMediaError",
                "bomb.png": "ImageTooLargeError", "sound.mp4": "NoVideoStreamError", good.name: None}
    with running_app(tmp_path / "app") as app, app.client() as client:
        for path in [*sorted(files.iterdir()), good]:
            assert client.put("/api/items", params={"name": path.name}, content=path.read_bytes()).status_code == 200
        app.wait_job(client, client.post("/api/scan", json={}).json())
        items = {item["name"]: item for item in client.get("/api/state").json()["items"]}
        assert {name: (item["error"] or {}).get("type") for name, item in items.items()} == expected
        for name, kind in expected.items():
            if kind is not None:
                error = items[name]["error"]
                assert error["plain"] and error["message"] and str(app.workspace.path) not in error["message"], error
        job = app.wait_job(client, client.post("/api/export").json())
        assert job["state"] == "done" and job["result"]["failed"] == len(expected) - 1
        archive = client.get(job["result"]["download"])
        target = tmp_path / "all.zip"
        target.write_bytes(archive.content)
        assert zipfile.ZipFile(target).namelist() == [good.name]
        failed = {entry["name"]: entry["error"] for entry in job["result"]["files"] if entry["status"] != "ok"}
        assert failed == {name: kind for name, kind in expected.items() if kind is not None}
        assert client.get(f"/api/items/{items['cut.jpg']['id']}/download").status_code == 409


def test_a_cancelled_export_leaves_no_download(data: Path, tmp_path: Path) -> None:
    import time

    video = data / "video" / "street_faces.mp4"
    with running_app(tmp_path / "app") as app, app.client() as client:
        client.put("/api/items", params={"name": video.name}, content=video.read_bytes())
        app.wait_job(client, client.post("/api/scan", json={}).json())
        job = client.post("/api/export").json()
        deadline = time.monotonic() + 120
        while client.get(f"/api/jobs/{job['id']}").json()["frames"] < 5:  # cancelled mid-video
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.post(f"/api/jobs/{job['id']}/cancel").json() == {"cancelled": True}
        finished = app.wait_job(client, job)
        assert finished["state"] == "cancelled" and finished["frames_total"] == 105
        assert client.get(f"/api/downloads/{job['id']}.zip").status_code == 404
        leftovers = [path for path in app.workspace.folder("masked").rglob("*") if path.is_file() and path.suffix != ".sqlite"]
        assert leftovers == []  # no half-written video
        assert list(app.workspace.folder("downloads").iterdir()) == []
