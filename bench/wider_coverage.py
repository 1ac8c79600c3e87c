"""Face coverage, masked area outside faces and speed of bioveil vs deface on WIDER FACE val.

For every photo both tools run back to back on the same RGB image (the order alternates from
photo to photo, so machine drift hits both alike); reading the file is not timed.

* bioveil: the default detector (``ensemble``) and the default masker (blur, its default scale, ellipse);
  timed: ``det.detect(img)`` + ``masker.apply(img, faces)``; masked region: ``face_region``.
* deface 1.5.0 as ``deface --thresh 0.2 --mask-scale 1.3`` runs it (full resolution, blur,
  ellipse, onnxruntime on the CPU): its own ``CenterFace`` and ``anonymize_frame``; timed:
  ``centerface(img, threshold=0.2)`` + ``anonymize_frame(...)`` on a copy of the image; masked
  region: what ``draw_det`` paints, reproduced exactly (``scale_bb``, clipping, skimage ellipse).

A valid annotated face counts as covered when >= 80% of the pixels of its box (integer, clipped
to the image) are masked. "Outside" is masked area that lies in no annotated box (valid or
invalid), pooled over all pixels of all photos.

Then, unless ``--batch-limit 0``, the end-to-end command-line batch timing of ``bench/batch_speed.py``
(both CLIs as subprocesses on copies of the photos, alternating runs; see there).

    .venv/bin/python bench/wider_coverage.py [--limit N] [--batch-limit N] [--runs R] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import skimage.draw

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch_speed import machine_busy_seconds, print_batch, run_batch
from bioveil.masking.maskers import DEFAULT_SCALE
from wider_data import DATA, Annotated, load_wider, select

COVERED_FRACTION = 0.8
BUCKETS: list[tuple[str, float, float]] = [
    ("<16", 0, 16),
    ("16-32", 16, 32),
    ("32-64", 32, 64),
    (">=64", 64, float("inf")),
]
COMBINED: list[tuple[str, float, float]] = [(">=32", 32, float("inf")), ("all", 0, float("inf"))]
TOOLS = ("bioveil", "deface")

DEFACE_THRESH = 0.2
DEFACE_MASK_SCALE = 1.3
BIOVEIL_SCALE = DEFAULT_SCALE
BIOVEIL_SHAPE = "ellipse"


@dataclass
class ToolTotals:
    seconds: list[float] = field(default_factory=list)
    masked_px: int = 0
    outside_px: int = 0
    detections: int = 0
    changed_outside_region_px: int = 0  # sanity check: pixels the tool changed outside the computed region
    errors: int = 0


@dataclass
class Totals:
    image_px: int = 0
    heights: list[float] = field(default_factory=list)
    covered: dict[str, list[bool]] = field(default_factory=lambda: {tool: [] for tool in TOOLS})
    tools: dict[str, ToolTotals] = field(default_factory=lambda: {tool: ToolTotals() for tool in TOOLS})
    photos: list[dict[str, Any]] = field(default_factory=list)


def int_boxes(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Annotated boxes as integers, clipped to the image."""
    boxes = np.round(xyxy).astype(np.int64).reshape(-1, 4)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return boxes


