"""The manifest of a batch: one SQLite row per input, so a rerun does only what is not done yet.

It lives in the output folder (``OUTDIR/.bioveil/manifest.sqlite``; for ``scan``, in its cache
folder, see :mod:`bioveil.scan.collection`). Each row holds the input's path and content hash
(SHA-256), a hash of the settings, its state, its output's path and hash, the error's name and
message, the seconds it took and the file's report record (JSON).

A row says ``done`` only after its output was written whole (renamed into place) and hashed, in one
transaction; a process killed at any moment leaves rows ``pending`` or ``running``, which a rerun
treats as not done. The database runs in WAL mode with ``synchronous=FULL``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from bioveil import __version__
from bioveil.errors import ManifestError

log = logging.getLogger(__name__)

MANIFEST_FOLDER = ".bioveil"
MANIFEST_NAME = "manifest.sqlite"
SCHEMA_VERSION = 1
CHUNK = 1 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    input TEXT PRIMARY KEY,            -- the input's absolute path
    input_sha256 TEXT,                 -- its content's hash when it was planned
    settings_sha256 TEXT NOT NULL,     -- settings_hash() of the run
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    output TEXT,                       -- absolute path of the output (done rows)
    output_sha256 TEXT,                -- the output's hash once it was in place (done rows)
    error TEXT,                        -- the exception's class name (failed rows)
    message TEXT,
    seconds REAL,
    record TEXT,                       -- the file's report record, JSON
    updated TEXT NOT NULL
);
"""


class State(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def manifest_path(folder: Path) -> Path:
    """Where the manifest of the batch writing into ``folder`` lives."""
    return Path(folder) / MANIFEST_FOLDER / MANIFEST_NAME


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def settings_hash(settings: dict[str, Any]) -> str:
    """The hash of a command's settings (and bioveil's version: another version may write other bytes)."""
    text = json.dumps({"settings": settings, "bioveil": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Row:
    input: Path
    input_sha256: str | None
    settings_sha256: str
    state: State
    output: Path | None
    output_sha256: str | None
    error: str | None
    message: str | None
    seconds: float | None
    record: dict[str, Any] | None

    def output_intact(self) -> bool:
        """The output is where the row says, with the hash it had when the row was marked done."""
        if self.output is None or self.output_sha256 is None:
            return False
        try:
            return file_sha256(self.output) == self.output_sha256
        except OSError:
            return False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Manifest:
    """The rows of one output folder's batches (thread-safe: one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        except (sqlite3.Error, OSError) as exc:
            raise ManifestError(self.path, f"cannot be created ({exc}); check the output folder's permissions") from exc
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise
        self._lock = threading.Lock()

    def _open(self) -> None:
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            found = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if found is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(found[0]) != SCHEMA_VERSION:
                raise ManifestError(self.path, f"has schema version {found[0]}, this bioveil reads {SCHEMA_VERSION}; "
                                               "delete it (the next run then redoes every file) or use that version")
        except sqlite3.Error as exc:
            raise ManifestError(self.path, f"cannot be opened ({exc}); delete it to start the batch afresh, "
                                           "or check the output folder's permissions") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def rows(self, inputs: list[Path]) -> dict[Path, Row]:
        """The rows of ``inputs`` (absolute paths) that exist."""
        found: dict[Path, Row] = {}
        with self._lock:
            for start in range(0, len(inputs), 500):
                chunk = [str(path) for path in inputs[start : start + 500]]
                marks = ",".join("?" * len(chunk))
                for values in self._db.execute(f"SELECT input, input_sha256, settings_sha256, state, output, output_sha256, "
                                               f"error, message, seconds, record FROM files WHERE input IN ({marks})", chunk):
                    row = _row(values)
                    found[row.input] = row
        return found

    def all_rows(self) -> list[Row]:
        with self._lock:
            return [_row(values) for values in self._db.execute(
                "SELECT input, input_sha256, settings_sha256, state, output, output_sha256, error, message, seconds, record "
                "FROM files ORDER BY input")]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT state, COUNT(*) FROM files GROUP BY state").fetchall())

    def plan(self, entries: list[tuple[Path, str | None]], settings_sha256: str) -> None:
        """Mark ``entries`` (input, content hash) ``pending`` for this run, in one transaction."""
        now = _now()
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO files (input, input_sha256, settings_sha256, state, updated) VALUES (?, ?, ?, 'pending', ?) "
                "ON CONFLICT (input) DO UPDATE SET input_sha256 = excluded.input_sha256, "
                "settings_sha256 = excluded.settings_sha256, state = 'pending', output = NULL, output_sha256 = NULL, "
                "error = NULL, message = NULL, seconds = NULL, record = NULL, updated = excluded.updated",
                [(str(path), sha, settings_sha256, now) for path, sha in entries])

    def running(self, source: Path) -> None:
        with self._lock:
            self._db.execute("UPDATE files SET state = 'running', updated = ? WHERE input = ?", (_now(), str(source)))

    def done(self, source: Path, output: Path | None, output_sha256: str | None, seconds: float,
             record: dict[str, Any]) -> None:
        """Mark ``source`` done: call only once its output is in place and ``output_sha256`` is its hash."""
        self._finish(source, State.DONE, output, output_sha256, None, None, seconds, record)

    def failed(self, source: Path, error: str, message: str, seconds: float, record: dict[str, Any]) -> None:
        self._finish(source, State.FAILED, None, None, error, message, seconds, record)

    def _finish(self, source: Path, state: State, output: Path | None, output_sha256: str | None, error: str | None,
                message: str | None, seconds: float, record: dict[str, Any]) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "UPDATE files SET state = ?, output = ?, output_sha256 = ?, error = ?, message = ?, seconds = ?, "
                "record = ?, updated = ? WHERE input = ?",
                (state.value, None if output is None else str(output), output_sha256, error, message, round(seconds, 3),
                 json.dumps(record, default=str), _now(), str(source)))


def _row(values: tuple[Any, ...]) -> Row:
    source, input_sha, settings_sha, state, output, output_sha, error, message, seconds, record = values
    return Row(Path(source), input_sha, settings_sha, State(state), None if output is None else Path(output), output_sha,
               error, message, seconds, None if record is None else json.loads(record))
