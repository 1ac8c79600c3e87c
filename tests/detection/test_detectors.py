"""Detectors on real photos: faces found where the annotations say."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from skimage import data as skdata

import bioveil
from bioveil.detection.base import detector_names, get_detector
from bioveil.detection.boxes import iou_matrix
from bioveil.errors import UnknownNameError
from bioveil.media.image import read_image


def annotated_group_photos(root):
    """(path, xyxy) for the hand-annotated PASCAL VOC group photos (dlib imglab XML)."""
    for xml in ("training.xml", "testing.xml"):
        for image in ET.parse(root / "group_photos" / xml).getroot().iter("image"):
            boxes = [[int(b.get("left")), int(b.get("top")), int(b.get("left")) + int(b.get("width")),
                      int(b.get("top")) + int(b.get("height"))] for b in image.iter("box") if b.get("ignore") != "1"]
            yield root / "group_photos" / image.get("file"), np.array(boxes, dtype=np.float32)


@pytest.mark.parametrize("name", ["ensemble", "centerface", "yunet"])
def test_every_detector_finds_the_annotated_faces(data, name):
    detector = get_detector(name)
    found = total = 0
    for path, truth in annotated_group_photos(data):
        faces = detector.detect(read_image(path).pixels)
        matched = iou_matrix(truth, faces.xyxy).max(axis=1) > 0.3 if len(faces) else np.zeros(len(truth), bool)
        found += int(matched.sum())
        total += len(truth)
    assert total >= 40
    # The fused default must find every annotated face; each member alone most of them.
    assert found / total >= (1.0 if name == "ensemble" else 0.9), f"{name}: {found}/{total}"


def test_astronaut_face_is_where_it_is_and_landmarks_are_inside():
    image = skdata.astronaut()
    faces = bioveil.detect(image)
    best = faces[[int(np.argmax(faces.score))]]
    assert best.score[0] > 0.8
    assert iou_matrix(best.xyxy, np.array([[180, 60, 270, 180]], np.float32))[0, 0] > 0.6
    marks = best.landmarks[0]
    assert not np.isnan(marks).any()
    x1, y1, x2, y2 = best.xyxy[0]
    assert ((marks[:, 0] > x1) & (marks[:, 0] < x2) & (marks[:, 1] > y1) & (marks[:, 1] < y2)).all()
    assert marks[0, 0] < marks[1, 0]  # right eye (image left) before left eye


def test_unknown_detector_lists_the_valid_ones():
    with pytest.raises(UnknownNameError) as info:
        get_detector("haar")
    assert all(name in str(info.value) for name in detector_names())
