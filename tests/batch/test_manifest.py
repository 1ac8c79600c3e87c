"""The manifest itself: what it refuses to read, and how its rows move (on a real SQLite file)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bioveil.batch.manifest import Manifest, State, settings_hash
from bioveil.errors import ManifestError


def test_rows_move_from_pending_to_done_or_failed(tmp_path: Path) -> None:
    output = tmp_path / "a.jpg"
    output.write_bytes(b"whole")
    with Manifest(tmp_path / "m.sqlite") as book:
        book.plan([(tmp_path / "in/a.jpg", "11"), (tmp_path / "in/b.jpg", "22")], "s")
        book.running(tmp_path / "in/a.jpg")
        assert book.counts() == {"pending": 1, "running": 1}
        book.done(tmp_path / "in/a.jpg", output, "bad hash", 1.5, {"status": "ok"})
        book.failed(tmp_path / "in/b.jpg", "CorruptMediaError", "b.jpg: truncated", 0.2, {"status": "failed"})
        rows = book.rows([tmp_path / "in/a.jpg", tmp_path / "in/b.jpg", tmp_path / "in/c.jpg"])
    a, b = rows[tmp_path / "in/a.jpg"], rows[tmp_path / "in/b.jpg"]
    assert (a.state, a.output, a.seconds, a.record) == (State.DONE, output, 1.5, {"status": "ok"})
    assert not a.output_intact()  # its hash is not the output's
    assert (b.state, b.error, b.output) == (State.FAILED, "CorruptMediaError", None) and len(rows) == 2
    with sqlite3.connect(tmp_path / "m.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_settings_hash_depends_on_every_value_not_on_order() -> None:
    assert settings_hash({"a": 1, "b": [1, 2]}) == settings_hash({"b": [1, 2], "a": 1})
    assert settings_hash({"a": 1}) != settings_hash({"a": 2})


@pytest.mark.parametrize(("content", "says"), [
    (b"this is not a database, it is text" * 100, "delete it to start the batch afresh"),
    (None, "schema version 99"),
])
def test_a_manifest_it_cannot_read_is_named_with_what_to_do(tmp_path: Path, content: bytes | None, says: str) -> None:
    path = tmp_path / "m.sqlite"
    if content is None:
        Manifest(path).close()
        with sqlite3.connect(path) as db:
            db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    else:
        path.write_bytes(content)
    with pytest.raises(ManifestError, match=says):
        Manifest(path)
