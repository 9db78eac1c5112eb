"""Test media written with PyAV: clips with an audio track, variable-rate clips, and
synthetic tracking results (no segmenter needed) for the export tests."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from samvideo.masks import box_to_mask, mask_to_box
from samvideo.results import FrameResult, ObjectResult
from tests.helpers import make_frames, square_box


def write_clip_with_audio(path: Path, frames: Sequence[np.ndarray], *,
                          rate: Fraction = Fraction(30000, 1001), audio_codec: str = "aac",
                          sample_rate: int = 44100, fmt: str | None = None) -> Path:
    """Frames as H.264 at ``rate`` plus a 440 Hz mono sine in ``audio_codec`` (aac or
    mp3) over the same duration, muxed as they come (interleaved)."""
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height = frames[0].shape[1], frames[0].shape[0]
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("libmp3lame" if audio_codec == "mp3" else audio_codec,
                               rate=sample_rate)
        audio.layout = "mono"
        sample = 0
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, 1 / rate
            for packet in video.encode(frame):
                out.mux(packet)
            while sample < (i + 1) / rate * sample_rate:
                size = audio.codec_context.frame_size or 1152
                t = np.arange(sample, sample + size) / sample_rate
                wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
                fmt_name = audio.codec_context.format.name
                if fmt_name.startswith(("s16", "s32")):
                    bits = 16 if fmt_name.startswith("s16") else 32
                    wave = (wave * (2 ** (bits - 1) - 1)).astype(f"int{bits}")
                af = av.AudioFrame.from_ndarray(wave, format=fmt_name, layout="mono")
                af.sample_rate, af.pts, af.time_base = sample_rate, sample, Fraction(1, sample_rate)
                for packet in audio.encode(af):
                    out.mux(packet)
                sample += size
        for stream in (video, audio):
            for packet in stream.encode():
                out.mux(packet)
    return path


def write_vfr_clip(path: Path, frames: Sequence[np.ndarray], pts: Sequence[int], *,
                   time_base: Fraction = Fraction(1, 1000), fmt: str = "matroska") -> Path:
    """Frames at irregular ``pts`` (``time_base`` units): a variable-frame-rate clip."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        for rgb, p in zip(frames, pts, strict=True):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = p, time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def video_times(path: Path) -> list[Fraction]:
    """Presentation times (s) of every decoded video frame, from the first."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = sorted(f.pts for f in c.decode(s))
        return [Fraction(p - pts[0]) * s.time_base for p in pts]


def audio_packets(path: Path) -> list[tuple[int, bytes]]:
    """``(pts, payload)`` of every audio packet."""
    with av.open(str(path)) as c:
        return [(p.pts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]


def synthetic_results(n: int, *, width: int = 160, height: int = 120,
                      rate: Fraction = Fraction(24)) -> list[FrameResult]:
    """Results of two objects (a moving square and a still box, object 2 from frame 3,
    lost on frames 6-7) on ``make_frames`` frames: what a tracker would give."""
    frames = make_frames(n, width=width, height=height, start=(10.0, 10.0),
                         velocity=(3.0, 1.5), size=24.0)
    out = []
    for t, rgb in enumerate(frames):
        objs = []
        m1 = box_to_mask(square_box(t, start=(10.0, 10.0), velocity=(3.0, 1.5), size=24.0),
                         (height, width))
        objs.append(ObjectResult(t, float(t / rate), 1, m1, mask_to_box(m1), 0.9 + t % 5 / 100,
                                 "prompted" if t == 0 else "tracking"))
        if t >= 3:
            lost = t in (6, 7)
            m2 = np.zeros((height, width), bool) if lost else box_to_mask(
                (100, 60, 140, 100), (height, width))
            objs.append(ObjectResult(t, float(t / rate), 2, m2, (100.0, 60.0, 140.0, 100.0),
                                     0.2 if lost else 0.8, "lost" if lost else "tracking"))
        out.append(FrameResult(t, float(t / rate), objs, rgb))
    return out
