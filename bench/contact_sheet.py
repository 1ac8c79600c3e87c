"""A contact sheet of cloaked faces: 20 LFW people nothing was tuned on, before and after each cloak mode.

Each person's photo _0001 is cloaked at every mode (``bioveil.cloaking.batch.cloak_batch``, as ``bioveil cloak``
writes it) and the face found on the clean photo is cut from the clean photo and from every written file, its box
grown 1.3x (where the budget is measured), shown at its own pixel size (LFW faces are about 110 px): no
resampling hides or adds anything. Columns: clean, then the modes; beside each cloaked crop, the face SSIM and
CIEDE2000 of that crop as scikit-image computes them. Written to ``docs/images/cloak-contact-sheet.jpg`` (JPEG
4:4:4, quality 92), for users to judge with their eyes.

    .venv/bin/python bench/contact_sheet.py [--people 20] [--out docs/images/cloak-contact-sheet.jpg]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import bioveil
from bioveil.cloaking.attack import MODES
from bioveil.cloaking.batch import CloakSettings, cloak_batch
from bioveil.cloaking.budget import face_window
from bioveil.media.image import read_image
from cloak import build_folders

CELL = 128  # px a crop's cell (crops larger than this are shown at the cell's size, centred)
LABEL = 14


def face_crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = face_window(box, image.shape[:2])
    return image[y1:y2, x1:x2]


def figures(clean: np.ndarray, cloaked: np.ndarray) -> tuple[float, float]:
    from skimage.color import deltaE_ciede2000, rgb2lab
    from skimage.metrics import structural_similarity

    return (float(structural_similarity(clean, cloaked, channel_axis=2, data_range=255)),
            float(deltaE_ciede2000(rgb2lab(clean), rgb2lab(cloaked)).mean()))


def paste(sheet: Image.Image, crop: np.ndarray, column: int, row: int, caption: str) -> None:
    tile = Image.fromarray(crop)
    if max(tile.size) > CELL:
        tile.thumbnail((CELL, CELL), Image.Resampling.LANCZOS)
    x = column * CELL + (CELL - tile.width) // 2
    y = row * (CELL + LABEL) + (CELL - tile.height) // 2
    sheet.paste(tile, (x, y))
    ImageDraw.Draw(sheet).text((column * CELL + 4, row * (CELL + LABEL) + CELL), caption, fill=(20, 20, 20))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images"
                        / "cloak-contact-sheet.jpg")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    modes = list(MODES)
    with tempfile.TemporaryDirectory(prefix="bioveil-sheet-") as temporary:
        root = Path(temporary)
        people = build_folders(root, args.people, unpicked=True)
        for mode in modes:
            batch = cloak_batch([root / "probes"], root / mode, CloakSettings(mode=mode))
            failed = [r for r in batch.results if not r.ok]
            if failed:
                print(f"{mode}: {len(failed)} failed: {failed[0].message}", flush=True)
        sheet = Image.new("RGB", ((1 + len(modes)) * CELL, len(people) * (CELL + LABEL)), (250, 250, 250))
        worst = {mode: (1.0, 0.0) for mode in modes}
        for row, person in enumerate(people):
            probe = next((root / "probes" / person).glob("*.jpg"))
            clean = read_image(probe).pixels
            found = bioveil.detect(clean)
            box = found.xyxy[np.argmax(found.size_wh.prod(1))]
            paste(sheet, face_crop(clean, box), 0, row, person.replace("_", " ")[:18])
            for column, mode in enumerate(modes, start=1):
                cloaked = read_image(root / mode / person / probe.name).pixels
                similarity, colour = figures(face_crop(clean, box), face_crop(cloaked, box))
                worst[mode] = (min(worst[mode][0], similarity), max(worst[mode][1], colour))
                paste(sheet, face_crop(cloaked, box), column, row, f"{mode} {similarity:.3f} dE{colour:.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=92, subsampling=0)
    print(f"{len(people)} people, columns: clean, {', '.join(modes)}; written to {args.out}")
    for mode, (similarity, colour) in worst.items():
        print(f"  {mode}: lowest face SSIM {similarity:.4f}, highest mean CIEDE2000 {colour:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
