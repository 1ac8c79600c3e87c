"""Cloaking the faces of one photo, as arrays: region, budget, optimization, SSIM floor, figures.

:func:`cloak_pixels` takes RGB uint8 pixels and the faces to cloak and returns the cloaked pixels
and a :class:`CloakResult`. Pixels outside the union of the recognizers' crops of each face are
never changed. Time and randomness come in as parameters (``seed`` or a ``torch.Generator``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bioveil.cloaking.attack import DEFAULT_MODE, EnsemblePGD, Mode, get_mode
from bioveil.cloaking.budget import bounding_window, crop_quad, region_mask, ssim_floor, texture_budget
from bioveil.cloaking.decoys import DecoyKind, assign_decoys, group_people
from bioveil.cloaking.quality import psnr
from bioveil.recognition.align import warp_reference
from bioveil.recognition.base import Recognizer, get_recognizer, parse_recognizers
from bioveil.types import Faces

log = logging.getLogger(__name__)

DEFAULT_RECOGNIZERS = ("dlib", "facenet", "sface")
WINDOW_MARGIN = 6  # px around the region kept in the optimization window (for blur and resize context)


@dataclass
class FaceCloak:
    """Figures for one cloaked face. Similarities compare the cloaked face with its clean self.

    Both are embedded from chips cut where the clean face's landmarks put them; in ``to_dict``,
    ``similarity_before`` is the clean face against itself (1 for cosine recognizers, 0 for dlib's
    negated distance), ``similarity_after`` the cloaked one against the clean one.
    """

    index: int
    similarity: dict[str, float]  # recognizer -> similarity(clean, cloaked), same alignment
    threshold: dict[str, float]
    fooled: dict[str, bool]  # similarity below the recognizer's threshold
    seconds: float
    group: int = 0  # faces with the same group share a decoy

    def to_dict(self) -> dict[str, Any]:
        return {
            "face": self.index,
            "group": self.group,
            "recognizers": {
                name: {"similarity_before": 1.0 if self.threshold[name] > 0 else 0.0,
                       "similarity_after": round(self.similarity[name], 4),
                       "threshold": self.threshold[name], "fooled": self.fooled[name]}
                for name in self.similarity
            },
            "seconds": round(self.seconds, 3),
        }


@dataclass
class CloakResult:
    """What a cloak did to one photo."""

    mode: str
    recognizers: list[str]
    faces: Faces = field(default_factory=Faces.empty)
    per_face: list[FaceCloak] = field(default_factory=list)
    ssim: float = 1.0  # whole image, as skimage computes it
    psnr: float = float("inf")
    scale: float = 1.0  # global scale the SSIM floor left on the perturbation
    seconds: float = 0.0

    @property
    def success(self) -> bool:
        """Every face fools every recognizer of the ensemble (on the uint8 result, same alignment)."""
        return all(all(face.fooled.values()) for face in self.per_face)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "recognizers": self.recognizers,
            "ssim": round(self.ssim, 4),
            "psnr": None if np.isinf(self.psnr) else round(self.psnr, 2),
            "scale": round(self.scale, 3),
            "seconds": round(self.seconds, 3),
            "faces": [
                {**record, **face.to_dict()} for record, face in zip(self.faces.to_records(), self.per_face, strict=True)
            ],
        }


def load_recognizers(names: str | Sequence[str] | None) -> list[Recognizer]:
    return [get_recognizer(name) for name in parse_recognizers(names or DEFAULT_RECOGNIZERS)]


def clean_embeddings(image: np.ndarray, faces: Faces, recognizers: Sequence[Recognizer]
                     ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Chip maps (n, 2, 3) and clean embeddings (n, d) per recognizer."""
    maps = {r.name: r.chip_maps(image, faces) for r in recognizers}
    embeddings = {}
    for r in recognizers:
        chips = np.stack([warp_reference(image, m, r.input_size) for m in maps[r.name]]) if len(faces) else r._no_chips()
        embeddings[r.name] = r.embed_chip_array(chips)
    return maps, embeddings


