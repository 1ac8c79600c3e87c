"""Masking with the user's hand edits: the batch ``mask`` runs, with faces kept and boxes drawn.

The detector masks what it finds, recall first, as ``bioveil mask`` does; then a detection the user
chose to keep (a face of the scan, clicked off) is left out, and each box the user drew is masked like
a detected face (:class:`bioveil.masking.keep.Keeping`, which ``mask --keep-person`` uses too).
Everything else is ``mask``'s own job (:class:`bioveil.masking.batch.MaskWork`), on the same runner
and manifest, so a photo is redone only when its own edits change.
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
from bioveil.masking.batch import SUFFIXES, MaskModels, MaskSettings, MaskWork, mask_settings_key
from bioveil.masking.keep import Keeping
from bioveil.masking.photo import FileResult
from bioveil.media.atomic import Claims
from bioveil.media.discover import plan_outputs


@dataclass
class EditedMaskWork(MaskWork):
    """``mask``'s per-file job with each photo's edits (videos are masked as ``mask`` masks them)."""

    edits: dict[Path, Edits] = field(default_factory=dict)
    name: str = "mask"

    def photo_detector(self, context: MaskModels, task: Task) -> Detector:
        """``mask``'s detector of the photo, with the faces the user kept left out and the boxes they drew added."""
        detector = super().photo_detector(context, task)
        edits = self.edits.get(task.source.resolve())
        if edits is None or not (edits.keep or edits.draw):
            return detector
        keep = np.array(edits.keep, np.float32).reshape(-1, 4)
        return Keeping(detector, lambda _: keep, np.array(edits.draw, np.float32).reshape(-1, 4))


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
