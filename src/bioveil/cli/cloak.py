"""``bioveil cloak``: add imperceptible perturbations to faces so recognizers miss their owners; strip metadata."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bioveil.cli.progress import (
    ENGINE_EPILOG,
    RESUME_EPILOG,
    FileProgress,
    add_engine_arguments,
    add_resume_arguments,
    counts,
    engine_from,
    finish,
    report_summary,
    resume_from,
)
from bioveil.media.atomic import atomic_path
from bioveil.media.image import DEFAULT_MAX_PIXELS

MODE_NAMES = ("low", "mid", "high", "visible")  # bioveil.cloaking.attack.MODES, without importing torch for --help
DECOY_NAMES = ("consistent", "random")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "cloak", help="cloak faces in photos against face recognition", description=__doc__,
        epilog=RESUME_EPILOG + " " + ENGINE_EPILOG + " Exit codes: 0 all inputs cloaked, 1 some failed (the rest were cloaked), "
                               "2 usage error, 3 nothing to do.")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="photo files, or folders (recursive)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                        help="folder for the cloaked copies (inputs are never modified)")
    parser.add_argument("--mode", default="high", choices=MODE_NAMES,
                        help="how much each face may change: low (face SSIM >= 0.994), mid (0.99), high (0.984, the default), "
                             "visible (0.88: the change shows); mean CIEDE2000 <= 2 on the face except in visible")
    parser.add_argument("--recognizers", default="dlib,facenet,sface", metavar="NAMES",
                        help="the ensemble to optimize against, comma-separated (default: dlib,facenet,sface)")
    parser.add_argument("--decoys", default="consistent", choices=DECOY_NAMES,
                        help="consistent: one decoy per person across the inputs (default); random: one per face")
    parser.add_argument("--seed", type=int, default=0, help="seed of decoys and random transformations (default 0)")
    parser.add_argument("--detector", help="face detector (default: ensemble-fast, SCRFD on the photo and at 640 px)")
    parser.add_argument("--threshold", type=float, metavar="T",
                        help="detector score cut: faces scoring under it are left as they are (default 0.5)")
    parser.add_argument("--keep-metadata", action="store_true", help="keep EXIF and XMP (GPS, serials...): off by default")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (bomb guard)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write a per-file, per-face report as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_resume_arguments(parser)
    add_engine_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    from bioveil.cloaking.batch import CloakSettings, cloak_batch
    from bioveil.recognition.base import parse_recognizers

    settings = CloakSettings(mode=args.mode, recognizers=tuple(parse_recognizers(args.recognizers)), decoys=args.decoys,
                             seed=args.seed, detector=args.detector, threshold=args.threshold,
                             keep_metadata=args.keep_metadata, max_pixels=args.max_pixels)
    progress = FileProgress(args.no_progress)
    batch = cloak_batch(args.inputs, args.output, settings, on_result=progress.on_result, on_plan=progress.on_plan,
                        resume=resume_from(args), engine=engine_from(args, 1))
    progress.close()
    print(summary(batch, args.output))
    return finish(batch, args.json, lambda path: write_report(path, batch, settings))


def summary(batch: Any, outdir: Path) -> str:
    if not batch.results and not batch.done:
        return "no photos found in the inputs"
    fooled = sum(1 for r in batch.results if r.cloak is not None for f in r.cloak.per_face if all(f.fooled.values()))
    line = (f"{counts(batch, 'cloaked')}; "
            f"{batch.face_count} faces cloaked, {fooled} fool every recognizer; outputs in {outdir}")
    if batch.skipped:
        line += f"; {len(batch.skipped)} files in folders skipped (not images)"
    return line


def write_report(path: Path, batch: Any, settings: Any) -> None:
    report = {
        "version": 1,
        "settings": asdict(settings),
        "files": [result.to_record() for result in batch.results] + batch.done_records(),
        "skipped": [str(skipped) for skipped in batch.skipped],
        "summary": report_summary(batch),
    }
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(report, indent=2))

