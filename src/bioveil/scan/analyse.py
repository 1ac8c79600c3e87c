"""One file in, one cache :class:`~bioveil.scan.cache.Entry` out: faces, their quality and embeddings,
metadata, a thumbnail and face crops. Photos are read once; videos are sampled at a few frames."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bioveil.detection.base import SURE_SCORE, Detector
from bioveil.media.image import DEFAULT_MAX_PIXELS, read_image
from bioveil.recognition.base import Recognizer
from bioveil.scan.cache import Entry
from bioveil.scan.faces import face_quality
from bioveil.types import Faces

log = logging.getLogger(__name__)

THUMBNAIL_SIDE = 320
CROP_SIDE = 96
CROP_GROW = 1.3
VIDEO_SAMPLES = 12  # frames looked at per video, spread over its length
# The masking detectors are tuned for recall (a missed face is a leak); an audit lists the faces a
# detector is fairly sure of, so that people are not made of textures.
MIN_SCORE = SURE_SCORE


@dataclass
class Models:
    detector: Detector
    video_detector: Detector
    recognizer: Recognizer
    max_pixels: int = DEFAULT_MAX_PIXELS


def confident(faces: Faces, pixels: np.ndarray) -> Faces:
    """The faces a detector is fairly sure of, their boxes clipped to the image."""
    return faces[faces.score >= MIN_SCORE].clipped(pixels.shape[1], pixels.shape[0])


def jpeg(pixels: np.ndarray, quality: int = 80) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def thumbnail(pixels: np.ndarray) -> bytes:
    import cv2

    height, width = pixels.shape[:2]
    scale = min(1.0, THUMBNAIL_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return jpeg(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA) if scale < 1 else pixels)


def face_crops(pixels: np.ndarray, faces: Faces) -> list[bytes]:
    import cv2

    height, width = pixels.shape[:2]
    crops = []
    for x1, y1, x2, y2 in faces.xyxy:
        side = max(x2 - x1, y2 - y1) * CROP_GROW
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        a, b = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
        c, d = int(min(cx + side / 2, width)), int(min(cy + side / 2, height))
        crop = pixels[b:max(d, b + 1), a:max(c, a + 1)]
        scale = CROP_SIDE / max(crop.shape[:2])
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crops.append(jpeg(cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)))
    return crops


def embed_faces(recognizer: Recognizer, pixels: np.ndarray, faces: Faces, quality: list[dict[str, Any]]) -> np.ndarray:
    """Embeddings (n, d); NaN rows for faces too small or blurred to embed."""
    out = np.full((len(faces), recognizer.embedding_size), np.nan, np.float32)
    usable = np.array([q["embeddable"] for q in quality], bool)
    if usable.any():
        out[usable] = recognizer.embed(pixels, faces[usable])
    return out


def _quality_rows(pixels: np.ndarray, faces: Faces, frame: int | None = None) -> list[dict[str, Any]]:
    rows = []
    for q in face_quality(pixels, faces):
        row = {"height_px": q.height_px, "sharpness": q.sharpness, "yaw_degrees": q.yaw_degrees,
               "identifiability": q.identifiability, "embeddable": q.embeddable}
        if frame is not None:
            row["frame"] = frame
        rows.append(row)
    return rows


def _metadata(path: Path, pixels: np.ndarray | None) -> tuple[dict[str, Any] | None, list[str], list[str]]:
    from bioveil.scan.metadata import read_metadata

    metadata = read_metadata(path, pixels)
    return metadata.to_dict(), metadata.categories(), metadata.risks()


def analyse_photo(path: Path, models: Models) -> Entry:
    picture = read_image(path, max_pixels=models.max_pixels)
    pixels = picture.pixels
    faces = confident(models.detector.detect(pixels, MIN_SCORE), pixels)
    quality = _quality_rows(pixels, faces)
    embeddings = embed_faces(models.recognizer, pixels, faces, quality)
    metadata, categories, risks = _metadata(path, pixels)
    height, width = pixels.shape[:2]
    return Entry("image", width, height, faces, quality, embeddings, metadata, categories, risks,
                 thumbnail(pixels), face_crops(pixels, faces))


def analyse_video(path: Path, models: Models) -> Entry:
    """Faces in up to ``VIDEO_SAMPLES`` frames spread over the video, and the container's metadata."""
    from bioveil.media.video import Frame, VideoReader

    with VideoReader(path) as reader:
        total = reader.declared_frames or int(float(reader.video.duration * reader.video.time_base) * reader.rate
                                              if reader.video.duration else 0)
        stride = max(1, total // VIDEO_SAMPLES) if total else int(reader.rate) or 1
        samples: list[tuple[int, np.ndarray]] = []
        for item in reader.read():
            if isinstance(item, Frame) and item.index % stride == 0:
                samples.append((item.index, item.rgb()))
                if len(samples) >= VIDEO_SAMPLES:
                    break
    parts, quality, embeddings, crops = [], [], [], []
    for index, pixels in samples:
        faces = confident(models.video_detector.detect(pixels, MIN_SCORE), pixels)
        rows = _quality_rows(pixels, faces, frame=index)
        parts.append(faces)
        quality += rows
        embeddings.append(embed_faces(models.recognizer, pixels, faces, rows))
        crops += face_crops(pixels, faces)
    first = samples[0][1]
    metadata, categories, risks = _metadata(path, None)
    height, width = first.shape[:2]
    stacked = np.concatenate(embeddings) if embeddings else np.zeros((0, models.recognizer.embedding_size), np.float32)
    return Entry("video", width, height, Faces.concatenate(parts), quality, stacked, metadata, categories, risks,
                 thumbnail(first), crops)
