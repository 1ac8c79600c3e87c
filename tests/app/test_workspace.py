"""The workspace: private, under ids, size-limited, removed on exit, and a killed app's one removed at the next start."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from bioveil.app.workspace import Workspace, sweep_stale
from tests.app.running import running_app, started_cli


def test_uploads_go_under_ids_in_a_private_folder(tmp_path: Path, data: Path) -> None:
    photo = data / "portraits" / "examples" / "obama-720p.jpg"
    with running_app(tmp_path / "app") as app, app.client() as client:
        assert stat.S_IMODE(os.stat(app.workspace.path).st_mode) == 0o700
        item = client.put("/api/items", params={"name": "../../../etc/evil name.jpg"}, content=photo.read_bytes()).json()
        assert item["name"] == "evil name.jpg"
        stored = list(app.workspace.uploads.iterdir())
        assert [path.name for path in stored] == [f"{item['id']}.jpg"]
        assert stored[0].read_bytes() == photo.read_bytes()
        refused = client.put("/api/items", params={"name": "notes.txt"}, content=b"hello")
        assert refused.status_code == 415 and "UnsupportedFormatError" in refused.text
        workspace = app.workspace.path
    assert not workspace.exists()  # removed on exit


def test_an_upload_over_the_limit_leaves_nothing(tmp_path: Path) -> None:
    with running_app(tmp_path / "app", max_upload_bytes=1 << 20) as app, app.client() as client:
        response = client.put("/api/items", params={"name": "big.jpg"}, content=b"\xff" * (3 << 20))
        assert response.status_code == 413 and "--max-upload-mb" in response.text
        assert list(app.workspace.uploads.iterdir()) == []
        assert client.get("/api/state").json()["items"] == []


def test_a_killed_apps_workspace_is_removed_at_the_next_start(tmp_path: Path) -> None:
    root = tmp_path / "app"
    code = ("import os, sys; from pathlib import Path; from bioveil.app.workspace import Workspace; "
            f"w = Workspace(root=Path({str(root)!r})); (w.uploads / 'x.jpg').write_bytes(b'x'); print(w.path, flush=True); "
            "os._exit(9)")  # dies without cleaning up, as a killed process does
    dead = Path(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip())
    assert dead.exists()
    with Workspace(root=root) as alive:
        assert not dead.exists()
        assert sweep_stale(root) == []  # a running app's workspace is never taken for a stale one
        assert alive.path.exists()


def test_a_running_apps_workspace_survives_another_start(tmp_path: Path) -> None:
    with Workspace(root=tmp_path) as first, Workspace(root=tmp_path) as second:
        assert first.path.exists() and second.path.exists() and first.path != second.path


def test_the_cli_prints_the_address_and_removes_its_workspace_on_ctrl_c(tmp_path: Path) -> None:
    with started_cli([sys.executable, "-m", "bioveil.cli.main", "app", "--no-browser"], tmp_path) as app:
        page = app.client.get(app.base + "/")
        assert page.status_code == 200 and "<title>bioveil</title>" in page.text
        assert list((tmp_path / "bioveil" / "app").glob("run-*"))
    assert list((tmp_path / "bioveil" / "app").glob("run-*")) == []
