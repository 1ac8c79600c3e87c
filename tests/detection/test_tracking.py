"""The tracker on real keyframe detections: a frame's masked boxes do not depend on how many later
keyframes happen to have been searched when it is masked, so a video masks to the same bytes on every
run and every engine (keyframes are searched in the background and finish in their own time)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from bioveil.detection.base import get_detector
from bioveil.detection.ensemble import DEFAULT_VIDEO_DETECTOR
from bioveil.detection.tracking import Tracker
from bioveil.masking.video import KeyframeDetector, VideoSettings, detect_keyframe
from bioveil.types import Faces

FRAMES = 60


@pytest.fixture(scope="module")
def keyframes(data: Path) -> list[tuple[int, Faces]]:
    """The default video detector's faces on every 2nd frame of the street clip's first 60 frames."""
    settings = VideoSettings()
    detector = get_detector(DEFAULT_VIDEO_DETECTOR)
    found = []
    with av.open(str(data / "video" / "street_faces.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == FRAMES:
                break
            if index % settings.every == 0:
                searcher = detector.for_keyframe(index // settings.every) if isinstance(detector, KeyframeDetector) \
                    else detector
                found.append((index, detect_keyframe(searcher, frame.to_ndarray(format="rgb24"),
                                                     settings.detect_height, None)))
    return found


def boxes(faces: Faces) -> np.ndarray:
    return np.round(faces.xyxy, 3)


@pytest.mark.data
def test_a_frame_masked_as_soon_as_it_is_ready_gets_the_boxes_it_gets_at_the_end(
        keyframes: list[tuple[int, Faces]]) -> None:
    settings = VideoSettings()

    def tracker() -> Tracker:
        return Tracker(hold=settings.hold, lookahead=settings.lookahead, grow=settings.grow, every=settings.every)

    eager, late = tracker(), tracker()
    for index, faces in keyframes:
        late.update(index, faces)
    assert sum(len(faces) for _, faces in keyframes) >= 20  # a street with faces, or the test says nothing
    at_once: dict[int, np.ndarray] = {}
    pending = list(range(FRAMES))
    for index, faces in keyframes:
        eager.update(index, faces)
        while pending and eager.ready(pending[0]):
            frame = pending.pop(0)
            at_once[frame] = boxes(eager.faces_at(frame))
    assert len(at_once) >= FRAMES * 3 // 4
    differing = [frame for frame, found in at_once.items()
                 if found.shape != boxes(late.faces_at(frame)).shape
                 or not np.array_equal(found, boxes(late.faces_at(frame)))]
    assert differing == []
