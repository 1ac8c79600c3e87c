"""Resumable ``bioveil mask`` on real photos: what a rerun skips, redoes and retries, and what the
manifest says about each file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bioveil.batch.manifest import Manifest, file_sha256, manifest_path
from bioveil.cli.main import EXIT_FAILURES, EXIT_OK, main
from tests.batch.helpers import copy_photos, outputs, partials, rows

LFW = "lfw/identities/Colin_Powell"


def mask(inputs: Path, out: Path, *extra: str) -> tuple[int, dict]:
    report = out.parent / f"{out.name}.json"
    code = main(["mask", "--no-progress", "--json", str(report), str(inputs), "-o", str(out), *extra])
    return code, json.loads(report.read_text())


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """Each output's inode and modification time: a file written again gets new ones (os.replace)."""
    return {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in folder.glob("*.jpg")}


@pytest.fixture()
def photos(data: Path, tmp_path: Path) -> Path:
    copy_photos(data, tmp_path / "in", 3, LFW)
    return tmp_path / "in"


@pytest.mark.data
def test_a_rerun_skips_what_is_done_and_redoes_what_changed(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, first = mask(photos, out)
    assert code == EXIT_OK and first["summary"]["done"] == 3 and first["summary"]["skipped"] == 0
    book = rows(out)
    assert {row["state"] for row in book.values()} == {"done"}
    for name, row in book.items():
        assert row["input_sha256"] == file_sha256(photos / name)
        assert row["output_sha256"] == file_sha256(Path(row["output"])) and Path(row["output"]).parent == out.resolve()
        assert row["error"] is None and row["seconds"] > 0 and json.loads(row["record"])["status"] == "ok"
    before, masked = stamps(out), outputs(out)

    code, second = mask(photos, out)
    assert code == EXIT_OK and second["summary"] == {**second["summary"], "files": 3, "done": 0, "skipped": 3}
    assert stamps(out) == before  # nothing written again
    assert all(entry["resumed"] for entry in second["files"])
    assert [entry["faces"] for entry in second["files"]] == [entry["faces"] for entry in first["files"]]

    # A changed input, an output deleted and an output tampered with are redone; the rest is not.
    names = sorted(before)
    shutil.copy(tmp_path / "in" / names[1], tmp_path / "spare.jpg")
    (photos / names[0]).write_bytes((photos / names[1]).read_bytes())
    (out / names[1]).unlink()
    (out / names[2]).write_bytes(b"not what bioveil wrote")
    code, third = mask(photos, out)
    assert code == EXIT_OK and (third["summary"]["done"], third["summary"]["skipped"]) == (3, 0)
    assert outputs(out)[names[1]] == masked[names[1]] and outputs(out)[names[2]] == masked[names[2]]
    assert outputs(out)[names[0]] == masked[names[1]]  # same content, same settings: same bytes

    new = photos / "new.jpg"
    shutil.copy(tmp_path / "spare.jpg", new)
    code, fourth = mask(photos, out)
    assert code == EXIT_OK and (fourth["summary"]["done"], fourth["summary"]["skipped"]) == (1, 3)
    assert [Path(entry["input"]).name for entry in fourth["files"] if not entry.get("resumed")] == ["new.jpg"]


@pytest.mark.data
def test_other_settings_redo_every_file_and_force_redoes_them_all(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert mask(photos, out)[0] == EXIT_OK
    blurred = outputs(out)
    code, report = mask(photos, out, "--method", "pixelate")
    assert code == EXIT_OK and (report["summary"]["done"], report["summary"]["skipped"]) == (3, 0)
    assert set(outputs(out)) == set(blurred) and all(outputs(out)[k] != blurred[k] for k in blurred)
    code, report = mask(photos, out, "--method", "pixelate")
    assert (report["summary"]["done"], report["summary"]["skipped"]) == (0, 3)
    before = stamps(out)
    code, report = mask(photos, out, "--method", "pixelate", "--force")
    assert code == EXIT_OK and (report["summary"]["done"], report["summary"]["skipped"]) == (3, 0)
    assert all(stamps(out)[name] != stamp for name, stamp in before.items())


@pytest.mark.data
def test_a_broken_file_fails_by_name_is_recorded_and_retried_only_when_asked(photos: Path, tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    good = (photos / sorted(os.listdir(photos))[0]).read_bytes()
    (photos / "truncated.jpg").write_bytes(good[: len(good) // 3])
    out = tmp_path / "out"
    code, report = mask(photos, out)
    assert code == EXIT_FAILURES
    failed = {Path(e["input"]).name: e for e in report["files"] if e["status"] == "failed"}
    assert list(failed) == ["truncated.jpg"] and failed["truncated.jpg"]["error"] == "CorruptMediaError"
    row = rows(out)["truncated.jpg"]
    assert (row["state"], row["error"], row["output"], row["output_sha256"]) == ("failed", "CorruptMediaError", None, None)
    assert "truncated.jpg" in row["message"] and not (out / "truncated.jpg").exists()
    capsys.readouterr()

    code, report = mask(photos, out)  # still failed, from the manifest, and the exit code still says so
    assert code == EXIT_FAILURES
    assert (report["summary"]["done"], report["summary"]["skipped"], report["summary"]["failed"]) == (0, 3, 1)
    entry = next(e for e in report["files"] if e["status"] == "failed")
    assert entry["error"] == "CorruptMediaError" and "--retry-failed" in entry["notes"][0]
    assert "0 masked, 3 skipped (done before), 1 failed (1 in an earlier run" in capsys.readouterr().out

    code, report = mask(photos, out, "--retry-failed")  # tried again: still broken
    assert code == EXIT_FAILURES and not report["files"][0]["notes"]
    (photos / "truncated.jpg").write_bytes(good)  # repaired: a changed input is done without being asked
    code, report = mask(photos, out)
    assert code == EXIT_OK and (report["summary"]["done"], report["summary"]["skipped"]) == (1, 3)
    assert rows(out)["truncated.jpg"]["state"] == "done"


@pytest.mark.data
def test_rows_left_running_and_temporary_files_of_a_killed_run_are_not_taken_as_done(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert mask(photos, out)[0] == EXIT_OK
    masked = outputs(out)
    names = sorted(masked)
    signature = rows(out)[names[0]]["settings_sha256"]
    with Manifest(manifest_path(out)) as book:  # what a run killed in the middle of a photo leaves
        book.plan([((photos / names[0]).resolve(), file_sha256(photos / names[0]))], signature)
        book.running((photos / names[0]).resolve())
    stem = Path(names[0]).stem
    stray = out / f".{stem}.abc12_xy.part.jpg"
    stray.write_bytes(b"half a photo")
    unrelated = out / ".notes.part.txt"  # not bioveil's: left alone
    unrelated.write_text("mine")
    code, report = mask(photos, out)
    assert code == EXIT_OK and (report["summary"]["done"], report["summary"]["skipped"]) == (1, 2)
    assert outputs(out) == {**masked, unrelated.name: outputs(out)[unrelated.name]}
    assert partials(out) == [unrelated] and not stray.exists()
    assert {row["state"] for row in rows(out).values()} == {"done"}


@pytest.mark.data
def test_an_output_folder_that_is_the_input_folder_gets_no_manifest(photos: Path, tmp_path: Path) -> None:
    code, report = mask(photos, photos)
    assert code == EXIT_FAILURES and {entry["error"] for entry in report["files"]} == {"OutputError"}
    assert not (photos / ".bioveil").exists()
