"""Masking with the user's hand edits: the batch ``mask`` runs, with faces kept and boxes drawn.

The detector masks what it finds, recall first, as ``bioveil mask`` does; then a detection the user
chose to keep (a face of the scan, clicked off) is left out, and each box the user drew is masked
like a detected face. Everything else is ``mask``'s own job (:class:`bioveil.masking.batch.MaskWork`),
on the same runner and manifest, so a photo is redone only when its own edits change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioveil.app.workspace import Edits
from bioveil.batch.engine import Task
from bioveil.batch.runner import BatchResult, run_batch
from bioveil.detection.base import Detector
from bioveil.detection.boxes import box_area, iou_matrix
from bioveil.masking.batch import SUFFIXES, MaskModels, MaskSettings, MaskWork, mask_settings_key
from bioveil.masking.photo import FileResult, mask_photo_file
from bioveil.media.atomic import Claims
from bioveil.media.discover import plan_outputs
from bioveil.types import Faces

# A detection is the kept face when it overlaps the face's box this much, or lies inside it
# (80% of the detection) while being at least a tenth of its size: the detector's partial boxes of
# the same face. A smaller face in front of a kept one stays masked (privacy first).
KEEP_IOU = 0.3
KEEP_INSIDE = 0.8
KEEP_MIN_AREA = 0.1


def kept(faces: Faces, keep: np.ndarray) -> np.ndarray:
    """Which of ``faces`` (by their masked box) are faces the user keeps unmasked (boxes ``keep``, (k, 4))."""
    if not len(faces) or not len(keep):
        return np.zeros(len(faces), bool)
    boxes = faces.mask_xyxy
    iou = iou_matrix(boxes, keep)
    x1 = np.maximum(boxes[:, None, 0], keep[None, :, 0])
    y1 = np.maximum(boxes[:, None, 1], keep[None, :, 1])
    x2 = np.minimum(boxes[:, None, 2], keep[None, :, 2])
    y2 = np.minimum(boxes[:, None, 3], keep[None, :, 3])
    overlap = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    area = box_area(boxes)[:, None]
    inside = (overlap >= KEEP_INSIDE * area) & (area >= KEEP_MIN_AREA * box_area(keep)[None, :])
    return ((iou >= KEEP_IOU) | inside).any(axis=1)


@dataclass
class EditedDetector:
    """``detector`` with one photo's edits: kept faces left out, drawn boxes added (score 1)."""

    detector: Detector
    edits: Edits
    name: str = "edited"

    def detect(self, image: np.ndarray, threshold: float | None = None) -> Faces:
        faces = self.detector.detect(image, threshold)
        faces = faces[~kept(faces, np.array(self.edits.keep, np.float32).reshape(-1, 4))]
        drawn = np.array(self.edits.draw, np.float32).reshape(-1, 4)
        if not len(drawn):
            return faces
        return Faces.concatenate([faces, Faces(drawn, np.ones(len(drawn), np.float32))]).clipped(image.shape[1], image.shape[0])


@dataclass
class EditedMaskWork(MaskWork):
    """``mask``'s per-file job with each photo's edits (videos are masked as ``mask`` masks them)."""

    edits: dict[Path, Edits] = field(default_factory=dict)
    name: str = "mask"

    def run(self, context: MaskModels, task: Task) -> FileResult:
        edits = self.edits.get(task.source.resolve())
        if task.kind == "video" or edits is None or not (edits.keep or edits.draw):
            return super().run(context, task)
        assert task.target is not None
        settings = self.settings
        return mask_photo_file(task.source, task.target, EditedDetector(context.detector, edits), context.masker,
                               threshold=settings.threshold, keep_metadata=settings.keep_metadata,
                               max_pixels=settings.max_pixels, protected=self.protected, claims=self.claims)


def mask_edited(inputs: list[Path], outdir: Path, settings: MaskSettings, edits: dict[Path, Edits],
                on_result: Callable[[FileResult], None] | None = None,
                on_frame: Callable[[], None] | None = None) -> BatchResult[FileResult]:
    """Mask ``inputs`` into ``outdir`` with their edits (keyed by resolved path); resumable like ``mask``."""
    plan = plan_outputs(inputs, outdir, SUFFIXES)
    resolved = {path.resolve(): value for path, value in edits.items()}
    work = EditedMaskWork(settings, plan.protected, Claims([target for _, target in plan.jobs]), on_frame, edits=resolved)

    def file_settings(source: Path) -> dict[str, object]:
        edit = resolved.get(source.resolve())
        return {"keep": edit.keep, "draw": edit.draw} if edit else {}

    return run_batch(inputs, work, suffixes=SUFFIXES, settings=mask_settings_key(settings), outdir=outdir, plan=plan,
                     file_settings=file_settings, on_result=on_result)
