"""A two-node Ray cluster on this machine, as an operator would start one: ``ray start --head`` and a second
``ray start --address``, each with its own CPUs, on loopback, with a token of its own (Ray's token auth).

Each ``ray start --block`` runs in a session of its own and is stopped by its process group's id (never
``ray stop``, which would stop every Ray on the machine). Used by tests/batch/test_ray_cluster.py and
bench/scale.py.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

STARTED = "Ray runtime started"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cluster_env() -> dict[str, str]:
    """The environment of every process of the cluster and of its drivers."""
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def _start(arguments: list[str], env: dict[str, str], log: Path, deadline: float) -> subprocess.Popen[bytes]:
    ray = Path(sys.executable).parent / "ray"
    with log.open("wb") as handle:
        process = subprocess.Popen([str(ray), "start", *arguments, "--disable-usage-stats", "--block"], env=env,
                                   stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    while STARTED not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError(f"ray start {' '.join(arguments)} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # ray start --block stops the processes it started
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def two_nodes(folder: Path, cpus: int = 1, timeout: float = 90.0) -> Iterator[dict[str, str]]:
    """Yield the environment of a driver of the cluster (``RAY_ADDRESS`` and the token set)."""
    folder.mkdir(parents=True, exist_ok=True)
    env = cluster_env()
    port = free_port()
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    head = _start(["--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", str(cpus),
                   "--include-dashboard=false"], env, folder / "head.log", deadline)
    nodes = [head]
    try:
        nodes.append(_start(["--address", address, "--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus)],
                            env, folder / "node.log", deadline))
        yield {**env, "RAY_ADDRESS": address}
    finally:
        for process in reversed(nodes):
            _stop(process)
