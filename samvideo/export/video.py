"""``overlay.mp4``: the frames with masks, contours, boxes and labels drawn, H.264 with the
source's timing and audio."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from samvideo.annotate import MaskAnnotator
from samvideo.export.base import Resumable, missing, move_into_place, tmp_path
from samvideo.results import FrameResult
from samvideo.video import VideoInfo, VideoWriter, is_stream

_ORIGIN = re.compile(r"origin_s=(\d+(?:/\d+)?)")


class OverlaySink(Resumable):
    """``overlay.mp4``: the frames with masks, contours, boxes and labels drawn.

    The first frame written is the video's t = 0 (a run with ``--start`` gives a video of
    that part); later frames keep their source spacing (variable rates included). The
    source's first frame time is stored in the MP4 ``comment`` (``origin_s=``) so a
    resumed run continues the same timeline. Audio is copied from the source (no
    re-encoding) over the same span.
    """

    def __init__(self, out_dir: Path, info: VideoInfo, *, annotator: MaskAnnotator | None = None,
                 copy_audio: bool = True, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / "overlay.mp4"
        self.tmp = tmp_path(self.final)
        self.info = info
        self.annotator = annotator or MaskAnnotator()
        self.copy_audio = copy_audio and info.has_audio
        self.resume_after = resume_after
        self.notes: list[str] = []
        if self.copy_audio and is_stream(info.source):  # its bytes went to the decoder
            self.copy_audio = False
            self.notes.append("audio not copied: the source is a pipe, read once for video")
        self._writer: VideoWriter | None = None
        self._origin: int | None = None  # source pts (time_base units) of the video's t = 0
        if resume_after is not None:
            if not self.final.is_file():
                raise missing(self.final)
            self._origin = self._read_origin(self.final)

    def _read_origin(self, path: Path) -> int:
        import av

        with av.open(str(path)) as old:
            match = _ORIGIN.search(old.metadata.get("comment", ""))
        if match is None:
            raise ValueError(f"cannot resume {str(path)!r}: it has no samvideo origin_s tag")
        return round(Fraction(match.group(1)) / self.info.time_base)

    def _open(self, origin: int) -> VideoWriter:
        origin_s = origin * self.info.time_base
        audio = self.info.source if self.copy_audio else None
        writer = VideoWriter(self.tmp, self.info, audio_from=audio, audio_start_s=origin_s,
                             comment=f"samvideo overlay; origin_s={origin_s}")
        self.notes += writer.notes
        return writer

    def _write(self, result: FrameResult) -> None:
        if result.image is None:
            raise ValueError(f"frame {result.frame_index} has no image to draw the overlay on")
        pts = round(result.time_s / self.info.time_base)
        if self._writer is None:
            self._writer = self._start(pts)
        self._writer.write(self.annotator.annotate(result.image, result), pts - self._origin)

    def _start(self, pts: int | None) -> VideoWriter:
        if self._origin is None:
            self._origin = pts
        writer = self._open(self._origin)
        if self.resume_after is not None:  # the earlier frames, stream-copied
            writer.copy_from(self.final, before_pts=None if pts is None else pts - self._origin)
        return writer

    def close(self) -> list[Path]:
        if self._writer is None:
            if self.resume_after is None:
                return []  # no frame: no video
            self._writer = self._start(None)
        self._writer.close()
        return [move_into_place(self.tmp, self.final)]
