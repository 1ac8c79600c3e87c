"""End-to-end batch time of the ``bioveil`` and ``deface`` command lines on WIDER FACE val photos.

Times the tools as users run them: each as a subprocess, wall clock, including start-up, model
loading, reading and writing every file.

* The photos are copied (flat) into two fresh folders under /tmp, one per tool: deface writes its
  ``*_anonymized.jpg`` next to its inputs, so it gets its own copy.
* bioveil: ``bioveil mask <folder> -o <out> --no-progress`` (defaults: ensemble detector, blur, scale 1.55,
  ellipse); a fresh output folder for every run.
* deface 1.5.0: ``deface <files...> --thresh 0.2 --mask-scale 1.3 --execution-provider
  CPUExecutionProvider``; its outputs are deleted before every run.
* The runs alternate (bioveil, deface, bioveil, deface, ...); every run must write one output per
  photo. Both scripts are taken from the running interpreter's folder (``Path(sys.executable).parent``).
* Also reported: the CPU seconds (user + sys) each run used, and the CPU seconds the rest of the
  machine used meanwhile (busy time from /proc/stat minus the tool's; near 0 on a quiet machine:
  anything else running skews the wall-clock figures).

    .venv/bin/python bench/batch_speed.py [--batch-limit N] [--runs R] [--keep] [--json FILE]

``bench/wider_coverage.py`` runs this too, after its per-photo comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wider_data import DATA, Annotated, load_wider, select

TOOLS = ("bioveil", "deface")
DEFACE_ARGS = ["--thresh", "0.2", "--mask-scale", "1.3", "--execution-provider", "CPUExecutionProvider"]


def scripts() -> dict[str, Path]:
    """The ``bioveil`` and ``deface`` scripts next to the running interpreter (no resolve: keep the venv)."""
    folder = Path(sys.executable).parent
    found = {tool: folder / tool for tool in TOOLS}
    for tool, path in found.items():
        if not path.exists():
            raise SystemExit(f"{tool} not found at {path}")
    return found


def stage(photos: list[Annotated], folder: Path) -> list[Path]:
    """Copy the photos flat into ``folder`` (names made unique if two events share one)."""
    folder.mkdir(parents=True)
    copies: list[Path] = []
    taken: set[str] = set()
    for index, photo in enumerate(photos):
        name = photo.path.name if photo.path.name not in taken else f"{index:04d}_{photo.path.name}"
        taken.add(name)
        copies.append(Path(shutil.copy2(photo.path, folder / name)))
    return copies


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used since boot (nan where /proc/stat is missing)."""
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is already in user


def timed(command: list[str], log: Path) -> tuple[float, float, float]:
    """Run ``command``: (wall seconds, its CPU seconds, CPU seconds used by everything else meanwhile)."""
    with log.open("w") as handle:
        cpu, busy = child_cpu_seconds(), machine_busy_seconds()
        start = time.perf_counter()
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False)
        seconds = time.perf_counter() - start
        cpu, busy = child_cpu_seconds() - cpu, machine_busy_seconds() - busy
    if done.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} exited with {done.returncode}; see {log}")
    return seconds, cpu, max(0.0, busy - cpu)


def outputs(folder: Path, pattern: str) -> list[Path]:
    return sorted(path for path in folder.rglob(pattern) if path.is_file())


