"""Live sources and the real-time loop: cameras, network streams, pipes, files played live.

Sources (:func:`source_kind`):

* ``camera``: ``/dev/videoN`` or ``camera:N`` (Linux: PyAV's ``v4l2`` capture format;
  macOS: ``avfoundation``; Windows: ``camera:NAME`` through ``dshow``);
* ``stream``: a URL PyAV opens: ``rtsp://``, ``rtmp://``, ``http(s)://``, ``udp://``,
  ``tcp://``, ``srt://``, ``rtp://``;
* ``pipe``: ``-``, a video piped on standard input (live only with ``--live``);
* ``file``: a video file forced live (``--live``): it plays at its own rate, as if live.

The real-time policy (:func:`iter_live`): a reader thread decodes every frame as it
arrives and stamps its arrival time; the tracker always segments the *newest* frame it
has (the encoder runs with batch 1); the frames it had no time for are written with the
Kalman-predicted box and the last mask moved by the predicted motion (state
``predicted``, :meth:`Tracker.predict_only`), so every output keeps the source's frame
count and timing while the latency stays bounded. :class:`LiveStats` counts frames
received / processed / predicted-only and measures the latency from a frame's arrival
to its result (p50 / p95 / max).

Re-selection: a prompts file watched for changes (:class:`PromptWatcher`,
``--watch-prompts``), or prompts a program puts into a :class:`PromptInbox`: each
object given is (re)started on the next frame that is segmented.

Frames are (H, W, 3) uint8 RGB; boxes XYXY pixels.
"""

from __future__ import annotations

import contextlib
import math
import random
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from samvideo.annotate import MaskAnnotator
from samvideo.export import DEFAULT_EXPORTS, SinkThread, make_sinks, parse_exports
from samvideo.pipeline import (
    RunSummary,
    Timings,
    _versions,
    check_prompts,
    prepare_output,
    run_record,
    stop_on_signals,
    write_json_atomic,
)
from samvideo.prompts import ObjectPrompt, fit_to_frame, load_prompts_file
from samvideo.results import FrameResult
from samvideo.segmenters.base import PromptRequest, Segmenter
from samvideo.tracker import Tracker, TrackerConfig
from samvideo.video import Frame, VideoInfo

#: URL schemes opened as live network streams.
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp")
#: Why a live run ended (``run.json`` ``live.stop_reason``).
STOP_REASONS = ("end_of_stream", "duration", "max_frames", "interrupted", "stalled",
                "source_error")

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_CAMERA = re.compile(r"^(?:/dev/video(\d+)|camera:(.+))$")


# --------------------------------------------------------------------------- sources


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


def _open_container(source: str, kind: str, *, open_timeout_s: float, read_timeout_s: float):
    """Open a live source (checked by :func:`check_source`) with PyAV; ValueError names
    the source when it cannot be opened."""
    timeout = (open_timeout_s, read_timeout_s if math.isfinite(read_timeout_s) else None)
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
        raise ValueError(f"cannot open live source {source!r}: {_short(exc)}") from None


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


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


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
        read_timeout_s: float = 10.0,  # no frame for this long: stalled (inf = wait forever)
        max_frames: int | None = None,  # stop after this many frames (--max-frames)
        duration_s: float | None = None,  # stop at this much source time (--duration)
        max_backlog_mb: float = 512.0,  # frames waiting for the tracker: beyond, drop oldest
        default_rate: Fraction = Fraction(30),  # a source that states no rate (some cameras)
    ) -> None:
        self.source = str(source)
        self.kind = check_source(self.source)
        self.pace = (self.kind == "file") if pace is None else pace
        self.read_timeout_s = read_timeout_s
        self.max_frames = max_frames
        self.duration_s = duration_s
        self._container = _open_container(self.source, self.kind, open_timeout_s=open_timeout_s,
                                          read_timeout_s=read_timeout_s)
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
                self.stop_reason, self.source_error = "source_error", _short(exc)
            else:
                self._error = RuntimeError(f"live source {self.source!r}: {_short(exc)}")
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
            if rgb.shape[:2] != (info.height, info.width):
                rgb = _resize(rgb, info.width, info.height)
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


def _resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


# --------------------------------------------------------------------------- re-selection


