"""Keeping the optimizer inside a face's SSIM budget: after every step, the largest share of the
perturbation whose face SSIM (as :mod:`bioveil.cloaking.quality` computes it) stays at the floor.

SSIM needs local means, variances and the covariance, each a 7x7 box mean. For ``clean + s * delta`` they
follow from five box means that do not depend on ``s``: of the clean image and its square (the same for
every step), and of ``delta``, ``clean * delta`` and ``delta * delta``. So the bisection over ``s`` is
arithmetic on maps already pooled, and pooling is done once a step, on the face's widest window only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from bioveil.cloaking import quality

BISECTION_STEPS = 6
Window = tuple[int, int, int, int]  # x1, y1, x2, y2, x2 and y2 exclusive


def _box_mean(image: torch.Tensor) -> torch.Tensor:
    """The mean of every full ``quality.WINDOW`` square of ``image`` (1, c, h, w): (1, c, h - 6, w - 6),
    pooled along rows then columns."""
    rows = F.avg_pool2d(image, kernel_size=(quality.WINDOW, 1), stride=1)
    return F.avg_pool2d(rows, kernel_size=(1, quality.WINDOW), stride=1)


class FaceProjection:
    """The face SSIM of ``clean + s * delta`` on ``windows`` of a (1, 3, h, w) image in [0, 255]: the
    lowest of the windows' means, each window's border of 3 px left out as scikit-image does."""

    def __init__(self, clean: torch.Tensor, windows: Sequence[Window]) -> None:
        self.crop = (min(w[0] for w in windows), min(w[1] for w in windows),
                     max(w[2] for w in windows), max(w[3] for w in windows))
        x0, y0, _, _ = self.crop
        cut = quality.WINDOW - 1
        # the pooled map's pixel (i, j) is the window centred on (i + 3, j + 3) of the crop: a window's interior
        self.windows = [(x1 - x0, y1 - y0, max(x2 - x0 - cut, x1 - x0), max(y2 - y0 - cut, y1 - y0))
                        for x1, y1, x2, y2 in windows]
        self.clean = self._cropped(clean)
        self.mean = _box_mean(self.clean)
        self.variance = _box_mean(self.clean * self.clean) - self.mean * self.mean

    def _cropped(self, image: torch.Tensor) -> torch.Tensor:
        x1, y1, x2, y2 = self.crop
        return image[..., y1:y2, x1:x2]

    def scale(self, delta: torch.Tensor, floor: float) -> float:
        """The largest share (<= 1, by bisection) of ``delta`` that keeps the face SSIM at or above ``floor``."""
        delta = self._cropped(delta)
        shift = _box_mean(delta)
        # centred second moments of delta with itself and with the clean image
        spread = _box_mean(delta * delta) - shift * shift
        joint = _box_mean(self.clean * delta) - self.mean * shift
        if self.ssim(1.0, shift, spread, joint) >= floor:
            return 1.0
        low, high = 0.0, 1.0
        for _ in range(BISECTION_STEPS):
            middle = (low + high) / 2
            low, high = (middle, high) if self.ssim(middle, shift, spread, joint) >= floor else (low, middle)
        return low

    def ssim(self, share: float, shift: torch.Tensor, spread: torch.Tensor, joint: torch.Tensor) -> float:
        """The face SSIM of ``clean + share * delta``, from ``delta``'s pooled statistics."""
        norm = quality.WINDOW**2 / (quality.WINDOW**2 - 1)  # sample covariance, as scikit-image
        c1, c2 = (quality.K1 * quality.DATA_RANGE) ** 2, (quality.K2 * quality.DATA_RANGE) ** 2
        ux, uy = self.mean, self.mean + share * shift
        vx = norm * self.variance
        vy = norm * (self.variance + 2 * share * joint + share * share * spread)
        vxy = norm * (self.variance + share * joint)
        similarity = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        means = [similarity[..., y1:y2, x1:x2].mean() for x1, y1, x2, y2 in self.windows if x2 > x1 and y2 > y1]
        return float(min(means)) if means else 1.0
