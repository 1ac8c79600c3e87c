"""Does a protection stop real recognizers? ``bioveil mask`` (or any command) on LFW, then ``evaluate protection``.

Every LFW person with at least 3 photos is a probe: the first photo is protected, the others are
that person's clean gallery; the one-photo strangers of ``lfw/distractors`` join every gallery.
Prints the evaluation table; writes JSON and bar charts to --out.

    python bench/lfw_protection.py                       # bioveil mask, default method
    python bench/lfw_protection.py --method pixelate
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wider_data import DATA


def build_folders(root: Path, min_photos: int, limit: int | None) -> int:
    identities = DATA / "lfw" / "identities"
    people = [p for p in sorted(identities.iterdir()) if len(list(p.glob("*.jpg"))) >= min_photos]
    if limit:
        people = people[:: max(1, len(people) // limit)][:limit]
    for person in people:
        first, *rest = sorted(person.glob("*.jpg"))
        (root / "probes" / person.name).mkdir(parents=True)
        shutil.copy(first, root / "probes" / person.name)
        (root / "gallery" / person.name).mkdir(parents=True)
        for photo in rest:
            shutil.copy(photo, root / "gallery" / person.name)
    return len(people)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default=None, help="bioveil mask --method (default: bioveil's default)")
    parser.add_argument("--people", type=int, default=None, help="only this many people, spread evenly (default: all)")
    parser.add_argument("--min-photos", type=int, default=3)
    parser.add_argument("--transforms", default="none,jpeg95,jpeg85,jpeg75,down2,blur")
    parser.add_argument("--recognizers", default="dlib,facenet,sface")
    parser.add_argument("--out", type=Path, default=Path("bench-output"))
    args = parser.parse_args()
    bioveil = Path(sys.executable).with_name("bioveil")
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        people = build_folders(root, args.min_photos, args.people)
        mask = [str(bioveil), "mask", "--no-progress", str(root / "probes"), "-o", str(root / "protected")]
        if args.method:
            mask += ["--method", args.method]
        start = time.perf_counter()
        subprocess.run(mask, check=True)
        print(f"{people} people; masked their probes in {time.perf_counter() - start:.1f} s")
        args.out.mkdir(parents=True, exist_ok=True)
        report = args.out / f"lfw_protection_{args.method or 'default'}.json"
        start = time.perf_counter()
        subprocess.run([str(bioveil), "evaluate", "protection", "--gallery", str(root / "gallery"),
                        "--probes", str(root / "probes"), "--protected", str(root / "protected"),
                        "--distractors", str(DATA / "lfw" / "distractors"),
                        "--transforms", args.transforms, "--recognizers", args.recognizers, "--json", str(report)], check=True)
        print(f"evaluated in {time.perf_counter() - start:.1f} s; JSON: {report}")
        summary = json.loads(report.read_text())
        print(f"gallery: {summary['gallery']}, probes: {summary['probes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
