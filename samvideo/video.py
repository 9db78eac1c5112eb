"""Reading and writing video with PyAV.

Frames inside samvideo are (H, W, 3) uint8 RGB numpy arrays. Decoding runs in a
background thread feeding a bounded queue, so decoding overlaps with segmentation
and memory stays flat in the video's length.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
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


def probe(source: str | Path, *, fps: Fraction | float | None = None) -> VideoInfo:
    """Describe a video file or a folder of frames without decoding it all.

    Raises ValueError naming the source when it is missing or not a readable video.
    """
    path = Path(source)
    if not path.exists():
        raise ValueError(f"source {str(source)!r} does not exist")
    if path.is_dir():
        return _probe_folder(path, fps)
    return _probe_file(path)


def _probe_file(path: Path) -> VideoInfo:
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"source {str(path)!r} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not rate:
                raise ValueError(f"source {str(path)!r}: the frame rate is unknown")
            time_base = stream.time_base or Fraction(1, 90000)
            duration = None
            if stream.duration is not None:
                duration = float(stream.duration * time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            count = stream.frames or None
            if count is None and duration is not None:
                count = None  # only an estimate; leave unknown rather than guess wrong
            return VideoInfo(
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                rate=Fraction(rate),
                time_base=Fraction(time_base),
                frame_count=count,
                duration_s=duration,
                codec=stream.codec_context.name,
                has_audio=bool(container.streams.audio),
                source=str(path),
            )
    except av.error.FFmpegError as exc:
        raise ValueError(f"source {str(path)!r} is not a readable video: {_short(exc)}") from None


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


_END = object()


class VideoReader:
    """Decode a source in a background thread; iterate to get :class:`Frame` objects.

    Use as a context manager so the thread and the file are closed::

        with VideoReader("clip.mp4") as reader:
            print(reader.info.rate)
            for frame in reader:
                ...
    """

    def __init__(
        self,
        source: str | Path,
        *,
        fps: Fraction | float | None = None,  # frames folders have no rate; 24 = DAVIS
        queue_size: int = 8,  # frames decoded ahead: enough to hide decode jitter, small RAM
        max_frames: int | None = None,  # stop after this many frames (None = all)
    ) -> None:
        self.info = probe(source, fps=fps)
        self.path = Path(source)
        self.max_frames = max_frames
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="samvideo-decode", daemon=True)
        self._started = False
        #: decode errors skipped so far, as (frame index after which it happened, message)
        self.skipped: list[tuple[int, str]] = []

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._started:
            raise RuntimeError(f"reader of {str(self.path)!r} can only be iterated once")
        self._started = True
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            frames = self._decode_folder() if self.path.is_dir() else self._decode_file()
            for frame in frames:
                if not self._put(frame):
                    return
                if self.max_frames is not None and frame.index + 1 >= self.max_frames:
                    break
        except BaseException as exc:  # handed to the consumer thread
            self._put(exc)
            return
        self._put(_END)

    def _decode_folder(self) -> Iterator[Frame]:
        size = (self.info.height, self.info.width)
        for index, path in enumerate(list_frame_files(self.path)):
            rgb = _read_image(path)
            if rgb.shape[:2] != size:
                raise ValueError(
                    f"frame {str(path)!r} is {rgb.shape[1]}x{rgb.shape[0]}, the first frame "
                    f"is {size[1]}x{size[0]}: all frames of a folder must have one size"
                )
            yield Frame(index, float(index / self.info.rate), index, rgb)

    def _decode_file(self) -> Iterator[Frame]:
        info = self.info
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            start: int | None = None
            last_pts = -1
            for index, frame in enumerate(self._frames(container, stream)):
                pts = frame.pts
                if pts is None:  # no timestamp: derive one from the frame rate
                    pts = round(index / info.rate / info.time_base) + (start or 0)
                if start is None:
                    start = pts
                rel = pts - start
                if rel <= last_pts:  # keep timestamps strictly increasing for the writer
                    rel = last_pts + 1
                last_pts = rel
                rgb = frame.to_ndarray(format="rgb24")
                if rgb.shape[:2] != (info.height, info.width):
                    rgb = _resize(rgb, info.width, info.height)
                yield Frame(index, float(rel * info.time_base), rel, rgb)

    def _frames(self, container: av.container.InputContainer, stream) -> Iterator[av.VideoFrame]:
        """Decode packet by packet, skipping packets that fail to decode."""
        decoded = 0
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
                decoded += 1
            except av.error.InvalidDataError as exc:
                self.skipped.append((decoded, _short(exc)))


def _resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Frames whose size changes mid-stream are scaled back to the first frame's size."""
    import cv2

    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


class VideoWriter:
    """Write RGB frames as H.264 (yuv420p) with the source's timing.

    Odd widths/heights (which yuv420p cannot hold) are padded by one edge pixel.
    Frames are written with their source ``pts`` in the source ``time_base`` so the
    output has the same frame count, timestamps and duration as the source.
    """

    def __init__(
        self,
        path: str | Path,
        info: VideoInfo,
        *,
        crf: int = 20,  # visually clean overlays at a modest size; 23 is x264's default
        preset: str = "veryfast",  # encoding must not slow tracking down
        audio_from: str | Path | None = None,  # copy this file's first audio stream
    ) -> None:
        self.path = Path(path)
        self.info = info
        self._container = av.open(str(self.path), "w", format="mp4")
        self._stream = self._container.add_stream("libx264", rate=info.rate)
        self._stream.width = info.width + info.width % 2
        self._stream.height = info.height + info.height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = info.time_base
        self._stream.codec_context.time_base = info.time_base
        self._stream.options = {"crf": str(crf), "preset": preset}
        self._audio = None
        if audio_from is not None:
            self._audio = _AudioCopy(audio_from, self._container)
        self._last_pts = -1
        self.frames_written = 0

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, rgb: np.ndarray, pts: int) -> None:
        """Encode one (H, W, 3) uint8 RGB frame at ``pts`` (source time-base units)."""
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
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        if self._audio is not None:
            self._audio.copy(self._last_pts * self.info.time_base)
        self._container.close()
        self._container = None


class _AudioCopy:
    """Copy (remux, no re-encode) the first audio stream of a source into the output."""

    def __init__(self, source: str | Path, out: av.container.OutputContainer) -> None:
        self._input = av.open(str(source))
        self._in_stream = self._input.streams.audio[0]
        self._out = out
        self._out_stream = out.add_stream_from_template(self._in_stream)

    def copy(self, until_s: Fraction | float) -> None:
        start = self._in_stream.start_time or 0
        for packet in self._input.demux(self._in_stream):
            if packet.dts is None:
                continue
            packet.stream = self._out_stream
            packet.pts = None if packet.pts is None else packet.pts - start
            packet.dts = packet.dts - start
            self._out.mux(packet)
        self._input.close()
