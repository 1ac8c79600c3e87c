"""``bioveil evaluate``: how well real recognizers identify people, before and after protection."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bioveil.evaluation.transforms import DEFAULT_TRANSFORMS
from bioveil.media.atomic import atomic_path

RECOGNIZERS = "dlib,facenet,sface"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("evaluate", help="measure identifiability with real face recognizers", description=__doc__)
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")

    pairs = kinds.add_parser("pairs", help="LFW-style verification accuracy on a pairs file",
                             description="Verification on pairs in LFW's format: accuracy (10 folds), TAR at FAR, ROC curves.")
    pairs.add_argument("pairs", type=Path, metavar="PAIRS", help="pairs file in LFW's format (e.g. lfw/pairs.txt)")
    pairs.add_argument("--images", type=Path, required=True, metavar="DIR", help="folder of <name>/<name>_NNNN.jpg")
    _common(pairs)
    pairs.add_argument("--roc", type=Path, metavar="PNG", help="write the ROC curves here (default: beside --json)")
    pairs.set_defaults(run=run_pairs)

    protection = kinds.add_parser(
        "protection", help="identification before and after a protection (evasion and poisoning)",
        description="Rank-1 identification and TAR at FAR against a gallery, before and after protection, "
                    "under what scrapers do to photos; and whether detectors still find the face.")
    protection.add_argument("--gallery", type=Path, required=True, metavar="DIR",
                            help="clean photos of known people: DIR/<identity>/<photo>")
    protection.add_argument("--probes", type=Path, required=True, metavar="DIR", help="clean originals of the protected photos")
    protection.add_argument("--protected", type=Path, required=True, metavar="DIR",
                            help="the protected probes, at the probes' relative paths (bioveil mask/cloak output)")
    protection.add_argument("--distractors", type=Path, metavar="DIR", help="photos of other people, enrolled in every gallery")
    protection.add_argument("--transforms", default=",".join(DEFAULT_TRANSFORMS),
                            help=f"what a scraper does to photos (default: {','.join(DEFAULT_TRANSFORMS)})")
    _common(protection)
    protection.add_argument("--plot", type=Path, metavar="PNG", help="write bar charts here (default: beside --json)")
    protection.set_defaults(run=run_protection)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recognizers", default=RECOGNIZERS, help=f"comma-separated (default: {RECOGNIZERS})")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")


def _write_json(path: Path, payload: dict[str, object]) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(payload, indent=2) + "\n")


def _beside(json_path: Path | None, explicit: Path | None, suffix: str) -> Path | None:
    if explicit is not None:
        return explicit
    return json_path.with_name(json_path.stem + suffix) if json_path is not None else None


def _finish(lines: list[str], json_path: Path | None, payload: dict[str, object],
            plot: Callable[[Path], None], plot_path: Path | None) -> int:
    """Print the table, write the JSON and the plot where asked."""
    print("\n".join(lines))
    if json_path is not None:
        _write_json(json_path, payload)
    if plot_path is not None:
        plot(plot_path)
        print(f"plot: {plot_path}", file=sys.stderr)
    return 0


def run_pairs(args: argparse.Namespace) -> int:
    from bioveil.evaluation.pairs import evaluate_pairs
    from bioveil.evaluation.plots import roc_plot

    report = evaluate_pairs(args.pairs, args.images, args.recognizers)
    fars = next(iter(report.results.values())).tar_at_far
    header = f"{'recognizer':<10} {'accuracy':>9} {'std':>7} " + " ".join(f"{'TAR@' + far:>10}" for far in fars)
    lines = [header]
    for name, result in report.results.items():
        tars = " ".join(f"{100 * value:>9.2f}%" for value in result.tar_at_far.values())
        lines.append(f"{name:<10} {100 * result.accuracy:>8.2f}% {100 * result.std:>6.2f}% {tars}")
    lines.append(f"{report.pairs} pairs, {'LFW folds' if report.official_folds else 'random folds'}; "
                 f"faces not found by the detector: {report.faces_not_found} (a central box stood in)")
    return _finish(lines, args.json, report.to_dict(), lambda path: roc_plot(report, path),
                   _beside(args.json, args.roc, "_roc.png"))


def run_protection(args: argparse.Namespace) -> int:
    from bioveil.evaluation.plots import protection_bars
    from bioveil.evaluation.protection import evaluate_protection

    report = evaluate_protection(args.gallery, args.probes, args.protected, args.distractors,
                                 args.recognizers, args.transforms.split(","))
    keys = ["clean", *report.transforms]
    lines = [f"{'rank-1':<22}" + "".join(f"{key:>9}" for key in keys)]
    for model, table in (("evasion", report.evasion), ("poisoning", report.poisoning)):
        for name, results in table.items():
            lines.append(f"{model + ' ' + name:<22}" + "".join(f"{100 * results[key].rank1:>8.1f}%" for key in keys))
    for name, rates in report.detection.items():
        lines.append(f"{'detected ' + name:<22}" + "".join(f"{100 * rates[key]:>8.1f}%" for key in keys))
    lines.append(f"gallery {report.gallery_photos} photos of {report.gallery_identities} people; {report.probes} probes; "
                 "'clean' = before protection; faces aligned where the clean original's face is")
    return _finish(lines, args.json, report.to_dict(), lambda path: protection_bars(report, path),
                   _beside(args.json, args.plot, "_bars.png"))
