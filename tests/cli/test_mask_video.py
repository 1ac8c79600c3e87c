"""`bioveil mask` on real video: formats, audio, frame counts, metadata, masking, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

import bioveil
from bioveil.cli.main import EXIT_FAILURES, EXIT_OK, main
from tests.media.clips import audio_only, cut, decoded_frames, probe, with_rotation

FRAMES = 12


@pytest.fixture(scope="module")
def clips(data, tmp_path_factory) -> dict[str, Path]:
    """12-frame cuts of the 1080p street clip (scaled to 640 px) in each container, with audio and a
    phone-style location tag; plus the raw H.264/H.265 MOT streams as they are."""
    folder = tmp_path_factory.mktemp("clips")
    street = data / "video" / "street_faces.mp4"
    made = {}
    for suffix in (".mp4", ".mov", ".mkv", ".webm", ".avi"):
        made[suffix] = folder / f"street{suffix}"
        cut(street, made[suffix], FRAMES, width=640, metadata={"location": "+48.8584+002.2945/", "title": "Jane's walk"})
    made[".h264"] = data / "video" / "mot" / "MOT20-08-raw_shorter.h264"
    made[".h265"] = data / "video" / "mot" / "MOT17-13-SDP-raw.h265"
    return made


def mask(args: list[str], report: Path) -> tuple[int, dict]:
    code = main(["mask", "--no-progress", "--json", str(report), *args])
    return code, json.loads(report.read_text())


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".webm", ".avi", ".h264"])
def test_each_format_keeps_frames_size_rate_and_audio(clips, suffix, tmp_path):
    source = clips[suffix]
    code, report = mask([str(source), "-o", str(tmp_path)], tmp_path / "r.json")
    assert code == EXIT_OK, report["files"]
    entry = report["files"][0]
    output = Path(entry["output"])
    assert output.name == source.name
    before, after = probe(source), probe(output)
    assert after["frames"] == before["frames"] == entry["video"]["frames"]
    assert (after["width"], after["height"]) == (before["width"], before["height"])
    assert abs(float(after["rate"]) - float(before["rate"])) < 0.01
    assert len(after["audio"]) == len(before["audio"])
    if suffix != ".h264":  # a raw stream has no container to carry tags
        assert "title" in {key.lower() for key in before["metadata"]}  # the input carries what a phone writes...
    assert not {"location", "title", "creation_time"} & {key.lower() for key in after["metadata"]}  # ...and it is gone


def test_raw_hevc_stream(clips, tmp_path):
    code, report = mask([str(clips[".h265"]), "-o", str(tmp_path)], tmp_path / "r.json")
    assert code == EXIT_OK, report["files"]
    assert probe(Path(report["files"][0]["output"]))["frames"] == probe(clips[".h265"])["frames"]


def test_odd_sized_video_keeps_its_size(tmp_path):
    source = tmp_path / "odd.mp4"
    with av.open(str(source), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 65, 49, "yuv444p"
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((49, 65, 3), 40 * index, np.uint8), format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    assert main(["mask", "--no-progress", str(source), "-o", str(tmp_path / "out")]) == EXIT_OK
    after = probe(tmp_path / "out" / "odd.mp4")
    assert (after["width"], after["height"], after["frames"]) == (65, 49, 5)


def test_keep_metadata_keeps_the_container_tags(clips, tmp_path):
    assert main(["mask", "--no-progress", "--keep-metadata", str(clips[".mp4"]), "-o", str(tmp_path)]) == EXIT_OK
    assert probe(tmp_path / "street.mp4")["metadata"].get("location") == "+48.8584+002.2945/"


def test_rotation_is_applied_to_the_pixels(data, tmp_path):
    plain, rotated = tmp_path / "plain.mp4", tmp_path / "rotated.mp4"
    cut(data / "video" / "street_faces.mp4", plain, 6, width=640, audio=False)
    with_rotation(plain, rotated, 90)  # displayed turned 90 degrees counter-clockwise
    assert main(["mask", "--no-progress", str(rotated), "-o", str(tmp_path / "out")]) == EXIT_OK
    source, output = decoded_frames(plain)[0].astype(float), decoded_frames(tmp_path / "out" / "rotated.mp4")[0]
    assert output.shape == (640, 360, 3)  # stored upright: no rotation flag left to honour
    counter_clockwise = np.abs(output - np.rot90(source, k=1)).mean()
    clockwise = np.abs(output - np.rot90(source, k=3)).mean()
    assert counter_clockwise < 0.5 * clockwise
    with av.open(str(tmp_path / "out" / "rotated.mp4")) as container:
        assert next(container.decode(video=0)).rotation == 0


def test_faces_in_the_street_clip_are_masked(data, tmp_path):
    source = tmp_path / "street_full.mp4"
    cut(data / "video" / "street_faces.mp4", source, 30, audio=True)
    code, _ = mask([str(source), "-o", str(tmp_path / "out")], tmp_path / "r.json")
    assert code == EXIT_OK
    original, masked = decoded_frames(source), decoded_frames(tmp_path / "out" / source.name)
    assert len(original) == len(masked) == 30
    for before, after in list(zip(original, masked, strict=True))[::5]:
        faces = bioveil.detect(before)
        confident = faces[(faces.score > 0.7) & (faces.size_wh[:, 1] >= 24)]
        assert len(confident) >= 2
        for x1, y1, x2, y2 in confident.xyxy.astype(int):
            inner = (slice(max(y1, 0) + 2, y2 - 2), slice(max(x1, 0) + 2, x2 - 2))
            # The face's detail is gone: the masked patch is much flatter than the original one.
            detail_before = np.abs(np.diff(before[inner].astype(float), axis=1)).mean()
            detail_after = np.abs(np.diff(after[inner].astype(float), axis=1)).mean()
            assert detail_after < 0.35 * detail_before


def test_solid_colour_is_the_colour_asked_for(clips, tmp_path):
    """Video frames are masked in YUV: the colour asked for in RGB must come out as that colour."""
    source = clips[".mp4"]
    code, _ = mask([str(source), "-o", str(tmp_path / "out"), "--method", "solid", "--color", "255,0,255"],
                   tmp_path / "r.json")
    assert code == EXIT_OK
    checked = 0
    for before, after in zip(decoded_frames(source), decoded_frames(tmp_path / "out" / source.name), strict=True):
        faces = bioveil.detect(before)
        for x1, y1, x2, y2 in faces[(faces.score > 0.7) & (faces.size_wh[:, 1] >= 16)].xyxy:
            centre = after[int((y1 + y2) / 2) - 2 : int((y1 + y2) / 2) + 2, int((x1 + x2) / 2) - 2 : int((x1 + x2) / 2) + 2]
            assert np.abs(centre.reshape(-1, 3).mean(axis=0) - (255, 0, 255)).max() < 12
            checked += 1
    assert checked >= FRAMES


def test_bad_videos_get_named_errors_and_no_output(clips, data, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    whole = clips[".mp4"].read_bytes()
    (folder / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.mp4").write_bytes(b"")
    audio_only(folder / "sound.mp4")
    avi = bytearray(clips[".avi"].read_bytes())
    for codec in (b"H264", b"h264", b"X264", b"x264", b"avc1"):
        avi = avi.replace(codec, b"ZZZZ")  # a FourCC no decoder knows
    (folder / "unknown-codec.avi").write_bytes(bytes(avi))
    (folder / "good.mp4").write_bytes(whole)
    out = tmp_path / "out"
    code, report = mask([str(folder), "-o", str(out)], tmp_path / "r.json")
    assert code == EXIT_FAILURES
    status = {Path(e["input"]).name: (e["status"], e["error"]) for e in report["files"]}
    assert status == {
        "truncated.mp4": ("failed", "CorruptMediaError"),
        "empty.mp4": ("failed", "EmptyFileError"),
        "sound.mp4": ("failed", "NoVideoStreamError"),
        "unknown-codec.avi": ("failed", "UnsupportedFormatError"),
        "good.mp4": ("ok", None),
    }
    # The one output, and the batch's manifest (no partial file of the failed ones).
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [".bioveil", ".bioveil/manifest.sqlite", "good.mp4"]
