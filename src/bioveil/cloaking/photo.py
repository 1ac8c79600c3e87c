"""Cloaking the faces of one photo, as arrays: region, budget, optimization, SSIM floor, figures.

:func:`cloak_pixels` takes RGB uint8 pixels and the faces to cloak and returns the cloaked pixels
and a :class:`CloakResult`. Pixels outside the union of the recognizers' crops of each face are
never changed. Time and randomness come in as parameters (``seed`` or a ``torch.Generator``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from bioveil.cloaking.attack import DEFAULT_MODE, EnsemblePGD, Mode, get_mode
from bioveil.cloaking.budget import (
    FACE_GROW,
    GROW_SLACK,
    bounding_window,
    codec_cost,
    crop_quad,
    face_window,
    fit_faces,
    region_mask,
    texture_budget,
)
from bioveil.cloaking.decoys import DecoyKind, assign_decoys, group_people
from bioveil.cloaking.lanes import Deferred, Lanes
from bioveil.cloaking.quality import psnr
from bioveil.recognition.align import warp_reference
from bioveil.recognition.base import Recognizer, get_recognizer, parse_recognizers
from bioveil.types import Faces

log = logging.getLogger(__name__)

DEFAULT_RECOGNIZERS = ("dlib", "facenet", "sface")
WINDOW_MARGIN = 6  # px around the region kept in the optimization window (for blur and resize context)
CODEC_FLOOR_CAP = 0.999  # the optimizer's SSIM floor never above this, however lossy the output codec


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
    face_ssim: float = 1.0  # on the face's box grown 1.3x (the lowest of 1.17x, 1.3x and 1.43x)
    delta_e: float = 0.0  # mean CIEDE2000 there (the highest of the three)
    scale: float = 1.0  # the share of the optimized perturbation the face budget kept

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
            "face_ssim": round(self.face_ssim, 4),
            "delta_e": round(self.delta_e, 3),
            "scale": round(self.scale, 3),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class CloakResult:
    """What a cloak did to one photo."""

    mode: str
    recognizers: list[str]
    faces: Faces = field(default_factory=Faces.empty)
    per_face: list[FaceCloak] = field(default_factory=list)
    psnr: float = float("inf")
    seconds: float = 0.0

    @property
    def face_ssim(self) -> float:
        """The lowest face SSIM of the photo (1 without faces)."""
        return min((face.face_ssim for face in self.per_face), default=1.0)

    @property
    def delta_e(self) -> float:
        return max((face.delta_e for face in self.per_face), default=0.0)

    @property
    def success(self) -> bool:
        """Every face fools every recognizer of the ensemble (on the uint8 result, same alignment)."""
        return all(all(face.fooled.values()) for face in self.per_face)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "recognizers": self.recognizers,
            "face_ssim": round(self.face_ssim, 4),
            "delta_e": round(self.delta_e, 3),
            "psnr": None if np.isinf(self.psnr) else round(self.psnr, 2),
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


@dataclass
class FaceWork:
    """One face's optimization problem: the window of the photo it may change, its per-pixel budget
    (zero outside the union of the recognizers' crops), chip maps into the window, owner and decoy
    embeddings, and its own seed (so a face's cloak does not depend on which thread runs it)."""

    box: tuple[int, int, int, int]  # x1, y1, x2, y2 of the window in the photo
    inside: np.ndarray  # (h, w, 1) bool: the face region within the window
    window: Any  # torch (1, 3, h, w) float in [0, 255]
    budget: Any  # torch (1, 1, h, w)
    maps: dict[str, Any]  # recognizer -> torch (2, 3) chip-to-window map
    owner: dict[str, Any]  # recognizer -> torch (d,) unit vector
    target: dict[str, Any]
    seed: int
    face_windows: tuple[tuple[int, int, int, int], ...] = ()  # where the face budget is measured, in the window
    ssim_floor: float | None = None  # the SSIM the optimizer keeps there (None: the mode's)


def face_works(image: np.ndarray, recognizers: Sequence[Recognizer], mode: Mode, maps: dict[str, np.ndarray],
               owners: dict[str, np.ndarray], targets: dict[str, np.ndarray], seeds: Sequence[int],
               boxes: np.ndarray, written: Callable[[np.ndarray], np.ndarray] | None = None) -> list[FaceWork | None]:
    """A :class:`FaceWork` per face of ``boxes`` (n, 4) (``None`` for a face whose region is empty).

    ``written``: the output codec's round trip. Its own loss of SSIM on the face, measured on the clean
    window, is added to the floor the optimizer keeps: the dissimilarities of codec and cloak add up, to first
    order, so the optimizer searches what the file's budget leaves it (``fit_faces`` then checks the file)."""
    import torch

    height, width = image.shape[:2]
    works: list[FaceWork | None] = []
    for i, seed in enumerate(seeds):
        quads = [crop_quad(maps[r.name][i], r.input_size) for r in recognizers]
        mask = region_mask((height, width), quads)
        x1, y1, x2, y2 = bounding_window(mask, WINDOW_MARGIN)
        if x2 <= x1 or y2 <= y1:
            works.append(None)
            continue
        part = image[y1:y2, x1:x2]
        budget = texture_budget(part, mode.eps) * mask[y1:y2, x1:x2]
        local = np.asarray(boxes[i], np.float64) - (x1, y1, x1, y1)
        measured = tuple(face_window(local, part.shape[:2], FACE_GROW * share) for share in GROW_SLACK)
        local_maps = {}
        for r in recognizers:
            m = maps[r.name][i].copy()
            m[:, 2] -= (x1, y1)
            local_maps[r.name] = torch.from_numpy(m).float()
        works.append(FaceWork(
            (x1, y1, x2, y2), mask[y1:y2, x1:x2, None],
            torch.from_numpy(np.ascontiguousarray(part)).permute(2, 0, 1)[None].float(),
            torch.from_numpy(budget)[None, None], local_maps,
            {r.name: torch.from_numpy(_unit(owners[r.name][i])).float() for r in recognizers},
            {r.name: torch.from_numpy(np.asarray(targets[r.name][i], np.float32)) for r in recognizers},
            int(seed), measured,
            None if written is None else min(mode.face_ssim + codec_cost(image, boxes[i], written), CODEC_FLOOR_CAP)))
    return works




def cloak_face(work: FaceWork, recognizers: Sequence[Recognizer], mode: Mode,
               side_by_side: bool | None = None) -> tuple[np.ndarray, float]:
    """The perturbation (h, w, 3) of ``work``'s window and the seconds it took."""
    import torch

    started = time.perf_counter()
    attack = EnsemblePGD(recognizers, mode, torch.Generator().manual_seed(work.seed), side_by_side=side_by_side)
    step = attack(work.window, work.budget, work.maps, work.owner, work.target, work.face_windows, work.ssim_floor)
    return step[0].permute(1, 2, 0).numpy(), time.perf_counter() - started


def submit_faces(lanes: Lanes, works: Sequence[FaceWork | None], recognizers: Sequence[Recognizer],
                 mode: Mode) -> list[Future[tuple[np.ndarray, float]] | Deferred[tuple[np.ndarray, float]] | None]:
    """:func:`cloak_face` of each face on ``lanes`` (``None`` for a face without a region), in face order."""
    return [None if work is None else lanes.submit(partial(cloak_face, work, recognizers, mode)) for work in works]


def face_seeds(count: int, seed: int = 0, generator: Any = None) -> list[int]:
    """One seed per face, drawn in face order from ``generator`` (by default seeded with ``seed``)."""
    import torch

    generator = generator or torch.Generator().manual_seed(seed)
    return torch.randint(0, 2**62, (count,), generator=generator).tolist() if count else []


def cloak_pixels(image: np.ndarray, faces: Faces, recognizers: Sequence[Recognizer], mode: str | Mode = DEFAULT_MODE,
                 seed: int = 0, generator: Any = None, decoys: DecoyKind | str = DecoyKind.CONSISTENT,
                 targets: dict[str, np.ndarray] | None = None,
                 prepared: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None,
                 groups: np.ndarray | None = None) -> tuple[np.ndarray, CloakResult]:
    """Cloak every face of ``image`` (RGB uint8) against ``recognizers``; faces run side by side, one per core.

    ``targets``: decoys per recognizer (n, d) unit vectors, e.g. from a batch where the same person
    gets the same decoy; by default they are derived here from ``seed``. ``prepared``: chip maps and
    clean embeddings already computed by :func:`clean_embeddings`.
    """
    started = time.perf_counter()
    mode = get_mode(mode)
    if len(faces) == 0:
        return image.copy(), CloakResult(mode.name, [r.name for r in recognizers], faces=faces)
    maps, owners = prepared or clean_embeddings(image, faces, recognizers)
    if groups is None:
        groups = group_people(owners, {r.name: r.threshold for r in recognizers}, {r.name: r.similarity for r in recognizers})
    if targets is None:
        targets = assign_decoys(owners, groups, seed, decoys, rng=np.random.default_rng(seed))
    works = face_works(image, recognizers, mode, maps, owners, targets, face_seeds(len(faces), seed, generator),
                       faces.xyxy)
    with Lanes(sum(work is not None for work in works)) as lanes:
        done = [None if step is None else step.result() for step in submit_faces(lanes, works, recognizers, mode)]
    return finish_photo(image, faces, recognizers, mode, works, done, (maps, owners), groups, started)


def finish_photo(image: np.ndarray, faces: Faces, recognizers: Sequence[Recognizer], mode: Mode,
                 works: Sequence[FaceWork | None], steps: Sequence[tuple[np.ndarray, float] | None],
                 prepared: tuple[dict[str, np.ndarray], dict[str, np.ndarray]], groups: np.ndarray,
                 started: float, written: Callable[[np.ndarray], np.ndarray] | None = None,
                 ) -> tuple[np.ndarray, CloakResult]:
    """Put the faces' perturbations into the photo (in face order, where regions overlap the later face's
    wins), scale each down to the mode's face budget, and measure every face against its clean self.
    ``written``: the output codec's round trip, so the budget holds on the file (see ``fit_faces``)."""
    maps, owners = prepared
    result = CloakResult(mode.name, [r.name for r in recognizers], faces=faces)
    if not len(faces):  # a photo without faces is written unchanged
        result.seconds = time.perf_counter() - started
        return image.copy(), result
    delta = np.zeros(image.shape, np.float32)
    owner = np.full(image.shape[:2], -1, np.int32)
    for i, (work, step) in enumerate(zip(works, steps, strict=True)):
        if work is not None and step is not None:
            x1, y1, x2, y2 = work.box
            delta[y1:y2, x1:x2] = np.where(work.inside, step[0], delta[y1:y2, x1:x2])
            owner[y1:y2, x1:x2][work.inside[:, :, 0]] = i
    timings = [0.0 if step is None else step[1] for step in steps]
    cloaked, scales, quality = fit_faces(image, delta, owner, faces.xyxy, mode.budget, written)
    result.psnr = _psnr(image, cloaked, delta)
    after = {}
    for r in recognizers:
        chips = np.stack([warp_reference(cloaked, m, r.input_size) for m in maps[r.name]])
        after[r.name] = r.embed_chip_array(chips)
    for i in range(len(faces)):
        sims = {r.name: float(r.pair_similarity(owners[r.name][i : i + 1], after[r.name][i : i + 1])[0]) for r in recognizers}
        thresholds = {r.name: float(r.threshold) for r in recognizers}
        result.per_face.append(FaceCloak(i, sims, thresholds, {n: sims[n] < thresholds[n] for n in sims}, timings[i],
                                         int(groups[i]), quality[i][0], quality[i][1], scales[i]))
    result.seconds = time.perf_counter() - started
    log.info("cloaked %d faces in %.2f s: face SSIM %.4f, CIEDE2000 %.2f, PSNR %.1f dB, scales %s", len(faces),
             result.seconds, result.face_ssim, result.delta_e, result.psnr, [round(s, 2) for s in scales])
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


__all__ = ["CloakResult", "FaceCloak", "FaceWork", "clean_embeddings", "cloak_face", "cloak_pixels", "face_seeds",
           "face_works", "finish_photo", "load_recognizers", "submit_faces"]
