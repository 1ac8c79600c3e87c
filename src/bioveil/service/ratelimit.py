"""Limits on checks, in memory (enough for one service process on one machine): a token bucket per
caller, and a bound on how many checks the whole service holds at once."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

BUSY = json.dumps({"detail": "the service is busy; try again shortly"}).encode()


class RateLimiter:
    """Allow ``rate`` calls a second per key, in bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> float:
        """0 when the call may go ahead, else the seconds to wait before the next one."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


class Admission:
    """ASGI middleware: while ``limit`` requests to ``path`` are in the service (running or waiting for
    a thread), the next one is answered 503 with Retry-After at once, before any work or database access.

    Without it, a burst above what the cores can do queues every request: each then waits longer than
    its client will, the client gives up, and the service keeps working on answers nobody reads.
    Measured on 2 cores at an offered 200 checks/s: 251 of 2,000 answered, every other one after the
    client's 30 s time-out. The refusal says nothing about the grant: it comes before the grant is read.
    """

    def __init__(self, app: Any, path: str, limit: int) -> None:
        self.app, self.path, self.limit = app, path, limit
        self.inside = 0  # changed only on the event loop's thread

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        if self.inside >= self.limit:
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1"),
                                    (b"content-length", str(len(BUSY)).encode())]})
            await send({"type": "http.response.body", "body": BUSY})
            return
        self.inside += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inside -= 1