class PromptInbox:
    """Thread-safe mailbox of prompts to apply on the next segmented frame."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prompts: list[ObjectPrompt] = []

    def put(self, prompts: Sequence[ObjectPrompt]) -> None:
        for p in prompts:
            if p.box is None and not p.points:
                raise ValueError(f"prompt for object {p.object_id} has neither box nor points")
        with self._lock:
            self._prompts.extend(prompts)

    def take(self) -> list[ObjectPrompt]:
        with self._lock:
            prompts, self._prompts = self._prompts, []
        return prompts


class PromptWatcher:
    """Watch a prompts file (the ``--prompts`` JSON format); :meth:`poll` returns its
    objects each time the file's content changes (and once at start when it exists).

    The ``frame`` field is ignored: a watched prompt applies on the next segmented frame.
    Write the file atomically (write a temporary file, then rename) or just save it: a
    half-written file is not valid JSON and is read again when it changes next.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        min_interval_s: float = 0.05,  # a stat() per frame at most 20 times a second
    ) -> None:
        self.path = Path(path)
        self.min_interval_s = min_interval_s
        self._seen: tuple[int, int] | None = None
        self._content: bytes | None = None
        self._last_poll = -1e9
        #: messages about invalid versions of the file, oldest first
        self.errors: list[str] = []

    def poll(self) -> list[ObjectPrompt]:
        now = time.monotonic()
        if now - self._last_poll < self.min_interval_s:
            return []
        self._last_poll = now
        try:
            st = self.path.stat()
        except OSError:
            return []
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._seen:
            return []
        self._seen = stamp
        try:
            content = self.path.read_bytes()
        except OSError:
            return []
        if content == self._content:
            return []
        try:
            prompts = load_prompts_file(self.path)
        except ValueError as exc:
            self.errors.append(str(exc))
            return []
        self._content = content
        return [replace(p, frame_index=0) for p in prompts]


# --------------------------------------------------------------------------- statistics


class _Reservoir:
    """A fixed-size uniform sample of a stream of numbers (memory flat over long runs),
    with the exact count, mean and maximum."""

    def __init__(self, size: int = 20000, seed: int = 0) -> None:
        self.size = size
        self.values: list[float] = []
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self._rng = random.Random(seed)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.max = max(self.max, value)
        if len(self.values) < self.size:
            self.values.append(value)
        else:
            j = self._rng.randrange(self.count)
            if j < self.size:
                self.values[j] = value

    def summary_ms(self) -> dict[str, float | None]:
        if not self.count:
            return {"p50": None, "p95": None, "max": None, "mean": None}
        p50, p95 = np.percentile(np.asarray(self.values), [50, 95])
        return {"p50": round(p50 * 1000, 2), "p95": round(p95 * 1000, 2),
                "max": round(self.max * 1000, 2), "mean": round(self.total / self.count * 1000, 2)}


@dataclass
class LiveStats:
    """What a live run did. Latency is from a frame's arrival (decoded, in this process)
    to its result (tracked or predicted), in seconds."""

    received: int = 0  # frames the source delivered
    processed: int = 0  # frames segmented
    predicted: int = 0  # frames written with predicted masks: no time to segment them
    idle: int = 0  # frames before any object was given
    dropped: int = 0  # frames lost because the backlog overflowed (absent from outputs)
    prompts_applied: int = 0  # re-selections (watched file, inbox) taken in
    segment_s: float = 0.0  # time spent segmenting (encode + track), processed frames
    segment_max_s: float = 0.0  # the longest segmentation of one frame
    wall_s: float = 0.0  # from the first frame's arrival to the last result
    latency: _Reservoir = field(default_factory=_Reservoir)
    latency_processed: _Reservoir = field(default_factory=_Reservoir)

    def to_dict(self, info: VideoInfo | None = None) -> dict[str, Any]:
        rate = self.processed / self.wall_s if self.wall_s > 0 else None
        data = {
            "frames_received": self.received, "frames_processed": self.processed,
            "frames_predicted_only": self.predicted, "frames_idle": self.idle,
            "frames_dropped": self.dropped, "prompts_applied": self.prompts_applied,
            "processing_fps": None if rate is None else round(rate, 3),
            "segment_ms_mean": round(self.segment_s / self.processed * 1000, 2)
            if self.processed else None,
            "segment_ms_max": round(self.segment_max_s * 1000, 2),
            "wall_s": round(self.wall_s, 3),
            "latency_ms": self.latency.summary_ms(),
            "latency_processed_ms": self.latency_processed.summary_ms(),
        }
        if info is not None:
            data["source_fps"] = round(float(info.rate), 3)
            data["frame_period_ms"] = round(1000 / float(info.rate), 3)
        return data

    def line(self, info: VideoInfo | None = None) -> str:
        """One human line: counts, rate and latency (the CLI prints it)."""
        d = self.to_dict(info)
        lat = d["latency_ms"]
        fps = "-" if d["processing_fps"] is None else f"{d['processing_fps']:.1f}"
        text = (f"{d['frames_received']} frames received, {d['frames_processed']} processed, "
                f"{d['frames_predicted_only']} predicted-only")
        if d["frames_dropped"]:
            text += f", {d['frames_dropped']} dropped"
        text += f"; processing {fps} frames/s"
        if lat["p50"] is not None:
            text += f"; latency p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, " \
                    f"max {lat['max']:.0f} ms"
        return text


