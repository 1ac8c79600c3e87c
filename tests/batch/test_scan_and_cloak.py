"""The same runner and manifest under ``scan`` (the cache is its output folder) and ``cloak`` (one decoy
per person across the batch, done before or not)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioveil.batch.manifest import file_sha256, manifest_path
from bioveil.cli.main import EXIT_FAILURES, main
from tests.batch.helpers import copy_photos, outputs, rows


def scan(folder: Path, cache: Path, *extra: str) -> tuple[int, dict]:
    report = cache.parent / "scan.json"
    code = main(["scan", "--no-progress", "--cache", str(cache), str(folder), "--json", str(report), *extra])
    return code, json.loads(report.read_text())


@pytest.mark.data
def test_scan_reports_the_whole_grown_archive_and_computes_only_new_files(data: Path, tmp_path: Path) -> None:
    folder, cache = tmp_path / "archive", tmp_path / "cache"
    photos = copy_photos(data, tmp_path / "all", 3, "lfw/identities/Vladimir_Putin")
    folder.mkdir()
    for photo in photos[:2]:
        (folder / photo.name).write_bytes(photo.read_bytes())
    (folder / "empty.jpg").write_bytes(b"")
    code, first = scan(folder, cache)
    assert code == EXIT_FAILURES and (first["summary"]["scanned"], first["summary"]["skipped"]) == (2, 0)
    book = rows(cache, manifest_path(cache))
    assert book["empty.jpg"]["state"] == "failed" and book["empty.jpg"]["error"] == "EmptyFileError"
    for photo in photos[:2]:
        row = book[photo.name]
        assert row["state"] == "done" and row["input_sha256"] == file_sha256(photo)
        entry = Path(row["output"])  # the file's cache entry is its output
        assert entry.name == f"{row['input_sha256']}.npz" and file_sha256(entry) == row["output_sha256"]
    assert (cache / ".bioveil").stat().st_mode & 0o077 == 0  # the paths of what was scanned: private

    (folder / photos[2].name).write_bytes(photos[2].read_bytes())
    code, second = scan(folder, cache)
    assert code == EXIT_FAILURES
    assert (second["summary"]["files"], second["summary"]["scanned"], second["summary"]["skipped"]) == (4, 3, 2)
    assert [record["path"] for record in second["files"]] == [record["path"] for record in first["files"][:2]] + [
        str(folder / photos[2].name), str(folder / "empty.jpg")]
    people = [face["person"] for record in second["files"] for face in record["faces"]]
    assert len(people) == 3 and len(set(people)) == 1 and None not in people  # one person across old and new
    assert first["files"][0]["faces"][0]["box"] == second["files"][0]["faces"][0]["box"]
    assert rows(cache, manifest_path(cache))["empty.jpg"]["state"] == "failed"

    code, third = scan(folder, cache, "--force")  # computes every file again: the same report
    assert third["summary"]["skipped"] == 0
    assert [r["faces"] for r in third["files"]] == [r["faces"] for r in second["files"]]


@pytest.mark.data
def test_a_resumed_cloak_writes_the_uninterrupted_bytes(data: Path, tmp_path: Path) -> None:
    """Photo B redone alone (its output lost) gets B's decoy and seeds as in the whole batch: same bytes."""
    photos = tmp_path / "in"
    copy_photos(data, photos, 2, "lfw/identities/Vladimir_Putin")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    out = tmp_path / "out"
    args = ["cloak", "--no-progress", "--mode", "visible", "--recognizers", "sface", str(photos), "-o", str(out)]
    assert main(args) == EXIT_FAILURES
    whole = outputs(out)
    assert len(whole) == 2
    first, second = sorted(whole)
    stamp = (out / first).stat().st_mtime_ns
    (out / second).unlink()
    report = tmp_path / "resumed.json"
    assert main([*args, "--json", str(report)]) == EXIT_FAILURES
    summary = json.loads(report.read_text())["summary"]
    assert (summary["done"], summary["skipped"], summary["failed"]) == (1, 1, 1)
    assert outputs(out) == whole and (out / first).stat().st_mtime_ns == stamp
    assert main([*args, "--retry-failed"]) == EXIT_FAILURES  # the broken photo tried again: still broken
    assert rows(out)["broken.jpg"]["error"] in ("CorruptMediaError", "UnsupportedFormatError")
