"""Short real video clips for tests, cut from the shared data with PyAV (no system ffmpeg)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CODECS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".avi": "libx264", ".webm": "libvpx-vp9"}
AUDIO = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".avi": "mp3", ".webm": "libopus"}


def cut(source: Path, target: Path, frames: int, width: int | None = None, metadata: dict[str, str] | None = None,
        audio: bool = True) -> None:
    """The first ``frames`` frames of ``source`` (scaled to ``width``), with its audio re-encoded."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        vin = inp.streams.video[0]
        scale = (width or vin.codec_context.width) / vin.codec_context.width
        video = out.add_stream(CODECS[target.suffix], rate=vin.average_rate)
        video.width = round(vin.codec_context.width * scale / 2) * 2
        video.height = round(vin.codec_context.height * scale / 2) * 2
        video.pix_fmt = "yuv420p"
        audio_out = None
        if audio and inp.streams.audio:
            ain = inp.streams.audio[0]
            rate = 48000 if target.suffix == ".webm" else ain.codec_context.sample_rate
            audio_out = out.add_stream(AUDIO[target.suffix], rate=rate)
        for key, value in (metadata or {}).items():
            out.metadata[key] = value
        duration = frames / float(vin.average_rate)
        for done, frame in enumerate(inp.decode(video=0)):
            if done == frames:
                break
            frame = frame.reformat(width=video.width, height=video.height)
            frame.pts, frame.time_base = done, Fraction(1, 1) / vin.average_rate
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if audio_out is not None:
            inp.seek(0)
            for frame in inp.decode(audio=0):
                if frame.time is not None and frame.time > duration:
                    break
                frame.pts = None
                for packet in audio_out.encode(frame):
                    out.mux(packet)
            for packet in audio_out.encode(None):
                out.mux(packet)


def audio_only(target: Path, seconds: float = 1.0) -> None:
    """A real AAC sound file (a 440 Hz tone), with no video stream."""
    with av.open(str(target), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        samples = int(48000 * seconds)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = 48000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return {"frames": frames, "width": video.codec_context.width, "height": video.codec_context.height,
                "rate": video.average_rate, "audio": [s.codec_context.name for s in container.streams.audio],
                "metadata": dict(container.metadata)}


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def with_rotation(source: Path, target: Path, degrees: int) -> None:
    """``source`` remuxed (no re-encoding) with a display rotation, as phones store portrait video."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        stream.set_display_rotation(degrees)
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
