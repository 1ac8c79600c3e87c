"""``kill -9`` a real ``bioveil mask`` at several points, run the same command again: every output
exists once, byte-identical to an uninterrupted run; files finished before the kill are not redone;
no row says done without its output; no temporary file is left anywhere."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bioveil.batch.manifest import file_sha256, manifest_path
from tests.batch.helpers import copy_photos, outputs, partials, rows
from tests.media.clips import cut

PHOTOS = 8  # WIDER crowd photos: about a quarter of a second each, so the run can be caught in the middle
DEADLINE = 120.0


def command(inputs: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "bioveil.cli.main", "mask", "--no-progress", str(inputs), "-o", str(out)]


def run(inputs: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(inputs, out), capture_output=True, text=True, timeout=DEADLINE, check=False)


def states(out: Path) -> dict[str, int]:
    """Rows per state, read while the run writes (WAL lets a reader in beside the writer)."""
    path = manifest_path(out)
    if not path.exists():
        return {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return dict(db.execute("SELECT state, COUNT(*) FROM files GROUP BY state").fetchall())
        finally:
            db.close()
    except sqlite3.OperationalError:  # the schema not created yet
        return {}


def visible_outputs(out: Path) -> int:
    return sum(1 for path in out.glob("*.jpg")) if out.exists() else 0


def kill_when(inputs: Path, out: Path, ready: Callable[[Path], bool]) -> None:
    """Start the command, SIGKILL it as soon as ``ready(out)``; fail if it ended before that."""
    process = subprocess.Popen(command(inputs, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + DEADLINE
    try:
        while not ready(out):
            if process.poll() is not None:
                pytest.fail(f"the run ended (code {process.returncode}) before the point to kill it at: "
                            f"{process.stderr.read().decode() if process.stderr else ''}")
            if time.monotonic() > deadline:
                pytest.fail("the point to kill the run at never came")
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def photos(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kill") / "in"
    copy_photos(data, folder, PHOTOS)
    return folder


@pytest.fixture(scope="module")
def uninterrupted(photos: Path) -> dict[str, str]:
    out = photos.parent / "uninterrupted"
    finished = run(photos, out)
    assert finished.returncode == 0, finished.stderr
    assert len(outputs(out)) == PHOTOS
    return outputs(out)


POINTS = {
    "in flight, before any output": lambda out: states(out).get("running", 0) > 0 and visible_outputs(out) == 0,
    "after 1 output": lambda out: visible_outputs(out) >= 1,
    "after 3 outputs": lambda out: visible_outputs(out) >= 3,
}


@pytest.mark.data
@pytest.mark.parametrize("point", list(POINTS))
def test_killed_then_rerun_gives_the_uninterrupted_outputs(photos: Path, uninterrupted: dict[str, str], point: str,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "out"
    kill_when(photos, out, POINTS[point])

    # Right after the kill: every row that says done has its output, whole, with the hash it names.
    killed = rows(out)
    done = {name: row for name, row in killed.items() if row["state"] == "done"}
    for row in done.values():
        assert Path(row["output"]).is_file() and file_sha256(Path(row["output"])) == row["output_sha256"]
    for name, digest in outputs(out).items():  # and every output there is a whole one (renamed into place)
        if ".part" not in name:
            assert digest == uninterrupted[name], name
    stamps = {name: Path(row["output"]).stat().st_mtime_ns for name, row in done.items()}

    rerun = run(photos, out)
    assert rerun.returncode == 0, rerun.stderr
    masked = PHOTOS - len(done)
    assert f"{PHOTOS} files: {masked} masked, {len(done)} skipped (done before), 0 failed" in rerun.stdout
    assert outputs(out) == uninterrupted
    assert partials(out) == [] and partials(out.parent) == []
    assert {name: Path(row["output"]).stat().st_mtime_ns for name, row in done.items()} == stamps  # not redone
    after = rows(out)
    assert {row["state"] for row in after.values()} == {"done"} and len(after) == PHOTOS
    assert all(file_sha256(Path(row["output"])) == row["output_sha256"] for row in after.values())


@pytest.mark.data
def test_killed_while_a_video_is_being_written_then_rerun_gives_the_same_bytes(data: Path, tmp_path: Path) -> None:
    """A video is masked to the same bytes on every run (its masks do not depend on how fast the background
    keyframe searches finish), so one killed half-written is redone to exactly the uninterrupted file."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    cut(data / "video" / "street_faces.mp4", inputs / "street.mp4", 60, width=960)
    finished = run(inputs, tmp_path / "uninterrupted")
    assert finished.returncode == 0, finished.stderr
    uninterrupted = outputs(tmp_path / "uninterrupted")
    out = tmp_path / "out"
    kill_when(inputs, out, lambda out: bool(partials(out)))  # the encoder is writing its temporary file
    assert "street.mp4" not in outputs(out)
    rerun = run(inputs, out)
    assert rerun.returncode == 0, rerun.stderr
    assert outputs(out) == uninterrupted and partials(out) == []
