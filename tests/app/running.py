"""A real ``bioveil app`` server on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bioveil.app.server import State, create_app, new_secret
from bioveil.app.workspace import Workspace


@dataclass
class Running:
    base: str
    port: int
    secret: str
    state: State
    workspace: Workspace

    def client(self, **headers: str) -> httpx.Client:
        """A client that holds the secret and sends the app's own Origin."""
        return httpx.Client(base_url=self.base, timeout=120, cookies={"bioveil_app": self.secret},
                            headers={"origin": self.base, **headers})

    def wait_job(self, client: httpx.Client, job: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = client.get(f"/api/jobs/{job['id']}").json()
            if job["state"] not in ("queued", "running"):
                return job
            time.sleep(0.2)
        raise TimeoutError(f"job {job['id']} still {job['state']} after {timeout} s")


@contextlib.contextmanager
def running_app(root: Path, max_upload_bytes: int | None = None) -> Iterator[Running]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    secret = new_secret()
    workspace = Workspace(root=root, **({"max_upload_bytes": max_upload_bytes} if max_upload_bytes else {}))
    app, state = create_app(workspace, secret, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield Running(f"http://127.0.0.1:{port}", port, secret, state, workspace)
    finally:
        server.should_exit = True
        thread.join(10)
        state.jobs.shutdown()
        workspace.close()
