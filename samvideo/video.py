"""Reading and writing video with PyAV.

Frames inside samvideo are (H, W, 3) uint8 RGB numpy arrays. Decoding runs in a
background thread feeding a bounded queue, so decoding overlaps with segmentation
and memory stays flat in the video's length.
"""

from __future__ import annotations

import contextlib
import queue
import re
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a source before decoding it.

    Attributes:
        width, height: frame size in pixels.
        rate: exact average frame rate, e.g. ``Fraction(30000, 1001)``.
        time_base: the stream's time base; ``pts * time_base`` is seconds.
        frame_count: number of frames when the container says so, else None.
        duration_s: duration in seconds when known.
        codec: the source codec name (``"h264"``, ``"png"`` for a frames folder).
        has_audio: whether the container holds an audio stream.
        source: the path the frames come from.
    """

    width: int
    height: int
    rate: Fraction
    time_base: Fraction
    frame_count: int | None
    duration_s: float | None
    codec: str
    has_audio: bool
    source: str


@dataclass
class Frame:
    """One decoded frame.

    Attributes:
        index: 0-based index in decoding order (source numbering).
        time_s: presentation time in seconds from the first frame.
        pts: presentation timestamp in ``VideoInfo.time_base`` units, from the first frame.
        rgb: (H, W, 3) uint8 RGB.
    """

    index: int
    time_s: float
    pts: int
    rgb: np.ndarray


class SourceTimeout(RuntimeError):
    """The source delivered no frame (or no header) for longer than the reader's timeout."""


@dataclass(frozen=True)
class Skipped:
    """Source frames that could not be decoded (outputs leave a gap at their indices).

    Attributes:
        first: source index of the first missing frame.
        count: how many consecutive frames are missing (at least 1).
        reason: what went wrong: the decoder's or the container's message, or why the
            frames are missing (a truncated file, a hole in the timestamps).
    """

    first: int
    count: int
    reason: str

    def describe(self) -> str:
        """``"frame 12"`` or ``"frames 12-15"``."""
        if self.count == 1:
            return f"frame {self.first}"
        return f"frames {self.first}-{self.first + self.count - 1}"


def is_stream(path: str | Path) -> bool:
    """True for a named pipe, a character device or a socket (``/dev/stdin`` when piped):
    such a source can be read only once, so :class:`VideoReader` probes it as it decodes."""
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


def probe(source: str | Path, *, fps: Fraction | float | None = None) -> VideoInfo:
    """Describe a video file or a folder of frames without decoding it all.

    Raises ValueError naming the source when it is missing, not a readable video, or a
    pipe (which can be read only once: open it with :class:`VideoReader`).
    """
    path = Path(source)
    if not path.exists():
        raise ValueError(f"source {str(source)!r} does not exist")
    if path.is_dir():
        return _probe_folder(path, fps)
    if is_stream(path):
        raise ValueError(f"source {str(source)!r} is a pipe or device: it can be read only "
                         "once, so only VideoReader can describe it")
    return _probe_file(path)


def _probe_file(path: Path) -> VideoInfo:
    try:
        with av.open(str(path)) as container:
            return _container_info(container, path)
    except av.error.FFmpegError as exc:
        raise ValueError(f"source {str(path)!r} is not a readable video: {_short(exc)}") from None
    except OSError as exc:  # e.g. permission denied before FFmpeg sees the file
        raise ValueError(f"source {str(path)!r} is not readable: {exc.strerror or exc}") from None


