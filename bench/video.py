"""Video masking speed and leak frames, bioveil against deface 1.5.0 in the same run.

For each clip: frames/s of ``bioveil mask`` (in process, the default settings) and of the deface CLI
(``--thresh 0.2 --mask-scale 1.3``, run as a subprocess, so its time includes model loading), and
their ratio. Leak frames: frames where a reference detection, slow and offline, finds a face at
least ``--min-height`` px high whose box is less than 80% covered by bioveil's mask. The reference is
every bioveil detector at full resolution with its mirrored passes, plus CenterFace and YuNet on
2x-upsampled tiles; a reference face must score at least ``--ref-score``.

    .venv/bin/python bench/video.py                      # street_faces.mp4 and the MOT clips
    .venv/bin/python bench/video.py --clips street_faces.mp4 --leak-every 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from bioveil.detection.base import get_detector
from bioveil.detection.boxes import iou_matrix, merge_overlapping
from bioveil.detection.ensemble import DEFAULT_VIDEO_DETECTOR
from bioveil.masking.maskers import DEFAULT_SCALE, get_masker
from bioveil.masking.region import face_region
from bioveil.masking.video import VideoStats, mask_video_file
from bioveil.types import Faces

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wider_data import DATA

CLIPS = ["street_faces.mp4", "mot/MOT20-05-raw_even_shorter.mp4", "mot/MOT20-08-raw_shorter.h264",
         "mot/MOT17-13-SDP-raw.h265"]


def reference_faces(image: np.ndarray, min_score: float) -> Faces:
    """Slow, offline: the full ensemble at full resolution, and CenterFace and YuNet each on 2x
    tiles. A reference face is found by at least two of these three, with a fused score of at least
    ``min_score``, or by any of them with a score of at least 0.9: on the street clip single
    low-score hits on 2x tiles were jackets, hands and posters, not faces (checked by eye)."""
    sources = [get_detector("ensemble").detect(image), [], []]
    height, width = image.shape[:2]
    big = cv2.resize(image, (width * 2, height * 2), interpolation=cv2.INTER_CUBIC)
    tile, overlap = 1024, 128
    for y in range(0, height * 2, tile - overlap):
        for x in range(0, width * 2, tile - overlap):
            crop = np.ascontiguousarray(big[y : y + tile, x : x + tile])
            if min(crop.shape[:2]) < 64:
                continue
            for slot, name in ((1, "centerface"), (2, "yunet")):
                faces = get_detector(name).detect(crop)
                shifted = faces.xyxy + np.array([x, y, x, y], np.float32)
                sources[slot].append(Faces(shifted / 2, faces.score))
    parts = [sources[0]] + [merge_overlapping(Faces.concatenate(found), 0.5) for found in sources[1:]]
    tagged = [Faces(part.xyxy, part.score, data={"source": np.full(len(part), slot)}) for slot, part in enumerate(parts)]
    every = Faces.concatenate(tagged)
    fused = merge_overlapping(every, 0.3)
    if len(fused) == 0:
        return fused
    overlap_with = iou_matrix(fused.xyxy, every.xyxy) > 0.3
    support = np.array([len(set(every.data["source"][row].tolist())) for row in overlap_with])
    return fused[((support >= 2) & (fused.score >= min_score)) | (fused.score >= 0.9)]


CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bioveil" / "bench-video"


def cached_reference(source: Path, min_score: float, every: int) -> dict[int, Faces]:
    """The reference faces of every ``every``-th frame, computed once per clip and kept in
    ~/.cache/bioveil/bench-video (keyed by the clip's content and the reference settings): the
    reference takes minutes, and it does not change when bioveil does."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    path = CACHE / f"{source.stem}-{digest}-score{min_score}-every{every}.npz"
    if path.exists():
        with np.load(path) as stored:
            return {int(key[1:]): Faces(stored[key][:, :4], stored[key][:, 4]) for key in stored.files}
    found = {}
    with av.open(str(source)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % every == 0:
                found[index] = reference_faces(frame.to_ndarray(format="rgb24"), min_score)
    CACHE.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, **{f"f{index}": np.column_stack([faces.xyxy, faces.score]).astype(np.float32)
                           for index, faces in found.items()})
    temporary.replace(path)
    return found


def frame_shape(source: Path) -> tuple[int, int]:
    with av.open(str(source)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    return image.shape[:2]


def leak_frames(source: Path, masked: list[Faces], min_height: float, min_score: float, every: int,
                scale: float = DEFAULT_SCALE) -> dict:
    leaks, faces_checked, worst = [], 0, []
    shape = frame_shape(source)
    references = cached_reference(source, min_score, every)
    for index, reference in sorted(references.items()):
        reference = reference[reference.size_wh[:, 1] >= min_height]
        region = face_region(shape, masked[index], scale)
        for x1, y1, x2, y2 in np.round(reference.xyxy).astype(int):
            x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, shape[1]), min(y2, shape[0])
            if x2 <= x1 or y2 <= y1:
                continue
            faces_checked += 1
            covered = float(region[y1:y2, x1:x2].mean())
            if covered < 0.8:
                leaks.append(index)
                worst.append({"frame": index, "box": [int(v) for v in (x1, y1, x2, y2)], "covered": round(covered, 2)})
    return {"frames_checked": len(references), "faces_checked": faces_checked, "leak_frames": len(set(leaks)),
            "leaks": worst[:20]}


def run_bioveil(source: Path, out: Path, detector_name: str = DEFAULT_VIDEO_DETECTOR) -> tuple[float, int, list[Faces]]:
    stats = VideoStats(masked=[])
    detector = get_detector(detector_name)
    masker = get_masker("blur", scale=getattr(detector, "mask_scale", None))
    detector.detect(np.zeros((64, 64, 3), np.uint8))  # load the models outside the timing
    started = time.perf_counter()
    result = mask_video_file(source, out / source.name, detector, masker, stats=stats)
    seconds = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"bioveil failed on {source}: {result.message}")
    return seconds, stats.frames, stats.masked or []


