"""Background jobs of the app: one at a time on a worker thread, cancellable, with progress events.

A job is a function given a :class:`Progress`; it reports with ``progress.step(...)`` and stops at the
next step once cancelled (:class:`JobCancelled`). Events go to every listener (the page's
server-sent event stream) as JSON-ready dicts, and the last state of each job is kept for polling.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bioveil.errors import BioveilError

log = logging.getLogger(__name__)


class JobCancelled(BioveilError):
    """The user cancelled the job; what it finished is kept, nothing half-written is."""


@dataclass
class Job:
    id: str
    kind: str  # "scan", "export", "preview"
    state: str = "queued"  # queued, running, done, failed, cancelled
    done: int = 0
    total: int = 0
    frames: int = 0  # video frames written, for a video's progress
    frames_total: int = 0  # frames of the job's videos, as their containers declare them
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)

    def to_dict(self) -> dict[str, Any]:
        elapsed = (self.ended or time.monotonic()) - self.started if self.started else 0.0
        left = elapsed / self.done * (self.total - self.done) if self.done and self.total > self.done else None
        return {"id": self.id, "kind": self.kind, "state": self.state, "done": self.done, "total": self.total,
                "frames": self.frames, "frames_total": self.frames_total, "message": self.message, "result": self.result,
                "elapsed_s": round(elapsed, 1), "left_s": None if left is None else round(left, 1)}


class Progress:
    """What a running job reports through."""

    def __init__(self, job: Job, publish: Callable[[Job], None]) -> None:
        self.job = job
        self._publish = publish
        self._last = 0.0

    def check(self) -> None:
        if self.job.cancel.is_set():
            raise JobCancelled("cancelled")

    def step(self, done: int | None = None, total: int | None = None, message: str | None = None,
             event: dict[str, Any] | None = None) -> None:
        """Update the job; ``event`` goes to the listeners as it is (a file's result, say)."""
        self.check()
        if done is not None:
            self.job.done = done
        if total is not None:
            self.job.total = total
        if message is not None:
            self.job.message = message
        self._publish(self.job)
        if event is not None:
            self._publish(self.job, event)

    def frame(self) -> None:
        """One video frame written: reported at most 4 times a second."""
        self.check()
        self.job.frames += 1
        now = time.monotonic()
        if now - self._last > 0.25:
            self._last = now
            self._publish(self.job)


class Jobs:
    """Jobs run one after another on one thread (each uses every core through the batch runner)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="bioveil-app-job")
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._listeners: list[queue.Queue[dict[str, Any]]] = []
        self._lock = threading.Lock()

    def submit(self, kind: str, run: Callable[[Progress], dict[str, Any]]) -> Job:
        job = Job(f"{kind}-{next(self._ids)}", kind)
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, run)
        self._publish(job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    def cancel(self, job_id: str) -> bool:
        job = self._jobs.get(job_id)
        if job is None or job.state not in ("queued", "running"):
            return False
        job.cancel.set()
        return True

    def listen(self) -> queue.Queue[dict[str, Any]]:
        events: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=10_000)
        with self._lock:
            self._listeners.append(events)
        return events

    def forget(self, events: queue.Queue[dict[str, Any]]) -> None:
        with self._lock:
            if events in self._listeners:
                self._listeners.remove(events)

    def shutdown(self) -> None:
        for job in self._jobs.values():
            job.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _publish(self, job: Job, event: dict[str, Any] | None = None) -> None:
        message = {"type": "job", "job": job.to_dict()} if event is None else {"type": "file", "job": job.id, **event}
        with self._lock:
            listeners = list(self._listeners)
        for events in listeners:
            with contextlib.suppress(queue.Full):  # a stalled page: it reloads the state when it comes back
                events.put_nowait(message)

    def _run(self, job: Job, run: Callable[[Progress], dict[str, Any]]) -> None:
        if job.cancel.is_set():
            job.state = "cancelled"
            self._publish(job)
            return
        job.state, job.started = "running", time.monotonic()
        self._publish(job)
        try:
            job.result = run(Progress(job, self._publish))
            job.state = "done"
        except JobCancelled:
            job.state, job.message = "cancelled", "cancelled: what was finished is kept"
        except BioveilError as exc:
            job.state, job.message = "failed", f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bug: the app goes on, the page says what failed
            log.exception("job %s failed", job.id)
            job.state, job.message = "failed", f"UnexpectedError: {exc}"
        job.ended = time.monotonic()
        self._publish(job)
