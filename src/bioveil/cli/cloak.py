"""``bioveil cloak``: add imperceptible perturbations to faces so recognizers miss their owners; strip metadata."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bioveil.errors import OutputError
from bioveil.media.atomic import atomic_path
from bioveil.media.image import DEFAULT_MAX_PIXELS

MODE_NAMES = ("fast", "balanced", "strong")  # bioveil.cloaking.attack.MODES, without importing torch for --help
DECOY_NAMES = ("consistent", "random")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "cloak", help="cloak faces in photos against face recognition", description=__doc__,
        epilog="Exit codes: 0 all inputs cloaked, 1 some failed (the rest were cloaked), 2 usage error, 3 nothing to do.")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="photo files, or folders (recursive)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                        help="folder for the cloaked copies (inputs are never modified)")
    parser.add_argument("--mode", default="balanced", choices=MODE_NAMES, help="speed against strength (default: balanced)")
    parser.add_argument("--recognizers", default="dlib,facenet,sface", metavar="NAMES",
                        help="the ensemble to optimize against, comma-separated (default: dlib,facenet,sface)")
    parser.add_argument("--decoys", default="consistent", choices=DECOY_NAMES,
                        help="consistent: one decoy per person across the inputs (default); random: one per face")
    parser.add_argument("--seed", type=int, default=0, help="seed of decoys and random transformations (default 0)")
    parser.add_argument("--detector", help="face detector (default: the fused ensemble)")
    parser.add_argument("--threshold", type=float, metavar="T", help="detector score cut (default: the detector's own)")
    parser.add_argument("--keep-metadata", action="store_true", help="keep EXIF and XMP (GPS, serials...): off by default")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (bomb guard)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write a per-file, per-face report as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bioveil.cli.main import EXIT_FAILURES, EXIT_NOTHING, EXIT_OK
    from bioveil.cloaking.batch import CloakFileResult, CloakSettings, cloak_batch
    from bioveil.recognition.base import parse_recognizers

    settings = CloakSettings(mode=args.mode, recognizers=tuple(parse_recognizers(args.recognizers)), decoys=args.decoys,
                             seed=args.seed, detector=args.detector, threshold=args.threshold,
                             keep_metadata=args.keep_metadata, max_pixels=args.max_pixels)
    bar = tqdm(total=0, unit="file", disable=True if args.no_progress else None, file=sys.stderr)

    def on_plan(total: int) -> None:
        bar.total = total
        bar.refresh()

    def on_result(result: CloakFileResult) -> None:
        bar.update(1)
        if not result.ok:
            tqdm.write(f"FAILED {result.input}: {result.error}: {result.message}", file=sys.stderr)
        for note in result.notes:
            tqdm.write(f"note {result.input}: {note}", file=sys.stderr)

    batch = cloak_batch(args.inputs, args.output, settings, on_result=on_result, on_plan=on_plan)
    bar.close()
    print(summary(batch, args.output))
    if args.json:
        try:
            write_report(args.json, batch, settings)
        except (OutputError, OSError) as exc:
            print(f"bioveil: the report was not written: {exc}", file=sys.stderr)
            return EXIT_FAILURES
    if not batch.results:
        return EXIT_NOTHING
    return EXIT_FAILURES if batch.failures else EXIT_OK


def summary(batch: Any, outdir: Path) -> str:
    if not batch.results:
        return "no photos found in the inputs"
    done = len(batch.results) - len(batch.failures)
    fooled = sum(1 for r in batch.results if r.cloak is not None for f in r.cloak.per_face if all(f.fooled.values()))
    line = (f"{len(batch.results)} files: {done} cloaked, {len(batch.failures)} failed; "
            f"{batch.face_count} faces cloaked, {fooled} fool every recognizer; outputs in {outdir}")
    if batch.skipped:
        line += f"; {len(batch.skipped)} files in folders skipped (not images)"
    return line


def write_report(path: Path, batch: Any, settings: Any) -> None:
    report = {
        "version": 1,
        "settings": asdict(settings),
        "files": [result.to_record() for result in batch.results],
        "skipped": [str(skipped) for skipped in batch.skipped],
        "summary": {"files": len(batch.results), "failed": len(batch.failures), "faces": batch.face_count},
    }
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(report, indent=2))

