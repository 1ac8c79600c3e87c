"""Outputs appear whole or not at all: written to a temporary file beside the target, then renamed."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from bioveil.errors import OutputError


def _file_mode() -> int:
    """What a newly created file gets under the process's umask (mkstemp itself uses 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _file_mode()


class Claims:
    """Output paths taken in one batch, so two inputs never write the same file (thread-safe)."""

    def __init__(self, paths: list[Path] | None = None) -> None:
        self._taken = {path.resolve() for path in paths or []}
        self._lock = threading.Lock()

    def claim(self, path: Path, owner: Path) -> None:
        """Take ``path`` for ``owner``'s output, or raise :class:`OutputError` if it is taken."""
        with self._lock:
            key = path.resolve()
            if key in self._taken:
                raise OutputError(path, f"is also the output of another input, so {owner} is not written; "
                                        "mask these inputs in separate runs")
            self._taken.add(key)

    def __getstate__(self) -> dict[str, object]:
        """A copy for another process (a Ray actor): the paths taken so far; each copy then claims on its own."""
        with self._lock:
            return {"_taken": set(self._taken)}

    def __setstate__(self, state: dict[str, object]) -> None:
        self._taken = state["_taken"]  # type: ignore[assignment]
        self._lock = threading.Lock()


def ensure_not_input(output: Path, inputs: frozenset[Path] | set[Path]) -> None:
    """Refuse an output path that is (or links to) one of the inputs.

    An existing output is compared by file identity (device and inode) with the inputs', which are read
    once per batch: a rerun over a million outputs does not stat every input for each of them."""
    resolved = output.resolve()
    if resolved in inputs:
        raise OutputError(output, "would overwrite an input file; choose an output folder (-o) apart from the inputs")
    try:
        found = os.stat(output)
    except OSError:
        return  # not there yet: nothing it could be linked to
    identities = _identities(inputs if isinstance(inputs, frozenset) else frozenset(inputs))
    if (found.st_dev, found.st_ino) in identities:
        raise OutputError(output, "would overwrite an input file; choose an output folder (-o) apart from the inputs")


@functools.lru_cache(maxsize=4)
def _identities(inputs: frozenset[Path]) -> frozenset[tuple[int, int]]:
    """(device, inode) of each input that can be read: a hard link or a link to one is the same file."""
    out = set()
    for path in inputs:
        try:
            found = os.stat(path)
        except OSError:
            continue
        out.add((found.st_dev, found.st_ino))
    return frozenset(out)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: some file systems cannot open a folder)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; on success it replaces ``target``."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=target.parent)
    except OSError as exc:
        raise OutputError(target, f"cannot write here ({exc.strerror or exc}); check the output folder's permissions") from exc
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        try:
            with open(temporary, "rb+") as stream:
                os.fsync(stream.fileno())
            os.chmod(temporary, _MODE)
            os.replace(temporary, target)
            _fsync_folder(target.parent)
        except OSError as exc:
            raise OutputError(target, f"could not be put in place ({exc.strerror or exc}); "
                                      "check that no folder has its name and the permissions") from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
