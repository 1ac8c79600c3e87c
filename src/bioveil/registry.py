"""Named, lazily built, shared instances: one registry per kind of thing (detectors, recognizers...).

Modules register zero-argument factories by name; nothing heavy loads until a name is first asked
for, and then only once. An unknown name raises an error that lists the valid ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from bioveil.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, load_builtin: Callable[[], None]) -> None:
        self.kind = kind
        self._load_builtin = load_builtin
        self._factories: dict[str, Callable[[], T]] = {}
        self._instances: dict[str, T] = {}
        self._lock = threading.RLock()  # a factory may ask for other names (an ensemble for its members)

    def register(self, name: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
        """Register a zero-argument factory under ``name`` (used as a decorator)."""

        def decorator(factory: Callable[[], T]) -> Callable[[], T]:
            self._factories[name] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        self._load_builtin()
        return sorted(self._factories)

    def get(self, name: str) -> T:
        """The shared instance of ``name``, built on first use."""
        self._load_builtin()
        if name not in self._factories:
            raise UnknownNameError(self.kind, name, list(self._factories))
        with self._lock:
            if name not in self._instances:
                self._instances[name] = self._factories[name]()
            return self._instances[name]
