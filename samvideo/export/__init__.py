"""Sinks: every output format samvideo writes, each streaming frame by frame.

Each sink writes under a temporary name and moves its output into place in
``close``, so a file under its final name is always a whole, readable file (an
interrupted run closes its sinks too: the files are readable, and ``run.json`` says
``interrupted``). Memory stays flat: no sink holds more than one frame's pixels.

Every sink factory takes ``resume_after``: when set, the sink keeps what its final
output already holds for source frames ``<= resume_after``, ignores frames up to
there if they are written again, and appends the frames after it, so that an
interrupted run continued with ``--resume`` gives the same files as an uninterrupted
one.

=============  ============================  ===========================================
``--export``   file                          content
=============  ============================  ===========================================
video          overlay.mp4                   H.264 overlay, source timing, audio copied
davis          masks/00000.png …             indexed PNG, DAVIS palette, 0 = background
davis-binary   masks-binary/001/00000.png …  black/white PNG per object per frame
cutout         cutout/001/00000.png …        RGBA PNG per object: alpha = the mask
jsonl          tracks.jsonl                  one line per frame per object
coco           masks.coco.json               pycocotools RLE per frame per object
npz            masks.npz                     (T, H, W) uint8 labels + boxes, scores
mots           masks.mots.txt                KITTI MOTS text format
=============  ============================  ===========================================

PNG files are named by source frame index (``00042.png`` is source frame 42).

A checkpoint (:meth:`SinkThread.checkpoint`) makes every sink's temporary files whole up
to the last frame written; :func:`recover_outputs` turns what a killed run left into
the outputs it had at its last checkpoint.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from samvideo.annotate import MaskAnnotator
from samvideo.export.base import Categories, Sink, object_masks
from samvideo.export.images import CutoutSink, DavisBinarySink, DavisSink
from samvideo.export.records import MOTS_CLASS_ID, CocoSink, JsonlSink, MotsSink, NpzSink
from samvideo.export.video import OverlaySink
from samvideo.results import FrameResult
from samvideo.video import VideoInfo

DEFAULT_EXPORTS = ("video", "davis", "jsonl")

SinkFactory = Callable[..., Sink]  # (out_dir, info, *, resume_after=None) -> Sink
EXPORTERS: dict[str, SinkFactory] = {
    "video": OverlaySink,
    "davis": DavisSink,
    "davis-binary": DavisBinarySink,
    "cutout": CutoutSink,
    "jsonl": JsonlSink,
    "coco": CocoSink,
    "npz": NpzSink,
    "mots": MotsSink,
}


def parse_exports(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"video,davis"`` → ``("video", "davis")``; ValueError names an unknown format."""
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    if not names:
        raise ValueError("--export is empty: choose from " + ", ".join(EXPORTERS))
    for name in names:
        if name not in EXPORTERS:
            raise ValueError(f"unknown export format {name!r}: choose from {', '.join(EXPORTERS)}")
    return tuple(dict.fromkeys(names))


def make_sinks(names: Sequence[str], out_dir: Path, info: VideoInfo, *,
               annotator: MaskAnnotator | None = None,
               resume_after: int | None = None,
               categories: Categories | None = None) -> list[Sink]:
    """One sink per export name (see :data:`EXPORTERS`); ``resume_after`` continues an
    interrupted run's outputs after that source frame; ``categories`` numbers the object
    names for COCO and MOTS (a run gives its prompts' names, in order)."""
    sinks: list[Sink] = []
    categories = categories or Categories()
    for name in names:
        if name == "video":
            sinks.append(OverlaySink(out_dir, info, annotator=annotator,
                                     resume_after=resume_after))
        elif name in ("coco", "mots"):
            sinks.append(EXPORTERS[name](out_dir, info, resume_after=resume_after,
                                         categories=categories))
        else:
            sinks.append(EXPORTERS[name](out_dir, info, resume_after=resume_after))
    return sinks


def recover_outputs(names: Sequence[str], out_dir: Path, info: VideoInfo, data: dict,
                    last_frame: int) -> None:
    """Turn the temporary files of a killed run into final outputs holding exactly the
    frames up to ``last_frame``, its last checkpoint (``data``: each sink's
    :meth:`~Sink.checkpoint` data by export name)."""
    for name in names:
        EXPORTERS[name].recover(out_dir, info, data.get(name) or {}, last_frame)


_STOP = object()


class _Checkpoint:
    """Queued after the frames it covers: the writer thread checkpoints every sink, then
    hands their data to ``save``."""

    def __init__(self, save: Callable[[dict], None]) -> None:
        self.save = save


class SinkThread:
    """Run sinks in a background thread behind a bounded queue (drawing and H.264
    encoding overlap with tracking). Errors surface on the next ``write`` or ``close``."""

    def __init__(self, sinks: Sequence[Sink], *, queue_size: int = 8) -> None:
        self.sinks = list(sinks)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self.seconds = 0.0
        self.frames = 0
        self.checkpoints = 0
        self.checkpoint_s = 0.0  # time the checkpoints took, in this thread
        self._thread = threading.Thread(target=self._run, name="samvideo-write", daemon=True)
        self._thread.start()

    @property
    def notes(self) -> list[str]:
        """What the sinks want the user to know (e.g. audio that could not be copied)."""
        return [n for sink in self.sinks for n in getattr(sink, "notes", ())]

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue
            try:
                t0 = time.perf_counter()
                if isinstance(item, _Checkpoint):
                    item.save({sink.export: sink.checkpoint() for sink in self.sinks})
                    self.checkpoint_s += time.perf_counter() - t0
                    self.checkpoints += 1
                    continue
                for sink in self.sinks:
                    sink.write(item)
                self.seconds += time.perf_counter() - t0
                self.frames += 1
            except BaseException as exc:  # reported to the caller
                self._error = exc

    def write(self, result: FrameResult) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(result)

    def checkpoint(self, save: Callable[[dict], None]) -> None:
        """Once the frames written so far are written, make every sink's files whole up
        to them and call ``save`` with their checkpoint data (by export name), in the
        writer thread."""
        if self._error is not None:
            raise self._error
        self._queue.put(_Checkpoint(save))

    def close(self) -> list[Path]:
        self._queue.put(_STOP)
        self._thread.join()
        paths: list[Path] = []
        for sink in self.sinks:  # close every sink, so each leaves a readable file
            try:
                paths += sink.close()
            except BaseException as exc:
                self._error = self._error or exc
        if self._error is not None:
            raise self._error
        return paths


def write_all(results: Iterable[FrameResult], sinks: Sequence[Sink]) -> list[Path]:
    """Write every result to every sink in this thread and close them (for tests and
    callers who bring their own results)."""
    try:
        for result in results:
            for sink in sinks:
                sink.write(result)
    finally:
        paths = [p for sink in sinks for p in sink.close()]
    return paths


__all__ = ["DEFAULT_EXPORTS", "EXPORTERS", "MOTS_CLASS_ID", "Categories", "CocoSink", "CutoutSink",
           "DavisBinarySink", "DavisSink", "JsonlSink", "MotsSink", "NpzSink", "OverlaySink",
           "Sink", "SinkThread", "make_sinks", "object_masks", "parse_exports",
           "recover_outputs", "write_all"]
