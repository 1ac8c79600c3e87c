"""A two-node Ray cluster on one machine (``ray start --head --num-cpus 1`` and a second ``ray start --address
... --num-cpus 1``), ``bioveil mask --engine ray`` run against it through ``RAY_ADDRESS``: the bytes of the
local engine, the files spread over both nodes' actors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.batch.helpers import copy_photos, outputs, rows
from tests.batch.ray_cluster import two_nodes

NODES = "import ray; ray.init(); print(sum(n['Alive'] for n in ray.nodes()), ray.cluster_resources()['CPU'])"


def mask(inputs: Path, out: Path, env: dict[str, str] | None = None, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bioveil.cli.main", "mask", "--no-progress", str(inputs), "-o", str(out), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)


@pytest.mark.data
def test_mask_on_a_two_node_cluster_through_ray_address_writes_the_local_bytes(data: Path, tmp_path: Path) -> None:
    photos = tmp_path / "in"
    copy_photos(data, photos, 4)
    local = mask(photos, tmp_path / "local")
    assert local.returncode == 0, local.stderr
    with two_nodes(tmp_path / "cluster") as env:
        probe = subprocess.run([sys.executable, "-c", NODES], capture_output=True, text=True, timeout=120, env=env, check=False)
        remote = mask(photos, tmp_path / "ray", env, "--engine", "ray")
    # Two live nodes of one CPU each: the engine's actor per CPU (one CPU each) puts one actor on each node.
    assert probe.stdout.split()[-2:] == ["2", "2.0"], probe.stderr
    assert remote.returncode == 0, remote.stderr
    assert len(outputs(tmp_path / "local")) == 4 and outputs(tmp_path / "ray") == outputs(tmp_path / "local")
    assert {row["state"] for row in rows(tmp_path / "ray").values()} == {"done"}
