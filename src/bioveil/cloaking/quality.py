"""Image quality figures for cloaks: SSIM (as scikit-image computes it), colour difference and PSNR.

SSIM follows ``skimage.metrics.structural_similarity`` with its defaults for RGB uint8 images
(7x7 uniform window, sample covariance, K1 0.01, K2 0.03, data range 255, a border of 3 px left
out, mean over pixels and channels), implemented here with OpenCV box filters so the library does
not depend on scikit-image.
"""

from __future__ import annotations

import numpy as np

WINDOW = 7
K1, K2 = 0.01, 0.03
DATA_RANGE = 255.0


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (h, w, c) of two images of the same shape, border included (crop it before averaging)."""
    import cv2

    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    if x.ndim == 2:
        x, y = x[:, :, None], y[:, :, None]

    def mean(z: np.ndarray) -> np.ndarray:
        out = cv2.blur(z, (WINDOW, WINDOW), borderType=cv2.BORDER_REFLECT_101)
        return out if out.ndim == 3 else out[:, :, None]

    npix = WINDOW * WINDOW
    cov_norm = npix / (npix - 1)
    ux, uy = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Whole-image SSIM of two uint8 images (h, w, 3) or (h, w), as scikit-image's default computes it."""
    pad = (WINDOW - 1) // 2
    full = ssim_map(a, b)
    return float(full[pad:-pad, pad:-pad].mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (infinite for identical images)."""
    error = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if error == 0 else 10 * np.log10(DATA_RANGE**2 / error)


def delta_e_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel CIEDE2000 colour difference (h, w) of two RGB uint8 images (scikit-image's Lab and CIEDE2000)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    return deltaE_ciede2000(rgb2lab(a), rgb2lab(b))