def count_frames(path: Path) -> int:
    try:
        with av.open(str(path)) as container:
            return sum(1 for _ in container.decode(video=0))
    except (av.FFmpegError, IndexError):
        return 0


def run_deface(source: Path, out: Path, frames: int) -> float | None:
    deface = Path(sys.executable).parent / "deface"
    target = out / f"deface-{source.stem}.mp4"
    started = time.perf_counter()
    done = subprocess.run([str(deface), str(source), "-o", str(target), "--thresh", "0.2", "--mask-scale", "1.3",
                           "--execution-provider", "CPUExecutionProvider", "--keep-audio"],
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(f"  deface failed on {source.name}: {done.stderr.strip().splitlines()[-1:]}")
        return None
    written = count_frames(target)
    if written < frames:
        print(f"  deface wrote {written} of {frames} frames of {source.name}: its speed is not comparable")
        return None
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="*", default=CLIPS, help="paths under ../shared/data/video")
    parser.add_argument("--min-height", type=float, default=24)
    parser.add_argument("--ref-score", type=float, default=0.5)
    parser.add_argument("--leak-every", type=int, default=0,
                        help="check every n-th frame (0: all of street_faces, every 5th of others)")
    parser.add_argument("--no-deface", action="store_true")
    parser.add_argument("--detectors", default=DEFAULT_VIDEO_DETECTOR,
                        help=f"video detectors to compare, comma-separated (default {DEFAULT_VIDEO_DETECTOR}; "
                             "ensemble-video: SCRFD)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bioveil-video-") as tmp:
        out = Path(tmp)
        for clip in args.clips:
            source = DATA / "video" / clip
            deface = None
            for name in args.detectors.split(","):
                seconds, frames, masked = run_bioveil(source, out, name)
                if deface is None and not args.no_deface:
                    deface = run_deface(source, out, frames)
                every = args.leak_every or (1 if clip == "street_faces.mp4" else 5)
                scale = getattr(get_detector(name), "mask_scale", None) or DEFAULT_SCALE  # the masker's, as masked
                leaks = leak_frames(source, masked, args.min_height, args.ref_score, every, scale)
                row = {"clip": clip, "detector": name, "frames": frames, "bioveil_fps": frames / seconds,
                       "deface_fps": None if deface is None else frames / deface,
                       "speed_ratio": None if deface is None else deface / seconds, **leaks}
                rows.append(row)
                ratio = "n/a" if row["speed_ratio"] is None else f"{row['speed_ratio']:.1f}x"
                deface_fps = "n/a" if row["deface_fps"] is None else f"{row['deface_fps']:.2f}"
                print(f"{clip:40s} {name:18s} frames {frames:4d}  bioveil {row['bioveil_fps']:6.2f} fps  deface "
                      f"{deface_fps:>6s} fps  ratio {ratio:>6s}  leak frames {leaks['leak_frames']} of "
                      f"{leaks['frames_checked']} checked ({leaks['faces_checked']} faces >= {args.min_height:.0f} px)",
                      flush=True)
                for leak in leaks["leaks"][:5]:
                    print(f"    leak: frame {leak['frame']} box {leak['box']} covered {leak['covered']:.0%}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
