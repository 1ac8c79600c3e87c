"""``mask --keep-person``: the consenting person's face stays as it was, everyone else's is masked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bioveil.cli.main import main
from bioveil.detection.base import SURE_SCORE, get_detector
from bioveil.detection.boxes import iou_matrix
from bioveil.detection.ensemble import FACES_DETECTOR
from bioveil.masking.keep import KeepPersonError, load_person
from bioveil.media.image import read_image


def _faces(path: Path) -> np.ndarray:
    faces = get_detector(FACES_DETECTOR).detect(read_image(path).pixels, SURE_SCORE)
    return faces.xyxy[faces.score >= SURE_SCORE]


def _change(before: np.ndarray, after: np.ndarray, box: np.ndarray) -> float:
    x1, y1, x2, y2 = np.round(box).astype(int)
    return float(np.abs(after[y1:y2, x1:x2].astype(np.float32) - before[y1:y2, x1:x2]).mean())


def test_the_person_kept_stays_and_the_other_is_masked(data: Path, tmp_path: Path) -> None:
    examples = data / "portraits" / "examples" / "knn_examples"
    references = [str(path) for path in sorted((examples / "train" / "obama").glob("*.jpg"))]
    group = examples / "test" / "obama_and_biden.jpg"
    stranger = data / "portraits" / "examples" / "biden.jpg"
    photos = tmp_path / "in"
    photos.mkdir()
    for path in (group, stranger):
        (photos / path.name).write_bytes(path.read_bytes())
    assert main(["mask", str(photos), "-o", str(tmp_path / "out"), "--no-progress", "--keep-person", *references]) == 0

    before, after = read_image(group).pixels, read_image(tmp_path / "out" / group.name).pixels
    faces = _faces(group)  # Obama, Biden and a child
    assert len(faces) == 3
    recognised = load_person(references).boxes(before)
    assert len(recognised) == 1
    obama = iou_matrix(faces, recognised)[:, 0] > 0.5
    assert obama.sum() == 1
    changes = np.array([_change(before, after, box) for box in faces])
    assert changes[obama].max() < 3, changes  # kept: only JPEG re-encoding
    assert changes[~obama].min() > 10, changes  # Biden and the child: masked
    alone_before, alone_after = read_image(stranger).pixels, read_image(tmp_path / "out" / stranger.name).pixels
    assert all(_change(alone_before, alone_after, box) > 10 for box in _faces(stranger))  # a stranger alone: masked


def test_a_reference_photo_with_several_faces_is_refused(data: Path) -> None:
    with pytest.raises(KeepPersonError, match="3 clear faces"):
        load_person([data / "portraits" / "examples" / "knn_examples" / "test" / "obama_and_biden.jpg"])


def _clip(photo: Path, target: Path, frames: int = 24) -> np.ndarray:
    """A short video of one real photo (halved, so its size is even), panning a few pixels a frame."""
    import av
    import cv2

    pixels = read_image(photo).pixels
    pixels = cv2.resize(pixels, (pixels.shape[1] // 2 // 2 * 2, pixels.shape[0] // 2 // 2 * 2), interpolation=cv2.INTER_AREA)
    with av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = pixels.shape[1], pixels.shape[0], "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(pixels, index, axis=1)), format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return pixels


def test_the_person_kept_stays_in_a_video_too(data: Path, tmp_path: Path) -> None:
    import av

    examples = data / "portraits" / "examples" / "knn_examples"
    references = [str(path) for path in sorted((examples / "train" / "obama").glob("*.jpg"))]
    photo = examples / "test" / "obama_and_biden.jpg"
    first = _clip(photo, tmp_path / "clip.mp4")
    faces = _faces(photo) / 2  # the clip is the photo halved
    obama = iou_matrix(faces, load_person(references).boxes(read_image(photo).pixels) / 2)[:, 0] > 0.5
    assert obama.sum() == 1 and len(faces) == 3
    assert main(["mask", str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "out"), "--no-progress",
                 "--keep-person", *references]) == 0
    with av.open(str(tmp_path / "out" / "clip.mp4")) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 24
    for index in (0, 11, 23):  # every frame: the kept face as it was (but for video coding), the others masked
        before = np.roll(first, index, axis=1)
        changes = np.array([_change(before, frames[index], box + np.array([index, 0, index, 0])) for box in faces])
        assert changes[obama].max() < 6, (index, changes)
        assert changes[~obama].min() > 10, (index, changes)
