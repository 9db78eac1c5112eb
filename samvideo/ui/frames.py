"""Random access to the frames of a source, for scrubbing and previews.

A video file is demuxed once on open (no decoding) to build the frame index: the
presentation timestamps in order, and which of them are keyframes. A frame is then
found by seeking to the keyframe before it and decoding forward. Decoded frames are
kept in a small LRU cache (a byte budget), so stepping back and forth is instant.
Frame ``i`` here is frame ``i`` of :class:`samvideo.video.VideoReader` (decoding order,
the same RGB conversion), so prompts given on it mean the same frame to the pipeline.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from pathlib import Path

import av
import numpy as np

from samvideo.video import VideoInfo, list_frame_files, probe


class FrameStore:
    """The frames of one source by index: ``store.frame(i)`` → (H, W, 3) uint8 RGB."""

    def __init__(self, source: str | Path, *, cache_mb: int = 256) -> None:
        self.path = Path(source)
        self.info: VideoInfo = probe(self.path)
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        frame_bytes = self.info.width * self.info.height * 3
        self._cache_size = max(4, cache_mb * 1024 * 1024 // max(frame_bytes, 1))
        self._files: list[Path] = []
        self._pts: list[int] = []  # presentation timestamps in order (video files)
        self._keys: list[int] = []  # indices of keyframes (sorted)
        self._container: av.container.InputContainer | None = None
        if self.path.is_dir():
            self._files = list_frame_files(self.path)
            self.count = len(self._files)
            self.times = [float(i / self.info.rate) for i in range(self.count)]
        else:
            self._index_file()

    # -- the index ---------------------------------------------------------------------

    def _index_file(self) -> None:
        """Demux every packet once: timestamps and keyframes, in presentation order."""
        packets: list[tuple[int, bool]] = []
        seekable = True
        with av.open(str(self.path)) as container:
            for packet in container.demux(container.streams.video[0]):
                if packet.size == 0:  # the demuxer's final flush packet
                    continue
                if packet.pts is None:
                    seekable = False
                    packets.append((len(packets), bool(packet.is_keyframe)))
                else:
                    packets.append((int(packet.pts), bool(packet.is_keyframe)))
        if self.info.frame_count not in (None, len(packets)):
            seekable = False  # the container disagrees: trust decoding, not packets
        if seekable:
            packets.sort()
            self._pts = [p for p, _ in packets]
            self._keys = [i for i, (_, key) in enumerate(packets) if key] or [0]
            self.count = len(self._pts)
            start = self._pts[0] if self._pts else 0
            self.times = [float((p - start) * self.info.time_base) for p in self._pts]
        else:
            self._pts = []
            self.count = self._count_by_decoding()
            self.times = [float(i / self.info.rate) for i in range(self.count)]

    def _count_by_decoding(self) -> int:
        n = 0
        with av.open(str(self.path)) as container:
            for _ in _decode(container):
                n += 1
        return n

    # -- frames ------------------------------------------------------------------------

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as (H, W, 3) uint8 RGB; IndexError outside 0..count-1."""
        if not 0 <= index < self.count:
            raise IndexError(f"frame {index} is out of range: the source has {self.count} "
                             f"frames (0..{self.count - 1})")
        with self._lock:
            cached = self._cache.get(index)
            if cached is not None:
                self._cache.move_to_end(index)
                return cached
            if self._files:
                self._remember(index, _read_image(self._files[index], self.info))
            elif self._pts:
                self._seek_decode(index)
            else:
                self._decode_from_start(index)
            if index not in self._cache:
                raise RuntimeError(f"frame {index} of {str(self.path)!r} could not be decoded")
            return self._cache[index]

    def _remember(self, index: int, rgb: np.ndarray) -> None:
        rgb.flags.writeable = False
        self._cache[index] = rgb
        self._cache.move_to_end(index)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

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
        by_pts = {p: i for i, p in enumerate(self._pts[key:index + 1], start=key)}
        for frame in _decode(container):
            if frame.pts is None or frame.pts > target:
                break
            i = by_pts.get(frame.pts)
            if i is not None:
                self._remember(i, _rgb(frame, self.info))
            if frame.pts == target:
                return
        self._decode_from_start(index)  # the timestamps did not lead there: be exact

    def _decode_from_start(self, index: int) -> None:
        with av.open(str(self.path)) as container:
            for i, frame in enumerate(_decode(container)):
                if i >= index - 8:  # keep the frames just before it too, for stepping back
                    self._remember(i, _rgb(frame, self.info))
                if i == index:
                    return

    def close(self) -> None:
        with self._lock:
            if self._container is not None:
                self._container.close()
                self._container = None
            self._cache.clear()


def _decode(container: av.container.InputContainer):
    """Decode packet by packet, skipping packets that fail (as VideoReader does)."""
    stream = container.streams.video[0]
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            continue


def _rgb(frame: av.VideoFrame, info: VideoInfo) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    if rgb.shape[:2] != (info.height, info.width):
        import cv2

        rgb = cv2.resize(rgb, (info.width, info.height), interpolation=cv2.INTER_AREA)
    return rgb


def _read_image(path: Path, info: VideoInfo) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    if rgb.shape[:2] != (info.height, info.width):
        raise ValueError(f"frame {str(path)!r} is {rgb.shape[1]}x{rgb.shape[0]}, the first "
                         f"frame is {info.width}x{info.height}")
    return rgb