def run_batch(photos: list[Annotated], runs: int = 2, keep: bool = False) -> dict[str, Any]:
    """Time ``runs`` alternating runs of each command line on copies of ``photos``; returns the figures."""
    tools = scripts()
    root = Path(tempfile.mkdtemp(prefix="bioveil-batch-", dir="/tmp"))
    print(f"\nbatch timing: {len(photos)} photos copied to {root}, {runs} runs per tool, alternating", flush=True)
    try:
        bioveil_in = root / "bioveil_in"
        stage(photos, bioveil_in)
        deface_files = stage(photos, root / "deface_in")
        seconds: dict[str, list[tuple[float, float, float]]] = {tool: [] for tool in TOOLS}
        for run in range(1, runs + 1):
            out = root / f"bioveil_out_{run}"
            command = [str(tools["bioveil"]), "mask", str(bioveil_in), "-o", str(out), "--no-progress"]
            seconds["bioveil"].append(timed(command, root / f"bioveil_{run}.log"))
            written = len(outputs(out, "*"))
            if written != len(photos):
                raise RuntimeError(f"bioveil run {run} wrote {written} files for {len(photos)} photos")
            print("  bioveil run {}: {:7.1f} s, {:7.1f} CPU s, others {:5.1f} CPU s".format(run, *seconds["bioveil"][-1]),
                  flush=True)
            if not keep:
                shutil.rmtree(out)

            for old in outputs(root / "deface_in", "*_anonymized*"):
                old.unlink()
            command = [str(tools["deface"]), *map(str, deface_files), *DEFACE_ARGS]
            seconds["deface"].append(timed(command, root / f"deface_{run}.log"))
            written = len(outputs(root / "deface_in", "*_anonymized*"))
            if written != len(photos):
                raise RuntimeError(f"deface run {run} wrote {written} files for {len(photos)} photos")
            print("  deface  run {}: {:7.1f} s, {:7.1f} CPU s, others {:5.1f} CPU s".format(run, *seconds["deface"][-1]),
                  flush=True)
    finally:
        if keep:
            print(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return summarize_batch(seconds, len(photos))


def summarize_batch(seconds: dict[str, list[tuple[float, float, float]]], photos: int) -> dict[str, Any]:
    tools = {}
    for tool, runs in seconds.items():
        wall = [run[0] for run in runs]
        cpu = [run[1] for run in runs]
        tools[tool] = {
            "runs_seconds": [round(s, 2) for s in wall],
            "runs_cpu_seconds": [round(s, 2) for s in cpu],
            "runs_others_cpu_seconds": [round(run[2], 2) for run in runs],
            "best_seconds_per_photo": min(wall) / photos,
            "mean_seconds_per_photo": sum(wall) / len(wall) / photos,
            "mean_cpu_seconds_per_photo": sum(cpu) / len(cpu) / photos,
        }
    ratios = {key: tools["bioveil"][key] / tools["deface"][key]
              for key in ("best_seconds_per_photo", "mean_seconds_per_photo", "mean_cpu_seconds_per_photo")}
    return {"photos": photos, "tools": tools, "ratios": ratios}


def print_batch(batch: dict[str, Any]) -> None:
    bio, dfc, ratios = batch["tools"]["bioveil"], batch["tools"]["deface"], batch["ratios"]
    print(f"\nCLI batch, {batch['photos']} photos, wall clock per whole run (start-up, models, reading, writing):\n")
    print(f"| {'':<28} | {'bioveil':>10} | {'deface':>10} | {'bioveil/deface':>14} |")
    print(f"|{'-' * 30}|{'-' * 11}:|{'-' * 11}:|{'-' * 15}:|")
    for run, (b, d) in enumerate(zip(bio["runs_seconds"], dfc["runs_seconds"], strict=True), start=1):
        print(f"| {f'run {run}, seconds':<28} | {b:>10.1f} | {d:>10.1f} | {b / d:>13.2f}x |")
    for key, label in (("best_seconds_per_photo", "seconds per photo (best)"),
                       ("mean_seconds_per_photo", "seconds per photo (mean)"),
                       ("mean_cpu_seconds_per_photo", "CPU seconds per photo (mean)")):
        print(f"| {label:<28} | {bio[key]:>10.3f} | {dfc[key]:>10.3f} | {ratios[key]:>13.2f}x |")
    others = {tool: ", ".join(f"{v:.1f}" for v in batch["tools"][tool]["runs_others_cpu_seconds"]) for tool in TOOLS}
    print(f"\nCPU seconds used by other processes during each run (0 on a quiet machine): "
          f"bioveil {others['bioveil']}; deface {others['deface']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-limit", type=int, default=None,
                        help="use N photos spread evenly over the list (default: all)")
    parser.add_argument("--runs", type=int, default=2, help="runs per tool, alternating (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and outputs")
    parser.add_argument("--json", type=Path, default=None, help="save the figures here")
    args = parser.parse_args(argv)

    photos = select(load_wider(), args.batch_limit)
    print(f"{len(photos)} photos from {DATA / 'wider_face'}")
    batch = run_batch(photos, runs=args.runs, keep=args.keep)
    print_batch(batch)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(batch, indent=1))
        print(f"\nfigures saved to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