# --------------------------------------------------------------------------- the loop


class _Pending:
    """Prompts waiting for their frame: user prompts keep their frame index (and that
    frame is segmented); re-selections apply on the next segmented frame."""

    def __init__(self, prompts: Sequence[ObjectPrompt]) -> None:
        self.fixed = sorted(prompts, key=lambda p: p.frame_index)
        self.now: list[ObjectPrompt] = []

    def due_at(self, frames: Sequence[LiveFrame]) -> int | None:
        """Position in ``frames`` of the first frame a fixed prompt is due on."""
        if not self.fixed:
            return None
        first = self.fixed[0].frame_index
        for i, f in enumerate(frames):
            if f.index >= first:
                return i
        return None

    def pop(self, index: int) -> list[ObjectPrompt]:
        due = [p for p in self.fixed if p.frame_index <= index]
        self.fixed = [p for p in self.fixed if p.frame_index > index]
        due += self.now
        self.now = []
        return [replace(p, frame_index=index) for p in due]


def iter_live(
    reader: LiveReader,
    prompts: Sequence[ObjectPrompt],
    segmenter: Segmenter,
    *,
    config: TrackerConfig | None = None,  # None = TrackerConfig() defaults
    stats: LiveStats | None = None,  # filled in as frames go by
    inbox: PromptInbox | None = None,  # re-selections from the Python API / a UI
    watcher: PromptWatcher | None = None,  # re-selections from a watched file
    stop: threading.Event | None = None,  # set it to end the run cleanly (Ctrl-C)
    warmup_frames: int = 2,  # after a prompt, segment this many frames in order (see below)
    warmup_latency_s: float = 0.5,  # ... unless a result would come later than this
    slowdown_s: float = 0.0,  # test hook: extra time per segmented frame
    poll_s: float = 0.1,  # how often to look at ``stop`` while no frame comes
) -> Iterator[FrameResult]:
    """Yield one :class:`FrameResult` per frame received, in source order, in real time.

    The newest frame is segmented (encoder batch 1); the frames that arrived meanwhile
    are predicted (state ``predicted``). Two exceptions: a frame a user prompt is given
    for is segmented; and right after a prompt, the next ``warmup_frames`` frames are
    segmented in order while their results come within ``warmup_latency_s`` of their
    arrival -- the motion model knows nothing of the object's velocity before two close
    frames, and a jump over many frames with a zero velocity loses a moving object
    (GrabCut slowed to 12 frames/s on a 24 frames/s stream: mean IoU 0.09 without the
    warm-up, 0.89 with it). The reader must be started (``with reader:``).
    """
    loop = _LiveLoop(reader, prompts, segmenter, config=config, stats=stats, inbox=inbox,
                     watcher=watcher, stop=stop, warmup_frames=warmup_frames,
                     warmup_latency_s=warmup_latency_s, slowdown_s=slowdown_s, poll_s=poll_s)
    return loop.results()


