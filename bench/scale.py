"""Photos per second of ``bioveil mask`` on the same WIDER FACE val photos: ``--engine local`` against
``--engine ray`` with 1 and 2 actors (one CPU each) in the same run, Ray's overhead at equal cores, a
two-node Ray cluster on this machine (``--two-nodes``), and a kill-and-resume count.

* Each configuration runs as users run it: the ``bioveil`` command as a subprocess, a fresh output folder,
  wall clock including start-up (for Ray: starting a local Ray, its actors and their models), so that
  figures are whole-run figures. Each configuration also masks 2 of the photos alone: its fixed cost, and
  ``marginal`` = (N - 2) / (seconds for N - seconds for 2), the throughput once every worker is up.
* Every run must write one output per photo, byte-identical to the local engine's.
* Overhead at equal cores: ray with 2 actors (1 CPU each) against local (2 photos in flight) on this 2-core
  machine; both whole-run and marginal.
* Kill and resume: ``mask --engine ray`` killed (SIGKILL to its process group: the driver and the local Ray it
  started) once a third of the outputs are there, then run again: how many files the rerun did, and how many
  of the files finished before the kill were redone (must be 0).
* The machine's CPU seconds during each run (every process: Ray's actors are not the command's children);
  on a shared machine they include others' work: quote the ratios measured in one run.

    .venv/bin/python bench/scale.py [--photos 300] [--rounds 1] [--two-nodes] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.batch: the outputs' digests, the two-node cluster
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.batch.helpers import outputs
from tests.batch.ray_cluster import two_nodes

from batch_speed import stage, timed
from wider_data import DATA, load_wider, select

FEW = 2  # the small run that measures each configuration's fixed cost
CONFIGS = {
    "local": ["--engine", "local"],
    "ray, 1 actor": ["--engine", "ray", "--ray-actors", "1"],
    "ray, 2 actors": ["--engine", "ray", "--ray-actors", "2"],
}


def command(inputs: Path, out: Path, extra: list[str]) -> list[str]:
    return [str(Path(sys.executable).parent / "bioveil"), "mask", "--no-progress", str(inputs), "-o", str(out), *extra]


def done_times(out: Path) -> list[float]:
    db = sqlite3.connect(out / ".bioveil" / "manifest.sqlite")
    try:
        stamps = [row[0] for row in db.execute("SELECT updated FROM files WHERE state = 'done'")]
    finally:
        db.close()
    return sorted(datetime.fromisoformat(stamp).timestamp() for stamp in stamps)


def one_run(inputs: Path, out: Path, extra: list[str], photos: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    if env is not None:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
    started = time.time()
    try:
        seconds, cpu, others = timed(command(inputs, out, extra), out.parent / f"{out.name}.log")
    finally:
        if env is not None:
            os.environ.clear()
            os.environ.update(saved)
    times = done_times(out)
    # Ray's actors are not this process's children: their CPU is in ``others``; the machine's total is the figure.
    return {"seconds": round(seconds, 2), "photos_per_second": photos / seconds,
            "first_done_after_seconds": round(times[0] - started, 1) if times else None,
            "machine_cpu_seconds": round(cpu + others, 1)}


def kill_and_resume(inputs: Path, root: Path, photos: int, reference: dict[str, str]) -> dict[str, Any]:
    out = root / "killed"
    extra = ["--engine", "ray", "--ray-actors", "2"]
    process = subprocess.Popen(command(inputs, out, extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 1800
    while sum(1 for _ in out.glob("*.jpg")) < photos // 3:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the run to kill ended, or never reached a third of its outputs")
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the driver and the local Ray it started (same process group)
    process.wait()
    finished = {path.name: path.stat().st_mtime_ns for path in out.glob("*.jpg")}
    db = sqlite3.connect(out / ".bioveil" / "manifest.sqlite")
    try:
        done_before = {Path(row[0]).name for row in db.execute("SELECT input FROM files WHERE state = 'done'")}
    finally:
        db.close()
    report = root / "resumed.json"
    resumed = subprocess.run([*command(inputs, out, extra), "--json", str(report)], capture_output=True, text=True,
                             check=False)
    if resumed.returncode != 0:
        raise RuntimeError(f"the resumed run failed: {resumed.stderr[-2000:]}")
    summary = json.loads(report.read_text())["summary"]
    redone_finished = sum(1 for name in done_before if (out / name).stat().st_mtime_ns != finished.get(name))
    return {"outputs_at_kill": len(finished), "done_rows_at_kill": len(done_before), "resumed_done": summary["done"],
            "resumed_skipped": summary["skipped"], "finished_files_redone": redone_finished,
            "same_bytes": outputs(out) == reference}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=300, help="WIDER val photos spread evenly over the set (default 300)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the three configurations (default 1)")
    parser.add_argument("--two-nodes", action="store_true", help="also run on a two-node Ray cluster (1 CPU each)")
    parser.add_argument("--no-kill", action="store_true", help="skip the kill-and-resume run")
    parser.add_argument("--json", type=Path, help="save the figures here")
    args = parser.parse_args(argv)

    photos = select(load_wider(), args.photos)
    root = Path(tempfile.mkdtemp(prefix="bioveil-scale-", dir="/tmp"))
    inputs = root / "in"
    stage(photos, inputs)
    few = root / "few"
    stage(photos[:FEW], few)
    print(f"{len(photos)} photos from {DATA / 'wider_face'} copied to {root}", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGS}
    reference: dict[str, str] | None = None
    try:
        for round_ in range(1, args.rounds + 1):
            for name, extra in CONFIGS.items():
                out = root / f"{name.replace(', ', '-').replace(' ', '')}-{round_}"
                small = one_run(few, out.with_name(out.name + "-few"), extra, FEW)
                figures = one_run(inputs, out, extra, len(photos))
                # The marginal rate: what each photo beyond the first FEW costs, start-up (Ray, actors, models) left out.
                figures["fixed_seconds"] = small["seconds"]
                figures["marginal_photos_per_second"] = (len(photos) - FEW) / (figures["seconds"] - small["seconds"])
                written = outputs(out)
                reference = reference or written
                figures["same_bytes_as_local"] = written == reference
                runs[name].append(figures)
                print(f"  round {round_}, {name:<14}: {figures['seconds']:7.1f} s, {figures['photos_per_second']:5.2f} photos/s, "
                      f"{FEW} photos in {small['seconds']:.1f} s, "
                      f"marginal {figures['marginal_photos_per_second']:5.2f} photos/s, "
                      f"machine CPU {figures['machine_cpu_seconds']} s, same bytes: {figures['same_bytes_as_local']}", flush=True)
                shutil.rmtree(out)
        if args.two_nodes:
            with two_nodes(root / "cluster") as env:
                out = root / "two-nodes"
                figures = one_run(inputs, out, ["--engine", "ray"], len(photos), env)
                figures["same_bytes_as_local"] = outputs(out) == reference
            runs["ray, 2 nodes x 1 CPU"] = [figures]
            figures["fixed_seconds"] = figures["marginal_photos_per_second"] = float("nan")
            print(f"  two nodes        : {figures['seconds']:7.1f} s, {figures['photos_per_second']:5.2f} photos/s, "
                  f"same bytes: {figures['same_bytes_as_local']}", flush=True)
        killed = None if args.no_kill else kill_and_resume(inputs, root, len(photos), reference or {})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    best = {name: max(figures, key=lambda f: f["photos_per_second"]) for name, figures in runs.items()}
    local, ray2 = best["local"], best["ray, 2 actors"]
    overhead = {"whole_run": local["photos_per_second"] / ray2["photos_per_second"] - 1,
                "marginal": local["marginal_photos_per_second"] / ray2["marginal_photos_per_second"] - 1}
    print(f"\n| {len(photos)} WIDER photos, mask | seconds | photos/s | {FEW} photos, s | marginal photos/s | machine CPU s "
          "| same bytes |")
    print("|---|---:|---:|---:|---:|---:|:---:|")
    for name, figures in best.items():
        print(f"| {name} | {figures['seconds']:.1f} | {figures['photos_per_second']:.2f} | {figures['fixed_seconds']:.1f} "
              f"| {figures['marginal_photos_per_second']:.2f} | {figures['machine_cpu_seconds']} "
              f"| {figures['same_bytes_as_local']} |")
    ray1 = best["ray, 1 actor"]
    print(f"\nRay's overhead at equal cores (2 actors x 1 CPU vs local on 2 cores): whole run {overhead['whole_run']:+.1%}, "
          f"marginal {overhead['marginal']:+.1%}; 2 actors / 1 actor: "
          f"{ray2['photos_per_second'] / ray1['photos_per_second']:.2f}x whole run, "
          f"{ray2['marginal_photos_per_second'] / ray1['marginal_photos_per_second']:.2f}x marginal")
    if killed:
        print(f"kill -9 at {killed['outputs_at_kill']} outputs ({killed['done_rows_at_kill']} rows done), then resumed: "
              f"{killed['resumed_done']} files done by the rerun, {killed['resumed_skipped']} skipped, "
              f"{killed['finished_files_redone']} finished files redone; same bytes as local: {killed['same_bytes']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"photos": len(photos), "runs": runs, "overhead": overhead, "kill": killed}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
