"""The app's private workspace: uploads under ids, the scan cache, masked and cloaked outputs, downloads.

One folder per running app (mode 0700) under ``<cache>/bioveil/app/``. The running app holds an
exclusive lock on ``lock`` inside it for its whole life, so a folder whose lock can be taken belongs
to an app that was killed: it is removed at the next start. The user's own files are never touched:
an upload is a copy, streamed here under an id; the name the user gave is kept only as data.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import shutil
import threading
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bioveil.errors import BioveilError, UnsupportedFormatError
from bioveil.media.atomic import atomic_path
from bioveil.media.image import IMAGE_SUFFIXES
from bioveil.media.video import VIDEO_SUFFIXES

log = logging.getLogger(__name__)

SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES
DEFAULT_MAX_UPLOAD_BYTES = 4 << 30  # 4 GiB a file: hours of phone video; photos are bounded by pixels too
LOCK = "lock"


class UploadTooLargeError(BioveilError):
    """An upload over the app's size limit."""


def app_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bioveil" / "app"


@dataclass
class Edits:
    """What the user changed by hand on one photo: faces of the scan kept unmasked, boxes drawn to mask,
    and whether the photo is cloaked instead of masked."""

    keep: list[list[float]] = field(default_factory=list)  # boxes (x1, y1, x2, y2) of faces left unmasked
    draw: list[list[float]] = field(default_factory=list)  # boxes drawn over faces the detector missed
    cloak: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Edits:
        return cls([list(map(float, box)) for box in data.get("keep", [])],
                   [list(map(float, box)) for box in data.get("draw", [])], bool(data.get("cloak", False)))


@dataclass
class Item:
    """One uploaded file."""

    id: str
    name: str  # as the user named it (only ever shown and used in downloads, never as a path here)
    suffix: str
    size: int
    edits: Edits = field(default_factory=Edits)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "suffix": self.suffix, "size": self.size, "edits": self.edits.to_dict()}


class Workspace:
    """A running app's folder. Use as a context manager: the folder is removed on exit."""

    def __init__(self, root: Path | None = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
        self.parent = root or app_root()
        self.max_upload_bytes = max_upload_bytes
        self.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.parent, 0o700)
        sweep_stale(self.parent)
        self.path = Path(_mkdtemp(self.parent))
        self._lock_file = open(self.path / LOCK, "w")  # noqa: SIM115 (held for the app's life)
        fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for name in ("uploads", "scan", "masked", "cloaked", "downloads", "previews"):
            (self.path / name).mkdir(mode=0o700)
        self._items: dict[str, Item] = {}
        self._mutex = threading.RLock()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the workspace and everything in it."""
        if self._lock_file.closed:
            return
        self._lock_file.close()
        shutil.rmtree(self.path, ignore_errors=True)
        log.info("removed the workspace %s", self.path)

    @property
    def uploads(self) -> Path:
        return self.path / "uploads"

    def folder(self, name: str) -> Path:
        return self.path / name

    async def receive(self, name: str, chunks: AsyncIterator[bytes]) -> Item:
        """Stream one upload into the workspace under a new id; raise for a type ``mask`` does not take
        or a file over the size limit (nothing of it is left behind)."""
        suffix = Path(name).suffix.lower()
        if suffix not in SUFFIXES:
            what = suffix or "without a suffix"
            raise UnsupportedFormatError(name, f"is not a photo or video bioveil takes (by its name, {what}); "
                                               f"it takes {', '.join(sorted(SUFFIXES))}")
        item_id = secrets.token_hex(8)
        target = self.uploads / f"{item_id}{suffix}"
        size = 0
        with atomic_path(target) as temporary, open(temporary, "wb") as stream:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_upload_bytes:
                    raise UploadTooLargeError(f"{name} is larger than the app's limit of {self.max_upload_bytes >> 20} MiB; "
                                              "start the app with a larger --max-upload-mb, or use `bioveil mask` on it")
                stream.write(chunk)
        item = Item(item_id, Path(name).name or "unnamed", suffix, size)
        with self._mutex:
            self._items[item_id] = item
            self._save()
        return item

    def source(self, item: Item) -> Path:
        return self.uploads / f"{item.id}{item.suffix}"

    def in_users_words(self, item: Item, message: str | None) -> str | None:
        """``message`` with the workspace's path of ``item`` replaced by the name the user gave it."""
        return None if message is None else message.replace(str(self.source(item)), item.name)

    def item(self, item_id: str) -> Item | None:
        with self._mutex:
            return self._items.get(item_id)

    def items(self) -> list[Item]:
        with self._mutex:
            return list(self._items.values())

    def by_source(self) -> dict[Path, Item]:
        return {self.source(item).resolve(): item for item in self.items()}

    def set_edits(self, item_id: str, edits: Edits) -> None:
        with self._mutex:
            self._items[item_id].edits = edits
            self._save()

    def remove(self, item_id: str) -> None:
        with self._mutex:
            item = self._items.pop(item_id, None)
            self._save()
        if item is not None:
            self.source(item).unlink(missing_ok=True)

    def _save(self) -> None:
        with atomic_path(self.path / "items.json") as temporary:
            temporary.write_text(json.dumps([item.to_dict() for item in self._items.values()]))


def _mkdtemp(parent: Path) -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="run-", dir=parent)  # mode 0700


def sweep_stale(parent: Path) -> list[Path]:
    """Remove the workspaces of apps that are no longer running (their lock is free)."""
    removed = []
    for folder in parent.glob("run-*"):
        lock = folder / LOCK
        try:
            with open(lock, "a") as stream:
                fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # an app is running there
        except OSError:
            pass  # no lock file: left half-made by a killed start
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
        log.info("removed %s, left by an app that did not stop cleanly", folder)
    return removed
