"""The optimizer's face SSIM (pooled statistics, torch) is the SSIM the budget is checked with."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bioveil.cloaking.projection import BISECTION_STEPS, FaceProjection
from bioveil.cloaking.quality import ssim
from bioveil.media.image import read_image

WINDOWS = [(50, 60, 300, 330), (30, 40, 320, 350)]


def as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]


def face_ssim(clean: np.ndarray, changed: np.ndarray) -> float:
    return min(ssim(clean[y1:y2, x1:x2].astype(np.float64), changed[y1:y2, x1:x2]) for x1, y1, x2, y2 in WINDOWS)


@pytest.fixture(scope="module")
def face(data) -> tuple[np.ndarray, np.ndarray]:
    image = read_image(data / "portraits" / "examples" / "obama-720p.jpg").pixels[100:500, 400:800].copy()
    noise = np.random.default_rng(0).normal(0, 4, image.shape)
    return image, (np.clip(image + noise, 0, 255) - image).astype(np.float32)


@pytest.mark.data
def test_the_share_kept_is_the_largest_within_the_floor(face):
    image, delta = face
    projection = FaceProjection(as_tensor(image), WINDOWS)
    share = projection.scale(as_tensor(delta), 0.99)
    assert 0 < share < 1
    assert face_ssim(image, image + share * delta) >= 0.99 - 1e-6
    assert face_ssim(image, image + (share + 2.0**-BISECTION_STEPS) * delta) < 0.99
    assert projection.scale(as_tensor(delta * 0.05), 0.99) == 1.0  # a small change is kept whole
