"""Wiring: source → encoder (its own thread, look-ahead batches) → tracker → sinks.

:func:`iter_track` is a generator that yields one :class:`FrameResult` per frame (the
Python API); :func:`run` adds the output folder, the sinks and ``run.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from samvideo import __version__
from samvideo.annotate import MaskAnnotator
from samvideo.export import DEFAULT_EXPORTS, SinkThread, make_sinks, parse_exports
from samvideo.prompts import ObjectPrompt, fit_to_frame
from samvideo.results import FrameResult
from samvideo.segmenters.base import Segmenter
from samvideo.tracker import Tracker, TrackerConfig
from samvideo.video import Frame, VideoInfo, VideoReader

_END = object()


@dataclass
class Timings:
    """Seconds spent per stage (stages run in parallel threads, so they overlap)."""

    decode: float = 0.0
    encode: float = 0.0
    track: float = 0.0
    write: float = 0.0
    total: float = 0.0
    frames: int = 0

    def per_frame(self) -> dict[str, float]:
        n = max(self.frames, 1)
        return {k: round(v / n, 5) for k, v in asdict(self).items() if k != "frames"}


class _Encoded:
    """Frames with their embeddings, computed ``batch`` at a time in a background thread."""

    def __init__(self, frames: Iterator[Frame], segmenter: Segmenter, batch: int,
                 timings: Timings) -> None:
        self._frames = frames
        self._segmenter = segmenter
        self._batch = batch
        self._timings = timings
        self._queue: queue.Queue = queue.Queue(maxsize=max(2 * batch, 2))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="samvideo-encode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            chunk: list[Frame] = []
            for frame in self._frames:
                chunk.append(frame)
                if len(chunk) == self._batch:
                    self._emit(chunk)
                    chunk = []
                if self._stop.is_set():
                    return
            if chunk:
                self._emit(chunk)
            self._put(_END)
        except BaseException as exc:  # handed over to the consumer
            self._put(exc)

    def _emit(self, chunk: list[Frame]) -> None:
        t0 = time.perf_counter()
        embeddings = self._segmenter.encode([f.rgb for f in chunk])
        self._timings.encode += time.perf_counter() - t0
        for frame, emb in zip(chunk, embeddings, strict=True):
            self._put((frame, emb))

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[tuple[Frame, Any]]:
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


def check_prompts(prompts: Sequence[ObjectPrompt], info: VideoInfo) -> tuple[list, list[str]]:
    """Validate prompts against the source: clip boxes, refuse what lies outside.

    Returns the fitted prompts and notes for the user (e.g. a clipped box).
    """
    if not prompts:
        raise ValueError("no object to track: give --box X1,Y1,X2,Y2 (or --point X,Y, "
                         "or --prompts FILE.json)")
    fitted, notes = [], []
    for p in prompts:
        q, note = fit_to_frame(p, info.width, info.height)
        if info.frame_count is not None and p.frame_index >= info.frame_count:
            raise ValueError(f"prompt for object {p.object_id} is on frame {p.frame_index}, "
                             f"but the source has {info.frame_count} frames")
        fitted.append(q)
        if note:
            notes.append(note)
    return fitted, notes


def iter_track(
    reader: VideoReader,
    prompts: Sequence[ObjectPrompt],
    segmenter: Segmenter,
    *,
    config: TrackerConfig | None = None,  # None = TrackerConfig() defaults
    batch: int = 1,  # frames per encoder call; >1 only pays off on a GPU
    timings: Timings | None = None,  # filled in as frames go by
) -> Iterator[FrameResult]:
    """Yield one :class:`FrameResult` per frame of ``reader`` (source frame order).

    Frames before the first prompt yield results with no objects.
    """
    if batch < 1:
        raise ValueError(f"batch={batch}: must be at least 1")
    timings = timings if timings is not None else Timings()
    tracker = Tracker(segmenter, config=config)
    tracker.add_prompts(prompts)
    first = min(p.frame_index for p in prompts)
    encoded = _Encoded(_timed(iter(reader), timings), segmenter, batch, timings)
    try:
        for frame, embedding in encoded:
            t0 = time.perf_counter()
            if frame.index < first:
                result = FrameResult(frame.index, frame.time_s, [], frame.rgb)
            else:
                result = tracker.step(frame.rgb, frame_index=frame.index, time_s=frame.time_s,
                                      embedding=embedding)
            timings.track += time.perf_counter() - t0
            timings.frames += 1
            yield result
    finally:
        encoded.close()


def _timed(frames: Iterator[Frame], timings: Timings) -> Iterator[Frame]:
    while True:
        t0 = time.perf_counter()
        try:
            frame = next(frames)
        except StopIteration:
            return
        timings.decode += time.perf_counter() - t0
        yield frame


@dataclass
class RunOptions:
    """Everything ``samvideo track`` needs besides the source, prompts and segmenter."""

    output: Path
    exports: tuple[str, ...] = DEFAULT_EXPORTS
    overwrite: bool = False  # refuse to write into a non-empty folder unless asked
    max_frames: int | None = None
    batch: int = 1
    fps: Fraction | None = None  # rate of a frames folder
    annotator: MaskAnnotator = field(default_factory=MaskAnnotator)
    config: TrackerConfig = field(default_factory=TrackerConfig)
    inputs: dict = field(default_factory=dict)  # what the user asked, for run.json


@dataclass
class RunSummary:
    status: str  # complete / interrupted / failed
    frames: int
    last_frame: int | None
    outputs: list[Path]
    timings: Timings
    notes: list[str]
    skipped: list[tuple[int, str]]
    run_json: Path


def prepare_output(path: Path, *, overwrite: bool) -> Path:
    """Create the output folder; refuse a non-empty one unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output {str(path)!r} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ValueError(f"output folder {str(path)!r} is not empty: use --overwrite or "
                         "another -o DIR")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".samvideo-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"output folder {str(path)!r} is not writable: {exc.strerror}") from None
    stale = path / "run.json"
    if stale.exists():
        stale.unlink()  # a new run: the old status must not describe it
    return path


