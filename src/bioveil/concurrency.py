"""Running work side by side: one function over many files on a few threads (results in input
order), and keeping libraries' own thread pools out of the way."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


CPUS_VARIABLE = "BIOVEIL_CPUS"


def usable_cores() -> int:
    """The cores this process may run on: ``BIOVEIL_CPUS`` when set (a Ray actor's share of its node,
    see :mod:`bioveil.batch.ray_engine`), else its CPU affinity where the system has one (a container or
    ``taskset`` can leave fewer than the machine has), else the machine's count; at least 1."""
    if os.environ.get(CPUS_VARIABLE):
        return max(1, int(os.environ[CPUS_VARIABLE]))
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def map_in_order(function: Callable[[T], R], items: Iterable[T], workers: int, name: str) -> Iterator[R]:
    """``function`` over ``items`` on ``workers`` threads (inline for one), yielding results in order."""
    if workers <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"bioveil-{name}") as pool:
        yield from pool.map(function, items)


_OPENCV_LOCK = threading.Lock()
_opencv_holders = 0
_opencv_before = 0


@contextmanager
def opencv_single_threaded() -> Iterator[None]:
    """OpenCV's own thread pool off for a while (process-wide; set back when the last holder leaves,
    so batches running side by side in one process cannot leave it off for good).

    Where bioveil already keeps the cores busy with work side by side (video: decoding, keyframe
    searches, masking and encoding at once; photos: files in flight and detector passes), OpenCV's
    threads only add wake-ups and spinning: on 2 cores they cost YuNet 8 ms of CPU per 540-px frame
    and doubled the CPU time of masking a frame, for no gain in wall time."""
    import cv2

    global _opencv_holders, _opencv_before
    with _OPENCV_LOCK:
        if _opencv_holders == 0:
            _opencv_before = cv2.getNumThreads()
            cv2.setNumThreads(1)
        _opencv_holders += 1
    try:
        yield
    finally:
        with _OPENCV_LOCK:
            _opencv_holders -= 1
            if _opencv_holders == 0:
                cv2.setNumThreads(_opencv_before)


def one_thread_per_task() -> None:
    """For the rest of the process, PyTorch, numpy's BLAS and OpenCV each use one thread, for a
    process whose tasks already run side by side (the vault service's checks).

    numpy's OpenBLAS matters most: after each call it hands to its pool (a BioHash projection of one
    embedding is enough), its worker spins for a while before it sleeps. In the service that spinning
    cost 38 ms of CPU per check, measured, beside about 50 ms of real work."""
    import cv2
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1, user_api="blas")
    cv2.setNumThreads(1)
