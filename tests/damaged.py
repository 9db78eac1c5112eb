"""Damaged and misbehaving sources, made with PyAV for the reliability tests: clips cut
short, a packet overwritten with garbage, a stream whose frame size changes, a named
pipe that stops delivering."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE = Fraction(24)
#: the red block of :func:`gradient_frames` on frame 0, XYXY (a good --box for it)
FIRST_BOX = (10, 40, 40, 80)


def gradient_frames(n: int, *, width: int = 160, height: int = 120) -> list[np.ndarray]:
    """n RGB frames: a smooth colour gradient (small H.264 packets) with a red block
    moving right by 2 px per frame (``FIRST_BOX`` on frame 0)."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.zeros((height, width, 3), np.uint8)
    base[..., 0] = (xx * 255 // width).astype(np.uint8)
    base[..., 1] = (yy * 255 // height).astype(np.uint8)
    base[..., 2] = 80
    frames = []
    for t in range(n):
        f = base.copy()
        x = (FIRST_BOX[0] + 2 * t) * width // 160
        y0, y1 = FIRST_BOX[1] * height // 120, FIRST_BOX[3] * height // 120
        f[y0:y1, x:x + 30 * width // 160] = (220, 30, 30)
        frames.append(f)
    return frames


def encode_h264(path: Path, frames: Sequence[np.ndarray], *, fmt: str | None = None,
                container_options: dict | None = None, gop: int = 12,
                b_frames: bool = False) -> Path:
    """H.264 at 24 fps, a keyframe every ``gop`` frames, one encoder thread (the same
    bytes on every machine with the same libx264)."""
    with av.open(str(path), "w", format=fmt, options=container_options or {}) as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": str(gop), "bf": "2" if b_frames else "0", "threads": "1"}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, 1 / RATE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def truncated(src: Path, dst: Path, fraction: float) -> Path:
    """The first ``fraction`` of ``src``'s bytes (a download cut short)."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def packet_spans(path: Path) -> list[tuple[int, int, int]]:
    """``(pts, byte offset, size)`` of every video packet, in file order."""
    with av.open(str(path)) as container:
        return [(p.pts, p.pos, p.size) for p in container.demux(video=0) if p.size]


def garble_packet(src: Path, dst: Path, frame_index: int, *, seed: int = 0) -> Path:
    """``src`` with the payload of frame ``frame_index``'s packet (a clip without
    B-frames: packet order = frame order) overwritten with random bytes; the 4-byte NAL
    length is kept, so the container is intact and only that frame is damaged."""
    spans = packet_spans(src)
    _, pos, size = spans[frame_index]
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(seed)
    data[pos + 4: pos + size] = rng.integers(0, 256, size - 4, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def garble_middle(src: Path, dst: Path, count: int, *, seed: int = 0) -> Path:
    """``src`` with ``count`` random bytes written over the middle of the file."""
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid: mid + count] = np.random.default_rng(seed).integers(
        0, 256, count, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def size_change_ts(path: Path, first: Sequence[np.ndarray], second: Sequence[np.ndarray]
                   ) -> Path:
    """One MPEG-TS H.264 stream: ``first`` at its size, then ``second`` at another size
    (a second encoder's packets muxed into the same stream, as a broadcast switching
    resolution does)."""
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height = first[0].shape[1], first[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": "12", "threads": "1"}
        other = av.CodecContext.create("libx264", "w")
        other.width, other.height = second[0].shape[1], second[0].shape[0]
        other.pix_fmt, other.time_base, other.framerate = "yuv420p", 1 / RATE, RATE
        other.options = {"g": "12", "threads": "1"}
        for i, rgb in enumerate([*first, *second]):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, 1 / RATE
            for packet in _encode(stream, other, frame, i < len(first)):
                out.mux(packet)
            if i == len(first) - 1:
                for packet in stream.encode():
                    out.mux(packet)
        for packet in other.encode(None):
            packet.stream, packet.time_base = stream, 1 / RATE
            out.mux(packet)
    return path


def _encode(stream, other, frame, in_first: bool):
    if in_first:
        return stream.encode(frame)
    packets = other.encode(frame)
    for packet in packets:
        packet.stream, packet.time_base = stream, 1 / RATE
    return packets


class StalledPipe:
    """A named pipe that delivers the first ``fraction`` of a file, then stalls (the
    writer keeps it open and sends nothing), like a camera or a network feed that hangs.

    Use as a context manager; ``path`` is the pipe."""

    def __init__(self, folder: Path, data: bytes, fraction: float, *, name: str = "feed.ts",
                 hold_s: float = 60.0) -> None:
        self.path = Path(folder) / name
        os.mkfifo(self.path)
        self._data = data[: int(len(data) * fraction)]
        self._hold_s = hold_s
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._write, daemon=True)

    def _write(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # blocks until the reader opens the pipe
        try:
            os.write(fd, self._data)
            self._release.wait(self._hold_s)
        except BrokenPipeError:  # the reader gave up first: fine
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> StalledPipe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        if self._thread.is_alive():  # the writer may still wait for a reader: open it
            with contextlib.suppress(OSError):
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
                time.sleep(0.05)
                os.close(fd)
        self._thread.join(5)