class _LiveLoop:
    """The state of :func:`iter_live` (see there for the options)."""

    def __init__(self, reader: LiveReader, prompts: Sequence[ObjectPrompt],
                 segmenter: Segmenter, *, config, stats, inbox, watcher, stop, warmup_frames,
                 warmup_latency_s, slowdown_s, poll_s) -> None:
        if warmup_frames < 0:
            raise ValueError(f"warmup_frames={warmup_frames!r} must be >= 0")
        self.reader, self.segmenter = reader, segmenter
        self.tracker = Tracker(segmenter, config=config)
        self.stats = stats if stats is not None else LiveStats()
        self.inbox, self.watcher, self.stop = inbox, watcher, stop
        self.warmup_frames, self.warmup_latency_s = warmup_frames, warmup_latency_s
        self.slowdown_s, self.poll_s = slowdown_s, poll_s
        self.pending = _Pending(prompts)
        self.waiting: deque[LiveFrame] = deque()
        self.stopping = False
        self.warm = 0  # frames still to segment in order after a prompt
        self.last_segment_s = 0.0
        self.first_arrival: float | None = None
        self.last_seen = time.monotonic()

    def results(self) -> Iterator[FrameResult]:
        while self._collect():
            if not self.waiting:
                continue
            new = _new_prompts(self.inbox, self.watcher, self.waiting[-1].rgb.shape)
            self.pending.now += new
            self.stats.prompts_applied += len(new)
            target = self._target()
            for _ in range(target):
                yield self._predict(self.waiting.popleft())
            if self.waiting and not self.stopping:
                yield self._segment(self.waiting.popleft())
        self.stats.received, self.stats.dropped = self.reader.received, self.reader.dropped

    def _collect(self) -> bool:
        """Move newly arrived frames to ``waiting``; False when the run is over."""
        if self.stop is not None and self.stop.is_set() and not self.stopping:
            self.reader.stop()  # flush what was received, read nothing more
            self.stopping = True
        batch = self.reader.take(timeout=0 if self.waiting else self.poll_s)
        if batch is None:
            return bool(self.waiting)
        if batch:
            self.waiting.extend(batch)
            self.last_seen = time.monotonic()
            if self.first_arrival is None:
                self.first_arrival = batch[0].arrival
            return True
        if self.waiting:
            return True
        if self.stopping:
            return False  # the reader may be stuck in a read: don't wait for it
        if time.monotonic() - self.last_seen > self.reader.read_timeout_s + 2 * self.poll_s:
            self.reader.stop_reason = "stalled"  # stuck where libav's timeout can't reach
            return False
        return True

    def _target(self) -> int:
        """How many waiting frames to predict before the one to segment."""
        if self.stopping:
            return len(self.waiting)  # no more segmentation: what is left is predicted
        due = self.pending.due_at(self.waiting)
        if due is not None:
            return due
        if self.warm > 0:
            self.warm -= 1
            late = time.perf_counter() - self.waiting[0].arrival + self.last_segment_s
            if late <= self.warmup_latency_s:
                return 0
            self.warm = 0
        return len(self.waiting) - 1

    def _predict(self, frame: LiveFrame) -> FrameResult:
        tracker, stats = self.tracker, self.stats
        if tracker.object_ids:
            stats.predicted += 1
            result = tracker.predict_only(frame.rgb, frame_index=frame.index,
                                          time_s=frame.time_s)
        else:
            stats.idle += 1
            result = FrameResult(frame.index, frame.time_s, [], frame.rgb)
        self._account(frame, processed=False)
        return result

    def _segment(self, frame: LiveFrame) -> FrameResult:
        tracker, stats = self.tracker, self.stats
        due = self.pending.pop(frame.index)
        if not tracker.object_ids and not due:
            stats.idle += 1
            self._account(frame, processed=False)
            return FrameResult(frame.index, frame.time_s, [], frame.rgb)
        t0 = time.perf_counter()
        if due:
            tracker.add_prompts(due)
            self.warm = self.warmup_frames
        embedding = self.segmenter.encode([frame.rgb])[0]  # batch 1: the newest frame
        result = tracker.step(frame.rgb, frame_index=frame.index, time_s=frame.time_s,
                              embedding=embedding)
        if self.slowdown_s > 0:
            time.sleep(self.slowdown_s)
        self.last_segment_s = time.perf_counter() - t0
        stats.processed += 1
        stats.segment_s += self.last_segment_s
        stats.segment_max_s = max(stats.segment_max_s, self.last_segment_s)
        self._account(frame, processed=True)
        return result

    def _account(self, frame: LiveFrame, *, processed: bool) -> None:
        now = time.perf_counter()
        latency = now - frame.arrival
        self.stats.latency.add(latency)
        if processed:
            self.stats.latency_processed.add(latency)
        self.stats.wall_s = now - (self.first_arrival or frame.arrival)


def _new_prompts(inbox, watcher, shape) -> list[ObjectPrompt]:
    new: list[ObjectPrompt] = []
    if inbox is not None:
        new += inbox.take()
    if watcher is not None:
        new += watcher.poll()
    fitted = []
    for p in new:
        try:
            q, _ = fit_to_frame(p, shape[1], shape[0])
        except ValueError as exc:
            if watcher is not None:
                watcher.errors.append(str(exc))
            continue
        fitted.append(q)
    return fitted


