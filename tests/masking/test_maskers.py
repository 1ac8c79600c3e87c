"""Maskers change the face region, nothing else, and never the input array."""

import numpy as np
import pytest
from skimage import data as skdata

import bioveil
from bioveil.errors import UnknownNameError
from bioveil.masking.maskers import DEFAULT_SCALE, MASKERS, get_masker
from bioveil.masking.region import face_region
from bioveil.types import Faces

FACE = Faces(np.array([[180, 60, 270, 180]], np.float32), np.array([0.9]))


@pytest.mark.parametrize("method", sorted(MASKERS))
@pytest.mark.parametrize("shape", ["ellipse", "box"])
def test_only_the_region_changes(method, shape):
    image = skdata.astronaut()
    before = image.copy()
    out = get_masker(method, shape=shape).apply(image, FACE)
    np.testing.assert_array_equal(image, before)  # input untouched
    region = face_region(image.shape[:2], FACE, DEFAULT_SCALE, shape)
    changed = (out != image).any(axis=2)
    assert not changed[~region].any()
    assert changed[region].mean() > 0.8


def test_solid_uses_the_colour_and_box_covers_the_grown_box():
    out = bioveil.mask(skdata.astronaut(), FACE, method="solid", color=(255, 0, 255), shape="box", scale=1.0)
    assert (out[60:180, 180:270] == [255, 0, 255]).all()
    assert not (out[59, 180:270] == [255, 0, 255]).all(axis=1).any()


def test_default_blur_leaves_no_detail():
    image = skdata.astronaut()
    out = bioveil.mask(image, FACE)
    face = out[70:170, 190:260].astype(np.float32)
    # Strong blur: neighbouring pixels nearly equal (little high-frequency energy left).
    assert np.abs(np.diff(face, axis=1)).mean() < 0.1 * np.abs(np.diff(image[70:170, 190:260].astype(np.float32), axis=1)).mean()


def test_faces_at_the_border_and_empty_faces():
    image = skdata.astronaut()
    border = Faces(np.array([[-40, -40, 40, 40], [500, 500, 600, 600]], np.float32), np.ones(2))
    out = bioveil.mask(image, border, method="solid", color=(255, 255, 255))
    assert (out[0, 0] == 255).all()
    np.testing.assert_array_equal(bioveil.mask(image, Faces.empty()), image)


def test_unknown_method_and_shape_list_the_valid_ones():
    with pytest.raises(UnknownNameError, match="blur, pixelate, solid"):
        get_masker("smudge")
    with pytest.raises(UnknownNameError, match="box, ellipse"):
        get_masker("blur", shape="circle")
