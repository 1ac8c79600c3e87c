"""Photos as people take them: one box a face at every size, and what masking costs on real camera files.

1. **One box a face.** LFW photos (one target face, centred by deep funneling) upscaled 1x, 2x, 4x and 8x
   (faces of about 100 to 900 px): the share of photos where the detector, keeping the faces it is sure of
   (``bioveil.detect``: score 0.5), puts exactly one box on the face (overlapping the funnelled face box
   by IoU > 0.1), and the shares with none and with two or more.
2. **Camera files.** Every readable photo of ``../shared/data/exif_samples`` (phones and cameras, up to
   12 MP, few with people): regions masked (the detector's candidates, each fused face once), masked share
   of all pixels, and seconds a photo, for each detector and for deface 1.5.0 (threshold 0.2, mask scale
   1.3) on the same pixels, in the same run, order alternating photo by photo.

    .venv/bin/python bench/photo_sizes.py [--people N] [--detectors ensemble,permissive] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bioveil.detection.base import SURE_SCORE, get_detector
from bioveil.detection.boxes import iou_matrix
from bioveil.errors import MediaError
from bioveil.masking.maskers import DEFAULT_SCALE
from bioveil.masking.region import face_region
from bioveil.media.image import read_image
from bioveil.types import Faces
from wider_coverage import Deface
from wider_data import DATA

FACTORS = (1, 2, 4, 8)
FUNNELLED_FACE = np.array([0.3, 0.25, 0.7, 0.8], np.float32)  # where deep funneling puts LFW's face


def lfw_people(count: int) -> list[Path]:
    people = sorted(path for path in (DATA / "lfw" / "identities").iterdir() if path.is_dir())
    step = len(people) / min(count, len(people))
    return [sorted(people[int(i * step)].glob("*.jpg"))[0] for i in range(min(count, len(people)))]


def on_the_face(faces: Faces, side: int) -> np.ndarray:
    """Which of ``faces`` lie on the funnelled face of an LFW photo ``side`` px square (IoU > 0.1)."""
    if not len(faces):
        return np.zeros(0, bool)
    return iou_matrix(faces.xyxy, (FUNNELLED_FACE * side)[None])[:, 0] > 0.1


def one_box(detectors: list[str], people: int) -> dict:
    photos = lfw_people(people)
    out: dict = {}
    for name in detectors:
        detector = get_detector(name)
        out[name] = {}
        for factor in FACTORS:
            counts = {"one": 0, "none": 0, "several": 0}
            seconds = 0.0
            for path in photos:
                pixels = read_image(path).pixels
                if factor > 1:
                    pixels = cv2.resize(pixels, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
                started = time.perf_counter()
                faces = detector.detect(pixels, SURE_SCORE)
                seconds += time.perf_counter() - started
                on = int(on_the_face(faces, pixels.shape[0]).sum())
                counts["one" if on == 1 else "none" if on == 0 else "several"] += 1
            out[name][factor] = {key: value / len(photos) for key, value in counts.items()}
            out[name][factor]["s a photo"] = seconds / len(photos)
            print(f"{name} x{factor} ({pixels.shape[1]} px): one box {counts['one']}/{len(photos)}, "
                  f"none {counts['none']}, several {counts['several']}, {seconds / len(photos):.3f} s a photo", flush=True)
    return out


def camera_files() -> list[tuple[Path, np.ndarray]]:
    photos = []
    for path in sorted((DATA / "exif_samples").rglob("*")):
        if path.is_file() and path.suffix.lower() in {".jpg", ".jpeg", ".heic", ".heif", ".tif", ".tiff", ".png"}:
            try:
                photos.append((path, read_image(path).pixels))
            except MediaError:
                continue  # the broken files of the collection
    return photos


def camera(detectors: list[str]) -> dict:
    photos = camera_files()
    deface = Deface()
    tools = [*detectors, "deface"]
    regions = dict.fromkeys(tools, 0)
    masked = dict.fromkeys(tools, 0)
    seconds: dict[str, list[float]] = {tool: [] for tool in tools}
    worst: dict[str, tuple[int, str]] = dict.fromkeys(tools, (0, ""))
    total = 0
    for index, (path, pixels) in enumerate(photos):
        total += pixels.shape[0] * pixels.shape[1]
        order = tools if index % 2 == 0 else tools[::-1]
        for tool in order:
            if tool == "deface":
                took, region, _, count = deface.run(pixels)
            else:
                started = time.perf_counter()
                faces = get_detector(tool).detect(pixels)
                took = time.perf_counter() - started
                region, count = face_region(pixels.shape[:2], faces, DEFAULT_SCALE), len(faces)
            seconds[tool].append(took)
            regions[tool] += count
            masked[tool] += int(region.sum())
            worst[tool] = max(worst[tool], (count, path.name))
    print(f"\n{len(photos)} camera photos, {total / len(photos) / 1e6:.1f} MP on average")
    print("| tool | regions masked | x deface | masked, % of pixels | x deface | s a photo | x deface | most in one photo |")
    print("|---|--:|--:|--:|--:|--:|--:|---|")
    out = {}
    for tool in tools:
        row = {"regions": regions[tool], "masked %": 100 * masked[tool] / total, "s a photo": float(np.mean(seconds[tool])),
               "worst": worst[tool]}
        row["regions x deface"] = regions[tool] / max(1, regions["deface"])
        row["masked x deface"] = masked[tool] / max(1, masked["deface"])
        row["time x deface"] = row["s a photo"] / float(np.mean(seconds["deface"]))
        out[tool] = row
        print(f"| {tool} | {regions[tool]} | {row['regions x deface']:.2f}x | {row['masked %']:.2f}% | "
              f"{row['masked x deface']:.2f}x | {row['s a photo']:.2f} | {row['time x deface']:.2f}x | "
              f"{worst[tool][0]} ({worst[tool][1]}) |")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=200, help="LFW people for the size sweep (default 200)")
    parser.add_argument("--detectors", default="ensemble,permissive")
    parser.add_argument("--skip-camera", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    detectors = args.detectors.split(",")
    figures = {"one box": one_box(detectors, args.people)}
    if not args.skip_camera:
        figures["camera"] = camera(detectors)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
