"""Live sources: cameras, network streams, pipes, files played live (:class:`LiveReader`).

Sources (:func:`source_kind`):

* ``camera``: ``/dev/videoN`` or ``camera:N`` (Linux: PyAV's ``v4l2`` capture format;
  macOS: ``avfoundation``; Windows: ``camera:NAME`` through ``dshow``);
* ``stream``: a URL PyAV opens: ``rtsp://``, ``rtmp://``, ``http(s)://``, ``udp://``,
  ``tcp://``, ``srt://``, ``rtp://``;
* ``pipe``: ``-``, a video piped on standard input (live only with ``--live``);
* ``file``: a video file forced live (``--live``): it plays at its own rate, as if live.

A reader thread decodes every frame as it arrives and stamps its arrival time; the
consumer takes every frame that arrived since it last looked (:meth:`LiveReader.take`),
so nothing is decoded twice and the reader never waits on a slow consumer.

Frames are (H, W, 3) uint8 RGB.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from samvideo.video.decode import fit
from samvideo.video.info import Frame, VideoInfo, short_error

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp")
#: Why a live run ended (``run.json`` ``live.stop_reason``).
STOP_REASONS = ("end_of_stream", "duration", "max_frames", "interrupted", "stalled",
                "source_error")

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_CAMERA = re.compile(r"^(?:/dev/video(\d+)|camera:(.+))$")


def source_kind(source: str | Path) -> str:
    """``"camera"``, ``"stream"``, ``"pipe"`` or ``"file"``.

    Raises ValueError naming a URL whose scheme is not a supported stream.
    """
    text = str(source)
    if _CAMERA.match(text):
        return "camera"
    if text == "-":
        return "pipe"
    url = _URL.match(text)
    if url:
        scheme = url.group(1).lower()
        if scheme not in STREAM_SCHEMES:
            raise ValueError(f"source {text!r}: unsupported URL scheme {scheme!r}; "
                             f"live streams are {', '.join(s + '://' for s in STREAM_SCHEMES)}")
        return "stream"
    return "file"


def is_live_source(source: str | Path) -> bool:
    """Cameras and network URLs are always live (``--live`` is implied)."""
    return source_kind(source) in ("camera", "stream")


def camera_input(source: str, platform: str | None = None) -> tuple[str, str]:
    """``(path, format)`` that PyAV opens for a camera source.

    ``/dev/video0`` and ``camera:0`` → ``("/dev/video0", "v4l2")`` on Linux;
    ``camera:0`` → ``("0", "avfoundation")`` on macOS; ``camera:NAME`` →
    ``("video=NAME", "dshow")`` on Windows. Raises ValueError naming the source.
    """
    platform = platform or sys.platform
    m = _CAMERA.match(source)
    if m is None:
        raise ValueError(f"source {source!r} is not a camera (use /dev/videoN or camera:N)")
    number, name = m.group(1), m.group(2)
    if platform.startswith("linux"):
        if number is None and not name.isdigit():
            raise ValueError(f"camera {source!r}: on Linux use camera:N or /dev/videoN")
        return f"/dev/video{number if number is not None else name}", "v4l2"
    if platform == "darwin":
        return (name if name is not None else number), "avfoundation"
    if platform.startswith("win"):
        return f"video={name if name is not None else number}", "dshow"
    raise ValueError(f"camera {source!r}: no capture format known for platform {platform!r}")


@dataclass
class LiveFrame(Frame):
    """A :class:`Frame` with its arrival time (``time.perf_counter()`` seconds)."""

    arrival: float = 0.0


def _open_container(source: str, kind: str, *, open_timeout_s: float,
                    timeout_s: float | None):
    """Open a live source (checked by :func:`check_source`) with PyAV; ValueError names
    the source when it cannot be opened."""
    timeout = (open_timeout_s, timeout_s)
    try:
        if kind == "camera":
            path, fmt = camera_input(source)
            return av.open(path, format=fmt, timeout=timeout)
        if kind == "stream":
            return av.open(source, options=_stream_options(source), timeout=timeout)
        if kind == "pipe":
            return av.open("pipe:0", timeout=timeout)
        return av.open(source)
    except av.error.FFmpegError as exc:
        raise ValueError(f"cannot open live source {source!r}: {short_error(exc)}") from None


def _stream_options(url: str) -> dict[str, str]:
    options = {
        # probe a tenth of a second of stream: enough for the codec and the rate,
        # and the first frame is not held back for libav's default 5 s of analysis
        "analyzeduration": "100000",
        "flags": "low_delay",
    }
    if url.lower().startswith("rtsp"):
        options["rtsp_transport"] = "tcp"  # interleaved RTP: no packet loss on busy Wi-Fi
    return options


class LiveReader:
    """Decode a live source in a background thread, keeping the frames not yet taken.

    :meth:`take` hands over every frame that arrived since the last call (oldest
    first): the loop segments only the newest and writes the others as predicted, so
    nothing is decoded twice and the reader never blocks on a slow consumer. Use as a
    context manager; the source is opened in the constructor (ValueError names a source
    that cannot be opened).
    """

    def __init__(
        self,
        source: str | Path,
        *,
        pace: bool | None = None,  # None = files play at their own rate, live sources as they come
        open_timeout_s: float = 10.0,  # a camera or server that does not answer at all
        timeout_s: float | None = 30.0,  # no frame for this long: stalled (None: wait)
        max_frames: int | None = None,  # stop after this many frames (--max-frames)
        duration_s: float | None = None,  # stop at this much source time (--duration)
        max_backlog_mb: float = 512.0,  # frames waiting for the tracker: beyond, drop oldest
        default_rate: Fraction = Fraction(30),  # a source that states no rate (some cameras)
    ) -> None:
        self.source = str(source)
        self.kind = check_source(self.source)
        self.pace = (self.kind == "file") if pace is None else pace
        self.timeout_s = timeout_s
        self.max_frames = max_frames
        self.duration_s = duration_s
        self._container = _open_container(self.source, self.kind, open_timeout_s=open_timeout_s,
                                          timeout_s=timeout_s)
        try:
            self._stream = self._container.streams.video[0]
        except IndexError:
            self._container.close()
            raise ValueError(f"source {self.source!r} has no video stream") from None
        self.info = self._describe(default_rate)
        frame_bytes = max(self.info.width * self.info.height * 3, 1)
        self.max_backlog = max(8, int(max_backlog_mb * 2**20 // frame_bytes))
        self._backlog: deque[LiveFrame] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._ended = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="samvideo-live-read", daemon=True)
        self.received = 0
        self.dropped = 0
        self.stop_reason = "end_of_stream"  # one of STOP_REASONS
        self.source_error: str | None = None  # why the source failed mid-stream
        self.decode_s = 0.0

    # -- description -------------------------------------------------------------------

    def _describe(self, default_rate: Fraction) -> VideoInfo:
        stream = self._stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.rate_known = bool(rate)
        rate = Fraction(rate) if rate else default_rate
        count = None
        if self.kind == "file":
            count = stream.frames or None
        return VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            rate=rate,
            time_base=Fraction(stream.time_base or Fraction(1, 90000)),
            frame_count=count,
            duration_s=None,
            codec=stream.codec_context.name,
            has_audio=False,  # a live source is not re-opened to copy its audio
            source=self.source,
        )

    # -- life cycle --------------------------------------------------------------------

    def __enter__(self) -> LiveReader:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if not self._thread.is_alive() and not self._ended:
            self._thread.start()

    def stop(self) -> None:
        """Stop reading (frames already received stay available to :meth:`take`)."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            # a blocked network read only returns at the read timeout: don't wait for it
            # (the thread is a daemon; the container is then left to the process's end)
            self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._container.close()

    # -- consumer side -----------------------------------------------------------------

    def take(self, timeout: float | None = None) -> list[LiveFrame] | None:
        """Every frame received since the last call, oldest first.

        Blocks up to ``timeout`` seconds for a first frame; returns ``[]`` when none
        came in time and None once the source has ended and every frame was taken.
        Re-raises an error of the reader thread.
        """
        with self._cond:
            if not self._backlog and not self._ended:
                self._cond.wait(timeout)
            if self._backlog:
                frames = list(self._backlog)
                self._backlog.clear()
                return frames
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            return None if self._ended else []

    # -- reader thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._read()
        except av.error.FFmpegError as exc:
            if isinstance(exc, av.error.ExitError) or "timed out" in str(exc).lower():
                # libav's read timeout (or a stop) interrupted the read
                self.stop_reason = "interrupted" if self._stop.is_set() else "stalled"
            elif self.received:  # a live connection that breaks ends the stream
                self.stop_reason, self.source_error = "source_error", short_error(exc)
            else:
                self._error = RuntimeError(f"live source {self.source!r}: {short_error(exc)}")
        except BaseException as exc:  # handed to the consumer
            self._error = exc
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _read(self) -> None:
        info = self.info
        stream = self._stream
        stream.thread_type = "AUTO" if self.kind == "file" else "SLICE"  # frame threads add delay
        with contextlib.suppress(AttributeError, ValueError):
            stream.codec_context.flags |= av.codec.context.Flags.low_delay
        clock = _Timestamps(info.time_base)
        for index, av_frame in enumerate(self._decode()):
            t0 = time.perf_counter()
            rel = clock(av_frame.pts, t0)
            time_s = float(rel * info.time_base)
            if self.duration_s is not None and time_s >= self.duration_s:
                self.stop_reason = "duration"
                return
            rgb = av_frame.to_ndarray(format="rgb24")
            rgb = fit(rgb, info)
            self.decode_s += time.perf_counter() - t0
            if self.pace and self._stop.wait(max(0.0, clock.wall(time_s) - time.perf_counter())):
                self.stop_reason = "interrupted"
                return
            self._push(LiveFrame(index, time_s, rel, rgb, arrival=time.perf_counter()))
            if self.max_frames is not None and index + 1 >= self.max_frames:
                self.stop_reason = "max_frames"
                return
        if self._stop.is_set():
            self.stop_reason = "interrupted"

    def _decode(self) -> Iterator[av.VideoFrame]:
        for packet in self._container.demux(self._stream):
            if self._stop.is_set():
                return
            try:
                yield from packet.decode()
            except av.error.InvalidDataError:
                continue  # a damaged packet of a live stream: the next key frame recovers

    def _push(self, frame: LiveFrame) -> None:
        with self._cond:
            self._backlog.append(frame)
            self.received += 1
            while len(self._backlog) > self.max_backlog:
                self._backlog.popleft()
                self.dropped += 1
            self._cond.notify_all()


