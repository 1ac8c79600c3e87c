"""The scraper and purifier transforms on a real photo: sizes follow the reported scale, purifiers wash
out fine noise, unknown names are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bioveil.cloaking.quality import psnr
from bioveil.errors import UnknownNameError
from bioveil.evaluation.transforms import TRANSFORMS, parse_transforms
from bioveil.media.image import read_image


@pytest.fixture(scope="module")
def photo(data: Path) -> np.ndarray:
    return read_image(data / "lfw" / "identities" / "George_W_Bush" / "George_W_Bush_0001.jpg").pixels


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_size_follows_the_reported_scale(photo: np.ndarray, name: str) -> None:
    wide = np.ascontiguousarray(photo[:, : photo.shape[1] * 3 // 4])  # not square: both sides are checked
    out, scale = TRANSFORMS[name](wide)
    assert out.dtype == np.uint8 and out.shape[2] == 3
    # One scale serves both axes; each side is rounded to whole pixels on its own.
    assert abs(out.shape[1] - wide.shape[1] * scale) <= 1 and abs(out.shape[0] - wide.shape[0] * scale) <= 1


@pytest.mark.parametrize("name", ["purify_downup2", "purify_denoise"])
def test_purifiers_wash_out_fine_noise(photo: np.ndarray, name: str) -> None:
    # Random noise of 4 grey levels: what is left of it after the purifier is under half.
    # (purify_jpeg50 is a re-compression, not a washer of such noise, and is not asked to be one.)
    noise = np.random.default_rng(0).normal(0, 4, photo.shape)
    noisy = np.clip(np.rint(photo + noise), 0, 255).astype(np.uint8)
    washed, _ = TRANSFORMS[name](noisy)
    plain, _ = TRANSFORMS[name](photo)
    left = np.abs(washed.astype(np.float64) - plain).mean()
    assert left < 0.5 * np.abs(noisy.astype(np.float64) - photo).mean()


@pytest.mark.parametrize("name", ["purify_jpeg50", "purify_downup2", "purify_denoise"])
def test_purifiers_keep_the_photo(photo: np.ndarray, name: str) -> None:
    # A tracker washes photos to match them afterwards: the photo itself must survive (PSNR >= 28 dB).
    washed, _ = TRANSFORMS[name](photo)
    assert psnr(photo, washed) >= 28


def test_unknown_transform_is_refused() -> None:
    with pytest.raises(UnknownNameError, match="purify_denoise"):
        parse_transforms("none,sharpen")
