"""Faces cloaked side by side: one face per core, each on one thread with its networks in turn.

A cloak's step runs three recognizers' forward and backward passes on batch-1 chips, which use two
cores poorly. A single face therefore runs them side by side within each step (see
:mod:`bioveil.cloaking.attack`), but the step then waits for its slowest network (FaceNet) while a
core idles. With two faces or more, whole faces run side by side instead, one lane per core, so
both cores stay busy: on 2 cores, ``bench/cloak.py`` (24 LFW faces, balanced) took 4.84 s a face this
way against 6.14 one after another, in one sitting; each face then takes about twice as long from
its start to its end.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from types import TracebackType
from typing import Generic, TypeVar

from bioveil.concurrency import usable_cores

R = TypeVar("R")


def one_torch_thread() -> None:
    """Set up a worker thread: one intra-op thread, and flush-denormal (both are per thread, so the
    calling thread's settings do not reach it)."""
    import torch

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)


def cores() -> int:
    """The cores PyTorch would use here (its intra-op default), at least 1."""
    import torch

    return max(1, min(torch.get_num_threads(), usable_cores()))


class Lanes:
    """``with Lanes(faces) as lanes: lanes.submit(function)``: one lane per core, at most one per face.

    ``function`` is called with ``side_by_side``: ``False`` on a lane (its networks in turn, one
    thread), ``None`` when there is a single lane: it then runs on the calling thread when its result
    is first asked for, and the attack picks its own default. Leaving the block cancels what has not
    started and waits for the rest.
    """

    def __init__(self, faces: int, lanes: int | None = None, pooled: bool | None = None) -> None:
        self.count = max(1, min(faces, lanes or cores()))
        # ``pooled``: faces on lanes even when there is one (a Ray worker of one CPU cloaking the photos of a batch
        # that runs on lanes locally, so a face's cloak is the same); by default, lanes when there are two or more.
        self.pooled = self.count > 1 if pooled is None else pooled
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Lanes:
        if self.pooled:
            self._pool = ThreadPoolExecutor(self.count, "bioveil-cloak-lane", initializer=one_torch_thread)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def submit(self, function: Callable[..., R]) -> Future[R] | Deferred[R]:
        if self._pool is not None:
            return self._pool.submit(function, side_by_side=False)
        return Deferred(partial(function, side_by_side=None))


class Deferred(Generic[R]):
    """A call run on the thread that first asks for its result (the single-lane stand-in for a Future)."""

    def __init__(self, function: Callable[[], R]) -> None:
        self._function: Callable[[], R] | None = function
        self._value: R | None = None

    def result(self) -> R:
        """Run the call the first time (if it raises, the next call runs it again, as nothing was kept)."""
        if self._function is not None:
            self._value = self._function()
            self._function = None
        return self._value  # type: ignore[return-value]
