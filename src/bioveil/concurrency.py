"""Running one function over many files on a few threads, results in input order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
