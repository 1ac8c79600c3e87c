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
from bioveil.detection.boxes import merge_overlapping
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

    def cut(self, flipped: bool, override: float | None = None) -> float:
        """The score cut of one of this member's passes (``override``, when given, for every pass)."""
        if override is not None:
            return override
        return self.mirror_threshold if flipped and self.mirror_threshold is not None else self.threshold

    def pass_scale(self, flipped: bool) -> float:
        return self.mirror_scale if flipped else self.scale


Pass = tuple[Member, bool]  # a member, and whether this is its mirrored pass


def mirror_faces(faces: Faces, width: int) -> Faces:
    """Map faces found in a mirrored image back to the original."""
    xyxy = faces.xyxy.copy()
    xyxy[:, [0, 2]] = width - faces.xyxy[:, [2, 0]]
    landmarks = faces.landmarks.copy()
    landmarks[:, :, 0] = width - faces.landmarks[:, :, 0]
    landmarks = landmarks[:, [1, 0, 2, 4, 3]]  # a mirrored right eye is the left eye
    return Faces(xyxy, faces.score, landmarks)


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

    def __init__(self, members: tuple[Member, ...], large_fraction: float = 0.1, merge_iou: float = 0.5) -> None:
        self.members = members
        self.large_fraction = large_fraction
        self.merge_iou = merge_iou

    def passes(self) -> list[Pass]:
        return [(member, flipped) for member in self.members for flipped in (False, True)[: 1 + member.mirrored]]

    @staticmethod
    def search(image: np.ndarray, job: Pass, cut: float, mirrored: np.ndarray | None = None) -> Faces:
        """One pass's faces scoring above ``cut``, in ``image``'s pixels. ``mirrored`` is ``image``
        mirrored, when the caller already has it (several mirrored passes share one copy)."""
        member, flipped = job
        detector = get_detector(member.detector)
        if not flipped:
            return detect_at_scale(detector, image, member.scale, cut)
        if mirrored is None:
            mirrored = np.ascontiguousarray(image[:, ::-1])
        return mirror_faces(detect_at_scale(detector, mirrored, member.mirror_scale, cut), image.shape[1])

    def select(self, job: Pass, faces: Faces, image_hw: tuple[int, int], threshold: float | None = None) -> Faces:
        """The faces of one pass that reach its score cut (``threshold`` overrides every cut); a
        box taller than ``large_fraction`` of the shorter image side must reach ``confident``."""
        member, flipped = job
        cut = member.cut(flipped, threshold)
        tall = faces.size_wh[:, 1] > self.large_fraction * min(image_hw)
        return faces[(faces.score >= cut) & (~tall | (faces.score >= max(cut, member.confident)))]

    def fuse(self, selected: list[Faces]) -> Faces:
        return merge_overlapping(Faces.concatenate(selected), self.merge_iou)

    def detect(self, image: np.ndarray, threshold: float | None = None) -> Faces:
        hw = image.shape[:2]
        jobs = self.passes()
        mirrored = np.ascontiguousarray(image[:, ::-1]) if any(flipped for _, flipped in jobs) else None

        def run(job: Pass) -> Faces:
            return self.select(job, self.search(image, job, job[0].cut(job[1], threshold), mirrored), hw, threshold)

        # The passes are independent: run them side by side (each model run is single-threaded).
        return self.fuse(list(_passes_pool().map(run, jobs)))


# CenterFace's mirrored pass runs at half size: a quarter of the work, and on WIDER FACE it covers
# more faces of 32 px and up than a full-size one (98.5% vs 98.2%), a few fewer of 16-32 px.
DEFAULT_MEMBERS = (
    Member("centerface", threshold=0.05, confident=0.3, mirror_scale=0.5, mirror_threshold=0.07),
    Member("yunet", threshold=0.2, confident=0.6),
)


class Cadence:
    """For video: detectors taking turns over the keyframes. Keyframe ``n`` is searched by
    ``turns[n % len(turns)]``; searching one image (:meth:`detect`) uses ``turns[0]``, the most
    thorough. A face is on many frames, so a thorough but slow member need not see every keyframe:
    the tracks carry what it found across the keyframes it skips."""

    name = "cadence"

    def __init__(self, turns: tuple[Ensemble, ...]) -> None:
        self.turns = turns

    def for_keyframe(self, number: int) -> Ensemble:
        return self.turns[number % len(self.turns)]

    def detect(self, image: np.ndarray, threshold: float | None = None) -> Faces:
        return self.turns[0].detect(image, threshold)


def _unmirrored(*members: Member) -> Ensemble:
    return Ensemble(tuple(replace(member, mirrored=False) for member in members))


@register_detector("ensemble")
def _ensemble() -> Ensemble:
    return Ensemble(DEFAULT_MEMBERS)


@register_detector("ensemble-fast")
def _ensemble_fast() -> Ensemble:
    """The same members without their mirrored passes: half the work, for many frames of one
    scene, where tracking fills what one pass misses."""
    return _unmirrored(*DEFAULT_MEMBERS)


@register_detector("ensemble-video")
def _ensemble_video() -> Cadence:
    """The default for video: every other keyframe is searched by ensemble-fast, the ones between
    by YuNet alone (a third of CenterFace's cost). Chosen on street_faces.mp4 and the MOT clips
    against bench/video.py's reference (BENCHMARKS.md): as safe there as ensemble-fast on every
    keyframe, for two thirds of the detection time."""
    centerface, yunet = DEFAULT_MEMBERS
    return Cadence((_unmirrored(centerface, yunet), _unmirrored(yunet)))


DEFAULT_DETECTOR = "ensemble"
DEFAULT_VIDEO_DETECTOR = "ensemble-video"
