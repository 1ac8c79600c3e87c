"""How well ``bioveil cloak`` protects: rank-1 protection success rate (PSR) on LFW, per recognizer.

N people with at least 6 LFW photos (spread evenly over the sorted names): photo _0001 of each is
cloaked; the gallery holds the person's 5 other clean photos plus one photo each of 300 other people
(``lfw/distractors``). ``bioveil.evaluation.protection.evaluate_protection`` re-detects every face,
aligns each protected face where the clean one is, and identifies it, with no transformation, after
JPEG q85 and after downscaling by 2. PSR = 1 - rank-1 identification rate of the cloaked photos
(evasion); the poisoning PSR (cloaked photos enrolled, clean ones as queries) is printed too. Also:
whole-image SSIM and PSNR of the written files, seconds per face (the batch's wall time over its
faces, as a folder sees it; and each photo's own time, which is longer when faces run side by side), and the
same as a multiple of a yardstick of the machine's speed measured in the same run (``yardstick``).
``--loo``: leave-one-out transfer, cloaking with two recognizers and measuring the third, for each
choice of the third (``--loo sface``: only that one; ``--no-ensemble`` skips the ensemble of three).
``--validation`` picks the people halfway between the default picks (nothing was tuned on them);
``--offset F`` shifts the picks by F of a step, for further sets of people to try changes on;
``--unpicked`` takes the people in none of the sets in ``PICKED`` (on which changes were tried), and
``--seed N`` changes the cloak's random draws and decoys, to see how far chance moves a figure.
``--transforms`` adds others, such as the ``purify_*`` ones: a tracker that expects cloaks and washes
every photo first (heavy JPEG, down-and-up resizing, non-local-means denoising); the uncloaked photos
go through the same transforms, so a purifier that hurts recognition itself shows as PSR uncloaked.

Recognizers are bioveil's PyTorch ports (dlib's ResNet, FaceNet, SFace), faces aligned where the
clean face is (oracle); transform names are those of :mod:`bioveil.evaluation.transforms`.
``--reference`` adds the deployed systems themselves on every photo, from scratch: YuNet detection on
the (transformed) photo, then dlib C++ (its 5-point shape predictor, ``get_face_chip``,
``face_recognition_model_v1``) and SFace through onnxruntime (OpenCV's alignment of YuNet's landmarks).

    .venv/bin/python bench/cloak.py [--people 20] [--mode high] [--loo [NAMES]] [--reference] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bioveil.cloaking.batch import CloakSettings, cloak_batch
from bioveil.cloaking.quality import psnr, ssim
from bioveil.errors import UnknownNameError
from bioveil.evaluation.protection import evaluate_protection
from bioveil.evaluation.transforms import parse_transforms
from bioveil.media.image import read_image
from bioveil.recognition.base import parse_recognizers

DATA = Path(os.environ.get("BIOVEIL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
RECOGNIZERS = ("dlib", "facenet", "sface")
TRANSFORMS = ("none", "jpeg85", "down2")  # the default; --transforms for others
DISTRACTORS = 300
GALLERY_PHOTOS = 5
# (--people, --offset) of every set a change has been tried or picked on; --unpicked takes the others.
PICKED = ((20, 0.0), (20, 0.5), (40, 0.15), (40, 0.3), (40, 0.7), (40, 0.85))


def pick(eligible: list[Path], people: int, offset: float = 0.0) -> list[Path]:
    """``people`` spread evenly over ``eligible``; ``offset``: moved by this share of a step (one fewer)."""
    picks = np.linspace(0, len(eligible) - 1, min(people, len(eligible)))
    if offset:
        picks = picks[:-1] + offset * np.diff(picks)
    return [eligible[int(i)] for i in picks]


def build_folders(root: Path, people: int, validation: bool = False, offset: float = 0.0,
                  unpicked: bool = False) -> list[str]:
    """``validation``: ``offset`` 0.5; ``unpicked``: from the people in none of the ``PICKED`` sets."""
    identities = DATA / "lfw" / "identities"
    eligible = [p for p in sorted(identities.iterdir()) if len(list(p.glob("*.jpg"))) >= GALLERY_PHOTOS + 1]
    if unpicked:
        used = {p for size, shift in PICKED for p in pick(eligible, size, shift)}
        eligible = [p for p in eligible if p not in used]
    chosen = pick(eligible, people, 0.5 if validation else offset)
    for person in chosen:
        photos = sorted(person.glob("*.jpg"))
        probe = next(p for p in photos if p.stem.endswith("_0001"))
        others = [p for p in photos if p != probe][:GALLERY_PHOTOS]
        (root / "probes" / person.name).mkdir(parents=True)
        (root / "gallery" / person.name).mkdir(parents=True)
        (root / "probes" / person.name / probe.name).symlink_to(probe)
        for photo in others:
            (root / "gallery" / person.name / photo.name).symlink_to(photo)
    (root / "distractors").mkdir()
    names = {p.name for p in chosen}
    strangers = [p for p in sorted((DATA / "lfw" / "distractors").glob("*.jpg")) if p.stem.rsplit("_", 1)[0] not in names]
    for photo in strangers[:DISTRACTORS]:
        (root / "distractors" / photo.name).symlink_to(photo)
    return [p.name for p in chosen]


def written_face_budget(clean: np.ndarray, cloaked: np.ndarray) -> tuple[float, float] | None:
    """SSIM and mean CIEDE2000 (scikit-image) on the written file's largest face, found again by the
    detector, its box grown 1.3x: the budget as a user's file shows it (JPEG's own loss included)."""
    from skimage.color import deltaE_ciede2000, rgb2lab
    from skimage.metrics import structural_similarity

    import bioveil
    from bioveil.cloaking.budget import face_window

    found = bioveil.detect(cloaked)
    if not len(found):
        return None  # no face found again: counted as no figure, not as a perfect one
    x1, y1, x2, y2 = face_window(found.xyxy[np.argmax(found.size_wh.prod(1))], clean.shape[:2])
    a, b = clean[y1:y2, x1:x2], cloaked[y1:y2, x1:x2]
    return (float(structural_similarity(a, b, channel_axis=2, data_range=255)),
            float(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean()))


def cloak_and_measure(root: Path, out: Path, mode: str, recognizers: tuple[str, ...],
                      measured: tuple[str, ...], transforms: tuple[str, ...] = TRANSFORMS,
                      uncloaked: bool = False, seed: int = 0) -> dict[str, Any]:
    started = time.perf_counter()
    batch = cloak_batch([root / "probes"], out, CloakSettings(mode=mode, recognizers=recognizers, seed=seed))
    wall = time.perf_counter() - started
    failures = [(str(r.input), r.message) for r in batch.failures]
    ssims, psnrs, face_seconds, on_face = [], [], [], []
    for result in batch.results:
        if not result.ok:
            continue
        clean, cloaked = read_image(result.input).pixels, read_image(result.output).pixels
        ssims.append(ssim(clean, cloaked))
        psnrs.append(psnr(clean, cloaked))
        figures = written_face_budget(clean, cloaked)
        if figures is not None:
            on_face.append(figures)
        if result.cloak is not None and len(result.cloak.faces):
            face_seconds.append(result.seconds / len(result.cloak.faces))
    def evaluate(protected: Path) -> tuple[dict, dict]:
        report = evaluate_protection(root / "gallery", root / "probes", protected, distractors=root / "distractors",
                                     recognizers=measured, transforms=transforms, detectors=())
        return ({name: {t: 1 - report.evasion[name][t].rank1 for t in ("clean", *transforms)} for name in measured},
                {name: {t: 1 - report.poisoning[name][t].rank1 for t in ("clean", *transforms)} for name in measured})

    psr, poison = evaluate(out)
    extra = {"psr_uncloaked": evaluate(root / "probes")[0]} if uncloaked else {}
    return {
        "mode": mode, "cloaked_with": list(recognizers), "photos": len(batch.results), "failures": failures,
        "ssim": {"mean": float(np.mean(ssims)), "min": float(np.min(ssims))} if ssims else None,
        "psnr": {"mean": float(np.mean(psnrs)), "min": float(np.min(psnrs))} if psnrs else None,
        "face_ssim": {"mean": float(np.mean([f[0] for f in on_face])), "min": float(np.min([f[0] for f in on_face]))}
        if on_face else None,
        "delta_e": {"mean": float(np.mean([f[1] for f in on_face])), "max": float(np.max([f[1] for f in on_face]))}
        if on_face else None,
        "seconds_per_face": {"mean": float(np.mean(face_seconds)), "max": float(np.max(face_seconds))} if face_seconds else None,
        "wall_seconds": wall, "faces": batch.face_count,
        "wall_seconds_per_face": wall / batch.face_count if batch.face_count else None,
        "psr_evasion": psr, "psr_poisoning": poison,
        "faces_fooling_all_at_cloak_time": sum(1 for r in batch.results if r.cloak is not None and r.cloak.success),
        "transforms": list(transforms), **extra,
    }


class ReferenceEmbedder:
    """dlib C++ and SFace through onnxruntime, each photo re-detected by YuNet: what a tracker would deploy."""

    def __init__(self) -> None:
        import dlib

        from bioveil.detection.base import get_detector
        from bioveil.recognition.base import get_recognizer
        from bioveil.recognition.dlib_resnet import model_path
        from bioveil.recognition.sface import onnx_reference_session

        self.dlib = dlib
        self.detector = get_detector("yunet")
        self.dlib_recognizer = get_recognizer("dlib")
        self.sface_recognizer = get_recognizer("sface")
        self.dlib_net = dlib.face_recognition_model_v1(str(model_path()))
        self.session = onnx_reference_session()

    def embed(self, image: np.ndarray) -> dict[str, np.ndarray] | None:
        from bioveil.evaluation.photos import subject_face
        from bioveil.recognition.align import warp_reference

        faces = self.detector.detect(image)
        if not len(faces):
            return None
        face = subject_face(faces, image.shape[1], image.shape[0]).faces
        x1, y1, x2, y2 = (round(float(v)) for v in face.xyxy[0])
        shape = self.dlib_recognizer._predictor(np.ascontiguousarray(image), self.dlib.rectangle(x1, y1, x2, y2))
        chip = self.dlib.get_face_chip(np.ascontiguousarray(image), shape, size=150, padding=0.25)
        dlib_vector = np.array(self.dlib_net.compute_face_descriptor(chip))
        sface_chip = warp_reference(image, self.sface_recognizer.chip_maps(image, face)[0], 112)
        blob = np.ascontiguousarray(sface_chip.transpose(2, 0, 1)[None].astype(np.float32))
        sface_vector = self.session.run(None, {"data": blob})[0][0]
        return {"dlib": dlib_vector, "sface": sface_vector / np.linalg.norm(sface_vector)}


def reference_psr(root: Path, out: Path, transforms: tuple[str, ...] = TRANSFORMS) -> dict[str, dict[str, float]]:
    """Rank-1 PSR of the cloaked photos for dlib C++ and SFace (onnxruntime), every photo re-detected."""
    from bioveil.evaluation.transforms import TRANSFORMS as APPLY

    reference = ReferenceEmbedder()
    gallery_paths = sorted((root / "gallery").rglob("*.jpg")) + sorted((root / "distractors").glob("*.jpg"))
    gallery_ids = [p.parent.name if p.parent.parent.name == "gallery" else p.stem for p in gallery_paths]
    gallery = [reference.embed(read_image(p).pixels) for p in gallery_paths]
    keep = [i for i, g in enumerate(gallery) if g is not None]
    ids = np.array([gallery_ids[i] for i in keep], dtype=object)
    out_psr: dict[str, dict[str, float]] = {"dlib": {}, "sface": {}}
    probes = sorted(out.rglob("*.jpg"))
    for transform in transforms:
        hits = {"dlib": 0, "sface": 0}
        for path in probes:
            vectors = reference.embed(APPLY[transform](read_image(path).pixels)[0])
            if vectors is None:
                continue  # not even detected: protected
            for name in hits:
                matrix = np.stack([gallery[i][name] for i in keep])
                score = -np.linalg.norm(matrix - vectors[name], axis=1) if name == "dlib" else matrix @ vectors[name]
                hits[name] += ids[int(np.argmax(score))] == path.parent.name
        for name in hits:
            out_psr[name][transform] = 1 - hits[name] / max(len(probes), 1)
    return out_psr


def yardstick(repeats: int = 15) -> float:
    """Seconds of one cloak step's network work on one thread: a forward and a backward pass of one chip through
    each of the three recognizers (median of ``repeats``, after two warm-ups). This machine's speed drifts by 2x
    between sessions, so a time a face is best compared as a multiple of this, measured in the same run."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from bioveil.cloaking.lanes import one_torch_thread
    from bioveil.recognition.base import get_recognizer

    recognizers = [get_recognizer(name) for name in RECOGNIZERS]
    generator = torch.Generator().manual_seed(0)
    chips = [255 * torch.rand((1, 3, r.input_size, r.input_size), generator=generator) for r in recognizers]

    def once() -> float:
        started = time.perf_counter()
        for recognizer, chip in zip(recognizers, chips, strict=True):
            recognizer.embed_chips(chip.clone().requires_grad_(True)).sum().backward()
        return time.perf_counter() - started

    with ThreadPoolExecutor(1, initializer=one_torch_thread) as pool:
        times = [pool.submit(once).result() for _ in range(repeats + 2)][2:]
    return float(np.median(times))


