"""Random access to the frames of a source by index, for scrubbing and previews.

Frame ``i`` here is frame ``i`` of :class:`~samvideo.video.reader.VideoReader`: the same
index and time for every decoded picture, the same RGB conversion and the same scaling
of a frame whose size changes (:mod:`samvideo.video.decode`), and the same gaps where a
frame is missing from the stream. A file whose packets all have timestamps is
indexed by one demux pass through the reader's clock (no decoding), and a frame is
found by seeking to the keyframe before it; any other file (missing timestamps, a
container that miscounts its frames) is indexed by decoding it once. Decoded frames
are kept in a small LRU cache (a byte budget), so stepping back and forth is instant.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from samvideo.video.decode import FrameClock, constant_rate, decode_packets, fit, folder_frame
from samvideo.video.info import VideoInfo, list_frame_files, probe, short_error


class FrameStore:
    """The frames of one source by index: ``store.frame(i)`` → (H, W, 3) uint8 RGB.

    Attributes:
        info: the source's :class:`VideoInfo`.
        count: one more than the last frame index (indices of missing frames included).
        times: (count,) presentation time in seconds of each index.
        missing: indices with no frame (a gap the reader skips too).
    """

    def __init__(
        self,
        source: str | Path,
        *,
        fps: Fraction | float | None = None,  # frames folders have no rate (the reader's 24)
        cache_mb: int = 256,  # decoded frames kept: a few seconds of 1080p
    ) -> None:
        self.path = Path(source)
        self.info: VideoInfo = probe(self.path, fps=fps)
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        frame_bytes = self.info.width * self.info.height * 3
        self._cache_size = max(4, cache_mb * 1024 * 1024 // max(frame_bytes, 1))
        self._files: list[Path] = []
        self._pts: dict[int, int] = {}  # index -> source pts (seekable files)
        self._keys: list[int] = []  # indices of keyframes, sorted (seekable files)
        self._container: av.container.InputContainer | None = None
        self.missing: set[int] = set()
        if self.path.is_dir():
            self._files = list_frame_files(self.path)
            self.count = len(self._files)
            self.times = [float(i / self.info.rate) for i in range(self.count)]
        else:
            self._index_file()

    # -- the index ---------------------------------------------------------------------

    def _index_file(self) -> None:
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            packets = [(p.pts, bool(p.is_keyframe)) for p in container.demux(stream)
                       if p.size > 0]  # size 0: the demuxer's final flush packet
            seekable = (all(pts is not None for pts, _ in packets)
                        and self.info.frame_count in (None, len(packets)))
            clock = FrameClock(self.info, stream.start_time, constant_rate(stream))
        placed: dict[int, tuple[float, int | None, bool]] = {}  # index -> (time, pts, key)
        if seekable:
            for pts, key in sorted(packets):
                index, rel = clock.place(pts, 0)
                placed[index] = (float(rel * self.info.time_base), pts, key)
        else:
            placed = {i: (t, None, False) for i, t in self._scan()}
        self.count = max(placed, default=-1) + 1
        self.missing = set(range(self.count)) - set(placed)
        self.times = [placed[i][0] if i in placed else float(i / self.info.rate)
                      for i in range(self.count)]
        if seekable:
            self._pts = {i: pts for i, (_, pts, _) in placed.items()}
            self._keys = sorted(i for i, (_, _, key) in placed.items() if key) or [min(placed)]

    def _scan(self) -> list[tuple[int, float]]:
        """(index, time) of every frame, placed by decoding the whole file once as the
        reader does (its clock, its handling of packets that fail)."""
        placed: list[tuple[int, float]] = []
        self._decode_from_start(lambda index, time_s, frame: placed.append((index, time_s)))
        return placed

    def _decode_from_start(self, visit) -> None:
        """Decode from the start, calling ``visit(index, time_s, av.VideoFrame)`` for every
        frame as the reader places it, until ``visit`` returns True."""
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            clock = FrameClock(self.info, stream.start_time, constant_rate(stream))
            for frame, lost in decode_packets(container, stream, []):
                index, rel = clock.place(frame.pts, lost)
                if visit(index, float(rel * self.info.time_base), frame):
                    return

    # -- frames ------------------------------------------------------------------------

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as (H, W, 3) uint8 RGB (read-only); IndexError outside
        0..count-1, RuntimeError for a frame the source does not hold or that cannot be
        decoded."""
        if not 0 <= index < self.count:
            raise IndexError(f"frame {index} is out of range: the source has {self.count} "
                             f"frames (0..{self.count - 1})")
        if index in self.missing:
            raise RuntimeError(f"frame {index} of {str(self.path)!r} is missing from the "
                               "source (damaged or dropped data): it is not tracked either")
        with self._lock:
            cached = self._cache.get(index)
            if cached is not None:
                self._cache.move_to_end(index)
                return cached
            try:
                if self._files:
                    self._remember(index, folder_frame(self._files[index], self.info))
                elif self._pts:
                    self._seek_decode(index)
                else:
                    self._decode_up_to(index)
            except (ValueError, av.error.FFmpegError) as exc:
                raise RuntimeError(f"frame {index} of {str(self.path)!r} could not be "
                                   f"decoded: {short_error(exc)}") from None
            if index not in self._cache:
                raise RuntimeError(f"frame {index} of {str(self.path)!r} could not be decoded")
            return self._cache[index]

    # -- runs of frames (decoding backwards, a keyframe interval at a time) ---------------

    def runs(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Frames ``lo..hi`` (inclusive) as ``(start, first, last)`` runs, last run first:
        each is decoded from its ``start`` (a keyframe, or 0 where the file cannot seek)
        and holds the frames ``first..last`` of ``lo..hi``."""
        if self._files:
            return [(i, i, i) for i in range(hi, lo - 1, -1)]
        if not self._pts:
            return [(0, lo, hi)]
        runs = []
        keys = [k for k in self._keys if k <= hi]
        for j in range(len(keys) - 1, -1, -1):
            first, last = max(keys[j], lo), min(hi, keys[j + 1] - 1) if j + 1 < len(keys) else hi
            if first <= last:
                runs.append((keys[j], first, last))
            if keys[j] <= lo:
                break
        return runs

    def decode_run(self, start: int, first: int, last: int):
        """``(index, (H, W, 3) uint8 RGB)`` of frames ``first..last``, decoded from frame
        ``start`` (from :meth:`runs`), in source order; frames the source lacks are left
        out. Nothing is cached (a long run would push the page's frames out)."""
        if self._files:
            for i in range(first, last + 1):
                if i not in self.missing:
                    yield i, folder_frame(self._files[i], self.info)
            return
        if not self._pts:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                clock = FrameClock(self.info, stream.start_time, constant_rate(stream))
                for frame, lost in decode_packets(container, stream, []):
                    index, _ = clock.place(frame.pts, lost)
                    if index > last:
                        return
                    if index >= first:
                        yield index, self._picture(frame)
            return
        by_pts = {self._pts[i]: i for i in range(start, last + 1) if i in self._pts}
        if not by_pts:
            return
        limit = max(by_pts)
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            container.seek(self._pts[start], stream=stream, backward=True, any_frame=False)
            for frame, _ in decode_packets(container, stream, []):
                if frame.pts is None or frame.pts > limit:
                    return
                i = by_pts.get(frame.pts)
                if i is not None and i >= first:
                    yield i, self._picture(frame)
                if frame.pts == limit:
                    return

    def _remember(self, index: int, rgb: np.ndarray) -> None:
        rgb.flags.writeable = False
        self._cache[index] = rgb
        self._cache.move_to_end(index)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _picture(self, frame: av.VideoFrame) -> np.ndarray:
        return fit(frame.to_ndarray(format="rgb24"), self.info)

    def _open(self) -> av.container.InputContainer:
        if self._container is None:
            self._container = av.open(str(self.path))
        return self._container

    def _seek_decode(self, index: int) -> None:
        """Seek to the keyframe at or before ``index``, decode forward to it, and cache
        the frames passed on the way."""
        key = self._keys[max(bisect.bisect_right(self._keys, index) - 1, 0)]
        container = self._open()
        stream = container.streams.video[0]
        container.seek(self._pts[key], stream=stream, backward=True, any_frame=False)
        target = self._pts[index]
        by_pts = {self._pts[i]: i for i in range(key, index + 1) if i in self._pts}
        for frame, _ in decode_packets(container, stream, []):
            if frame.pts is None or frame.pts > target:
                break
            i = by_pts.get(frame.pts)
            if i is not None:
                self._remember(i, self._picture(frame))
            if frame.pts == target:
                return
        self._decode_up_to(index)  # the timestamps did not lead there: be exact

    def _decode_up_to(self, index: int) -> None:
        """Decode from the start up to ``index``, caching the frames just before it too
        (for stepping back)."""

        def visit(i: int, time_s: float, frame: av.VideoFrame) -> bool:
            if i >= index - 8:
                self._remember(i, self._picture(frame))
            return i >= index

        self._decode_from_start(visit)

    def close(self) -> None:
        with self._lock:
            if self._container is not None:
                self._container.close()
                self._container = None
            self._cache.clear()
