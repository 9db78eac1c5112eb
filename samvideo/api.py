"""The Python API: :func:`track` a source, get one :class:`FrameResult` per frame.

::

    import samvideo

    for result in samvideo.track("clip.mp4", box=(35, 129, 88, 171)):
        mask = result[1].mask            # (H, W) bool of object 1
        arrays = result.to_numpy()       # masks (N, H, W), boxes_xyxy (N, 4), scores (N,)

With ``output="out/"`` the same run also writes the exports (``overlay.mp4``,
``masks/``, ``tracks.jsonl``, …) and ``run.json``, exactly as ``samvideo track`` does.
For frames you bring yourself (a webcam loop, a robot), use :class:`samvideo.Tracker`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from samvideo.annotate import MaskAnnotator
from samvideo.export import DEFAULT_EXPORTS, parse_exports
from samvideo.pipeline import (
    RunOptions,
    RunSummary,
    check_prompts,
    iter_track,
    prompts_at_start,
    run,
)
from samvideo.prompts import ObjectPrompt
from samvideo.results import FrameResult
from samvideo.segmenters.base import Segmenter
from samvideo.tracker import TrackerConfig
from samvideo.video import FrameRange, Position, VideoInfo, VideoReader, is_stream, probe

_DONE = object()


def build_prompts(
    box: Any = None,
    points: Any = None,
    neg_points: Any = None,
) -> list[ObjectPrompt]:
    """Prompts on the first frame from ``box`` (one XYXY box, or an (N, 4) array / list of
    boxes: one object each, ids 1..N) and ``points`` / ``neg_points`` ((x, y) pairs for
    the single object). ValueError names what is malformed."""
    boxes = [] if box is None else np.asarray(box, dtype=float)
    if box is not None:
        if boxes.shape == (4,):
            boxes = boxes[None]
        if boxes.ndim != 2 or boxes.shape[1] != 4 or not len(boxes):
            raise ValueError(f"box={box!r}: give (x1, y1, x2, y2) or an (N, 4) array of them")
    pos = _points(points, "points")
    neg = _points(neg_points, "neg_points")
    if len(boxes) > 1 and (pos or neg):
        raise ValueError("points belong to one object: with several boxes, give "
                         "prompts=[ObjectPrompt(...), ...] instead")
    if not len(boxes):
        if not pos:
            raise ValueError("no object to track: give box=(x1, y1, x2, y2) and/or points")
        return [ObjectPrompt(1, None, pos, neg)]
    return [ObjectPrompt(i, tuple(float(v) for v in b), pos if i == 1 else (),
                         neg if i == 1 else ()) for i, b in enumerate(boxes, start=1)]


def _points(value: Any, name: str) -> tuple[tuple[float, float], ...]:
    if value is None:
        return ()
    arr = np.asarray(value, dtype=float)
    if arr.shape == (2,):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name}={value!r}: give (x, y) pairs, e.g. [(65, 148)]")
    return tuple((float(x), float(y)) for x, y in arr)


def load_model(model: str | Segmenter = "auto", *, checkpoint: str | Path | None = None,
               device: str = "auto", precision: str = "auto") -> tuple[Segmenter, str]:
    """A segmenter by ``--model`` name (or the given one) and a line saying which it is
    (``"auto"`` takes the best cached SAM checkpoint, else GrabCut)."""
    if not isinstance(model, str):
        return model, f"model {getattr(model, 'name', type(model).__name__)}"
    from samvideo.segmenters import build_segmenter, resolve_model

    name, reason = resolve_model(model, checkpoint)
    options = {} if name == "grabcut" else {"device": device, "precision": precision}
    return build_segmenter(name, checkpoint=checkpoint, **options), reason


class Tracking:
    """One tracking run: iterate it for :class:`FrameResult` objects in source order.

    Made by :func:`track`. Iterating to the end finishes the run (and its outputs);
    leaving early (``break``, an exception, :meth:`close`) stops it after the current
    frame: with ``output`` the files are closed and readable and ``run.json`` says
    ``interrupted``. Use it in a ``with`` block, or iterate it to the end.

    Attributes:
        info: the source's :class:`VideoInfo` (size, exact rate, time base).
        model: which segmenter runs, in words.
        summary: the :class:`RunSummary` (outputs, timings) once a run with ``output``
            has ended; None before, and without ``output``.
    """

    def __init__(self, source: str | Path, prompts: list[ObjectPrompt], segmenter: Segmenter,
                 model: str, options: RunOptions, output: Path | None) -> None:
        self.source, self.prompts, self.segmenter = source, prompts, segmenter
        self.model, self.options, self.output = model, options, output
        self.summary: RunSummary | None = None
        self._stop = threading.Event()
        self._reader: VideoReader | None = None
        self._thread: threading.Thread | None = None
        self._started = False
        part = FrameRange(options.start, options.end,
                          None if options.start is None else options.max_frames)
        if output is None:  # open now, so bad input fails here rather than on next()
            self._reader = VideoReader(source, fps=options.fps, frames=part,
                                       max_frames=None if part.start is not None
                                       else options.max_frames)
            self.info = self._reader.info
            if part.start is not None:
                self.prompts = prompts_at_start(prompts, self._reader.peek(), part)
            self.prompts, self.notes = check_prompts(self.prompts, self.info)
        else:
            out = Path(output)
            if out.is_dir() and any(out.iterdir()) and not (options.overwrite or options.resume):
                raise ValueError(f"output folder {str(out)!r} is not empty: pass "
                                 "overwrite=True or another folder")
            self.info = self._describe(source, options)

    @staticmethod
    def _describe(source: str | Path, options: RunOptions) -> VideoInfo | None:
        """The source's description (None for a pipe: it is read once, by the run)."""
        return None if is_stream(source) else probe(source, fps=options.fps)

    def __enter__(self) -> Tracking:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[FrameResult]:
        if self._started:
            raise RuntimeError("a Tracking can be iterated once: call samvideo.track() again")
        self._started = True
        return self._with_output() if self.output is not None else self._frames_only()

    def _frames_only(self) -> Iterator[FrameResult]:
        assert self._reader is not None
        try:
            yield from iter_track(self._reader, self.prompts, self.segmenter,
                                  config=self.options.config, batch=self.options.batch,
                                  stop=self._stop)
        finally:
            self._reader.close()

    def _with_output(self) -> Iterator[FrameResult]:
        """:func:`samvideo.pipeline.run` in a worker thread, its frames handed over here."""
        handoff: queue.Queue = queue.Queue(maxsize=2)

        def on_frame(result: FrameResult, info: VideoInfo) -> None:
            self.info = info
            while not self._stop.is_set():
                try:
                    handoff.put(result, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def work() -> None:
            try:
                self.summary = run(self.source, self.prompts, self.segmenter, self.options,
                                   on_frame=on_frame, stop=self._stop)
                handoff.put(_DONE)
            except BaseException as exc:  # handed to the consumer
                handoff.put(exc)

        self._thread = threading.Thread(target=work, name="samvideo-api", daemon=True)
        self._thread.start()
        try:
            while True:
                item = handoff.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()
            while self._thread.is_alive():  # let run() close the outputs
                try:
                    handoff.get(timeout=0.1)
                except queue.Empty:
                    continue

    def close(self) -> None:
        """Stop after the current frame; with ``output``, wait until the files are closed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._reader is not None:
            self._reader.close()


def track(
    source: str | Path,
    box: Any = None,
    points: Any = None,
    neg_points: Any = None,
    *,
    prompts: Sequence[ObjectPrompt] | None = None,
    model: str | Segmenter = "auto",
    checkpoint: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    output: str | Path | None = None,
    exports: str | Sequence[str] = DEFAULT_EXPORTS,
    overwrite: bool = False,
    start: str | Position | None = None,
    end: str | Position | None = None,
    max_frames: int | None = None,
    fps: Fraction | float | None = None,
    config: TrackerConfig | None = None,
    annotator: MaskAnnotator | None = None,
    batch: int = 1,
) -> Tracking:
    """Track objects through ``source`` (a video file, a folder of frames, or ``"-"`` for
    standard input); iterate the result for one :class:`FrameResult` per frame.

    Args:
        box: the object's box on the first frame, XYXY pixels (x2, y2 exclusive), or an
            (N, 4) array of boxes for N objects (ids 1..N).
        points, neg_points: foreground / background clicks (x, y) for the one object.
        prompts: instead of the three above: :class:`ObjectPrompt` objects (several
            objects, objects that start later, points per object).
        model: ``"auto"`` (best cached SAM checkpoint, else GrabCut), ``"vit_b"`` …,
            ``"grabcut"``, or a ready :class:`Segmenter`.
        output: a folder: also write ``exports`` there (as ``samvideo track -o``).
        start, end: track from / up to (not including) a frame number (``120``) or a
            time (``"2.5s"``, ``2.5``) — results keep source frame numbers; boxes are
            on the first frame tracked.
        max_frames: stop after this many frames.

    Raises ValueError naming a bad argument or source (before anything is tracked).
    """
    if prompts is not None and (box is not None or points is not None or neg_points is not None):
        raise ValueError("give either prompts=[...] or box/points, not both")
    prompts = list(prompts) if prompts is not None else build_prompts(box, points, neg_points)
    source = "/dev/stdin" if str(source) == "-" else source
    part = FrameRange.parse(start, end)
    exports = parse_exports(exports)
    segmenter, reason = load_model(model, checkpoint=checkpoint, device=device,
                                   precision=precision)
    options = RunOptions(
        output=Path(output) if output is not None else Path("."), exports=exports,
        overwrite=overwrite, max_frames=max_frames, batch=batch, start=part.start,
        end=part.end, fps=None if fps is None else Fraction(fps),
        annotator=annotator or MaskAnnotator(), config=config or TrackerConfig(),
        inputs={"api": "samvideo.track", "source": str(source),
                "prompts": [vars(p) for p in prompts], "model": str(model)},
    )
    return Tracking(source, prompts, segmenter, reason,
                    options, None if output is None else Path(output))
