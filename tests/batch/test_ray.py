"""``--engine ray`` on a local Ray of 2 CPUs: the same bytes as ``--engine local`` for ``mask`` (photos and a video),
the same people for ``scan``; a broken file fails with its named error; a worker killed mid-task is
replaced and its file redone. The two-node cluster is in tests/batch/test_ray_cluster.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ray  # bioveil[cluster], in the test install: a missing Ray fails here rather than skipping
from PIL import Image

from bioveil.batch.ray_engine import CRASH_VARIABLE
from bioveil.cli.main import EXIT_FAILURES, main
from tests.batch.helpers import copy_photos, outputs, partials, rows
from tests.media.clips import cut

BROKEN = "broken.jpg"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray of 2 CPUs for the module: the engine uses a connection it finds as it is."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four WIDER crowd photos (many small faces), 16 frames of the street clip and a broken photo."""
    folder = tmp_path_factory.mktemp("ray") / "in"
    copy_photos(data, folder, 4)
    cut(data / "video" / "street_faces.mp4", folder / "street.mp4", 16, width=640)
    (folder / BROKEN).write_bytes(b"\xff\xd8\xff\xe0 not a JPEG at all")
    return folder


def mask(inputs: Path, out: Path, *extra: str) -> tuple[int, dict]:
    report = out.parent / f"{out.name}.json"
    code = main(["mask", "--no-progress", "--json", str(report), str(inputs), "-o", str(out), *extra])
    return code, json.loads(report.read_text())


@pytest.fixture(scope="module")
def masked_locally(photos: Path) -> tuple[dict[str, str], dict]:
    code, report = mask(photos, photos.parent / "local")
    assert code == EXIT_FAILURES  # the broken photo
    return outputs(photos.parent / "local"), report


def comparable(report: dict) -> list[tuple]:
    return [(Path(f["input"]).name, f["status"], f["error"], f.get("faces")) for f in report["files"]]


