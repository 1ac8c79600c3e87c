"""Attack arms side by side: variants of a cloak mode, each run on the same LFW people with several seeds.

Each arm is the mode (default ``high``, at its face budget) with some of its attack settings changed
(``ARMS``); the first arm is the mode as it is. For every arm and seed, the people's probes are cloaked and
measured as ``bench/cloak.py`` does (bioveil's ports, faces aligned where the clean face is); the table gives
PSR per recognizer and transform, averaged over the seeds (min-max in brackets), the written files' face
SSIM and CIEDE2000, and seconds a face. ``--loo sface``: each arm cloaks with the other two and is measured
on SFace alone (transfer). Pick arms on the ``PICKED`` sets of ``bench/cloak.py`` (``--offset``); report on
``--unpicked`` people.

    .venv/bin/python bench/cloak_arms.py --arms present,coarse --people 12 --offset 0.3 --seeds 0,1
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bioveil.cloaking.attack import MODES, Mode
from cloak import RECOGNIZERS, build_folders, cloak_and_measure, reference_psr, yardstick

TRANSFORMS = ("none", "jpeg85", "down2", "purify_downup2")
# name -> changes to the mode's settings
ARMS: dict[str, dict[str, Any]] = {
    "present": {},
    "sign": {"step_kind": "sign"},  # the signed step of L_inf PGD: the default until Dec 3
    "coarse": {"scales": (2, 4)},
    "coarse8": {"scales": (2, 4), "coarse_eps": 8.0},
    "smooth": {"smooth_sigma": 1.0},
    "coarse_smooth": {"scales": (2, 4), "smooth_sigma": 1.0},
    "steps60": {"steps": 60},
    "nofeature": {"feature_weight": 0.0},
    "ssim": {"step_kind": "ssim"},
    "ssim_half": {"step_kind": "ssim", "ssim_step": 0.5},
    "ssim_coarse": {"step_kind": "ssim", "scales": (2, 4)},
    "ssim_double": {"step_kind": "ssim", "ssim_step": 2.0},
    "ssim_smooth": {"step_kind": "ssim", "smooth_sigma": 1.0},
    "ssim_steps20": {"step_kind": "ssim", "steps": 20},
    "ssim_sface4": {"step_kind": "ssim", "gradient_weights": (("sface", 4.0),)},
    "ssim_nofeature": {"step_kind": "ssim", "feature_weight": 0.0},
    "ssim_nodecoy": {"step_kind": "ssim", "decoy_weight": 0.0},
}


def arm_mode(base: str, name: str) -> Mode:
    return replace(MODES[base], **ARMS[name])


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, min and max over seeds of each PSR, and the budget and time figures."""
    psr: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for name, values in run["psr_evasion"].items():
            for transform, value in values.items():
                psr.setdefault(name, {}).setdefault(transform, []).append(value)
    return {
        "psr": {name: {t: (float(np.mean(v)), float(np.min(v)), float(np.max(v))) for t, v in values.items()}
                for name, values in psr.items()},
        "face_ssim_min": min(run["face_ssim"]["min"] for run in runs if run["face_ssim"]),
        "face_ssim_mean": float(np.mean([run["face_ssim"]["mean"] for run in runs if run["face_ssim"]])),
        "delta_e_max": max(run["delta_e"]["max"] for run in runs if run["delta_e"]),
        "seconds_per_face": float(np.mean([run["wall_seconds_per_face"] for run in runs])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated names from ARMS (default: all)")
    parser.add_argument("--mode", default="high", choices=tuple(MODES))
    parser.add_argument("--people", type=int, default=12)
    parser.add_argument("--offset", type=float, default=0.3, help="as bench/cloak.py (a PICKED set for trying arms)")
    parser.add_argument("--unpicked", action="store_true", help="the people no change was tried on (to report)")
    parser.add_argument("--seeds", default="0,1", help="comma-separated cloak seeds")
    parser.add_argument("--loo", default="", help="hold this recognizer out of the cloak and measure only it")
    parser.add_argument("--reference", action="store_true",
                        help="also dlib C++ and SFace through onnxruntime, every photo re-detected by YuNet (bench/cloak.py)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arms {unknown}; known: {', '.join(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    used = tuple(n for n in RECOGNIZERS if n != args.loo)
    measured = (args.loo,) if args.loo else RECOGNIZERS
    logging.basicConfig(level=logging.WARNING)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bioveil-arms-") as temporary:
        root = Path(temporary)
        people = build_folders(root, args.people, offset=0.0 if args.unpicked else args.offset, unpicked=args.unpicked)
        seconds = yardstick()
        print(f"{len(people)} people, mode {args.mode}, cloaked with {','.join(used)}, measured on "
              f"{','.join(measured)}, seeds {seeds}; yardstick {seconds:.3f} s", flush=True)
        for arm in arms:
            runs = []
            for seed in seeds:
                out = root / f"{arm}-{seed}"
                run = cloak_and_measure(root, out, arm_mode(args.mode, arm), used, measured, TRANSFORMS, seed=seed)
                if args.reference:
                    run["psr_evasion"].update({f"{name} (reference)": values for name, values
                                               in reference_psr(root, out, TRANSFORMS).items()})
                runs.append(run)
            figures[arm] = summary(runs)
            row = figures[arm]
            cells = " ".join(f"{name}:" + "/".join(f"{row['psr'][name][t][0]:.2f}" for t in TRANSFORMS)
                             for name in row["psr"])
            print(f"{arm:14s} {cells}  face SSIM min {row['face_ssim_min']:.4f} mean {row['face_ssim_mean']:.4f} "
                  f"CIEDE2000 max {row['delta_e_max']:.2f}  {row['seconds_per_face']:.2f} s/face "
                  f"({row['seconds_per_face'] / seconds:.0f} yardsticks)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"people": people, "seeds": seeds, "arms": figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