def run(
    source: str | Path,
    prompts: Sequence[ObjectPrompt],
    segmenter: Segmenter,
    options: RunOptions,
    *,
    on_frame: Callable[[FrameResult, VideoInfo], None] | None = None,  # progress hook
    segmenter_info: dict | None = None,  # model, device, precision for run.json
) -> RunSummary:
    """Track ``prompts`` through ``source`` and write the chosen exports.

    Ctrl-C (KeyboardInterrupt) stops after the current frame: the sinks are closed
    (so the overlay plays), and ``run.json`` says ``interrupted``. ``run.json`` is
    written last; ``status: complete`` means every output is whole.
    """
    exports = parse_exports(options.exports)
    out = prepare_output(options.output, overwrite=options.overwrite)
    timings = Timings()
    started = time.time()
    status, error = "failed", None
    frames, last = 0, None
    outputs: list[Path] = []
    notes: list[str] = []
    with VideoReader(source, fps=options.fps, max_frames=options.max_frames) as reader:
        info = reader.info
        prompts, notes = check_prompts(prompts, info)
        sinks = SinkThread(make_sinks(exports, out, info, annotator=options.annotator))
        try:
            for result in iter_track(reader, prompts, segmenter, config=options.config,
                                     batch=options.batch, timings=timings):
                sinks.write(result)
                frames, last = frames + 1, result.frame_index
                if on_frame is not None:
                    on_frame(result, info)
            status = "complete"
        except KeyboardInterrupt:
            status = "interrupted"
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            t0 = time.perf_counter()
            try:
                outputs = sinks.close()
            finally:
                timings.write = sinks.seconds + (time.perf_counter() - t0)
                timings.total = time.time() - started
                if frames == 0 and status == "complete":
                    status, error = "failed", "the source delivered no frames"
                summary = RunSummary(status, frames, last, outputs, timings, notes,
                                     list(reader.skipped), out / "run.json")
                _write_run_json(summary, info, options, exports, segmenter, segmenter_info,
                                error)
    if status == "failed":
        raise RuntimeError(f"{source}: {error}")
    return summary


def _versions() -> dict[str, str]:
    import av
    import cv2
    import numpy

    versions = {"samvideo": __version__, "python": platform.python_version(),
                "numpy": numpy.__version__, "av": av.__version__, "opencv": cv2.__version__}
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    return versions


def _write_run_json(summary, info, options, exports, segmenter, segmenter_info, error) -> None:
    data = {
        "status": summary.status,
        "error": error,
        "frames_done": summary.frames,
        "last_frame": summary.last_frame,
        "source": {
            "path": info.source, "width": info.width, "height": info.height,
            "rate": str(info.rate), "time_base": str(info.time_base),
            "frame_count": info.frame_count, "duration_s": info.duration_s,
            "codec": info.codec, "has_audio": info.has_audio,
        },
        "skipped_packets": [{"after_frame": i, "error": m} for i, m in summary.skipped],
        "inputs": options.inputs,
        "model": {"name": getattr(segmenter, "name", type(segmenter).__name__),
                  **(segmenter_info or {})},
        "tracker": asdict(options.config),
        "exports": list(exports),
        "outputs": [p.name for p in summary.outputs],
        "notes": summary.notes,
        "timings_s": asdict(summary.timings),
        "seconds_per_frame": summary.timings.per_frame(),
        "versions": _versions(),
    }
    tmp = summary.run_json.with_name(".run.json.part")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, summary.run_json)


def remove_partial(out: Path) -> None:
    """Delete temporary ``.*.part`` leftovers of a crashed run (never final files)."""
    for p in Path(out).glob(".*.part"):
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