def cloak_pixels(image: np.ndarray, faces: Faces, recognizers: Sequence[Recognizer], mode: str | Mode = DEFAULT_MODE,
                 seed: int = 0, generator: Any = None, decoys: DecoyKind | str = DecoyKind.CONSISTENT,
                 targets: dict[str, np.ndarray] | None = None,
                 prepared: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None,
                 groups: np.ndarray | None = None) -> tuple[np.ndarray, CloakResult]:
    """Cloak every face of ``image`` (RGB uint8) against ``recognizers``.

    ``targets``: decoys per recognizer (n, d) unit vectors, e.g. from a batch where the same person
    gets the same decoy; by default they are derived here from ``seed``. ``prepared``: chip maps and
    clean embeddings already computed by :func:`clean_embeddings`.
    """
    import torch

    started = time.perf_counter()
    mode = get_mode(mode)
    names = [r.name for r in recognizers]
    result = CloakResult(mode.name, names, faces=faces)
    if len(faces) == 0:
        return image.copy(), result
    generator = generator or torch.Generator().manual_seed(seed)
    maps, owners = prepared or clean_embeddings(image, faces, recognizers)
    if groups is None:
        groups = group_people(owners, {r.name: r.threshold for r in recognizers}, {r.name: r.similarity for r in recognizers})
    if targets is None:
        targets = assign_decoys(owners, groups, seed, decoys, rng=np.random.default_rng(seed))
    attack = EnsemblePGD(recognizers, mode, generator)
    height, width = image.shape[:2]
    delta = np.zeros(image.shape, np.float32)
    timings = []
    for i in range(len(faces)):
        face_started = time.perf_counter()
        quads = [crop_quad(maps[r.name][i], r.input_size) for r in recognizers]
        mask = region_mask((height, width), quads)
        x1, y1, x2, y2 = bounding_window(mask, WINDOW_MARGIN)
        if x2 <= x1 or y2 <= y1:
            timings.append(0.0)
            continue
        part = image[y1:y2, x1:x2]
        budget = texture_budget(part, mode.eps) * mask[y1:y2, x1:x2]
        window = torch.from_numpy(np.ascontiguousarray(part)).permute(2, 0, 1)[None].float()
        offset = np.array([x1, y1], np.float64)
        local_maps = {}
        for r in recognizers:
            m = maps[r.name][i].copy()
            m[:, 2] -= offset
            local_maps[r.name] = torch.from_numpy(m).float()
        owner = {r.name: torch.from_numpy(_unit(owners[r.name][i])).float() for r in recognizers}
        target = {r.name: torch.from_numpy(np.asarray(targets[r.name][i], np.float32)) for r in recognizers}
        step = attack(window, torch.from_numpy(budget)[None, None], local_maps, owner, target)
        inside = mask[y1:y2, x1:x2, None]
        delta[y1:y2, x1:x2] = np.where(inside, step[0].permute(1, 2, 0).numpy(), delta[y1:y2, x1:x2])
        timings.append(time.perf_counter() - face_started)
    # SSIM and PSNR from the window the perturbation touches (the rest is identical): no whole-image copies.
    cloaked, scale, result.ssim = ssim_floor(image, delta, mode.ssim_floor)
    result.scale = scale
    result.psnr = _psnr(image, cloaked, delta)
    after = {}
    for r in recognizers:
        chips = np.stack([warp_reference(cloaked, m, r.input_size) for m in maps[r.name]])
        after[r.name] = r.embed_chip_array(chips)
    for i in range(len(faces)):
        sims = {r.name: float(r.pair_similarity(owners[r.name][i : i + 1], after[r.name][i : i + 1])[0]) for r in recognizers}
        thresholds = {r.name: float(r.threshold) for r in recognizers}
        result.per_face.append(FaceCloak(i, sims, thresholds, {n: sims[n] < thresholds[n] for n in sims}, timings[i],
                                         int(groups[i])))
    result.seconds = time.perf_counter() - started
    log.info("cloaked %d faces in %.2f s: SSIM %.4f, PSNR %.1f dB, scale %.2f", len(faces), result.seconds,
             result.ssim, result.psnr, scale)
    return cloaked, result


def _psnr(image: np.ndarray, cloaked: np.ndarray, delta: np.ndarray) -> float:
    changed = np.abs(delta).max(axis=2) > 0
    if not changed.any():
        return float("inf")
    x1, y1, x2, y2 = bounding_window(changed, 0)
    if (x2 - x1) * (y2 - y1) == image.shape[0] * image.shape[1]:
        return psnr(image, cloaked)
    error = float(np.sum((image[y1:y2, x1:x2].astype(np.float64) - cloaked[y1:y2, x1:x2]) ** 2)) / image.size
    return float("inf") if error == 0 else float(10 * np.log10(255.0**2 / error))


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-12)


__all__ = ["CloakResult", "FaceCloak", "clean_embeddings", "cloak_pixels", "load_recognizers"]
