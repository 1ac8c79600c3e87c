"""How identifiable each face is: its size, sharpness and pose, summed up as high, medium or low.

A recognizer needs pixels: a face under about 24 px tall, blurred, or turned away is rarely matched;
a large, sharp, frontal face is matched by any public recognizer. These are rough, documented cues
for people deciding what to publish, not a guarantee either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bioveil.types import Faces

SHARPNESS_SIDE = 64  # faces are compared at this size, so sharpness does not depend on resolution
SHARPNESS_HALF = 60.0  # variance of the Laplacian that maps to sharpness 0.5
MIN_EMBED_HEIGHT = 24  # px: below this a face is too small to embed and cluster reliably


@dataclass(frozen=True)
class Quality:
    height_px: float
    sharpness: float  # 0-1
    yaw_degrees: float | None
    identifiability: str  # "high", "medium" or "low"

    @property
    def embeddable(self) -> bool:
        return self.height_px >= MIN_EMBED_HEIGHT and self.identifiability != "low"


def sharpness(image: np.ndarray, box: np.ndarray) -> float:
    """Variance of the Laplacian of the face, resized to a fixed size, squashed into 0-1."""
    import cv2

    height, width = image.shape[:2]
    x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0)
    x2, y2 = min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(image[y1:y2, x1:x2]), cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    variance = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return variance / (variance + SHARPNESS_HALF)


def yaw_degrees(landmarks: np.ndarray) -> float | None:
    """Head turn estimated from the nose's offset between the eyes (0 frontal, +-90 profile)."""
    if np.isnan(landmarks).any():
        return None
    right_eye, left_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    half = np.linalg.norm(left_eye - right_eye) / 2
    if half < 1e-6:
        return 90.0
    offset = float(np.dot(nose - (right_eye + left_eye) / 2, (left_eye - right_eye) / (2 * half)))
    return float(np.degrees(np.arcsin(np.clip(offset / half, -1.0, 1.0))))


def rate(height_px: float, sharp: float, yaw: float | None) -> str:
    turned = abs(yaw) if yaw is not None else 0.0
    if height_px < MIN_EMBED_HEIGHT or sharp < 0.15 or turned > 70:
        return "low"
    if height_px >= 64 and sharp >= 0.4 and turned <= 40:
        return "high"
    return "medium"


def face_quality(image: np.ndarray, faces: Faces) -> list[Quality]:
    out = []
    for box, landmarks in zip(faces.xyxy, faces.landmarks, strict=True):
        height = float(box[3] - box[1])
        sharp = sharpness(image, box)
        yaw = yaw_degrees(landmarks)
        out.append(Quality(round(height, 1), round(sharp, 3), None if yaw is None else round(yaw, 1), rate(height, sharp, yaw)))
    return out
