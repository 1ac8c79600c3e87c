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


def plan_outputs(inputs: list[Path], outdir: Path, suffixes: frozenset[str]) -> Plan:
    """Map each input to an output under ``outdir``.

    A file named directly is always tried (its content decides its format) and lands at
    ``outdir/<name>``; a folder is walked recursively (links to folders are not followed) for
    files whose suffix is in ``suffixes``, each landing at ``outdir/<path inside the folder>``.
    """
    plan = Plan()
    taken: dict[Path, Path] = {}

    def add(source: Path, target: Path) -> None:
        key = target.resolve()
        if key in taken:
            plan.errors.append((source, OutputError(target, f"would also be the output of {taken[key]}; "
                                                            "mask these inputs in separate runs")))
            return
        taken[key] = source
        plan.jobs.append((source, target))

    for given in inputs:
        if given.is_dir():
            for source in _walk(given, plan):
                if source.suffix.lower() in suffixes:
                    add(source, outdir / source.relative_to(given))
                else:
                    plan.skipped.append(source)
        elif given.exists() or given.is_symlink():
            add(given, outdir / given.name)
        else:
            plan.errors.append((given, UnreadableInputError(given, "does not exist; check the path")))
    return plan


def _walk(folder: Path, plan: Plan) -> list[Path]:
    found: list[Path] = []

    def on_error(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else folder
        plan.errors.append((where, UnreadableInputError(where, f"folder cannot be read ({exc.strerror}); "
                                                               "check its permissions")))

    for root, dirs, files in os.walk(folder, onerror=on_error):
        dirs.sort()
        found.extend(Path(root) / name for name in sorted(files))
    return found
