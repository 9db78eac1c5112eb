"""The rules every reader of a video file follows: which source frame a decoded picture
is, at what time and at what size. :class:`~samvideo.video.reader.VideoReader` and the
UI's random access (:class:`~samvideo.video.frames.FrameStore`) share them, so the page
shows exactly the frames the tracker sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from samvideo.video.info import VideoInfo, read_image, short_error

MAX_CONTAINER_ERRORS = 20  # consecutive container read errors before giving up on the rest


def constant_rate(stream) -> bool:
    """Whether frame times are multiples of one frame duration (FFmpeg's average rate
    equals its "real base" rate), so a frame's index can be read from its timestamp."""
    average, base = stream.average_rate, stream.base_rate
    return bool(average) and bool(base) and Fraction(average) == Fraction(base)


class FrameClock:
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


def fit(rgb: np.ndarray, info: VideoInfo) -> np.ndarray:
    """An (H', W', 3) uint8 RGB picture at the source's size (``info``): frames whose
    size changes mid-stream are scaled back to the first frame's size."""
    if rgb.shape[:2] == (info.height, info.width):
        return rgb
    return cv2.resize(rgb, (info.width, info.height), interpolation=cv2.INTER_AREA)


def folder_frame(path: Path, info: VideoInfo) -> np.ndarray:
    """One image of a frames folder as (H, W, 3) uint8 RGB at the folder's size;
    ValueError names an unreadable file."""
    return fit(read_image(path), info)


def decode_packets(container: av.container.InputContainer, stream, errors: list[str]
               ) -> Iterator[tuple[av.VideoFrame, int]]:
    """Decode packet by packet; yield ``(frame, packets lost since the last frame)``.

    Packets the decoder rejects are skipped; after damaged container data the
    demuxer is asked to go on (up to ``MAX_CONTAINER_ERRORS`` failures in a row).
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
                    errors.append(f"undecodable packet: {short_error(exc)}")
                    lost += 1
                    continue
                for frame in frames:
                    yield frame, lost
                    lost = 0
            return
        except (av.error.FFmpegError, OSError) as exc:
            failures += 1
            if failures >= MAX_CONTAINER_ERRORS:
                errors.append(f"unreadable container data, rest of the file "
                                    f"given up: {short_error(exc)}")
                return
            errors.append(f"damaged container data: {short_error(exc)}")
