"""Alignment: where each recognizer's chip lies in the photo, and two ways to cut it out.

Every recognizer's alignment is an affine map from chip pixels to photo pixels (a (2, 3) matrix,
pixel centres at integer coordinates, as in OpenCV and dlib). From it, :func:`warp_reference`
cuts the chip with OpenCV (the reference, bilinear like dlib's and OpenCV's own crops) and
:func:`warp` cuts it with ``grid_sample``, differentiably, so a cloak can take gradients through
the crop back to the photo's pixels.

Geometry, one function per recognizer:

- dlib: ``dlib.get_face_chip(size=150, padding=0.25)`` from its 5-point shape predictor's landmarks.
  dlib fits a similarity transform, then maps chip corner pixels onto the corners of the rotated
  rectangle it derives from it, which changes the scale slightly: copied here.
- SFace: OpenCV's ``FaceRecognizerSF.alignCrop``, a least-squares similarity transform from the
  detector's 5 landmarks (eyes, nose tip, mouth corners) to the ArcFace 112 px template.
- FaceNet: davidsandberg's crop, MTCNN's box grown by a margin, clipped to the photo and resized
  to 160 px (not aspect-preserving when clipped, as in the original).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# OpenCV's FaceRecognizerSF template (ArcFace's), in 112 px chip pixels, in YuNet's landmark order.
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)

# dlib's 5-point template (get_face_chip_details), unpadded unit square, in its shape predictor's order:
# outer and inner corner of the eye on the image's right, then on the image's left, then the nose base.
DLIB_5 = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ],
    dtype=np.float64,
)


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The least-squares similarity (Umeyama 1991) taking ``source`` points (k, 2) onto ``target``: (2, 3)."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    mean_s, mean_t = source.mean(0), target.mean(0)
    s, t = source - mean_s, target - mean_t
    covariance = t.T @ s / len(source)
    u, d, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(covariance) < 0:
        sign[1] = -1
    rotation = u @ np.diag(sign) @ vt
    scale = (d * sign).sum() / s.var(0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mean_t - matrix[:, :2] @ mean_s
    return matrix


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a (2, 3) affine map."""
    linear = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear, -linear @ matrix[:, 2:]])


def sface_chip_to_image(landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """Chip-to-photo map of SFace's chip, from 5 detector landmarks (5, 2) in YuNet's order."""
    template = ARCFACE_112 * (size / 112.0)
    return invert_affine(similarity_transform(landmarks, template))


def dlib_chip_to_image(shape5: np.ndarray, size: int = 150, padding: float = 0.25) -> np.ndarray:
    """Chip-to-photo map of ``dlib.get_face_chip``, from dlib's 5-point shape (5, 2)."""
    template = (padding + DLIB_5) / (2 * padding + 1) * size
    fitted = similarity_transform(template, shape5)  # chip -> photo
    # dlib keeps only the angle and scale of the fit and rebuilds the map from a rectangle of side
    # size * scale - 1 (centered_drect): chip pixel 0 lands on its left edge, pixel size-1 on its right.
    scale = float(np.hypot(fitted[0, 0], fitted[1, 0]))
    linear = fitted[:, :2] / scale * ((size * scale - 1) / (size - 1))
    centre = fitted[:, :2] @ np.array([size / 2, size / 2]) + fitted[:, 2]
    offset = centre - linear @ np.array([(size - 1) / 2, (size - 1) / 2])
    return np.hstack([linear, offset[:, None]])


def facenet_chip_to_image(box_xyxy: np.ndarray, image_wh: tuple[int, int], size: int = 160, margin: float = 0.29) -> np.ndarray:
    """Chip-to-photo map of FaceNet's crop: the box grown by ``margin`` of its mean side, clipped, resized.

    The original grows an MTCNN box by 32 px in all on 250 px LFW photos, where MTCNN's boxes are
    109 px on average (measured on lfw/pairs.txt's photos): 0.29 of the box. Relative here, so the
    crop does not depend on the photo's resolution.
    """
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    grow = margin * ((x2 - x1) + (y2 - y1)) / 4
    width, height = image_wh
    x1, y1 = max(x1 - grow, 0.0), max(y1 - grow, 0.0)
    x2, y2 = min(x2 + grow, float(width)), min(y2 + grow, float(height))
    # cv2.resize's bilinear map: source = (destination + 0.5) * scale - 0.5, from the crop's corner.
    scale_x, scale_y = (x2 - x1) / size, (y2 - y1) / size
    return np.array([[scale_x, 0.0, x1 + 0.5 * scale_x - 0.5], [0.0, scale_y, y1 + 0.5 * scale_y - 0.5]])


def warp_reference(image: np.ndarray, chip_to_image: np.ndarray, size: int) -> np.ndarray:
    """The chip cut with OpenCV's bilinear ``warpAffine`` (zeros outside the photo): (size, size, 3) uint8."""
    import cv2

    return cv2.warpAffine(
        image,
        chip_to_image.astype(np.float64),
        (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def warp(images: torch.Tensor, chip_to_image: torch.Tensor, size: int) -> torch.Tensor:
    """Chips cut differentiably: ``images`` (N, 3, H, W) float, maps (N, 2, 3) -> (N, 3, size, size).

    Bilinear ``grid_sample`` with zeros outside the photo, the same sampling as :func:`warp_reference`
    up to OpenCV's fixed-point rounding.
    """
    import torch
    import torch.nn.functional as F

    n, _, height, width = images.shape
    maps = chip_to_image.to(images.dtype)
    axis = torch.arange(size, dtype=images.dtype, device=images.device)
    v, u = torch.meshgrid(axis, axis, indexing="ij")
    chip = torch.stack([u, v, torch.ones_like(u)], dim=-1).reshape(1, size * size, 3)
    source = chip @ maps.transpose(1, 2)  # (N, size*size, 2) photo pixels
    # align_corners=True: -1 and 1 are the centres of the first and last pixels.
    scale = torch.tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)], dtype=images.dtype, device=images.device)
    grid = (source * scale - 1).reshape(n, size, size, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
