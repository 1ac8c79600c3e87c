import numpy as np
import pytest

from bioveil.types import Faces


def make(n: int) -> Faces:
    xyxy = np.array([[i, i, i + 10, i + 20] for i in range(n)], dtype=np.float32)
    return Faces(xyxy, np.linspace(0.1, 0.9, n), data={"tag": np.arange(n)})


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        Faces(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="score has 1 rows"):
        Faces(np.zeros((2, 4)), np.zeros(1))
    with pytest.raises(ValueError, match=r"data\['x'\]"):
        Faces(np.zeros((2, 4)), np.zeros(2), data={"x": np.zeros(3)})


def test_empty_and_missing_landmarks_are_nan():
    assert len(Faces.empty()) == 0
    faces = make(2)
    assert faces.landmarks.shape == (2, 5, 2) and np.isnan(faces.landmarks).all()


def test_boolean_indexing_returns_new_faces_with_extras():
    faces = make(4)
    picked = faces[faces.score > 0.5]
    assert len(picked) == 2 and picked.data["tag"].tolist() == [2, 3]
    assert picked.xyxy is not faces.xyxy


def test_concatenate_scale_clip_and_records():
    both = Faces.concatenate([make(2), Faces.empty(), make(3)])
    assert len(both) == 5
    assert both.size_wh.tolist()[0] == [10, 20]
    assert both.scaled(2).xyxy[1].tolist() == [2, 2, 22, 42]
    clipped = Faces(np.array([[-5, -5, 5, 5], [20, 20, 30, 30]]), np.ones(2)).clipped(10, 10)
    assert clipped.xyxy.tolist() == [[0, 0, 5, 5]]
    assert make(1).to_records() == [{"box": [0.0, 0.0, 10.0, 20.0], "score": 0.1}]
