"""Engines run a batch's per-file job; the runner (:mod:`bioveil.batch.runner`) plans, records and reports.

A job is a :class:`Work`: a picklable object holding the settings, whose ``setup()`` loads the
models once per worker and whose ``run(context, task)`` does one file. :func:`execute` wraps one call
in the batch's single failure guard and hashes the output where it was written, so an engine on
other machines (:class:`~bioveil.batch.ray_engine.RayEngine`) runs exactly what :class:`LocalEngine` runs:
it calls ``setup()`` once per worker and ``execute`` per task, and hands the :class:`Finished` back in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from bioveil.batch.manifest import file_sha256
from bioveil.concurrency import map_in_order, opencv_single_threaded
from bioveil.errors import BioveilError, OutputError, UnexpectedError, UnknownNameError

log = logging.getLogger(__name__)

C = TypeVar("C")
R = TypeVar("R", bound="FileOutcome")


@dataclass(frozen=True)
class Task:
    """One input file of a batch, as the driver planned it."""

    index: int  # its place in the plan
    source: Path
    target: Path | None  # its output, where a command writes one per input
    kind: str  # "image" or "video" (bioveil.media.sniff.media_kind)
    sha256: str  # the input's content hash when it was planned


class FileOutcome(Protocol):
    """What every command's per-file result offers the runner (mask's FileResult, cloak's, scan's)."""

    input: Path
    output: Path | None
    error: str | None  # the exception's class name
    message: str | None
    notes: list[str]
    seconds: float

    @property
    def ok(self) -> bool: ...

    def to_record(self) -> dict[str, Any]: ...


class Work(Protocol[C, R]):
    """A command's per-file job. Keep it picklable: settings in, models loaded in ``setup``."""

    name: str

    def setup(self) -> C:
        """Load what every file needs (detectors, recognizers), once per worker."""

    def run(self, context: C, task: Task) -> R:
        """Process one file; a :class:`BioveilError` (or any exception) becomes :meth:`failed`'s result."""

    def failed(self, task: Task, error: BioveilError, seconds: float) -> R:
        """The result of a file that failed with ``error``."""

    def serial(self, task: Task) -> bool:
        """Whether this file runs alone (a video: it keeps the cores busy with threads of its own)."""


@dataclass
class Finished(Generic[R]):
    """A task's result, with its output's hash once the output is in place."""

    task: Task
    result: R
    output_sha256: str | None = None


def execute(work: Work[C, R], context: C, task: Task) -> Finished[R]:
    """``work.run`` on one file, never raising: one file never stops the batch."""
    started = time.perf_counter()
    try:
        result = work.run(context, task)
    except BioveilError as exc:
        log.info("%s: %s", type(exc).__name__, exc)
        result = work.failed(task, exc, time.perf_counter() - started)
    except Exception as exc:  # a bug or an unforeseen library error: recorded, then the batch goes on
        log.exception("unexpected failure on %s", task.source)
        result = work.failed(task, UnexpectedError.wrap(task.source, exc), time.perf_counter() - started)
    return hashed(work, task, result, started)


def hashed(work: Work[C, R], task: Task, result: R, started: float) -> Finished[R]:
    """``result`` with its output's hash (read back from where it was renamed into place)."""
    if not result.ok or result.output is None:
        return Finished(task, result)
    try:
        return Finished(task, result, file_sha256(result.output))
    except OSError as exc:
        error = OutputError(result.output, f"was written but cannot be read back ({exc.strerror or exc}); "
                                           "check the output folder")
        return Finished(task, work.failed(task, error, time.perf_counter() - started))


def portable(work: Work[C, R]) -> Work[C, R]:
    """``work`` as it can travel to another process: its own ``portable()`` where it holds what cannot
    (a callback, say), else itself."""
    make = getattr(work, "portable", None)
    return make() if callable(make) else work


class Engine(Protocol):
    in_process: bool  # the workers share this process's memory (a step across files may then use it)

    def map(self, work: Work[Any, R], tasks: Sequence[Task],
            on_start: Callable[[Task], None] | None = None) -> Iterator[Finished[R]]:
        """Run ``work`` on every task; yield each :class:`Finished` (in plan order where tasks run side by side)."""


class LocalEngine:
    """This process: files ``workers`` at a time on threads (results in order), then serial files one by one."""

    in_process = True

    def __init__(self, workers: int = 2) -> None:
        self.workers = max(1, workers)

    def map(self, work: Work[Any, R], tasks: Sequence[Task],
            on_start: Callable[[Task], None] | None = None) -> Iterator[Finished[R]]:
        if not tasks:
            return
        context = work.setup()

        def one(task: Task) -> Finished[R]:
            if on_start is not None:
                on_start(task)
            return execute(work, context, task)

        side_by_side = [task for task in tasks if not work.serial(task)]
        # Several files in flight and the detector's passes already keep every core busy: OpenCV's own
        # threads (YuNet, resizing, the blur) would only compete with them. One file alone keeps them.
        parallel = self.workers > 1 and len(side_by_side) > 1
        with opencv_single_threaded() if parallel else nullcontext():
            yield from map_in_order(one, side_by_side, self.workers, work.name)
        for task in tasks:
            if work.serial(task):
                yield one(task)


ENGINES = ("local", "ray")


def make_engine(name: str, workers: int = 2, address: str | None = None, actors: int | None = None,
                cpus_per_actor: int = 1) -> Engine:
    """The engine called ``name``: ``local`` (this process, ``workers`` files at a time) or ``ray``
    (a Ray cluster at ``address``, else ``RAY_ADDRESS``, else a local Ray started for the run; see
    :mod:`bioveil.batch.ray_engine`)."""
    if name == "local":
        return LocalEngine(workers)
    if name == "ray":
        from bioveil.batch.ray_engine import RayEngine

        return RayEngine(actors=actors, address=address, cpus_per_actor=cpus_per_actor)
    raise UnknownNameError("engine", name, list(ENGINES))