def boxes_mask(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    for x1, y1, x2, y2 in boxes:
        mask[y1:y2, x1:x2] = True
    return mask


def covered_flags(boxes: np.ndarray, region: np.ndarray) -> list[bool]:
    """For each integer box: are >= COVERED_FRACTION of its pixels in ``region``? (Empty boxes: False.)"""
    flags = []
    for x1, y1, x2, y2 in boxes:
        area = max(0, x2 - x1) * max(0, y2 - y1)
        flags.append(bool(area > 0 and region[y1:y2, x1:x2].sum() >= COVERED_FRACTION * area))
    return flags


def deface_region(dets: np.ndarray, image_hw: tuple[int, int], mask_scale: float) -> np.ndarray:
    """The pixels deface's ``anonymize_frame`` + ``draw_det`` (blur, ellipse) replace, as a boolean mask.

    Mirrors deface 1.5.0 line by line: int() of the box, ``scale_bb`` (grow by mask_scale - 1
    per side, round), clip to [0, size - 1], then ``skimage.draw.ellipse`` inside the clipped box
    with numpy indexing on the box-sized patch.
    """
    from deface.deface import scale_bb

    height, width = image_hw
    region = np.zeros((height, width), dtype=bool)
    for det in dets:
        x1, y1, x2, y2 = det[:4].astype(int)
        x1, y1, x2, y2 = scale_bb(x1, y1, x2, y2, mask_scale)
        y1, y2 = max(0, y1), min(height - 1, y2)
        x1, x2 = max(0, x1), min(width - 1, x2)
        roi = region[y1:y2, x1:x2]
        ey, ex = skimage.draw.ellipse((y2 - y1) // 2, (x2 - x1) // 2, (y2 - y1) // 2, (x2 - x1) // 2)
        patch = np.zeros(roi.shape, dtype=bool)
        patch[ey, ex] = True
        roi |= patch
    return region


class Bioveil:
    def __init__(self, detector: str = "ensemble") -> None:
        from bioveil.detection.base import get_detector
        from bioveil.masking.maskers import get_masker

        self.detector = get_detector(detector)
        self.scale = getattr(self.detector, "mask_scale", None) or BIOVEIL_SCALE  # as bioveil mask grows its boxes
        self.masker = get_masker("blur", scale=self.scale)

    def run(self, image: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, int]:
        from bioveil.masking.region import face_region

        start = time.perf_counter()
        faces = self.detector.detect(image)
        masked = self.masker.apply(image, faces)
        seconds = time.perf_counter() - start
        region = face_region(image.shape[:2], faces, self.scale, BIOVEIL_SHAPE)
        return seconds, region, masked, len(faces)


class Deface:
    def __init__(self) -> None:
        from deface.centerface import CenterFace

        self.centerface = CenterFace(in_shape=None, backend="onnxrt", override_execution_provider="CPUExecutionProvider")

    def run(self, image: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, int]:
        from deface.deface import anonymize_frame

        frame = image.copy()
        start = time.perf_counter()
        dets, _ = self.centerface(frame, threshold=DEFACE_THRESH)
        anonymize_frame(dets, frame, mask_scale=DEFACE_MASK_SCALE, replacewith="blur", ellipse=True,
                        draw_scores=False, replaceimg=None, mosaicsize=20)
        seconds = time.perf_counter() - start
        return seconds, deface_region(dets, image.shape[:2], DEFACE_MASK_SCALE), frame, len(dets)


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def evaluate(photos: list[Annotated], runners: dict[str, Bioveil | Deface]) -> Totals:
    totals = Totals()
    warm = read_rgb(photos[0].path)
    for runner in runners.values():  # load models and first-call overhead, untimed
        runner.run(warm)
    began = time.perf_counter()
    for index, photo in enumerate(photos):
        image = read_rgb(photo.path)
        height, width = image.shape[:2]
        valid = int_boxes(photo.xyxy, width, height)
        annotated = boxes_mask(np.concatenate([valid, int_boxes(photo.invalid, width, height)]), width, height)
        totals.image_px += height * width
        totals.heights.extend((photo.xyxy[:, 3] - photo.xyxy[:, 1]).tolist())
        record: dict[str, Any] = {"path": str(photo.path.relative_to(DATA)), "size": [width, height],
                                  "faces": len(valid)}
        order = TOOLS if index % 2 == 0 else TOOLS[::-1]
        for tool in order:
            stats = totals.tools[tool]
            try:
                seconds, region, masked, found = runners[tool].run(image)
            except Exception as error:  # a crash of one tool on one photo: count it, treat as nothing masked
                print(f"  {tool} failed on {photo.path.name}: {error!r}")
                stats.errors += 1
                seconds, region, masked, found = float("nan"), np.zeros((height, width), bool), image, 0
            changed = (masked != image).any(axis=2)
            outside = int((region & ~annotated).sum())
            flags = covered_flags(valid, region)
            stats.seconds.append(seconds)
            stats.masked_px += int(region.sum())
            stats.outside_px += outside
            stats.detections += found
            stats.changed_outside_region_px += int((changed & ~region).sum())
            totals.covered[tool].extend(flags)
            record[tool] = {"seconds": round(seconds, 4), "detections": found, "covered": sum(flags),
                            "masked_px": int(region.sum()), "outside_px": outside,
                            "missed_boxes": [photo.xyxy[i].tolist() for i, ok in enumerate(flags) if not ok]}
        totals.photos.append(record)
        if (index + 1) % 25 == 0 or index + 1 == len(photos):
            elapsed = time.perf_counter() - began
            print(f"  {index + 1}/{len(photos)} photos, {elapsed:.0f} s", flush=True)
    return totals


def summarize(totals: Totals) -> dict[str, Any]:
    heights = np.asarray(totals.heights, dtype=np.float64)
    coverage: dict[str, dict[str, Any]] = {}
    for name, low, high in BUCKETS + COMBINED:
        in_bucket = (heights >= low) & (heights < high)
        coverage[name] = {"faces": int(in_bucket.sum())}
        for tool in TOOLS:
            flags = np.asarray(totals.covered[tool], dtype=bool)
            hit = int(flags[in_bucket].sum())
            coverage[name][tool] = {"covered": hit, "percent": 100 * hit / max(1, int(in_bucket.sum()))}
    tools: dict[str, dict[str, Any]] = {}
    for tool in TOOLS:
        stats = totals.tools[tool]
        seconds = np.asarray(stats.seconds, dtype=np.float64)
        tools[tool] = {
            "seconds_per_photo": float(np.nanmean(seconds)),
            "seconds_median": float(np.nanmedian(seconds)),
            "detections": stats.detections,
            "masked_percent_of_image": 100 * stats.masked_px / totals.image_px,
            "outside_percent_of_image": 100 * stats.outside_px / totals.image_px,
            "outside_percent_of_masked": 100 * stats.outside_px / max(1, stats.masked_px),
            "changed_outside_region_px": stats.changed_outside_region_px,
            "errors": stats.errors,
        }
    ratios = {
        "seconds_per_photo": tools["bioveil"]["seconds_per_photo"] / tools["deface"]["seconds_per_photo"],
        "outside_percent_of_image": tools["bioveil"]["outside_percent_of_image"]
        / max(1e-12, tools["deface"]["outside_percent_of_image"]),
        "masked_percent_of_image": tools["bioveil"]["masked_percent_of_image"]
        / max(1e-12, tools["deface"]["masked_percent_of_image"]),
    }
    return {"photos": len(totals.photos), "faces": len(heights), "coverage": coverage, "tools": tools, "ratios": ratios}


def print_table(summary: dict[str, Any]) -> None:
    bio, dfc, ratios = summary["tools"]["bioveil"], summary["tools"]["deface"], summary["ratios"]
    print(f"\nWIDER FACE val: {summary['photos']} photos, {summary['faces']} valid faces "
          f"(covered = >= {COVERED_FRACTION:.0%} of the box masked)\n")
    print(f"| {'face height (px)':<34} | {'faces':>6} | {'bioveil':>16} | {'deface':>16} |")
    print(f"|{'-' * 36}|{'-' * 7}:|{'-' * 17}:|{'-' * 17}:|")
    for name, _, _ in BUCKETS + COMBINED:
        row = summary["coverage"][name]
        cells = [f"{row[t]['percent']:6.2f}% ({row[t]['covered']:>5})" for t in TOOLS]
        print(f"| {'coverage ' + name:<34} | {row['faces']:>6} | {cells[0]:>16} | {cells[1]:>16} |")
    lines = [
        ("detections (total)", f"{bio['detections']}", f"{dfc['detections']}", ""),
        ("masked, % of image area", f"{bio['masked_percent_of_image']:.3f}%", f"{dfc['masked_percent_of_image']:.3f}%",
         f"{ratios['masked_percent_of_image']:.2f}x"),
        ("masked outside faces, % of image", f"{bio['outside_percent_of_image']:.3f}%",
         f"{dfc['outside_percent_of_image']:.3f}%", f"{ratios['outside_percent_of_image']:.2f}x"),
        ("masked outside faces, % of masked", f"{bio['outside_percent_of_masked']:.1f}%",
         f"{dfc['outside_percent_of_masked']:.1f}%", ""),
        ("seconds per photo (mean)", f"{bio['seconds_per_photo']:.3f}", f"{dfc['seconds_per_photo']:.3f}",
         f"{ratios['seconds_per_photo']:.2f}x"),
        ("seconds per photo (median)", f"{bio['seconds_median']:.3f}", f"{dfc['seconds_median']:.3f}", ""),
    ]
    print(f"\n| {'':<34} | {'bioveil':>10} | {'deface':>10} | {'bioveil/deface':>14} |")
    print(f"|{'-' * 36}|{'-' * 11}:|{'-' * 11}:|{'-' * 15}:|")
    for label, b, d, r in lines:
        print(f"| {label:<34} | {b:>10} | {d:>10} | {r:>14} |")
    for tool, stats in (("bioveil", bio), ("deface", dfc)):
        if stats["errors"] or stats["changed_outside_region_px"]:
            print(f"\nnote: {tool}: {stats['errors']} photos failed, {stats['changed_outside_region_px']} changed pixels "
                  "outside the computed masked region")


def print_worst(totals: Totals, count: int = 8) -> None:
    big_misses = []
    for record in totals.photos:
        for box in record["bioveil"]["missed_boxes"]:
            if box[3] - box[1] >= 32:
                big_misses.append((record["path"], box, box in record["deface"]["missed_boxes"]))
    print(f"\nbioveil misses of faces >= 32 px: {len(big_misses)}")
    for path, box, deface_missed in big_misses[:40]:
        print(f"  {path}  box {[int(v) for v in box]}  (deface {'missed it too' if deface_missed else 'covered it'})")
    worst = sorted(totals.photos, key=lambda r: r["bioveil"]["outside_px"] / (r["size"][0] * r["size"][1]), reverse=True)
    print(f"\nphotos with the most bioveil masking outside annotated faces (top {count}):")
    for record in worst[:count]:
        area = record["size"][0] * record["size"][1]
        print(f"  {record['path']}  bioveil {100 * record['bioveil']['outside_px'] / area:.1f}%  "
              f"deface {100 * record['deface']['outside_px'] / area:.1f}%  of the image")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="use N photos spread evenly over the list")
    parser.add_argument("--batch-limit", type=int, default=None,
                        help="CLI batch timing on N photos spread over the list (default: as --limit, i.e. all; 0: skip)")
    parser.add_argument("--runs", type=int, default=2, help="CLI batch runs per tool, alternating (default 2)")
    parser.add_argument("--json", type=Path, default=None, help="save all figures and per-photo results here")
    args = parser.parse_args(argv)

    everything = load_wider()
    photos = select(everything, args.limit)
    print(f"{len(photos)} photos from {DATA / 'wider_face'}")
    runners: dict[str, Bioveil | Deface] = {"bioveil": Bioveil(), "deface": Deface()}
    own, busy = process_cpu_seconds(), machine_busy_seconds()
    totals = evaluate(photos, runners)
    others = max(0.0, (machine_busy_seconds() - busy) - (process_cpu_seconds() - own))
    print(f"CPU seconds used by other processes during the per-photo comparison (0 on a quiet machine): {others:.1f}")
    del runners  # free the in-process models before the command lines run
    summary = summarize(totals)
    print_table(summary)
    print_worst(totals)
    batch = None
    if args.batch_limit != 0:
        batch = run_batch(select(everything, args.batch_limit or args.limit), runs=args.runs)
        print_batch(batch)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "batch": batch, "photos": totals.photos}, indent=1))
        print(f"\nfigures saved to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
