"""Recognizer throughput and alignment fidelity on real LFW faces.

For each recognizer: faces/s of the PyTorch port (forward, batches of 32, all cores), milliseconds
per face for forward+backward (what a cloak pays), and the mean grey-level difference between the
differentiable crop (grid_sample) and the reference crop (dlib.get_face_chip for dlib, OpenCV for
the others). With --pairs, also LFW verification through ``bioveil evaluate pairs``. With --batching,
milliseconds per face of a forward pass by batch size, on one thread and on two: what gathering
several checks into one batch would save the vault's service (one thread per check).

    python bench/recognizers.py [--faces 256] [--pairs] [--batching]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bioveil.detection.base import get_detector
from bioveil.evaluation.photos import locate_subjects, read_images
from bioveil.recognition import align
from bioveil.recognition.base import get_recognizer
from wider_data import DATA


def lfw_photos(count: int) -> list[Path]:
    photos = sorted((DATA / "lfw" / "identities").glob("*/*.jpg"))
    return photos[:: max(1, len(photos) // count)][:count]


def reference_chips(name: str, recognizer, images, faces, maps) -> np.ndarray:  # type: ignore[no-untyped-def]
    if name != "dlib":
        return np.stack([align.warp_reference(image, m, recognizer.input_size) for image, m in zip(images, maps, strict=True)])
    import dlib

    chips = []
    for image, face in zip(images, faces, strict=True):
        x1, y1, x2, y2 = (round(v) for v in face.xyxy[0])
        shape = recognizer._predictor(np.ascontiguousarray(image), dlib.rectangle(x1, y1, x2, y2))
        chips.append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
    return np.stack(chips)


def differentiable_chips(images, maps, size: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = []
    for image, m in zip(images, maps, strict=True):
        tensor = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float()
        out.append(align.warp(tensor, torch.from_numpy(m)[None], size)[0].permute(1, 2, 0).numpy())
    return np.stack(out)


def timed(function, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


BATCH_SIZES = (1, 2, 4, 8, 16)


def batching(chips_by_name: dict[str, np.ndarray]) -> None:
    """``chips_by_name``: each recognizer's reference chips (n, size, size, 3), as the main table cut them."""
    print(f"\nforward ms/face by batch size ({', '.join(map(str, BATCH_SIZES))}), on 1 and on 2 threads")
    for name, chips in chips_by_name.items():
        recognizer = get_recognizer(name)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            cells = []
            for size in BATCH_SIZES:
                batch = torch.from_numpy(chips[:size]).permute(0, 3, 1, 2).float().contiguous()

                def forward(batch: torch.Tensor = batch, recognizer=recognizer) -> None:  # type: ignore[no-untyped-def]
                    with torch.inference_mode():
                        recognizer.embed_chips(batch)

                cells.append(f"{1000 * timed(forward, repeats=max(3, 32 // size)) / size:6.1f}")
            print(f"{name:<10} {threads} thread{'s' if threads > 1 else ' '} " + " ".join(cells))
    torch.set_num_threads(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=256)
    parser.add_argument("--pairs", action="store_true", help="also run bioveil evaluate pairs on lfw/pairs.txt")
    parser.add_argument("--batching", action="store_true", help="also forward ms/face by batch size, 1 and 2 threads")
    args = parser.parse_args()
    torch.set_num_threads(2)
    images = read_images(lfw_photos(args.faces))
    faces = [s.faces for s in locate_subjects(images, get_detector("ensemble"))]
    print(f"{len(images)} LFW faces, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'recognizer':<10} {'faces/s':>8} {'fwd+bwd ms/face':>16} {'crop diff':>10}")
    chips_by_name = {}
    for name in ("dlib", "facenet", "sface"):
        recognizer = get_recognizer(name)
        maps = [recognizer.chip_maps(image, face)[0] for image, face in zip(images, faces, strict=True)]
        reference = reference_chips(name, recognizer, images, faces, maps).astype(np.float64)
        chips_by_name[name] = reference
        ours = differentiable_chips(images, maps, recognizer.input_size)
        crop_diff = float(np.abs(ours - reference).mean())
        batch = torch.from_numpy(reference[:32]).permute(0, 3, 1, 2).float().contiguous()

        def forward(batch: torch.Tensor = batch, recognizer=recognizer) -> None:  # type: ignore[no-untyped-def]
            with torch.inference_mode():
                recognizer.embed_chips(batch)

        def backward(batch: torch.Tensor = batch[:8], recognizer=recognizer) -> None:  # type: ignore[no-untyped-def]
            chips = batch.clone().requires_grad_(True)
            recognizer.embed_chips(chips).sum().backward()

        per_second = len(batch) / timed(forward)
        backward_ms = 1000 * timed(backward) / 8
        print(f"{name:<10} {per_second:>8.1f} {backward_ms:>16.1f} {crop_diff:>10.3f}")
    if args.batching:
        batching(chips_by_name)
    if args.pairs:
        bioveil = Path(sys.executable).with_name("bioveil")
        subprocess.run([str(bioveil), "evaluate", "pairs", str(DATA / "lfw" / "pairs.txt"), "--images",
                        str(DATA / "lfw" / "identities")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