def table(title: str, run: dict[str, Any], yardstick_seconds: float) -> str:
    transforms = run["transforms"]
    lines = [f"## {title}", "", "| recognizer | PSR uncloaked | " + " | ".join(f"PSR {t}" for t in transforms)
             + " | poisoning PSR none |", "|---|---|" + "---|" * len(transforms) + "---|"]
    for name, values in run["psr_evasion"].items():
        lines.append(f"| {name} | {values['clean']:.2f} | " + " | ".join(f"{values[t]:.2f}" for t in transforms)
                     + f" | {run['psr_poisoning'][name]['none']:.2f} |")
        if "psr_uncloaked" in run:
            plain = run["psr_uncloaked"][name]
            lines.append(f"| {name}, uncloaked photos | | " + " | ".join(f"{plain[t]:.2f}" for t in transforms) + " | |")
    if run["ssim"]:
        lines.append("")
        if run.get("face_ssim"):
            lines.append(f"on the written files' faces: SSIM mean {run['face_ssim']['mean']:.4f} "
                         f"(min {run['face_ssim']['min']:.4f}), CIEDE2000 mean {run['delta_e']['mean']:.2f} "
                         f"(max {run['delta_e']['max']:.2f}); whole photos:")
        lines.append(f"SSIM mean {run['ssim']['mean']:.4f} (min {run['ssim']['min']:.4f}); "
                     f"PSNR mean {run['psnr']['mean']:.2f} dB (min {run['psnr']['min']:.2f}); "
                     f"s/face {run['wall_seconds_per_face']:.2f} (batch wall time / {run['faces']} faces; "
                     f"{run['wall_seconds_per_face'] / yardstick_seconds:.0f} yardsticks); "
                     f"one photo's own time a face, mean {run['seconds_per_face']['mean']:.2f} "
                     f"(max {run['seconds_per_face']['max']:.2f}); photos {run['photos']}, failures {len(run['failures'])}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--mode", default="high", choices=("low", "mid", "high", "visible"))
    parser.add_argument("--loo", nargs="?", const=",".join(RECOGNIZERS), default="",
                        help="also leave-one-out transfer (cloak with two, measure the third); optionally which to hold out")
    parser.add_argument("--no-ensemble", action="store_true", help="skip the ensemble of three (with --loo)")
    parser.add_argument("--reference", action="store_true",
                        help="also dlib C++ and SFace through onnxruntime, every photo re-detected by YuNet")
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    parser.add_argument("--validation", action="store_true",
                        help="other people than the default set (the modes' settings were tuned on the default set)")
    parser.add_argument("--offset", type=float, default=0.0,
                        help="move the picks by this share of a step (0.5 is --validation)")
    parser.add_argument("--unpicked", action="store_true",
                        help="pick from the people in none of the sets changes were tried on (PICKED)")
    parser.add_argument("--seed", type=int, default=0, help="the cloak's seed (random draws and decoys)")
    parser.add_argument("--keep", type=Path, help="keep the folders here instead of a temporary folder")
    parser.add_argument("--transforms", default=",".join(TRANSFORMS),
                        help="names from bioveil.evaluation.transforms, comma-separated (default: %(default)s); "
                        "the uncloaked photos are measured under them too")
    args = parser.parse_args()
    transforms = tuple(parse_transforms(args.transforms))
    try:
        held_out = parse_recognizers(args.loo) if args.loo else []
    except UnknownNameError as error:
        parser.error(f"--loo: {error}")
    if args.no_ensemble and not held_out:
        parser.error("--no-ensemble leaves nothing to run without --loo")
    if args.no_ensemble and args.reference:
        parser.error("--reference measures the ensemble of three: drop --no-ensemble")
    if args.validation and args.offset:
        parser.error("--validation is --offset 0.5: give one of them")
    if args.unpicked and args.validation:
        parser.error("--unpicked picks its own people: drop --validation")
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bioveil-cloak-") as temporary:
        root = args.keep or Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        people = build_folders(root, args.people, args.validation, args.offset, args.unpicked)
        print(f"{len(people)} people, mode {args.mode}, gallery: 5 clean photos each + {DISTRACTORS} distractors", flush=True)
        seconds = yardstick()
        print(f"yardstick {seconds:.3f} s: one chip forward and backward through the three recognizers, one thread",
              flush=True)
        runs: dict[str, Any] = {}
        if not args.no_ensemble:
            runs["ensemble"] = cloak_and_measure(root, root / "cloaked", args.mode, RECOGNIZERS, RECOGNIZERS, transforms,
                                                 uncloaked=True, seed=args.seed)
            print(table(f"ensemble {','.join(RECOGNIZERS)} ({args.mode})", runs["ensemble"], seconds), flush=True)
        if args.reference:
            runs["ensemble"]["reference_psr_uncloaked"] = reference_psr(root, root / "probes", transforms)
            runs["ensemble"]["reference_psr"] = reference_psr(root, root / "cloaked", transforms)
            print(f"\nreference systems (YuNet re-detection; PSR {' / '.join(transforms)}; uncloaked in brackets):")
            for name, values in runs["ensemble"]["reference_psr"].items():
                clean = runs["ensemble"]["reference_psr_uncloaked"][name]
                print(f"  {name} ({'dlib C++' if name == 'dlib' else 'onnxruntime'}): "
                      + " / ".join(f"{values[t]:.2f} ({clean[t]:.2f})" for t in transforms), flush=True)
        for name in held_out:
            used = tuple(n for n in RECOGNIZERS if n != name)
            run = cloak_and_measure(root, root / f"loo_{name}", args.mode, used, (name,), transforms, seed=args.seed)
            runs[f"loo_{name}"] = run
            print(table(f"leave-one-out: cloaked with {','.join(used)}, measured on {name}", run, seconds), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"people": people, "yardstick_seconds": seconds, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
