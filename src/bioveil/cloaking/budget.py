"""Where a cloak may change pixels and by how much: the face region, a texture-adaptive budget, an SSIM floor.

- Region: the union of every recognizer's crop of the face (each crop is a quadrilateral in the
  photo: the chip's corners through its chip-to-photo map). Pixels outside it are never changed.
- Budget: a per-pixel L_inf bound, ``eps`` times ``clip(local 7x7 std / 10, 0.25, 1)`` of the
  luminance, so textured areas (hair, eyes, beard) take changes up to ``eps`` and flat skin a quarter
  of it, where the eye would notice.
- SSIM floor: after optimization the whole perturbation is scaled by one global factor, found by
  binary search, so that the whole-image SSIM stays at or above the floor.
"""

from __future__ import annotations

import numpy as np

from bioveil.cloaking.quality import ssim

TEXTURE_WINDOW = 7
TEXTURE_STD = 10.0  # local std (0-255 units) at which a pixel gets the whole budget
TEXTURE_MIN = 0.25  # flattest areas still get this share of the budget
SEARCH_STEPS = 9


def crop_quad(chip_to_image: np.ndarray, size: int) -> np.ndarray:
    """The photo coordinates (4, 2) of a chip's corners."""
    corners = np.array([[0, 0, 1], [size - 1, 0, 1], [size - 1, size - 1, 1], [0, size - 1, 1]], np.float64)
    return corners @ np.asarray(chip_to_image, np.float64).T


def region_mask(shape_hw: tuple[int, int], quads: list[np.ndarray]) -> np.ndarray:
    """Boolean mask (h, w) of the union of the quadrilaterals (each (4, 2) photo coordinates)."""
    import cv2

    mask = np.zeros(shape_hw, np.uint8)
    for quad in quads:
        cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 1)
    return mask.astype(bool)


def bounding_window(mask: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of ``mask``'s true pixels grown by ``margin``, clipped to the image (x2, y2 exclusive)."""
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    if not len(xs):
        return 0, 0, 0, 0
    return (max(int(xs.min()) - margin, 0), max(int(ys.min()) - margin, 0),
            min(int(xs.max()) + 1 + margin, width), min(int(ys.max()) + 1 + margin, height))


def texture_budget(image: np.ndarray, eps: float) -> np.ndarray:
    """Per-pixel L_inf budget (h, w) in 0-255 units for the RGB uint8 ``image``."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float64)
    window = (TEXTURE_WINDOW, TEXTURE_WINDOW)
    mean = cv2.blur(gray, window)
    std = np.sqrt(np.maximum(cv2.blur(gray * gray, window) - mean * mean, 0.0))
    return (eps * np.clip(std / TEXTURE_STD, TEXTURE_MIN, 1.0)).astype(np.float32)


def apply_delta(image: np.ndarray, delta: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``image + scale * delta`` rounded to uint8."""
    return np.clip(np.rint(image.astype(np.float32) + scale * delta), 0, 255).astype(np.uint8)


def ssim_floor(image: np.ndarray, delta: np.ndarray, floor: float) -> tuple[np.ndarray, float, float]:
    """The cloaked image with the largest global scale (<= 1) of ``delta`` keeping SSIM >= ``floor``.

    Returns (cloaked image, scale, its SSIM). SSIM is computed on the window that the perturbation
    touches (plus the SSIM window), the rest of the image counting as identical.
    """
    changed = np.abs(delta).max(axis=2) > 0 if delta.ndim == 3 else np.abs(delta) > 0
    if not changed.any():
        return image.copy(), 0.0, 1.0
    x1, y1, x2, y2 = bounding_window(changed, TEXTURE_WINDOW)
    height, width = image.shape[:2]
    pad = 3
    interior = (height - 2 * pad) * (width - 2 * pad)
    # SSIM-map rows/cols of the window that are inside the interior of the whole image
    ix1, iy1, ix2, iy2 = max(x1, pad), max(y1, pad), min(x2, width - pad), min(y2, height - pad)
    part = image[y1:y2, x1:x2]
    part_delta = delta[y1:y2, x1:x2]

    def score(scale: float) -> float:
        from bioveil.cloaking.quality import ssim_map

        local = ssim_map(part, apply_delta(part, part_delta, scale))[iy1 - y1 : iy2 - y1, ix1 - x1 : ix2 - x1]
        window_pixels = (iy2 - iy1) * (ix2 - ix1)
        return float((local.mean(axis=2).sum() + (interior - window_pixels)) / interior)

    if min(height, width) < 2 * TEXTURE_WINDOW + 2:  # tiny images: computed whole
        out = apply_delta(image, delta)
        return out, 1.0, ssim(image, out)
    full = score(1.0)
    if full >= floor:
        return apply_delta(image, delta), 1.0, full
    low, high = 0.0, 1.0
    best = 1.0  # the score at scale 0
    for _ in range(SEARCH_STEPS):
        middle = (low + high) / 2
        value = score(middle)
        if value >= floor:
            low, best = middle, value
        else:
            high = middle
    return apply_delta(image, delta, low), low, best
