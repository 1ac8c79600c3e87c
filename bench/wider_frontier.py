"""How far can CenterFace and YuNet go? Coverage against masked area for many fusion rules.

Every detector pass any rule below needs is run once per WIDER FACE val photo with a very low score
cut (0.01) and cached; each rule is then replayed over the cache with the production code
(``Ensemble.select`` and ``Ensemble.fuse``, then ``face_region``), so a rule costs seconds, not a
detector run. This is how thresholds are chosen on the whole data set instead of on single photos.
deface 1.5.0 (threshold 0.2, mask scale 1.3) is run on the same photos for the area ratio.

Coverage and "outside" are as in ``bench/wider_coverage.py``: a valid face is covered when 80% of its
box is masked; outside = masked pixels in no annotated box, as a share of all pixels of all photos.
The replay of the default rule gives exactly that benchmark's figures.

The camera files of ``../shared/data/exif_samples`` (phones and cameras up to 12 MP, few with people) are
replayed too: regions masked (fused faces) and masked share of their pixels, beside deface's, which is
what a rule costs on photos as people take them (``--no-camera`` leaves them out).

Rules (besides the default): other mask scales; extra passes at reduced size (for large faces);
cheaper mirrored passes; and votes: any box that at least ``need`` passes see (IoU >= 0.3) with a
score of at least ``low`` is masked too, which is how far agreement between weak detections goes.

    .venv/bin/python bench/wider_frontier.py [--limit N] [--cache DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bioveil.concurrency import opencv_single_threaded
from bioveil.detection.boxes import iou_matrix
from bioveil.detection.ensemble import (
    PERMISSIVE_MEMBERS,
    SCRFD_MASK_SCALE,
    SCRFD_MEMBERS,
    Ensemble,
    Member,
    Pass,
    pass_size,
)
from bioveil.errors import MediaError
from bioveil.masking.maskers import DEFAULT_SCALE
from bioveil.masking.region import face_region
from bioveil.media.image import read_image
from bioveil.types import Faces
from wider_coverage import DEFACE_MASK_SCALE, DEFACE_THRESH, Deface, boxes_mask, covered_flags, deface_region, int_boxes, read_rgb
from wider_data import DATA, Annotated, load_wider, select

RAW_CUT = 0.01  # every pass is cached down to this score; a rule may not cut lower
CACHE = Path.home() / ".cache" / "bioveil" / f"bench-wider-cut{RAW_CUT}"
CAMERA_SUFFIXES = {".jpg", ".jpeg", ".heic", ".heif", ".tif", ".tiff", ".png"}
BUCKETS = {"<16": (0, 16), "16-32": (16, 32), ">=32": (32, float("inf"))}


@dataclass(frozen=True)
class Rule:
    ensemble: Ensemble
    mask_scale: float = DEFAULT_SCALE
    vote_need: int = 0  # 0: no vote
    vote_low: float = 1.0




def rules() -> dict[str, Rule]:
    """The candidates: the permissive ensemble (CenterFace + YuNet, bioveil 0.1's default), and SCRFD at
    several score cuts, with and without its mirrored pass (full or half size), beside YuNet or CenterFace,
    always with a pyramid level (the photo shrunk to 640 px) for faces too large for the full-size pass.
    ``large``: the score a box taller than 10% of the photo's shorter side must reach."""
    centerface, yunet = PERMISSIVE_MEMBERS
    out = {"ensemble (SCRFD)": Rule(Ensemble(SCRFD_MEMBERS), mask_scale=SCRFD_MASK_SCALE),
           "permissive: CenterFace + YuNet": Rule(Ensemble(PERMISSIVE_MEMBERS))}

    def scrfd(cut: float, large: float, mirror: float | None = 0.5, level: float = 0.3) -> tuple[Member, Member]:
        plain = Member("scrfd", threshold=cut, confident=max(cut, large), mirrored=mirror is not None,
                       mirror_scale=mirror or 1.0)
        return plain, Member("scrfd", threshold=level, confident=max(level, large), mirrored=False, fit=640)

    # The permissive ensemble's cuts against the camera files' false masks: CenterFace's cut (both passes)
    # and YuNet's (None: without YuNet).
    for cut in (0.05, 0.1, 0.15, 0.2):
        for yunet_cut in (0.2, 0.35, 0.5, None):
            members = (replace(centerface, threshold=cut, mirror_threshold=max(cut, centerface.mirror_threshold or 0)),)
            if yunet_cut is not None:
                members += (replace(yunet, threshold=yunet_cut, confident=max(yunet_cut, yunet.confident)),)
            out[f"permissive: CenterFace {cut}, YuNet {yunet_cut or 'left out'}"] = Rule(Ensemble(members))
    for cut in (0.05, 0.1, 0.15, 0.2, 0.3):
        out[f"SCRFD {cut}, large 0.5"] = Rule(Ensemble(scrfd(cut, 0.5, None)))
        out[f"SCRFD {cut}, mirrored at 1/2, large 0.5"] = Rule(Ensemble(scrfd(cut, 0.5)))
    for cut in (0.07, 0.1, 0.12, 0.15):
        for large in (0.2, 0.3):
            out[f"SCRFD {cut}, mirrored at 1/2, large {large}"] = Rule(Ensemble(scrfd(cut, large)))
        out[f"SCRFD {cut}, mirrored, large 0.3"] = Rule(Ensemble(scrfd(cut, 0.3, 1.0)))
        out[f"SCRFD {cut}, large 0.3"] = Rule(Ensemble(scrfd(cut, 0.3, None)))
        out[f"SCRFD {cut}, mirrored at 1/2, large 0.3, level cut 0.15"] = Rule(Ensemble(scrfd(cut, 0.3, level=0.15)))
        with_yunet = (*scrfd(cut, 0.3), replace(yunet, mirrored=False))
        out[f"SCRFD {cut}, mirrored at 1/2, large 0.3 + YuNet"] = Rule(Ensemble(with_yunet))
    with_centerface = (*scrfd(0.1, 0.3), replace(centerface, mirrored=False))
    out["SCRFD 0.1, mirrored at 1/2, large 0.3 + CenterFace"] = Rule(Ensemble(with_centerface))
    out["SCRFD 0.1, mirrored at 1/2, large 0.1"] = Rule(Ensemble(scrfd(0.1, 0.1)))
    for scale in (1.4, 1.7):
        out[f"SCRFD 0.1, mirrored at 1/2, large 0.3, mask scale {scale}"] = Rule(Ensemble(scrfd(0.1, 0.3)), mask_scale=scale)
    # Lower cuts with smaller masks, and votes: a weak box that two of SCRFD's passes both see.
    for cut in (0.03, 0.05, 0.07):
        for scale in (1.3, 1.4, 1.45):
            name = f"SCRFD {cut}, mirrored at 1/2, large 0.3, mask scale {scale}"
            out[name] = Rule(Ensemble(scrfd(cut, 0.3)), mask_scale=scale)
    for cut, low in ((0.1, 0.03), (0.1, 0.02), (0.07, 0.03), (0.07, 0.02)):
        for scale in (1.45, 1.55):
            out[f"SCRFD {cut}, mirrored at 1/2, large 0.3, mask scale {scale}, vote 2 >= {low}"] = Rule(
                Ensemble(scrfd(cut, 0.3)), mask_scale=scale, vote_need=2, vote_low=low)
    return out


@dataclass(frozen=True)
class Photo:
    """A photo whose passes are cached: its name under ``DATA`` (the cache key) and how to read it."""

    name: str
    path: Path
    camera: bool = False  # a camera file (read as bioveil reads it: orientation, HEIC) or a WIDER JPEG

    def read(self) -> np.ndarray:
        return read_image(self.path).pixels if self.camera else read_rgb(self.path)


def wider_photo(photo: Annotated) -> Photo:
    return Photo(str(photo.path.relative_to(DATA)), photo.path)


def camera_photos() -> list[Photo]:
    """Every readable photo of ``exif_samples`` (the broken files of the collection are left out)."""
    out = []
    for path in sorted((DATA / "exif_samples").rglob("*")):
        if path.is_file() and path.suffix.lower() in CAMERA_SUFFIXES:
            try:
                read_image(path)
            except MediaError:
                continue
            out.append(Photo(str(path.relative_to(DATA)), path, camera=True))
    return out


def cache_file(cache: Path, photo: Photo) -> Path:
    return cache / f"{hashlib.sha256(photo.name.encode()).hexdigest()[:24]}.npz"


def load_cached(file: Path) -> dict[str, np.ndarray]:
    if not file.exists():
        return {}
    with np.load(file) as stored:
        return dict(stored)


def save_cached(file: Path, stored: dict[str, np.ndarray]) -> None:
    """Written to a temporary file and renamed: a run killed halfway leaves no broken entry."""
    temporary = file.with_name(f".{file.stem}.{threading.get_ident()}.npz")
    np.savez(temporary, **stored)
    os.replace(temporary, file)


def searches(photo: Photo, jobs: list[Pass], cache: Path) -> tuple[dict, dict[str, float]]:
    """Raw faces of every pass for one photo, and its (height, width) as ``found["hw"]``, from the cache
    or computed (and cached)."""
    file = cache_file(cache, photo)
    stored = load_cached(file)
    seconds: dict[str, float] = {}
    image = None
    if "hw" not in stored:
        image = photo.read()
        stored["hw"] = np.array(image.shape[:2])
    hw = (int(stored["hw"][0]), int(stored["hw"][1]))
    found: dict = {"hw": hw}
    unique = {pass_size(job, hw): job for job in jobs}
    for pass_key, job in unique.items():
        tag = "|".join(map(str, pass_key))
        if f"{tag}:xyxy" not in stored:
            image = photo.read() if image is None else image
            started = time.perf_counter()
            faces = Ensemble.search(image, job, RAW_CUT)
            seconds[tag.rsplit("|", 1)[0] if job[0].fit else tag] = time.perf_counter() - started
            stored[f"{tag}:xyxy"], stored[f"{tag}:score"] = faces.xyxy, faces.score
        found[pass_key] = Faces(stored[f"{tag}:xyxy"], stored[f"{tag}:score"])
    if image is not None:
        save_cached(file, stored)
    return found, seconds


def deface_detections(photo: Photo, deface: Deface, cache: Path) -> np.ndarray:
    """deface's own detections (threshold 0.2), cached beside the passes. Run one photo at a time:
    deface's onnxruntime session uses every core (and keeps the image size as state between steps)."""
    file = cache_file(cache, photo)
    stored = load_cached(file)
    if "deface" not in stored:
        dets, _ = deface.centerface(photo.read(), threshold=DEFACE_THRESH)
        stored["deface"] = np.asarray(dets, dtype=np.float32).reshape(-1, 5)
        save_cached(file, stored)
    return stored["deface"]


def voted(found: dict, jobs: list[Pass], hw: tuple[int, int], need: int, low: float) -> Faces:
    """Boxes scoring >= ``low`` that at least ``need`` different passes see (IoU >= 0.3)."""
    boxes = [found[pass_size(job, hw)] for job in jobs]
    boxes = [faces[faces.score >= low] for faces in boxes]
    source = np.concatenate([np.full(len(faces), i) for i, faces in enumerate(boxes)])
    every = Faces.concatenate(boxes)
    if len(every) == 0:
        return every
    overlap = (iou_matrix(every.xyxy, every.xyxy) >= 0.3).astype(np.float32)
    votes = ((overlap @ np.eye(len(jobs), dtype=np.float32)[source]) > 0).sum(axis=1)  # passes seeing each box
    return every[votes >= need]


def replay(rule: Rule, found: dict, hw: tuple[int, int]) -> tuple[np.ndarray, int]:
    """The region a rule masks on one photo, and how many faces (fused) it masks."""
    jobs = rule.ensemble.passes(hw)
    selected = [rule.ensemble.select(job, found[pass_size(job, hw)], hw) for job in jobs]
    if rule.vote_need:
        selected.append(voted(found, jobs, hw, rule.vote_need, rule.vote_low))
    faces = rule.ensemble.fuse(selected)
    return face_region(hw, faces, rule.mask_scale), len(faces)


def search_all(photos: list[Photo], jobs: list[Pass], cache: Path, deface: Deface,
               in_flight: int = 2) -> tuple[list[dict], dict]:
    """Every pass and deface's detections for every photo (cached), and the seconds of the passes run now.
    ``in_flight`` photos at once (single-threaded models): two 12 MP camera files at once, with four passes
    each, took 23 GB (onnxruntime's arenas) and the run was killed for memory."""
    with opencv_single_threaded(), ThreadPoolExecutor(max_workers=in_flight) as pool:
        results = list(pool.map(lambda photo: searches(photo, jobs, cache), photos))
    pass_seconds: dict[str, list[float]] = {}  # only the photos whose pass was computed in this run
    for photo, (found, seconds) in zip(photos, results, strict=True):
        found["deface"] = deface_detections(photo, deface, cache)
        for tag, value in seconds.items():
            pass_seconds.setdefault(tag, []).append(value)
    return [found for found, _ in results], pass_seconds


def wider_figures(photos: list[Annotated], found: list[dict], table: dict[str, Rule]) -> dict[str, dict]:
    heights = np.concatenate([photo.xyxy[:, 3] - photo.xyxy[:, 1] for photo in photos])
    covered: dict[str, list[bool]] = {name: [] for name in [*table, "deface"]}
    outside = dict.fromkeys(covered, 0)
    total_px = 0
    for photo, passes in zip(photos, found, strict=True):
        height, width = hw = passes["hw"]
        valid = int_boxes(photo.xyxy, width, height)
        annotated = boxes_mask(np.concatenate([valid, int_boxes(photo.invalid, width, height)]), width, height)
        total_px += width * height
        regions = {name: replay(rule, passes, hw)[0] for name, rule in table.items()}
        regions["deface"] = deface_region(passes["deface"], hw, DEFACE_MASK_SCALE)
        for name, region in regions.items():
            covered[name].extend(covered_flags(valid, region))
            outside[name] += int((region & ~annotated).sum())
    figures = {}
    for name in covered:
        flags = np.asarray(covered[name], dtype=bool)
        row = {bucket: 100 * flags[(heights >= lo) & (heights < hi)].mean() for bucket, (lo, hi) in BUCKETS.items()}
        row["missed >=32"] = int((~flags[heights >= 32]).sum())
        row["outside %"] = 100 * outside[name] / total_px
        row["x deface"] = outside[name] / max(1, outside["deface"])
        figures[name] = row
    return figures


def camera_figures(found: list[dict], table: dict[str, Rule]) -> dict[str, dict]:
    """Regions masked and masked share of all pixels on the camera files, beside deface's."""
    regions = dict.fromkeys([*table, "deface"], 0)
    masked = dict.fromkeys(regions, 0)
    total_px = 0
    for passes in found:
        hw = passes["hw"]
        total_px += hw[0] * hw[1]
        for name, rule in table.items():
            region, count = replay(rule, passes, hw)
            regions[name] += count
            masked[name] += int(region.sum())
        regions["deface"] += len(passes["deface"])
        masked["deface"] += int(deface_region(passes["deface"], hw, DEFACE_MASK_SCALE).sum())
    return {name: {"regions": regions[name], "regions x deface": regions[name] / max(1, regions["deface"]),
                   "masked %": 100 * masked[name] / total_px, "masked x deface": masked[name] / max(1, masked["deface"])}
            for name in regions}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="N photos spread evenly over the list")
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"raw detections are kept here (default {CACHE})")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only", default="", help="replay only the rules whose name contains this (and deface)")
    parser.add_argument("--no-camera", action="store_true", help="leave out the camera files of exif_samples")
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    annotated = select(load_wider(), args.limit)
    table = {name: rule for name, rule in rules().items() if args.only in name}
    jobs = list({job: None for rule in table.values() for job in rule.ensemble.passes()})
    for name, rule in table.items():
        cuts = [job[0].cut(job[1]) for job in rule.ensemble.passes()] + ([rule.vote_low] if rule.vote_need else [])
        if min(cuts) < RAW_CUT:
            raise SystemExit(f"rule {name!r} cuts at {min(cuts)}, below the cached {RAW_CUT}: lower RAW_CUT")
    deface = Deface()
    cameras = [] if args.no_camera else camera_photos()
    print(f"{len(annotated)} WIDER photos, {len(cameras)} camera files; {len(jobs)} detector passes cached in {args.cache}",
          flush=True)
    found, pass_seconds = search_all([wider_photo(photo) for photo in annotated], jobs, args.cache, deface)
    figures = wider_figures(annotated, found, table)
    camera = {}
    if cameras:
        camera_found, _ = search_all(cameras, jobs, args.cache, deface, in_flight=1)
        camera = camera_figures(camera_found, table)
    heights = np.concatenate([photo.xyxy[:, 3] - photo.xyxy[:, 1] for photo in annotated])
    print(f"\n| rule | <16 | 16-32 | >=32 | missed >=32 (of {int((heights >= 32).sum())}) | outside, % of image | x deface "
          + ("| camera regions | x deface | camera masked | x deface |" if camera else "|"))
    print("|---|--:|--:|--:|--:|--:|--:|" + ("--:|--:|--:|--:|" if camera else ""))
    for name, row in figures.items():
        line = (f"| {name} | {row['<16']:.2f}% | {row['16-32']:.2f}% | {row['>=32']:.2f}% | {row['missed >=32']} "
                f"| {row['outside %']:.2f}% | {row['x deface']:.2f}x |")
        if camera:
            cam = camera[name]
            line += (f" {cam['regions']} | {cam['regions x deface']:.1f}x | {cam['masked %']:.2f}% "
                     f"| {cam['masked x deface']:.1f}x |")
        print(line)
    if pass_seconds:
        print("\nseconds per WIDER photo of each pass computed in this run (two photos in flight, single-threaded models):")
        for tag, values in sorted(pass_seconds.items()):
            print(f"  {tag}: {np.mean(values):.3f} ({len(values)} photos)")
    if args.json:
        args.json.write_text(json.dumps({"photos": len(annotated), "rules": figures, "camera": camera,
                                         "pass_seconds": pass_seconds}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
