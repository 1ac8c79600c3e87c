"""A real ``bioveil app`` server on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
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


@dataclass
class Started:
    """``bioveil app`` run as users run it: its process, the address it printed, a client logged in through it."""

    process: subprocess.Popen[str]
    url: str
    client: httpx.Client

    @property
    def base(self) -> str:
        return self.url.split("/?", 1)[0]


@contextlib.contextmanager
def started_cli(command: list[str], cache: Path) -> Iterator[Started]:
    """Start ``command`` (a ``bioveil app --no-browser`` line) with its cache in ``cache``; on leaving, Ctrl-C it and
    check that it stopped cleanly (exit 0)."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("bioveil app: open http://127.0.0.1:"), line + process.stderr.read()  # type: ignore[union-attr]
        url = line.split("open ", 1)[1].strip()
        client = httpx.Client(follow_redirects=True, timeout=60)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.get(url)  # the secret becomes the client's cookie
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the app did not start listening"
                time.sleep(0.2)
        yield Started(process, url, client)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
    assert process.returncode == 0, process.stderr.read()  # type: ignore[union-attr]
