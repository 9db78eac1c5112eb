"""A live test source: a clip served as a live MPEG-TS (H.264) stream over TCP on
loopback, paced by the wall clock, for the live tests and ``tools/bench_live.py``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class StreamServer:
    """Serve a clip as a live MPEG-TS (H.264) stream over TCP, paced at its real rate.

    A real live source for tests, benchmarks and demos: one client connects to
    :attr:`url` (``tcp://127.0.0.1:PORT``); from then on frame ``i`` is encoded and sent
    at ``i / rate`` seconds by the wall clock; the connection closes after the last frame
    (the client sees the end of the stream)::

        with StreamServer("clip.mp4") as server:
            run(["samvideo", "track", server.url, ...])
    """

    def __init__(
        self,
        frames: Sequence[np.ndarray] | str | Path,  # (H, W, 3) uint8 RGB, or a video file
        *,
        rate: Fraction | None = None,  # None: the file's rate (frames given: required)
        host: str = "127.0.0.1",  # loopback: nothing outside this machine sees it
        port: int = 0,  # 0 = a free port, read it back from .port / .url
        loops: int = 1,  # play the clip this many times (longer streams for benchmarks)
        accept_timeout_s: float = 30.0,  # give up when no client connects
        linger_s: float = 0.0,  # keep the connection open, silent, after the last frame:
        # > 0 makes a stalled source (a camera that hangs) rather than an ended one
    ) -> None:
        if isinstance(frames, (str, Path)):
            from samvideo.video import VideoReader

            with VideoReader(frames) as clip:
                rate = rate or clip.info.rate
                frames = [f.rgb for f in clip]
        if rate is None or rate <= 0:
            raise ValueError(f"rate={rate!r}: a positive frame rate is needed for frames")
        if not len(frames):
            raise ValueError("StreamServer needs at least one frame")
        if loops < 1:
            raise ValueError(f"loops={loops!r} must be at least 1")
        self.frames = list(frames)
        self.rate = Fraction(rate)
        self.loops = loops
        self.accept_timeout_s = accept_timeout_s
        self.linger_s = linger_s
        self._sock = socket.create_server((host, port))
        self._sock.settimeout(accept_timeout_s)
        self.host, self.port = host, self._sock.getsockname()[1]
        self.url = f"tcp://{host}:{self.port}"
        #: ``time.perf_counter()`` at which each frame was sent
        self.sent: list[float] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="samvideo-stream", daemon=True)

    @property
    def frame_count(self) -> int:
        return len(self.frames) * self.loops

    def __enter__(self) -> StreamServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._sock.close()

    def _serve(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except OSError as exc:  # no client in time, or closed
            self.error = exc
            return
        try:
            with conn, conn.makefile("wb", buffering=0) as wire:
                self._send(wire)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away: the stream just ends
        except BaseException as exc:  # kept for the test that started the server
            self.error = exc

    def _send(self, wire) -> None:
        h, w = self.frames[0].shape[:2]
        with av.open(wire, "w", format="mpegts", options={"flush_packets": "1"}) as out:
            stream = out.add_stream("libx264", rate=self.rate)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.codec_context.gop_size = max(1, round(self.rate))  # a key frame a second
            stream.options = {"tune": "zerolatency", "preset": "ultrafast", "crf": "18"}
            t0 = time.perf_counter()
            for i in range(self.frame_count):
                delay = t0 + float(i / self.rate) - time.perf_counter()
                if delay > 0 and self._stop.wait(delay):
                    break
                frame = av.VideoFrame.from_ndarray(self.frames[i % len(self.frames)],
                                                   format="rgb24")
                frame.pts, frame.time_base = i, 1 / self.rate
                for packet in stream.encode(frame):
                    out.mux(packet)
                self.sent.append(time.perf_counter())
            for packet in stream.encode():
                out.mux(packet)
            self._stop.wait(self.linger_s)
