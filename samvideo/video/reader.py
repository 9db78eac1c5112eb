"""Decoding a source (a video file, a frames folder, a pipe) in a background thread:
:class:`VideoReader`. Memory stays flat in the video's length: a bounded queue sits
between the decode thread and the consumer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from samvideo import handoff
from samvideo.video.decode import FrameClock, constant_rate, decode_packets, fit
from samvideo.video.info import (
    Frame,
    FrameRange,
    Skipped,
    SourceTimeout,
    VideoInfo,
    container_info,
    is_stream,
    is_url,
    list_frame_files,
    probe,
    read_image,
    short_error,
)

_END = object()
_POLL_S = 0.1  # how often a waiting consumer checks for close() and the timeout
_CLOSE_WAIT_S = 1.0  # close() waits this long for a decode thread stuck in a read


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
        self.path = str(source) if is_url(source) else Path(source)
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
        handoff.drain(self._queue, self._thread, _CLOSE_WAIT_S)

    def _put(self, item: object) -> bool:
        return handoff.put(self._queue, item, self._stop)

    def _run(self) -> None:
        frames: Iterator[Frame] | None = None
        delivered = 0
        try:
            if isinstance(self.path, Path) and self.path.is_dir():
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
            info = container_info(container, self.path)
        except av.error.FFmpegError as exc:
            error = ValueError(f"source {str(self.path)!r} is not a readable video: "
                               f"{short_error(exc)}")
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
        last_size = (self.info.height, self.info.width)
        for index, path in enumerate(list_frame_files(self.path)):
            try:
                rgb = read_image(path)
            except ValueError as exc:
                self.skipped.append(Skipped(index, 1, str(exc)))
                continue
            if rgb.shape[:2] != last_size:
                self._note_size(rgb.shape[:2], index)
                last_size = rgb.shape[:2]
            yield Frame(index, float(index / self.info.rate), index, fit(rgb, self.info))

    def _decode_file(self, container: av.container.InputContainer | None = None
                     ) -> Iterator[Frame]:
        info = self.info
        with container or av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            clock = FrameClock(info, stream.start_time, constant_rate(stream))
            last_size = (info.height, info.width)
            damaged = 0
            for frame, lost in decode_packets(container, stream, self._errors):
                index, rel = clock.place(frame.pts, lost)
                try:
                    rgb = frame.to_ndarray(format="rgb24")
                except (av.error.FFmpegError, ValueError) as exc:
                    self._errors.append(f"frame conversion failed: {short_error(exc)}")
                    continue
                self._account_gap(clock.delivered_before, index)
                clock.delivered(index)
                if rgb.shape[:2] != last_size:
                    self._note_size(rgb.shape[:2], index)
                    last_size = rgb.shape[:2]
                damaged += bool(getattr(frame, "is_corrupt", False))
                yield Frame(index, float(rel * info.time_base), rel, fit(rgb, info))
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
