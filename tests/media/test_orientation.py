"""EXIF orientation is applied before anything sees the pixels."""

import numpy as np
import pytest

import bioveil
from bioveil.media.image import read_image


@pytest.mark.parametrize("kind", ["landscape", "portrait"])
def test_all_eight_orientations_read_upright(data, kind):
    folder = data / "exif_samples" / "jpg" / "orientation"
    reference = read_image(folder / f"{kind}_1.jpg").pixels.astype(np.int16)
    for n in range(2, 9):
        pixels = read_image(folder / f"{kind}_{n}.jpg").pixels.astype(np.int16)
        assert pixels.shape == reference.shape, f"{kind}_{n}"
        assert np.abs(pixels - reference).mean() < 8, f"{kind}_{n} is not upright"


def test_detection_runs_on_upright_pixels(data, tmp_path):
    # A portrait stored sideways with an orientation tag: the face is found only when it is upright.
    from PIL import Image

    upright = read_image(data / "portraits" / "examples" / "obama.jpg").pixels
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1)))  # as a camera held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    path = tmp_path / "sideways.jpg"
    stored.save(path, exif=exif.tobytes(), quality=95)
    faces = bioveil.detect(path)
    reference = bioveil.detect(upright)
    best, ref = faces[[int(np.argmax(faces.score))]], reference[[int(np.argmax(reference.score))]]
    assert np.abs(best.xyxy - ref.xyxy).max() < 0.05 * upright.shape[0]
