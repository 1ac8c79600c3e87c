"""The three recognizers end to end (detector -> alignment -> network) through ``bioveil.embed``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bioveil
from bioveil.errors import UnknownNameError
from bioveil.recognition.base import get_recognizer, parse_recognizers, recognizer_names
from bioveil.recognition.zoo import landmarks_or_estimate
from bioveil.types import Faces


def test_registry_lists_and_refuses_names() -> None:
    assert recognizer_names() == ["dlib", "facenet", "sface"]
    assert parse_recognizers("sface, dlib,sface") == ["sface", "dlib"]
    with pytest.raises(UnknownNameError, match="dlib, facenet, sface"):
        parse_recognizers("arcface")


def test_missing_landmarks_are_estimated_inside_the_box() -> None:
    faces = Faces(np.array([[10, 20, 110, 140]]), np.ones(1))
    points = landmarks_or_estimate(faces)[0]
    assert (points[:, 0] > 10).all() and (points[:, 0] < 110).all()
    assert points[0, 0] < points[1, 0] and points[2, 1] < points[3, 1]


@pytest.mark.data
@pytest.mark.parametrize("name", ["dlib", "facenet", "sface"])
def test_same_person_is_above_threshold_and_strangers_below(data: Path, name: str) -> None:
    people = data / "lfw" / "identities"
    same = [bioveil.embed(path, recognizer=name)[:1] for path in sorted((people / "Vladimir_Putin").glob("*.jpg"))[:3]]
    others = [bioveil.embed(path, recognizer=name)[:1] for path in sorted((data / "lfw" / "distractors").glob("*.jpg"))[:6]]
    recognizer = get_recognizer(name)
    own = recognizer.similarity(same[0], np.concatenate(same[1:]))
    strangers = recognizer.similarity(same[0], np.concatenate(others))
    assert own.min() > recognizer.threshold, own
    assert strangers.max() < recognizer.threshold, strangers


@pytest.mark.data
def test_sface_with_folded_batch_norm_matches_the_port(data: Path) -> None:
    import torch

    from bioveil.recognition.sface import SFace

    photos = sorted((data / "lfw" / "identities" / "Vladimir_Putin").glob("*.jpg"))[:4]
    recognizer = get_recognizer("sface")
    chips = np.stack([recognizer.chips(_pixels(p), bioveil.detect(p)[:1])[0]
                      for p in photos])
    with torch.inference_mode():
        port = SFace.load()(torch.from_numpy(chips).permute(0, 3, 1, 2).float())
    expected = torch.nn.functional.normalize(port, dim=1).numpy()
    assert np.abs(recognizer.embed_chip_array(chips) - expected).max() <= 1e-4


def _pixels(path: Path) -> np.ndarray:
    from bioveil.media.image import read_image

    return read_image(path).pixels
