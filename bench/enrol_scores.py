"""The vault's enrolment score: how sure its detector is of real faces, and of things that are not faces.

Enrolment refuses a photo whose best face scores under ``bioveil.vault.faces.ENROL_MIN_SCORE``. This
prints, for the vault's detector, the target face's score on LFW photos (one a person, at their own size
and upscaled 4x, as a close portrait is) and on ``../shared/data/portraits``, beside the best score on the
camera files of ``exif_samples`` and the no-people photo of ``group_photos``. Which of those best boxes
are faces was checked by eye: pass ``--not-faces`` to list the ones that are not.

    .venv/bin/python bench/enrol_scores.py [--people N] [--detector yunet-pyramid]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bioveil.detection.base import get_detector
from bioveil.errors import MediaError
from bioveil.media.image import read_image
from bioveil.vault.faces import DETECTOR, ENROL_MIN_SCORE
from photo_sizes import camera_files, lfw_people, on_the_face
from wider_data import DATA

# The best boxes, among the camera files and group photos, that are not faces (looked at on 2026-12-03).
NOT_FACES = ("group_photos/dogs.jpg", "iphone_13_pro_max.HEIC", "sony-powershota5.jpg", "fujifilm-finepix40i.jpg")


def target_score(pixels: np.ndarray, detector) -> float:
    faces = detector.detect(pixels, 0.3)
    on = on_the_face(faces, pixels.shape[0])
    return float(faces.score[on].max()) if on.any() else 0.0


def best_score(path: Path, detector) -> float:
    try:
        faces = detector.detect(read_image(path).pixels, 0.3)
    except MediaError:
        return -1.0
    return float(faces.score.max()) if len(faces) else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--detector", default=DETECTOR)
    args = parser.parse_args(argv)
    detector = get_detector(args.detector)
    print(f"{args.detector}, enrolment threshold {ENROL_MIN_SCORE}")
    for factor in (1, 4):
        scores = []
        for path in lfw_people(args.people):
            pixels = read_image(path).pixels
            if factor > 1:
                pixels = cv2.resize(pixels, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
            scores.append(target_score(pixels, detector))
        scores = np.array(scores)
        print(f"LFW x{factor}, {len(scores)} people: score quantiles 1% {np.quantile(scores, 0.01):.3f}, "
              f"5% {np.quantile(scores, 0.05):.3f}; accepted at the threshold {(scores >= ENROL_MIN_SCORE).mean():.3f}")
    portraits = [p for p in sorted((DATA / "portraits").rglob("*")) if p.suffix.lower() in {".jpg", ".jpeg", ".png"}]
    scores = np.array([s for s in (best_score(p, detector) for p in portraits) if s >= 0])
    print(f"portraits, {len(scores)} photos: lowest best score {scores.min():.3f}, "
          f"accepted {(scores >= ENROL_MIN_SCORE).mean():.3f}")
    others = [(float(detector.detect(px, 0.3).score.max(initial=0.0)), str(p.relative_to(DATA))) for p, px in camera_files()]
    others.append((best_score(DATA / "group_photos" / "dogs.jpg", detector), "group_photos/dogs.jpg"))
    not_faces = sorted((s, name) for s, name in others if name.endswith(NOT_FACES))
    print(f"not faces (best box of {len(others)} camera and no-people photos, checked by eye): "
          + ", ".join(f"{name} {s:.3f}" for s, name in not_faces)
          + f"; accepted {sum(s >= ENROL_MIN_SCORE for s, _ in not_faces)} of {len(not_faces)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
