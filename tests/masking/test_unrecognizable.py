"""The default mask defeats a real recognizer: dlib's ResNet no longer matches masked LFW faces.

Threat model: the tracker knows exactly where the face was (landmarks from the clean photo) and
compares the masked face with the same person's other, clean photo.
"""

from pathlib import Path

import numpy as np
import pytest

import bioveil
from bioveil.media.image import read_image

dlib = pytest.importorskip("dlib", reason="install the test extra: pip install -e .[test]")
models = pytest.importorskip("face_recognition_models")

PEOPLE = 60
THRESHOLD = 0.6  # dlib's same-person distance


@pytest.fixture(scope="module")
def recognizer():
    folder = Path(models.__file__).parent / "models"
    return (dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat")),
            dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat")))


def central_face(pixels):
    faces = bioveil.detect(pixels)
    centre = np.array(pixels.shape[1::-1]) / 2
    return faces[[int(np.argmin((((faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2 - centre) ** 2).sum(axis=1)))]]


def distances(data, recognizer, method):
    predictor, model = recognizer
    root = data / "lfw" / "identities"
    people = sorted(p for p in root.iterdir() if len(list(p.glob("*.jpg"))) >= 2)
    clean, masked = [], []
    for person in people[:: max(1, len(people) // PEOPLE)][:PEOPLE]:
        first, second = sorted(person.glob("*.jpg"))[:2]
        a, b = read_image(first).pixels, read_image(second).pixels
        face_a, face_b = central_face(a), central_face(b)
        shape_a = predictor(a, dlib.rectangle(*map(int, face_a.xyxy[0])))
        shape_b = predictor(b, dlib.rectangle(*map(int, face_b.xyxy[0])))
        reference = np.array(model.compute_face_descriptor(b, shape_b))
        clean.append(np.linalg.norm(np.array(model.compute_face_descriptor(a, shape_a)) - reference))
        hidden = bioveil.mask(a, face_a, method=method)
        masked.append(np.linalg.norm(np.array(model.compute_face_descriptor(hidden, shape_a)) - reference))
    return np.array(clean), np.array(masked)


@pytest.mark.parametrize("method", ["blur", "pixelate"])
def test_masked_faces_are_not_matched(data, recognizer, method):
    clean, masked = distances(data, recognizer, method)
    assert (clean < THRESHOLD).mean() >= 0.9  # the recognizer works on these faces...
    assert (masked < THRESHOLD).mean() == 0.0  # ...and matches none once masked
