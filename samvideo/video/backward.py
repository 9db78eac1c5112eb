"""Frames of a source from a later frame back to an earlier one (tracking backwards from
a prompt): :class:`ReverseFrames`.

A video cannot be decoded backwards: it is decoded a keyframe interval at a time, from
the last interval to the first (:meth:`FrameStore.runs`), and each interval's frames are
handed out last first. One interval's frames are held at a time, in memory up to
``buffer_mb``, beyond that in a temporary file, so memory stays flat in the clip's
length (and the disk holds one interval at most). A file that cannot seek (no
timestamps) is one interval from its first frame: it goes to the temporary file.
Frames are exactly the reader's (:mod:`samvideo.video.decode`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from samvideo.video.frames import FrameStore
from samvideo.video.info import Frame


class ReverseFrames:
    """Frames ``hi`` down to ``lo`` (source indices, inclusive) of ``store``'s source."""

    def __init__(
        self,
        store: FrameStore,
        lo: int,
        hi: int,
        *,
        buffer_mb: float = 256.0,  # one keyframe interval of 720p is ~2.7 MB a frame
        spill_dir: str | Path | None = None,  # where a longer interval goes (None: /tmp)
    ) -> None:
        if not 0 <= lo <= hi:
            raise ValueError(f"frames {lo}..{hi}: need 0 <= lo <= hi")
        self.store, self.lo, self.hi = store, lo, min(hi, store.count - 1)
        self.buffer_bytes = int(buffer_mb * 1024 * 1024)
        self.spill_dir = spill_dir
        #: the most frames held at once, and whether a temporary file held them
        self.held_max = 0
        self.spilled = False

    def __iter__(self) -> Iterator[Frame]:
        info, times = self.store.info, self.store.times
        for start, first, last in self.store.runs(self.lo, self.hi):
            for index, rgb in self._held(start, first, last):
                yield Frame(index, times[index], round(times[index] / info.time_base), rgb)

    def _held(self, start: int, first: int, last: int) -> Iterator[tuple[int, np.ndarray]]:
        """The run's frames, last first."""
        info = self.store.info
        frame_bytes = info.width * info.height * 3
        count = last - first + 1
        self.held_max = max(self.held_max, count)
        if count * frame_bytes <= self.buffer_bytes:
            frames = list(self.store.decode_run(start, first, last))
            yield from reversed(frames)
            return
        self.spilled = True
        with tempfile.TemporaryFile(dir=self.spill_dir) as f:
            spill = np.memmap(f, np.uint8, "w+", shape=(count, info.height, info.width, 3))
            order = []
            for i, (index, rgb) in enumerate(self.store.decode_run(start, first, last)):
                spill[i] = rgb
                order.append(index)
            for i in range(len(order) - 1, -1, -1):
                yield order[i], np.array(spill[i])
            del spill