class _Timestamps:
    """Source timestamps → timestamps from the first frame, strictly increasing (as the
    writer wants); frames with no timestamp (some cameras, raw pipes) get the arrival
    clock's."""

    def __init__(self, time_base: Fraction) -> None:
        self.time_base = time_base
        self.start_pts: int | None = None
        self.start_wall: float | None = None
        self.last = -1

    def __call__(self, pts: int | None, now: float) -> int:
        if self.start_wall is None:
            self.start_pts, self.start_wall = pts, now
        if pts is not None and self.start_pts is not None:
            rel = int(pts - self.start_pts)
        else:
            rel = round((now - self.start_wall) / self.time_base)
        rel = max(rel, self.last + 1)
        self.last = rel
        return rel

    def wall(self, time_s: float) -> float:
        """When a frame at ``time_s`` is due, playing from the first frame's arrival."""
        return (self.start_wall or 0.0) + time_s


def check_source(source: str | Path) -> str:
    """Cheap checks of a live source before a model is loaded; returns its kind.

    ValueError names a camera device or a file that does not exist, or an unsupported
    URL scheme. (A server that does not answer is only found out when it is opened.)
    """
    kind = source_kind(source)
    if kind == "camera":
        path, fmt = camera_input(str(source))
        if fmt == "v4l2" and not Path(path).exists():
            raise ValueError(f"camera {str(source)!r}: {path} does not exist (no such device)")
    elif kind == "file":
        path = Path(source)
        if not path.exists():
            raise ValueError(f"source {str(source)!r} does not exist")
        if path.is_dir():
            raise ValueError(f"source {str(source)!r} is a folder: --live plays a video file, "
                             "a camera or a stream")
    return kind

