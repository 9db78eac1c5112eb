"""What a source is before it is decoded: :class:`VideoInfo`, :func:`probe`, the part
of it to read (:class:`FrameRange`), and the records of what decoding found
(:class:`Frame`, :class:`Skipped`, :class:`SourceTimeout`).

Frames inside samvideo are (H, W, 3) uint8 RGB numpy arrays.
"""

from __future__ import annotations

import re
import stat
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


def is_url(source: str | Path) -> bool:
    """True for a URL (``https://host/clip.mp4``), which FFmpeg opens itself."""
    return "://" in str(source)


def probe(source: str | Path, *, fps: Fraction | float | None = None) -> VideoInfo:
    """Describe a video file, a URL of one or a folder of frames without decoding it all.

    Raises ValueError naming the source when it is missing, not a readable video, or a
    pipe (which can be read only once: open it with :class:`VideoReader`).
    """
    if is_url(source):
        return _probe_file(str(source))
    path = Path(source)
    if not path.exists():
        raise ValueError(f"source {str(source)!r} does not exist")
    if path.is_dir():
        return _probe_folder(path, fps)
    if is_stream(path):
        raise ValueError(f"source {str(source)!r} is a pipe or device: it can be read only "
                         "once, so only VideoReader can describe it")
    return _probe_file(path)


def _probe_file(path: Path | str) -> VideoInfo:
    try:
        with av.open(str(path)) as container:
            return container_info(container, path)
    except av.error.FFmpegError as exc:
        raise ValueError(f"source {str(path)!r} is not a readable video: "
                         f"{short_error(exc)}") from None
    except OSError as exc:  # e.g. permission denied before FFmpeg sees the file
        raise ValueError(f"source {str(path)!r} is not readable: {exc.strerror or exc}") from None


def container_info(container: av.container.InputContainer, path: Path | str) -> VideoInfo:
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
    if context.name == "ansi":  # FFmpeg shows a text file as a terminal's picture of it
        raise ValueError(f"source {str(path)!r} is text, not a video")
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


def natural_key(path: Path) -> list:
    """Sort key of a file name: digit runs compare as numbers (2 before 10), the rest
    case-folded."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_frame_files(folder: Path) -> list[Path]:
    """Sorted (natural order: 2 before 10) JPEG/PNG files of a frames folder."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=natural_key)


def _probe_folder(folder: Path, fps: Fraction | float | None) -> VideoInfo:
    files = list_frame_files(folder)
    if not files:
        raise ValueError(f"source folder {str(folder)!r} holds no .jpg/.jpeg/.png frames")
    first = read_image(files[0])
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


def read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(f"frame {str(path)!r} is not a readable image: {exc}") from None


def short_error(exc: BaseException) -> str:
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

