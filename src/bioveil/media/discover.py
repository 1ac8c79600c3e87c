"""Turning the paths a user names into (input file, output path) pairs."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from bioveil.errors import MediaError, OutputError, UnreadableInputError

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """Files to process with their outputs, and the inputs that failed before processing."""

    jobs: list[tuple[Path, Path]] = field(default_factory=list)
    errors: list[tuple[Path, MediaError]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # files in folders with no media suffix

    @property
    def protected(self) -> frozenset[Path]:
        return frozenset(source.resolve() for source, _ in self.jobs)


@dataclass
class Found:
    """Files to process, each with the input it was found under; and what could not be walked."""

    files: list[tuple[Path, Path]] = field(default_factory=list)  # (given input, file)
    errors: list[tuple[Path, MediaError]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # files in folders with no media suffix


def find_inputs(inputs: list[Path], suffixes: frozenset[str]) -> Found:
    """Files named directly (always tried: their content decides), and files with a media suffix in folders.

    Folders are walked recursively, in sorted order; links to folders are not followed.
    """
    found = Found()
    for given in inputs:
        if given.is_dir():
            for source in _walk(given, found.errors):
                if source.suffix.lower() in suffixes:
                    found.files.append((given, source))
                else:
                    found.skipped.append(source)
        elif given.exists() or given.is_symlink():
            found.files.append((given, given))
        else:
            found.errors.append((given, UnreadableInputError(given, "does not exist; check the path")))
    return found


def plan_outputs(inputs: list[Path], outdir: Path, suffixes: frozenset[str]) -> Plan:
    """Map each input to an output under ``outdir``.

    A file named directly lands at ``outdir/<name>``; a file found in a folder lands at
    ``outdir/<path inside the folder>`` (see :func:`find_inputs`).
    """
    found = find_inputs(inputs, suffixes)
    plan = Plan(errors=found.errors, skipped=found.skipped)
    taken: dict[Path, Path] = {}
    for given, source in found.files:
        target = outdir / (source.name if given == source else source.relative_to(given))
        key = target.resolve()
        if key in taken:
            plan.errors.append((source, OutputError(target, f"would also be the output of {taken[key]}; "
                                                            "mask these inputs in separate runs")))
            continue
        taken[key] = source
        plan.jobs.append((source, target))
    return plan


def _walk(folder: Path, errors: list[tuple[Path, MediaError]]) -> list[Path]:
    found: list[Path] = []

    def on_error(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else folder
        errors.append((where, UnreadableInputError(where, f"folder cannot be read ({exc.strerror}); "
                                                               "check its permissions")))

    for root, dirs, files in os.walk(folder, onerror=on_error):
        dirs.sort()
        found.extend(Path(root) / name for name in sorted(files))
    return found