# --------------------------------------------------------------------------- the run


@dataclass
class LiveOptions:
    """Everything a live ``samvideo track`` needs besides the source, prompts and model."""

    output: Path
    exports: tuple[str, ...] = DEFAULT_EXPORTS
    overwrite: bool = False  # refuse to write into a non-empty folder unless asked
    max_frames: int | None = None  # stop after this many frames received
    duration_s: float | None = None  # stop at this much source time
    pace: bool | None = None  # None: files play at their own rate, live sources as they come
    open_timeout_s: float = 10.0  # a source that does not answer
    read_timeout_s: float = 10.0  # a source that stops sending: the run ends (stalled)
    max_backlog_mb: float = 512.0  # frames waiting for the tracker, beyond: oldest dropped
    warmup_frames: int = 2  # after a prompt, frames segmented in order (see iter_live)
    warmup_latency_s: float = 0.5  # ... while their results come within this of arrival
    slowdown_s: float = 0.0  # test hook: extra seconds per segmented frame
    warm_up: bool = True  # segment a blank frame before the source opens: first-call costs
    # (lazy initialisation, CUDA context, allocator) are paid before any frame waits
    watch_prompts: Path | None = None  # re-selection file
    annotator: MaskAnnotator = field(default_factory=MaskAnnotator)
    config: TrackerConfig = field(default_factory=TrackerConfig)
    inputs: dict = field(default_factory=dict)  # what the user asked, for run.json


@dataclass
class LiveSummary(RunSummary):
    """A :class:`~samvideo.pipeline.RunSummary` plus the live figures."""

    live: LiveStats = field(default_factory=LiveStats)
    stop_reason: str = "end_of_stream"  # one of STOP_REASONS


def open_reader(source: str | Path, options: LiveOptions) -> LiveReader:
    """Open the live source described by ``options`` (not started yet)."""
    return LiveReader(source, pace=options.pace, open_timeout_s=options.open_timeout_s,
                      read_timeout_s=options.read_timeout_s, max_frames=options.max_frames,
                      duration_s=options.duration_s, max_backlog_mb=options.max_backlog_mb)


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


def run_live(
    source: str | Path | LiveReader,
    prompts: Sequence[ObjectPrompt],
    segmenter: Segmenter,
    options: LiveOptions,
    *,
    stop: threading.Event | None = None,  # set it to end the run cleanly
    inbox: PromptInbox | None = None,  # re-selections from a program (a UI)
    on_frame: Callable[[FrameResult, LiveStats], None] | None = None,  # preview, progress
    segmenter_info: dict | None = None,  # model, device, precision for run.json
) -> LiveSummary:
    """Track ``prompts`` through a live source and write the chosen exports.

    ``source`` is opened (:func:`open_reader`) only once everything else is ready, and
    read from at once, so no frame waits on the set-up. Every way a live run ends (end
    of stream, ``duration_s``, ``max_frames``, ``stop`` set, SIGINT / SIGTERM when
    called in the main thread, a stalled source) writes every frame received, closes
    the sinks (the overlay plays) and writes ``run.json`` last, with ``status:
    complete`` and the live figures under ``live``. (A second SIGINT stops at once: the
    outputs are still closed, ``run.json`` says ``interrupted``.) Raises ValueError for
    bad input (a source that cannot be opened, no prompt), RuntimeError when the source
    gave no frame.
    """
    stop = stop if stop is not None else threading.Event()
    job = _LiveJob(segmenter, options, segmenter_info, inbox)
    reader = source if isinstance(source, LiveReader) else open_reader(source, options)
    try:
        reader.start()
        job.begin(reader, prompts)
    except BaseException:
        reader.close()
        raise
    with stop_on_signals(stop):
        return job.run(stop, on_frame)


def _warm_up(segmenter: Segmenter) -> None:
    """Run the segmenter once on a blank frame, so first-call costs (lazy set-up, CUDA
    context and kernels, allocator growth) are paid before the first live frame."""
    blank = np.zeros((64, 64, 3), np.uint8)
    embedding = segmenter.encode([blank])[0]
    segmenter.predict(embedding, [PromptRequest.make((16, 16, 48, 48))])


