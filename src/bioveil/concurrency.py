"""Running work side by side: one function over many files on a few threads (results in input
order), and keeping libraries' own thread pools out of the way."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


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