@pytest.mark.data
def test_mask_on_ray_writes_the_local_bytes_though_a_worker_dies_mid_task(
        local_ray: None, photos: Path, masked_locally: tuple[dict[str, str], dict], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    local, local_report = masked_locally
    victim = sorted(local)[1]
    marker = tmp_path / "died"
    monkeypatch.setenv(CRASH_VARIABLE, f"{victim}={marker}")  # the actor taking it exits (os._exit), once, mid-task
    out = tmp_path / "ray"
    code, report = mask(photos, out, "--engine", "ray", "--ray-actors", "2")
    assert marker.exists(), "no worker died: the test's crash was not reached"
    assert code == EXIT_FAILURES
    assert len(local) == 5 and outputs(out) == local  # the victim's file redone by a new worker: the same bytes
    assert comparable(report) == comparable(local_report)
    broken = next(f for f in report["files"] if Path(f["input"]).name == BROKEN)
    assert broken["error"] == "CorruptMediaError" and broken["message"]  # named, as locally; the rest went on
    states = {name: row["state"] for name, row in rows(out).items()}
    assert states == {**dict.fromkeys(local, "done"), BROKEN: "failed"}
    assert not partials(out)

    code, again = mask(photos, out, "--engine", "ray")  # resumes on Ray too: nothing redone
    assert (again["summary"]["done"], again["summary"]["skipped"]) == (0, 5)


@pytest.mark.data
def test_scan_on_ray_links_the_same_people(local_ray: None, data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    copy_photos(data, folder / "a", 3, "lfw/identities/Vladimir_Putin")
    copy_photos(data, folder / "b", 2, "lfw/identities/Colin_Powell")
    (folder / BROKEN).write_bytes(b"\xff\xd8\xff\xe0 not a JPEG at all")
    reports = {}
    for engine in ("local", "ray"):
        report = tmp_path / f"{engine}.json"
        code = main(["scan", "--no-progress", "--cache", str(tmp_path / f"cache-{engine}"), "--json", str(report),
                     str(folder), "--engine", engine])
        assert code == EXIT_FAILURES  # the broken photo
        reports[engine] = json.loads(report.read_text())
    local, remote = reports["local"], reports["ray"]
    assert local["summary"]["persons"] >= 2
    assert remote["summary"] == local["summary"]
    assert remote["persons"] == local["persons"]
    assert [(f["path"], f["status"], f["faces"]) for f in remote["files"]] == \
           [(f["path"], f["status"], f["faces"]) for f in local["files"]]


@pytest.mark.data
def test_cloak_on_ray_matches_the_local_engine(local_ray: None, data: Path, tmp_path: Path) -> None:
    """Decoys across the batch on the driver, then one photo per Ray task: the same files, faces and outcome as in
    one process, and nearly the same pixels. Not the same bytes: the SSIM-weighted step is continuous in the
    gradient, so a convolution summed in another order in the actor sends the 30 steps elsewhere (measured on
    Dec 3: a mean difference of 0.42 levels over the photo, at most 24, both faces fooled either way)."""
    photos = tmp_path / "in"
    copy_photos(data, photos, 2, "lfw/identities/Vladimir_Putin")
    written, reports = {}, {}
    for engine in ("local", "ray"):
        out = tmp_path / engine
        args = ["cloak", "--no-progress", "--mode", "visible", "--recognizers", "sface", str(photos), "-o", str(out),
                "--engine", engine, "--json", str(tmp_path / f"{engine}.json")]
        assert main(args) == 0
        written[engine] = outputs(out)
        reports[engine] = json.loads((tmp_path / f"{engine}.json").read_text())
    assert len(written["local"]) == 2 and set(written["ray"]) == set(written["local"])
    for name in written["local"]:
        local, remote = (np.asarray(Image.open(tmp_path / engine / name), np.int16) for engine in ("local", "ray"))
        difference = np.abs(local - remote)
        assert local.shape == remote.shape and difference.mean() < 1.0, (name, difference.mean())
    faces = [[(face["box"], {n: r["fooled"] for n, r in face["recognizers"].items()}) for face in f["faces"]]
             for engine in ("local", "ray") for f in sorted(reports[engine]["files"], key=lambda f: f["input"])]
    assert faces[:2] == faces[2:]


THREADS = """
import json, sys, cv2, numpy, torch
from threadpoolctl import threadpool_info
from bioveil.batch.ray_engine import limit_threads
from bioveil.concurrency import usable_cores
limit_threads(int(sys.argv[1]))
blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
print(json.dumps({"blas": blas, "torch": torch.get_num_threads(), "opencv": cv2.getNumThreads(), "bioveil": usable_cores()}))
"""


@pytest.mark.parametrize("cpus", [1, 2])
def test_an_actor_sizes_every_thread_pool_to_its_cpus(cpus: int) -> None:
    """What FileActor does first, in a fresh process (the pools are process-wide)."""
    result = subprocess.run([sys.executable, "-c", THREADS, str(cpus)], capture_output=True, text=True, timeout=120, check=True)
    threads = json.loads(result.stdout.strip().splitlines()[-1])
    assert threads["blas"] and set(threads["blas"]) == {cpus}, threads
    assert (threads["torch"], threads["opencv"], threads["bioveil"]) == (cpus, cpus, cpus), threads


def test_the_ray_client_and_unknown_engines_are_refused_with_what_to_do(tmp_path: Path) -> None:
    from bioveil.batch.engine import make_engine
    from bioveil.cli.main import EXIT_USAGE
    from bioveil.errors import InvalidOptionError, UnknownNameError

    with pytest.raises(InvalidOptionError, match="ray job submit"):
        make_engine("ray", address="ray://head:10001")
    with pytest.raises(UnknownNameError, match="local, ray"):
        make_engine("spark")
    (tmp_path / "in").mkdir()
    assert main(["mask", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--engine", "ray",
                 "--ray-address", "ray://head:10001"]) == EXIT_USAGE