class _LiveJob:
    """One :func:`run_live`: set up before the source opens, then the loop."""

    def __init__(self, segmenter: Segmenter, options: LiveOptions, segmenter_info: dict | None,
                 inbox: PromptInbox | None) -> None:
        self.segmenter, self.options = segmenter, options
        self.segmenter_info, self.inbox = segmenter_info, inbox
        self.exports = parse_exports(options.exports)
        self.out = prepare_output(options.output, overwrite=options.overwrite)
        self.watcher = PromptWatcher(options.watch_prompts) if options.watch_prompts else None
        self.versions = _versions()  # imports torch: done before any frame arrives
        if options.warm_up:
            _warm_up(segmenter)
        self.stats, self.timings = LiveStats(), Timings()
        self.started = time.time()

    def begin(self, reader: LiveReader, prompts: Sequence[ObjectPrompt]) -> None:
        """Check the prompts against the opened source."""
        self.reader, self.info = reader, reader.info
        self.notes: list[str] = []
        self.prompts = list(prompts)
        if prompts or (self.options.watch_prompts is None and self.inbox is None):
            self.prompts, self.notes = check_prompts(prompts, self.info)  # raises when none

    def run(self, stop: threading.Event, on_frame) -> LiveSummary:
        reader, stats = self.reader, self.stats
        self._write_run_json(self._summary("running", [], 0, None), None, stop)
        sinks = SinkThread(make_sinks(self.exports, self.out, self.info,
                                      annotator=self.options.annotator))
        status, error, frames, last = "failed", None, 0, None
        outputs: list[Path] = []
        try:
            with reader:
                for result in iter_live(reader, self.prompts, self.segmenter,
                                        config=self.options.config, stats=stats,
                                        inbox=self.inbox, watcher=self.watcher, stop=stop,
                                        warmup_frames=self.options.warmup_frames,
                                        warmup_latency_s=self.options.warmup_latency_s,
                                        slowdown_s=self.options.slowdown_s):
                    sinks.write(result)
                    frames, last = frames + 1, result.frame_index
                    if on_frame is not None:
                        on_frame(result, stats)
            status = "complete"
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once, outputs still closed
            status = "interrupted"
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            stats.received, stats.dropped = reader.received, reader.dropped
            t0 = time.perf_counter()
            try:
                outputs = sinks.close()
            finally:
                self.timings.write = sinks.seconds + (time.perf_counter() - t0)
                self.timings.total = time.time() - self.started
                self.timings.decode, self.timings.track = reader.decode_s, stats.segment_s
                self.timings.frames = frames
                if frames == 0 and status == "complete":
                    status, error = "failed", "the source delivered no frames"
                summary = self._summary(status, outputs, frames, last, sinks, stop)
                self._write_run_json(summary, error, stop)
        if status == "failed":
            raise RuntimeError(f"{reader.source}: {error}")
        return summary

    def _stop_reason(self, stop: threading.Event) -> str:
        return "interrupted" if stop.is_set() else self.reader.stop_reason

    def _summary(self, status: str, outputs: list[Path], frames: int, last: int | None,
                 sinks: SinkThread | None = None,
                 stop: threading.Event | None = None) -> LiveSummary:
        reason = self.reader.stop_reason if stop is None else self._stop_reason(stop)
        notes = list(self.notes)
        if sinks is not None:
            notes += sinks.notes
        if self.watcher is not None:
            notes += [f"watched prompts ignored: {m}" for m in self.watcher.errors]
        if reason == "stalled":
            notes.append(f"no frame from {self.reader.source} for "
                         f"{self.reader.read_timeout_s:g} s: stopped")
        if reason == "source_error":
            notes.append(f"the source failed after {self.reader.received} frames: "
                         f"{self.reader.source_error}")
        return LiveSummary(status, frames, last, outputs, self.timings, notes, [],
                           self.out / "run.json", live=self.stats, stop_reason=reason)

    def _write_run_json(self, summary: LiveSummary, error: str | None,
                        stop: threading.Event) -> None:
        """``run.json`` with the keys :func:`samvideo.pipeline.run` writes, plus ``live``."""
        info, options, reader = self.info, self.options, self.reader
        live = {"stop_reason": self._stop_reason(stop), "source_kind": reader.kind,
                "paced": reader.pace, "rate_known": reader.rate_known,
                **self.stats.to_dict(info)}
        data = run_record(summary, error, info=info, options=options, exports=self.exports,
                          segmenter=self.segmenter, segmenter_info=self.segmenter_info,
                          versions=self.versions)
        # a live stream cannot be rewound: never resumable
        data.update({"mode": "live", "resumable": False, "live": live})
        write_json_atomic(summary.run_json, data)


# --------------------------------------------------------------------------- a test source


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
