"""SCRFD-2.5G with keypoints (Guo et al. 2021, InsightFace), on onnxruntime, at any image size.

The file (fetched by ``bioveil models fetch``, see :mod:`bioveil.detection.model_store`) was exported
for a fixed 640x640 input: its two upsampling nodes carry fixed output sizes. At load they are given a
scale of 2 instead and the input and output shapes are made dynamic, so the network runs on the image
as it is, padded to a multiple of 32 (no letterboxing, which costs small faces their pixels).

Outputs, per stride 8, 16 and 32: a score, four distances from the anchor centre to the box sides and
ten keypoint offsets, for two anchors at each cell; distances are in units of the stride.
Licence: InsightFace licenses its trained models for non-commercial research only.
"""

from __future__ import annotations

import logging

import numpy as np

from bioveil.detection.base import register_detector
from bioveil.detection.boxes import nms
from bioveil.detection.model_store import SCRFD as SCRFD_FILE
from bioveil.detection.model_store import locate
from bioveil.detection.onnx_session import cpu_session, padded_blob
from bioveil.errors import MissingDependencyError, ModelFileError
from bioveil.types import Faces

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)
ANCHORS = 2
_INPUT = "input.1"
_OUTPUTS = [f"{kind}_{stride}" for kind in ("score", "bbox", "kps") for stride in STRIDES]


def _dynamic_model(data: bytes) -> bytes:
    """The graph with scale-2 upsampling and dynamic height and width."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependencyError("the SCRFD detector", "pip install onnx") from exc
    model = onnx.load_from_string(data)
    graph = model.graph
    resizes = [node for node in graph.node if node.op_type == "Resize"]
    if len(resizes) != 2 or [node.name for node in graph.input] != [_INPUT]:
        raise ModelFileError("the SCRFD file is not the SCRFD-2.5G-KPS export bioveil reads; run: bioveil models fetch")
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "bioveil_scale2")
    graph.initializer.append(scales)
    fixed_sizes = set()
    for node in resizes:  # inputs: X, roi, scales, sizes (opset 11)
        node.input[2] = scales.name
        fixed_sizes.add(node.input[3])
        del node.input[3]
    for unused in [init for init in graph.initializer if init.name in fixed_sizes]:
        graph.initializer.remove(unused)
    for value in [*graph.input, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if value.name == _INPUT:
            dims[2].dim_param, dims[3].dim_param = "H", "W"
        else:
            dims[1].dim_param = "N"
    return model.SerializeToString()


def _centres(height: int, width: int, stride: int) -> np.ndarray:
    """Anchor centres of one stride, (cells * ANCHORS, 2) as x, y in input pixels."""
    ys, xs = np.mgrid[: height // stride, : width // stride]
    centres = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
    return np.repeat(centres, ANCHORS, axis=0)


class SCRFD:
    """SCRFD at the image's own resolution (padded to a multiple of 32)."""

    name = "scrfd"

    def __init__(self, threshold: float = 0.3, nms_iou: float = 0.4) -> None:
        self.threshold = threshold
        self.nms_iou = nms_iou
        self._session = cpu_session(_dynamic_model(locate(SCRFD_FILE).read_bytes()))
        log.debug("loaded SCRFD")

    def detect(self, image: np.ndarray, threshold: float | None = None) -> Faces:
        threshold = self.threshold if threshold is None else threshold
        blob = padded_blob(image, mean=127.5, scale=1 / 128)
        padded_h, padded_w = blob.shape[2:]
        # The padding is 0 after normalization (mid-grey), as the model saw around letterboxed photos.
        outputs = dict(zip(_OUTPUTS, self._session.run(_OUTPUTS, {_INPUT: blob}), strict=True))
        boxes, scores, marks = [], [], []
        for stride in STRIDES:
            score = outputs[f"score_{stride}"].reshape(-1)
            keep = np.flatnonzero(score >= threshold)
            if len(keep) == 0:
                continue
            centres = _centres(padded_h, padded_w, stride)[keep]
            distance = outputs[f"bbox_{stride}"].reshape(-1, 4)[keep] * stride
            offsets = outputs[f"kps_{stride}"].reshape(-1, 5, 2)[keep] * stride
            boxes.append(np.concatenate([centres - distance[:, :2], centres + distance[:, 2:]], axis=1))
            marks.append(centres[:, None, :] + offsets)
            scores.append(score[keep])
        if not boxes:
            return Faces.empty()
        xyxy, score, landmarks = np.concatenate(boxes), np.concatenate(scores), np.concatenate(marks)
        kept = nms(xyxy, score, self.nms_iou)
        return Faces(xyxy[kept], score[kept], landmarks[kept])


@register_detector("scrfd")
def _scrfd() -> SCRFD:
    return SCRFD()