def _container_info(container: av.container.InputContainer, path: Path) -> VideoInfo:
    """The :class:`VideoInfo` of an open container's first video stream."""
    if not container.streams.video:
        raise ValueError(f"source {str(path)!r} is not a video: it holds no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise ValueError(f"source {str(path)!r}: the frame rate is unknown")
    context = stream.codec_context
    if context is None:
        raise ValueError(f"source {str(path)!r}: its video stream cannot be decoded (unknown "
                         "codec or damaged header)")
    width, height = context.width, context.height
    if not width or not height:
        raise ValueError(f"source {str(path)!r}: the frame size is unknown (damaged header?)")
    time_base = stream.time_base or Fraction(1, 90000)
    duration = None
    if stream.duration is not None:
        duration = float(stream.duration * time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    return VideoInfo(
        width=width,
        height=height,
        rate=Fraction(rate),
        time_base=Fraction(time_base),
        frame_count=stream.frames or None,  # an estimate from the duration could be wrong
        duration_s=duration,
        codec=context.name,
        has_audio=bool(container.streams.audio),
        source=str(path),
    )


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_frame_files(folder: Path) -> list[Path]:
    """Sorted (natural order: 2 before 10) JPEG/PNG files of a frames folder."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=_natural_key)


def _probe_folder(folder: Path, fps: Fraction | float | None) -> VideoInfo:
    files = list_frame_files(folder)
    if not files:
        raise ValueError(f"source folder {str(folder)!r} holds no .jpg/.jpeg/.png frames")
    first = _read_image(files[0])
    rate = Fraction(fps if fps is not None else 24).limit_denominator(1001)
    return VideoInfo(
        width=first.shape[1],
        height=first.shape[0],
        rate=rate,
        time_base=1 / rate,
        frame_count=len(files),
        duration_s=float(len(files) / rate),
        codec="images",
        has_audio=False,
        source=str(folder),
    )


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(f"frame {str(path)!r} is not a readable image: {exc}") from None


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


Position = int | float  # a source frame index (int) or seconds from the first frame (float)


def parse_position(text: str | int | float, what: str = "--start") -> Position:
    """``"120"`` → frame 120 (int); ``"2.5s"``, ``"1:30"``, ``"0:01:30.5"`` → seconds
    (float). ValueError names ``what`` and the bad value."""
    if isinstance(text, bool):
        raise ValueError(f"{what} {text!r}: give a frame number or seconds like 2.5s")
    if isinstance(text, int | float):
        value: Position = text
    else:
        t = text.strip().lower()
        try:
            if re.fullmatch(r"\d+", t):
                value = int(t)
            elif re.fullmatch(r"\d+(\.\d*)?s", t):
                value = float(t[:-1])
            elif re.fullmatch(r"\d+(:\d{1,2}){1,2}(\.\d*)?", t):
                parts = [float(v) for v in t.split(":")]
                if any(v >= 60 for v in parts[1:]):
                    raise ValueError
                value = sum(v * 60 ** i for i, v in enumerate(reversed(parts)))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"{what} {text!r}: give a frame number (120) or a time "
                             "(2.5s, 1:30, 0:01:30.5)") from None
    if value < 0:
        raise ValueError(f"{what} {text!r} must not be negative")
    return value


@dataclass(frozen=True)
class FrameRange:
    """The part of a source to read: from ``start`` up to, not including, ``end``, at
    most ``count`` frames.

    Each bound is a source frame index (int) or seconds from the source's first frame
    (float); None = the source's start / end. Frames keep their source indices.
    """

    start: Position | None = None
    end: Position | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if (self.start is not None and self.end is not None
                and isinstance(self.start, int) == isinstance(self.end, int)
                and self.end <= self.start):
            raise ValueError(f"--end {self.end!r} must come after --start {self.start!r}")

    @classmethod
    def parse(cls, start: str | Position | None, end: str | Position | None) -> FrameRange:
        """From ``--start`` / ``--end`` text (see :func:`parse_position`)."""
        return cls(None if start is None else parse_position(start, "--start"),
                   None if end is None else parse_position(end, "--end"))

    @staticmethod
    def _before(frame: Frame, bound: Position) -> bool:
        return frame.index < bound if isinstance(bound, int) else frame.time_s < bound - 1e-9

    def too_early(self, frame: Frame) -> bool:
        """Whether ``frame`` comes before ``start``."""
        return self.start is not None and self._before(frame, self.start)

    def past_end(self, frame: Frame) -> bool:
        """Whether ``frame`` is at or after ``end``."""
        return self.end is not None and not self._before(frame, self.end)

    def __bool__(self) -> bool:
        return self.start is not None or self.end is not None or self.count is not None


_END = object()
_POLL_S = 0.1  # how often a waiting consumer checks for close() and the timeout
_CLOSE_WAIT_S = 1.0  # close() waits this long for a decode thread stuck in a read
_MAX_CONTAINER_ERRORS = 20  # consecutive container read errors before giving up on the rest


class VideoReader:
    """Decode a source in a background thread; iterate to get :class:`Frame` objects.

    Use as a context manager so the thread and the file are closed::

        with VideoReader("clip.mp4") as reader:
            print(reader.info.rate)
            for frame in reader:
                ...

    Damaged sources are decoded as far as they can be: packets the decoder rejects and
    damaged container data are skipped, and frame indices follow the source's
    timestamps, so a frame that could not be decoded leaves a gap in the indices
    (``skipped`` says which). Frames whose size differs from the first frame's are
    scaled to it (``notes`` says where). A source that delivers no frame for
    ``timeout`` seconds raises :class:`SourceTimeout` instead of hanging. A pipe (e.g.
    ``/dev/stdin``) is opened once, by the decode thread, and described from there.
    """

    def __init__(
        self,
        source: str | Path,
        *,
        fps: Fraction | float | None = None,  # frames folders have no rate; 24 = DAVIS
        queue_size: int = 8,  # frames decoded ahead: enough to hide decode jitter, small RAM
        max_frames: int | None = None,  # stop before source frame index max_frames (None = all)
        timeout: float | None = 30.0,  # seconds without a frame before giving up (None: wait)
        frames: FrameRange | None = None,  # only this part of the source (--start / --end)
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout={timeout!r}: must be a positive number of seconds")
        self.path = Path(source)
        self.max_frames = max_frames
        self.timeout = timeout
        self.range = frames or FrameRange()
        self._head: object | None = None  # an item taken by peek(), iterated first
        self._busy = 0.0  # monotonic time the decode thread last skipped a frame (--start)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="samvideo-decode", daemon=True)
        self._started = False
        self._closed = False
        #: source frames that could not be decoded, in source order
        self.skipped: list[Skipped] = []
        #: other things the user should know about the source (size changes, concealed damage)
        self.notes: list[str] = []
        self._errors: list[str] = []  # decode errors not yet tied to missing frames
        self._pipe = is_stream(self.path)
        self._opened: queue.Queue = queue.Queue(maxsize=1)
        if self._pipe:
            self._thread.start()
            self.info = self._wait_for_header()
        else:
            self.info = probe(source, fps=fps)
        self._fps = fps

    @property
    def skipped_frames(self) -> int:
        """How many source frames could not be decoded so far."""
        return sum(s.count for s in self.skipped)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._started:
            raise RuntimeError(f"reader of {str(self.path)!r} can only be iterated once")
        self._started = True
        if self._thread.ident is None:
            self._thread.start()
        while True:
            item, self._head = (self._head, None) if self._head is not None else (
                self._next_item(), None)
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _next_item(self) -> object:
        """The next queued item; _END once closed; SourceTimeout after ``timeout`` idle s."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while not self._stop.is_set():
            try:
                return self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                pass
            if deadline is not None and self._busy > deadline - self.timeout:
                deadline = self._busy + self.timeout  # still skipping frames before --start
            if deadline is not None and time.monotonic() > deadline:
                self._stop.set()
                raise SourceTimeout(
                    f"source {str(self.path)!r} delivered no frame for {self.timeout:g} s: "
                    "giving up (--timeout sets the limit)"
                )
        return _END

    def peek(self) -> Frame | None:
        """The first frame (decoded now; iteration still begins with it), or None when
        the source (or its ``--start``/``--end`` part) has no frame."""
        if self._started:
            raise RuntimeError(f"peek() on reader of {str(self.path)!r} after iteration began")
        if self._head is None:
            if self._thread.ident is None:
                self._thread.start()
            self._head = self._next_item()
        if isinstance(self._head, BaseException):
            raise self._head
        return self._head if isinstance(self._head, Frame) else None

    def _wait_for_header(self) -> VideoInfo:
        try:
            item = self._opened.get(timeout=self.timeout)
        except queue.Empty:
            self._stop.set()
            raise SourceTimeout(
                f"source {str(self.path)!r} delivered no video header within {self.timeout:g} s: "
                "giving up (--timeout sets the limit)"
            ) from None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop decoding. A decode thread stuck in a read (a stalled pipe) is abandoned
        after a short wait: it is a daemon thread and holds nothing to flush."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        deadline = time.monotonic() + _CLOSE_WAIT_S
        while self._thread.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        frames: Iterator[Frame] | None = None
        delivered = 0
        try:
            if self.path.is_dir():
                frames = self._decode_folder()
            else:
                frames = self._decode_file(self._open_pipe() if self._pipe else None)
            for frame in frames:
                if self.max_frames is not None and frame.index >= self.max_frames:
                    break
                if self.range.too_early(frame):
                    self._busy = time.monotonic()
                    continue
                if self.range.past_end(frame):
                    break
                if not self._put(frame):
                    return
                delivered += 1
                if delivered == self.range.count:
                    break
        except BaseException as exc:  # handed to the consumer thread
            self._put(exc)
            return
        finally:
            if frames is not None:
                frames.close()  # type: ignore[attr-defined]
        self._put(_END)

    def _open_pipe(self) -> av.container.InputContainer:
        """Open a pipe once and hand its description to ``__init__``."""
        try:
            container = av.open(str(self.path))
            info = _container_info(container, self.path)
        except av.error.FFmpegError as exc:
            error = ValueError(f"source {str(self.path)!r} is not a readable video: {_short(exc)}")
            self._opened.put(error)
            raise error from None
        except BaseException as exc:
            self._opened.put(exc)
            raise
        self.info = info  # before __init__ gets it: decoding starts right away
        self._opened.put(info)
        return container

    def _decode_folder(self) -> Iterator[Frame]:
        """Frames of a folder, indexed by their place in it; an unreadable image is
        skipped (a gap at its index), one of another size is scaled to the first's."""
        size = last_size = (self.info.height, self.info.width)
        for index, path in enumerate(list_frame_files(self.path)):
            try:
                rgb = _read_image(path)
            except ValueError as exc:
                self.skipped.append(Skipped(index, 1, str(exc)))
                continue
            if rgb.shape[:2] != last_size:
                self._note_size(rgb.shape[:2], index)
                last_size = rgb.shape[:2]
            if rgb.shape[:2] != size:
                rgb = _resize(rgb, self.info.width, self.info.height)
            yield Frame(index, float(index / self.info.rate), index, rgb)

    def _decode_file(self, container: av.container.InputContainer | None = None
                     ) -> Iterator[Frame]:
        info = self.info
        with container or av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            clock = _FrameClock(info, stream.start_time, _constant_rate(stream))
            size = last_size = (info.height, info.width)
            damaged = 0
            for frame, lost in self._frames(container, stream):
                index, rel = clock.place(frame.pts, lost)
                try:
                    rgb = frame.to_ndarray(format="rgb24")
                except (av.error.FFmpegError, ValueError) as exc:
                    self._errors.append(f"frame conversion failed: {_short(exc)}")
                    continue
                self._account_gap(clock.delivered_before, index)
                clock.delivered(index)
                if rgb.shape[:2] != last_size:
                    self._note_size(rgb.shape[:2], index)
                    last_size = rgb.shape[:2]
                if rgb.shape[:2] != size:
                    rgb = _resize(rgb, info.width, info.height)
                damaged += bool(getattr(frame, "is_corrupt", False))
                yield Frame(index, float(rel * info.time_base), rel, rgb)
            self._account_end(clock.delivered_before)
            if damaged:
                self.notes.append(f"{damaged} frame(s) were decoded with damage the decoder "
                                  "concealed")

    def _account_gap(self, previous: int, index: int) -> None:
        """Record the frames between the previous delivered frame and ``index``."""
        if index > previous + 1:
            reason = self._take_errors() or "missing from the stream (damaged or dropped data)"
            self.skipped.append(Skipped(previous + 1, index - previous - 1, reason))

    def _account_end(self, last: int) -> None:
        """After the last frame: frames the container promised, or packets that failed."""
        count = self.info.frame_count
        if self.max_frames is not None and count is not None:
            count = min(count, self.max_frames)
        errors = len(self._errors)
        reason = self._take_errors()
        if count is not None and last + 1 < count:
            why = reason or f"the file ends early (truncated?): it announces {count} frames"
            self.skipped.append(Skipped(last + 1, count - last - 1, why))
        elif errors and (self.max_frames is None or last + 1 < self.max_frames):
            self.skipped.append(Skipped(last + 1, errors, reason))

    def _take_errors(self) -> str:
        errors, self._errors = self._errors, []
        if not errors:
            return ""
        first = errors[0]
        return first if len(errors) == 1 else f"{first} (and {len(errors) - 1} more error(s))"

    def _note_size(self, shape: tuple[int, ...], index: int) -> None:
        w, h = self.info.width, self.info.height
        scaled = "" if shape[:2] == (h, w) else f": scaled to {w}x{h}, the first frame's size"
        self.notes.append(f"the frame size changes to {shape[1]}x{shape[0]} at frame {index}"
                          + scaled)

    def _frames(self, container: av.container.InputContainer, stream
                ) -> Iterator[tuple[av.VideoFrame, int]]:
        """Decode packet by packet; yield ``(frame, packets lost since the last frame)``.

        Packets the decoder rejects are skipped; after damaged container data the
        demuxer is asked to go on (up to ``_MAX_CONTAINER_ERRORS`` failures in a row).
        """
        lost = 0
        failures = 0
        while True:
            try:
                for packet in container.demux(stream):
                    failures = 0
                    try:
                        frames = packet.decode()
                    except av.error.FFmpegError as exc:
                        self._errors.append(f"undecodable packet: {_short(exc)}")
                        lost += 1
                        continue
                    for frame in frames:
                        yield frame, lost
                        lost = 0
                return
            except (av.error.FFmpegError, OSError) as exc:
                failures += 1
                if failures >= _MAX_CONTAINER_ERRORS:
                    self._errors.append(f"unreadable container data, rest of the file "
                                        f"given up: {_short(exc)}")
                    return
                self._errors.append(f"damaged container data: {_short(exc)}")


def _constant_rate(stream) -> bool:
    """Whether frame times are multiples of one frame duration (FFmpeg's average rate
    equals its "real base" rate), so a frame's index can be read from its timestamp."""
    average, base = stream.average_rate, stream.base_rate
    return bool(average) and bool(base) and Fraction(average) == Fraction(base)


class _FrameClock:
    """Source frame index and relative timestamp of each decoded frame.

    With a constant frame rate the index is the frame's time (from the stream's start)
    times the rate, so a frame that could not be decoded leaves a gap in the indices
    and outputs stay aligned to the source. Otherwise (variable rate, no timestamps)
    frames are counted, and a packet that failed to decode counts as one frame.
    Indices and timestamps always increase strictly.
    """

    def __init__(self, info: VideoInfo, start: int | None, constant_rate: bool) -> None:
        self.rate, self.time_base = info.rate, info.time_base
        self.start = start
        self.constant_rate = constant_rate
        self.delivered_before = -1  # index of the last frame delivered
        self._last_index = -1
        self._last_pts = -1

    def place(self, pts: int | None, lost: int) -> tuple[int, int]:
        """``(index, pts from the start)`` of the next decoded frame, in time-base units."""
        rel = None
        if pts is not None:
            if self.start is None or (self._last_index < 0 and pts < self.start):
                self.start = pts
            rel = pts - self.start
        if rel is not None and self.constant_rate:
            index = round(rel * self.time_base * self.rate)
        else:
            index = self._last_index + 1 + lost
        index = max(index, self._last_index + 1)
        if rel is None:
            rel = round(index / self.rate / self.time_base)
        rel = max(rel, self._last_pts + 1)
        self._last_index, self._last_pts = index, rel
        return index, rel

    def delivered(self, index: int) -> None:
        self.delivered_before = index


def _resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Frames whose size changes mid-stream are scaled back to the first frame's size."""
    import cv2

    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


class VideoWriter:
    """Write RGB frames as H.264 (yuv420p) with the source's timing.

    Odd widths/heights (which yuv420p cannot hold) are padded by one edge pixel.
    Frames are written with their ``pts`` in the source ``time_base`` so the output has
    the same frame count, timestamps (variable-rate ones included) and duration as the
    source. No B-frames: every prefix of the packets decodes, so an interrupted file can
    be stream-copied into a resumed one (:meth:`copy_from`).

    ``audio_from`` copies that file's first audio stream packet by packet (no
    re-encoding), interleaved with the video as it is written, from the source time
    ``audio_start_s`` (the source time of this output's t = 0) to the video's end.
    """

    def __init__(
        self,
        path: str | Path,
        info: VideoInfo,
        *,
        crf: int = 20,  # visually clean overlays at a modest size; 23 is x264's default
        preset: str = "veryfast",  # encoding must not slow tracking down
        audio_from: str | Path | None = None,  # copy this file's first audio stream
        audio_start_s: Fraction | float = 0,  # source time (from its first frame) of t = 0
        comment: str | None = None,  # container "comment" metadata
    ) -> None:
        self.path = Path(path)
        self.info = info
        self.notes: list[str] = []
        self._container = av.open(str(self.path), "w", format="mp4")
        if comment:
            self._container.metadata["comment"] = comment
        self._stream = self._container.add_stream("libx264", rate=info.rate)
        self._stream.width = info.width + info.width % 2
        self._stream.height = info.height + info.height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = info.time_base
        self._stream.codec_context.time_base = info.time_base
        self._stream.options = {"crf": str(crf), "preset": preset, "bf": "0"}
        self._audio: _AudioCopy | None = None
        if audio_from is not None:
            self._audio = _AudioCopy.open(audio_from, self._container, Fraction(audio_start_s),
                                          self.notes)
        self._last_pts = -1
        self.frames_written = 0

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def last_pts(self) -> int:
        """pts (``info.time_base`` units) of the last frame written or copied; -1 if none."""
        return self._last_pts

    def write(self, rgb: np.ndarray, pts: int) -> None:
        """Encode one (H, W, 3) uint8 RGB frame at ``pts`` (``info.time_base`` units, from
        this output's t = 0). A pts not after the previous one is moved one tick later."""
        if rgb.shape[1] != self._stream.width or rgb.shape[0] != self._stream.height:
            rgb = np.pad(
                rgb,
                ((0, self._stream.height - rgb.shape[0]), (0, self._stream.width - rgb.shape[1]),
                 (0, 0)),
                mode="edge",
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        pts = max(int(pts), self._last_pts + 1)
        frame.pts = pts
        frame.time_base = self.info.time_base
        self._last_pts = pts
        if self._audio is not None:
            self._audio.copy_until(pts * self.info.time_base)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def copy_from(self, path: str | Path, *, before_pts: int | None = None) -> int:
        """Stream-copy (no re-encoding) the video packets of an earlier output of this
        writer whose pts (``info.time_base`` units) is below ``before_pts`` (None = all),
        before any :meth:`write`. Returns the number of frames copied.

        When the earlier file's H.264 parameters differ from this encoder's (another x264
        build or size), its frames are decoded and encoded again instead.
        """
        if self.frames_written:
            raise RuntimeError(f"copy_from({str(path)!r}) must come before the first write")
        tb = self.info.time_base
        with av.open(str(path)) as old:
            stream = old.streams.video[0]
            self._container.start_encoding()  # opens x264: its SPS/PPS are now known
            if not _same_parameter_sets(stream.codec_context.extradata,
                                        self._stream.codec_context.extradata):
                return self._reencode_from(old, stream, before_pts)
            for packet in old.demux(stream):
                if packet.dts is None or packet.size == 0:
                    continue
                pts = round(packet.pts * stream.time_base / tb)
                if before_pts is not None and pts >= before_pts:
                    break  # no B-frames: decode order is presentation order
                if self._audio is not None:
                    self._audio.copy_until(pts * tb)
                self._container.mux(_as_annexb(packet, self._stream))
                self._last_pts = pts
                self.frames_written += 1
        return self.frames_written

    def _reencode_from(self, old, stream, before_pts: int | None) -> int:
        tb = self.info.time_base
        for frame in old.decode(stream):
            pts = round(frame.pts * stream.time_base / tb)
            if before_pts is not None and pts >= before_pts:
                break
            self.write(frame.to_ndarray(format="rgb24"), pts)
        return self.frames_written

    def close(self) -> None:
        """Flush the encoder, copy the audio up to the video's end, close the file."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            if self._audio is not None:
                frame = 1 / self.info.rate if self.info.rate else 0
                self._audio.copy_until((self._last_pts + 1) * self.info.time_base + frame)
                self._audio.close()
        finally:
            self._container.close()
            self._container = None


def _as_annexb(packet: av.Packet, stream) -> av.Packet:
    """An MP4 (length-prefixed, 4-byte lengths as x264 writes them) H.264 packet as the
    Annex B packet an encoder gives, which the MP4 muxer turns back into the same bytes."""
    data, out, i = bytes(packet), bytearray(), 0
    while i + 4 <= len(data):
        size = int.from_bytes(data[i:i + 4], "big")
        out += b"\x00\x00\x00\x01" + data[i + 4:i + 4 + size]
        i += 4 + size
    copy = av.Packet(bytes(out))
    copy.pts, copy.dts, copy.time_base = packet.pts, packet.dts, packet.time_base
    copy.is_keyframe = packet.is_keyframe
    copy.stream = stream
    return copy


def _same_parameter_sets(old_avcc: bytes | None, new_annexb: bytes | None) -> bool:
    """Whether every SPS/PPS of the encoder's Annex B extradata is in the file's avcC."""
    if not old_avcc or not new_annexb:
        return False
    old, new = bytes(old_avcc), bytes(new_annexb)
    if not new.startswith(b"\x00\x00"):  # already avcC: compare as they are
        return old == new
    nals = [n.strip(b"\x00") for n in re.split(b"\x00\x00\x01", new)]
    return all(n in old for n in nals if n)


class _AudioCopy:
    """Copy (remux, no re-encode) the first audio stream of a source into an output.

    Packets go out in step with the video (:meth:`copy_until`), so the muxer
    interleaves them; times are shifted so that the source time ``start_s`` (from the
    source's first video frame) is the output's t = 0; packets that end before it are
    dropped (the one that ends at it is kept: AAC needs it as pre-roll).
    """

    def __init__(self, source: str | Path, out: av.container.OutputContainer,
                 start_s: Fraction) -> None:
        self._input = av.open(str(source))
        self._in = self._input.streams.audio[0]
        video = self._input.streams.video
        first = video[0].start_time if video and video[0].start_time is not None else 0
        origin_s = (Fraction(first * video[0].time_base) if video else Fraction(0)) + start_s
        self._tb = Fraction(self._in.time_base)
        self._offset = round(origin_s / self._tb)  # audio pts of the output's t = 0
        self._out = out
        self._out_stream = out.add_stream_from_template(self._in)
        if origin_s > 1:  # skip most of what comes before the start
            self._input.seek(max(0, self._offset - round(1 / self._tb)), stream=self._in)
        self._packets = self._input.demux(self._in)
        self._pending: av.Packet | None = None
        self._done = False

    @classmethod
    def open(cls, source: str | Path, out: av.container.OutputContainer, start_s: Fraction,
             notes: list[str]) -> _AudioCopy | None:
        """An :class:`_AudioCopy`, or None (with a note why) when it cannot be made."""
        try:
            with av.open(str(source)) as probe_:
                if not probe_.streams.audio:
                    return None
                codec = probe_.streams.audio[0].codec_context.codec.canonical_name
        except av.error.FFmpegError as exc:
            notes.append(f"audio not copied: {str(source)!r} cannot be read: {_short(exc)}")
            return None
        if codec not in out.supported_codecs:
            notes.append(f"audio not copied: MP4 cannot hold the source's {codec} audio")
            return None
        return cls(source, out, start_s)

    def copy_until(self, t_s: Fraction | float) -> None:
        """Mux every packet whose output time is before ``t_s`` seconds."""
        limit = Fraction(t_s) / self._tb + self._offset
        while not self._done:
            packet = self._pending if self._pending is not None else next(self._packets, None)
            if packet is None:
                self._done = True
                return
            if packet.dts is None or packet.pts is None or packet.size == 0:
                self._pending = None
                continue
            if packet.pts >= limit:
                self._pending = packet
                return
            self._pending = None
            if packet.pts + (packet.duration or 0) < self._offset:
                continue  # before t = 0; the one ending there is kept as decoder pre-roll
            packet.stream = self._out_stream
            packet.pts -= self._offset
            packet.dts -= self._offset
            self._out.mux(packet)

    def close(self) -> None:
        self._input.close()
