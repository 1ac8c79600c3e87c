"""``bioveil scan``: what a photo collection exposes: faces, the people linked across photos, metadata."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bioveil.cli.progress import ENGINE_EPILOG, add_engine_arguments, add_resume_arguments, engine_from, resume_from
from bioveil.media.atomic import atomic_path
from bioveil.media.image import DEFAULT_MAX_PIXELS

EPILOG = ("Reruns resume: the cache folder's manifest (CACHE/.bioveil/manifest.sqlite) records every file scanned, "
          "and a rerun reads back the files done with the same settings and unchanged content, and computes only "
          "the new and changed ones; the report still covers every file. Files that failed are tried again only "
          "with --retry-failed; --force computes everything again. "
          "Exit codes: 0 scanned, 1 some files failed (the rest were scanned), 2 usage error, 3 nothing to scan, "
          "4 a category named in --fail-on was found. " + ENGINE_EPILOG.replace("OUTDIR", "the cache folder (--cache)"))


def parse_categories(text: str) -> set[str]:
    from bioveil.scan.collection import CATEGORIES

    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = names - set(CATEGORIES)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown categories {', '.join(sorted(unknown))}; choose from {', '.join(CATEGORIES)}")
    return names


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("scan", help="audit what photos and videos expose (faces, people, GPS, devices...)",
                                 description=__doc__, epilog=EPILOG)
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="photo and video files, or folders (recursive)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON (docs/scan_schema.md)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML report")
    parser.add_argument("--fail-on", type=parse_categories, default=set(), metavar="CATEGORIES",
                        help="exit with code 4 when any of these is found, e.g. gps,faces,serial")
    parser.add_argument("--recognizer", choices=["sface", "dlib"], default="sface",
                        help="embeds faces to link people (default sface: far fewer wrong links than dlib, see BENCHMARKS.md)")
    parser.add_argument("--cache", type=Path, metavar="DIR",
                        help="where face data is cached by file content, so reruns only scan new files "
                             "(default: ~/.cache/bioveil/scan, private to you)")
    parser.add_argument("--no-cache", action="store_true", help="keep nothing after the scan")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (bomb guard)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_resume_arguments(parser)
    add_engine_arguments(parser)
    parser.set_defaults(run=run)


def _write_json(path: Path, report: dict[str, Any]) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def summary_lines(report: dict[str, Any]) -> list[str]:
    summary = report["summary"]
    skipped = summary.get("skipped", 0)
    lines = [f"{summary['files']} files: {summary['scanned'] - skipped} scanned, {skipped} skipped (done before, read "
             f"from the cache), {summary['failed']} failed; "
             f"{summary['faces']} faces, {summary['persons']} people seen in more than one place"]
    exposed = {name: count for name, count in summary["categories"].items() if count}
    if exposed:
        counts = (f"{name} in {count} file{'s' if count != 1 else ''}" for name, count in exposed.items())
        lines.append("exposed: " + ", ".join(counts))
    for record in report["files"]:
        if record["status"] == "failed":
            lines.append(f"  failed: {record['path']}: {record['error']['type']}: {record['error']['message']}")
    return lines


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bioveil.cli.main import EXIT_EXPOSED, EXIT_FAILURES, EXIT_NOTHING, EXIT_OK
    from bioveil.scan.collection import CachedImages, ScanSettings, scan_collection

    settings = ScanSettings(recognizer=args.recognizer, cache_dir=args.cache, use_cache=not args.no_cache,
                            max_pixels=args.max_pixels)
    bar = tqdm(unit="file", disable=args.no_progress or not sys.stderr.isatty(), desc="scanning")
    result = scan_collection(args.inputs, settings, progress=lambda _scan: bar.update(), resume=resume_from(args),
                             engine=engine_from(args, settings.workers))
    bar.close()
    try:
        report = result.report
        if report["summary"]["files"] == 0:
            print("bioveil: nothing to scan: no photo or video found in the inputs", file=sys.stderr)
            return EXIT_NOTHING
        print("\n".join(summary_lines(report)))
        if args.json:
            _write_json(args.json, report)
            print(f"JSON report: {args.json}")
        if args.html:
            from bioveil.scan.html import write_html

            write_html(report, CachedImages(result), args.html)
            print(f"HTML report: {args.html}")
        if settings.use_cache:
            print(f"face data cached in {result.cache.root} (delete it, or use --no-cache, to keep nothing)", file=sys.stderr)
    finally:
        result.close()
    found = result.found(args.fail_on)
    if found:
        print(f"bioveil: found {', '.join(sorted(found))} (--fail-on)", file=sys.stderr)
        return EXIT_EXPOSED
    return EXIT_FAILURES if result.failed else EXIT_OK
