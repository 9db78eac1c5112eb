"""``overlay.mp4``: the frames with masks, contours, boxes and labels drawn, H.264 with the
source's timing and audio."""

from __future__ import annotations

import os
import re
import shutil
from fractions import Fraction
from pathlib import Path

from samvideo.annotate import MaskAnnotator
from samvideo.export.base import Resumable, missing, move_into_place, tmp_path
from samvideo.results import FrameResult
from samvideo.video import VideoInfo, VideoWriter, is_stream

_ORIGIN = re.compile(r"origin_s=(\d+(?:/\d+)?)")
_BASE = "base.mp4"  # a resumed run's earlier overlay, linked into the segments folder


class OverlaySink(Resumable):
    """``overlay.mp4``: the frames with masks, contours, boxes and labels drawn.

    The first frame written is the video's t = 0 (a run with ``--start`` gives a video of
    that part); later frames keep their source spacing (variable rates included). The
    source's first frame time is stored in the MP4 ``comment`` (``origin_s=``) so a
    resumed run continues the same timeline. Audio is copied from the source (no
    re-encoding) over the same span.

    While it runs, the video is written as segments in ``.overlay.mp4.part/``, named by
    the pts of their first frame (``info.time_base`` units from t = 0): a checkpoint
    closes the segment in progress, so every frame up to it is in whole MP4 files that
    survive the process being killed. ``close`` joins the segments packet for packet
    (no re-encoding) with the audio into ``overlay.mp4``.
    """

    export = "video"
    filename = "overlay.mp4"

    def __init__(self, out_dir: Path, info: VideoInfo, *, annotator: MaskAnnotator | None = None,
                 copy_audio: bool = True, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / self.filename
        self.tmp = tmp_path(self.final)
        self.info = info
        self.annotator = annotator or MaskAnnotator()
        self.copy_audio = _copies_audio(info, copy_audio)
        self.resume_after = resume_after
        self.notes: list[str] = []
        if info.has_audio and copy_audio and not self.copy_audio:
            self.notes.append("audio not copied: the source is a pipe, read once for video")
        #: closed segments in order: (file name in ``tmp``, shift, copy frames before pts)
        self._segments: list[tuple[str, int, int | None]] = []
        self._writer: VideoWriter | None = None
        self._segment: tuple[str, int] | None = None  # the open segment: (name, first pts)
        self._origin: int | None = None  # source pts (time_base units) of the video's t = 0
        self._last_pts = -1  # pts (from t = 0) of the last frame written
        if self.tmp.exists():
            shutil.rmtree(self.tmp) if self.tmp.is_dir() else self.tmp.unlink()
        self.tmp.mkdir(parents=True)
        if resume_after is not None:
            if not self.final.is_file():
                raise missing(self.final)
            self._origin = read_origin(self.final, info)
            _link(self.final, self.tmp / _BASE)  # the earlier frames, stream-copied at close
            self._segments.append((_BASE, 0, None))

    def _write(self, result: FrameResult) -> None:
        if result.image is None:
            raise ValueError(f"frame {result.frame_index} has no image to draw the overlay on")
        pts = round(result.time_s / self.info.time_base)
        if self._origin is None:
            self._origin = pts
        pts = max(pts - self._origin, self._last_pts + 1)
        if self._segments and self._segments[-1][0] == _BASE and self._segments[-1][2] is None:
            self._segments[-1] = (_BASE, 0, pts)  # the earlier video ends where this begins
        if self._writer is None:
            name = f"{pts:012d}.mp4"
            self._writer = VideoWriter(self.tmp / name, self.info)
            self._segment = (name, pts)
        self._writer.write(self.annotator.annotate(result.image, result), pts - self._segment[1])
        self._last_pts = pts

    def checkpoint(self) -> dict:
        """Close the segment in progress (the next frame opens another)."""
        if self._writer is not None:
            self._writer.close()
            self._segments.append((self._segment[0], self._segment[1], None))
            self._writer, self._segment = None, None
        return {"origin": self._origin, "last_pts": self._last_pts,
                "segments": [list(s) for s in self._segments]}

    @classmethod
    def recover(cls, out_dir: Path, info: VideoInfo, data: dict, last_frame: int) -> None:
        """Join the segments the killed run had closed at its checkpoint (the one it was
        writing is not a whole file) into ``overlay.mp4``."""
        final = Path(out_dir) / cls.filename
        tmp = tmp_path(final)
        if data.get("origin") is None:
            return
        if tmp.is_dir():
            segments = [(tmp / name, shift, before) for name, shift, before in data["segments"]]
        elif final.is_file():  # killed after its segments were joined: keep the checkpoint's
            segments = [(final, 0, int(data["last_pts"]) + 1)]
        else:
            return
        notes: list[str] = []
        _join(final, info, int(data["origin"]), segments, _copies_audio(info, True), notes)
        shutil.rmtree(tmp, ignore_errors=True)

    def close(self) -> list[Path]:
        self.checkpoint()
        if not self._segments:  # no frame: no video
            shutil.rmtree(self.tmp)
            return []
        segments = [(self.tmp / name, shift, before) for name, shift, before in self._segments]
        final = _join(self.final, self.info, self._origin, segments, self.copy_audio, self.notes)
        shutil.rmtree(self.tmp)
        return [final]


def _copies_audio(info: VideoInfo, wanted: bool) -> bool:
    """Whether the overlay can carry the source's audio: not from a pipe, whose bytes
    went to the decoder."""
    return wanted and info.has_audio and not is_stream(info.source)


def read_origin(path: Path, info: VideoInfo) -> int:
    """The source pts (``info.time_base`` units) of an overlay's t = 0, from its comment."""
    import av

    with av.open(str(path)) as old:
        match = _ORIGIN.search(old.metadata.get("comment", ""))
    if match is None:
        raise ValueError(f"cannot resume {str(path)!r}: it has no samvideo origin_s tag")
    return round(Fraction(match.group(1)) / info.time_base)


def _join(final: Path, info: VideoInfo, origin: int,
          segments: list[tuple[Path, int, int | None]], copy_audio: bool,
          notes: list[str]) -> Path:
    """Stream-copy ``segments`` ((file, shift, before pts) in order) into ``final`` with the
    source's audio from the overlay's origin; audio notes go to ``notes``."""
    origin_s = origin * info.time_base
    joined = final.with_name(f".{final.name}.join.part")
    writer = VideoWriter(joined, info, audio_from=info.source if copy_audio else None,
                         audio_start_s=origin_s, comment=f"samvideo overlay; origin_s={origin_s}")
    try:
        for path, shift, before in segments:
            writer.copy_from(path, before_pts=None if before is None else before - shift,
                             shift=shift)
    finally:
        writer.close()
    notes += [n for n in writer.notes if n not in notes]
    return move_into_place(joined, final)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
