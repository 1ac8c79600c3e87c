"""Libraries' own thread pools: what bioveil switches off, checked in a fresh process (the switch is process-wide)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("threadpoolctl")

PROBE = """
import json, cv2, numpy, torch
from threadpoolctl import threadpool_info
from bioveil.concurrency import one_thread_per_task
one_thread_per_task()
blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
print(json.dumps({"blas": blas, "torch": torch.get_num_threads(), "opencv": cv2.getNumThreads()}))
"""


def test_one_thread_per_task_sets_every_pool_to_one_thread() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    threads = json.loads(result.stdout.strip().splitlines()[-1])
    assert threads["blas"] and set(threads["blas"]) == {1}, threads  # numpy's BLAS was found and set
    assert threads["torch"] == 1 and threads["opencv"] == 1, threads
