"""Wiring: source → encoder (its own thread, look-ahead batches) → tracker → sinks.

:func:`iter_track` is a generator that yields one :class:`FrameResult` per frame (the
Python API); :func:`run` adds the output folder, the sinks and ``run.json``.

Reliability rules of :func:`run`:

* a stop (the ``stop`` event, SIGINT / SIGTERM in the main thread, a
  ``KeyboardInterrupt`` from ``on_frame``) ends the run after the current frame: the
  sinks are closed (the overlay plays, every export is flushed), the tracker's state is
  saved under ``.resume/`` (JSON + NPZ) and ``run.json`` says ``interrupted`` with the
  last frame done; ``RunOptions(resume=True)`` continues from there;
* a source that delivers no frame for ``RunOptions.timeout`` seconds stops the run the
  same way, with the reason in ``run.json``'s ``error``;
* every output is written under a temporary name and renamed when whole; ``run.json``
  says ``running`` while a run goes and is rewritten last, so ``status: complete``
  means complete.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import queue
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from samvideo import __version__
from samvideo.annotate import MaskAnnotator
from samvideo.export import DEFAULT_EXPORTS, SinkThread, make_sinks, parse_exports
from samvideo.prompts import ObjectPrompt, fit_to_frame
from samvideo.results import FrameResult
from samvideo.resume import STATE_DIR, load_state, save_state
from samvideo.segmenters.base import Segmenter
from samvideo.tracker import Tracker, TrackerConfig
from samvideo.video import (
    Frame,
    FrameRange,
    Position,
    Skipped,
    SourceTimeout,
    VideoInfo,
    VideoReader,
)

_END = object()
_POLL_S = 0.1  # how often a waiting thread looks at the stop event
_ENCODER_CLOSE_S = 10.0  # how long close() waits for an encoder batch in flight


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
    """Frames with their embeddings, computed ``batch`` at a time in a background thread.

    Iteration ends early, without error, once ``halt`` is set (the caller checks it)."""

    def __init__(self, frames: Iterator[Frame], segmenter: Segmenter, batch: int,
                 timings: Timings, halt: threading.Event | None = None) -> None:
        self._frames = frames
        self._segmenter = segmenter
        self._batch = batch
        self._timings = timings
        self._halt = halt
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
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[tuple[Frame, Any]]:
        while self._halt is None or not self._halt.is_set():
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop; wait (boundedly) for a batch in flight, then let the daemon thread go."""
        self._stop.set()
        deadline = time.monotonic() + _ENCODER_CLOSE_S
        while self._thread.is_alive() and time.monotonic() < deadline:
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


def prompts_at_start(prompts: Sequence[ObjectPrompt], first: Frame | None,
                     frames: FrameRange) -> list[ObjectPrompt]:
    """With ``--start``: prompts on frame 0 (``--box``, ``--point``: "the first frame")
    move to the first frame tracked; prompts of a prompts file on later frames keep
    their source frame numbers. ValueError for a start past the end, or a prompt on a
    frame before the start."""
    if first is None:
        raise ValueError(f"--start {frames.start!r} is at or past the end of the source "
                         "(or of --end): no frame to track")
    moved = []
    for p in prompts:
        if p.frame_index == 0:
            p = replace(p, frame_index=first.index)
        elif p.frame_index < first.index:
            raise ValueError(f"prompt for object {p.object_id} is on frame {p.frame_index}, "
                             f"before --start (frame {first.index}); prompt files use source "
                             "frame numbers")
        moved.append(p)
    return moved


class _LatePrompts:
    """Prompts on a frame that could not be decoded are applied on the next frame that
    was (the nearest the user's box can be), with a note saying so."""

    def __init__(self, prompts: Sequence[ObjectPrompt], done: int | None = None) -> None:
        self._waiting = sorted((p for p in prompts if done is None or p.frame_index > done),
                               key=lambda p: p.frame_index)
        self.notes: list[str] = []

    def apply(self, tracker: Tracker, index: int) -> None:
        """Before tracking frame ``index``: hand over prompts whose frame was skipped."""
        while self._waiting and self._waiting[0].frame_index <= index:
            p = self._waiting.pop(0)
            if p.frame_index < index:
                tracker.add_prompts([replace(p, frame_index=index)])
                self.notes.append(f"frame {p.frame_index} could not be decoded: the prompt "
                                  f"of object {p.object_id} was applied on frame {index}")


def _step(tracker: Tracker, frame: Frame, embedding: Any, first: int,
          timings: Timings, late: _LatePrompts) -> FrameResult:
    """Track one frame (frames before the first prompt have no objects)."""
    late.apply(tracker, frame.index)
    t0 = time.perf_counter()
    if frame.index < first:
        result = FrameResult(frame.index, frame.time_s, [], frame.rgb)
    else:
        result = tracker.step(frame.rgb, frame_index=frame.index, time_s=frame.time_s,
                              embedding=embedding)
    timings.track += time.perf_counter() - t0
    timings.frames += 1
    return result


def iter_track(
    reader: VideoReader,
    prompts: Sequence[ObjectPrompt],
    segmenter: Segmenter,
    *,
    config: TrackerConfig | None = None,  # None = TrackerConfig() defaults
    batch: int = 1,  # frames per encoder call; >1 only pays off on a GPU
    timings: Timings | None = None,  # filled in as frames go by
    stop: threading.Event | None = None,  # set it to end the iteration after this frame
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
    late = _LatePrompts(prompts)
    encoded = _Encoded(_timed(iter(reader), timings), segmenter, batch, timings, halt=stop)
    try:
        for frame, embedding in encoded:
            yield _step(tracker, frame, embedding, first, timings, late)
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


def _after(frames: Iterator[Frame], last: int) -> Iterator[Frame]:
    """The frames after source index ``last`` (a resumed run: earlier ones are done and
    are dropped here, before the encoder)."""
    for frame in frames:
        if frame.index > last:
            yield frame


@dataclass
class RunOptions:
    """Everything ``samvideo track`` needs besides the source, prompts and segmenter."""

    output: Path
    exports: tuple[str, ...] = DEFAULT_EXPORTS
    overwrite: bool = False  # refuse to write into a non-empty folder unless asked
    max_frames: int | None = None
    start: Position | None = None  # --start: first source frame (int) or second (float)
    end: Position | None = None  # --end: source frame (int) or second (float) not tracked
    batch: int = 1
    fps: Fraction | None = None  # rate of a frames folder
    annotator: MaskAnnotator = field(default_factory=MaskAnnotator)
    config: TrackerConfig = field(default_factory=TrackerConfig)
    inputs: dict = field(default_factory=dict)  # what the user asked, for run.json
    resume: bool = False  # continue the interrupted run in ``output``
    timeout: float | None = 30.0  # seconds without a frame from the source before giving up


@dataclass
class RunSummary:
    status: str  # complete / interrupted / failed
    frames: int  # frames done in all (a resumed run counts the earlier ones too)
    last_frame: int | None
    outputs: list[Path]
    timings: Timings
    notes: list[str]
    skipped: list[Skipped]
    run_json: Path
    error: str | None = None  # why a run stopped early (e.g. the source timed out)
    resumable: bool = False  # ``--resume`` can continue it
    resumed_from: int | None = None  # last frame of the run this one continued

    @property
    def skipped_frames(self) -> int:
        return sum(s.count for s in self.skipped)


def prepare_output(path: Path, *, overwrite: bool) -> Path:
    """Create the output folder; refuse a non-empty one unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output {str(path)!r} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ValueError(f"output folder {str(path)!r} is not empty: use --overwrite, "
                         "--resume (to continue an interrupted run) or another -o DIR")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".samvideo-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"output folder {str(path)!r} is not writable: "
                         f"{exc.strerror or exc}") from None
    for stale in (path / "run.json", path / STATE_DIR):  # a new run: old status is not ours
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    remove_partial(path)
    return path


@dataclass
class _Previous:
    """What an interrupted run left for ``--resume``."""

    last_frame: int
    frames: int
    tracker_state: dict
    skipped: list[dict]


def _resume_key(source: str | Path, info: VideoInfo, prompts: Sequence[ObjectPrompt],
                segmenter: Segmenter, segmenter_info: dict | None, options: RunOptions,
                exports: Sequence[str]) -> dict:
    """What must not change between an interrupted run and its ``--resume``."""
    path = Path(source)
    return json.loads(json.dumps({
        "source": str(path.resolve()),
        "source_bytes": path.stat().st_size if path.is_file() else None,
        "frame_size": [info.width, info.height],
        "prompts": [asdict(p) for p in prompts],
        "model": getattr(segmenter, "name", type(segmenter).__name__),
        "model_info": segmenter_info or {},
        "exports": list(exports),
        "tracker": asdict(options.config),
        "overlay": asdict(options.annotator),
        "fps": None if options.fps is None else str(options.fps),
        "start": None if options.start is None else str(options.start),
    }, default=str))


def load_previous(out: Path, key: dict) -> _Previous:
    """Check that ``out`` holds an interrupted run of the same job; ValueError otherwise."""
    out = Path(out)
    run_json = out / "run.json"
    if not run_json.is_file():
        raise ValueError(f"--resume: {str(out)!r} holds no run.json: nothing to resume")
    try:
        data = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"--resume: {str(run_json)!r} is not readable JSON: {exc}") from None
    status = data.get("status")
    if status == "complete":
        raise ValueError(f"--resume: the run in {str(out)!r} is complete: nothing to resume")
    if not data.get("resumable") or data.get("last_frame") is None:
        raise ValueError(f"--resume: the run in {str(out)!r} ({status}) cannot be resumed "
                         "(no saved state): start again with --overwrite")
    old = data.get("resume_key") or {}
    for name, value in key.items():
        if old.get(name) != value:
            raise ValueError(f"--resume: {name} differs from the interrupted run's "
                             f"({_short(old.get(name))} there, {_short(value)} now)")
    state = load_state(out / STATE_DIR)
    return _Previous(int(data["last_frame"]), int(data.get("frames_done") or 0),
                     state.get("tracker", {}), list(data.get("skipped") or []))


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """In the main thread, the first SIGINT or SIGTERM sets ``stop`` (the run ends after
    the current frame, outputs closed); a second one raises KeyboardInterrupt at once.
    Elsewhere (a worker thread) it does nothing: signals only reach the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


@dataclass
class _Progress:
    frames: int = 0  # frames written by this process
    last: int | None = None  # source index of the last frame written
    between_frames: bool = True  # False while a frame is half done: state not saveable


def run(
    source: str | Path,
    prompts: Sequence[ObjectPrompt],
    segmenter: Segmenter,
    options: RunOptions,
    *,
    on_frame: Callable[[FrameResult, VideoInfo], None] | None = None,  # progress hook
    segmenter_info: dict | None = None,  # model, device, precision for run.json
    stop: threading.Event | None = None,  # set it to stop after the current frame
) -> RunSummary:
    """Track ``prompts`` through ``source`` and write the chosen exports.

    A stop (``stop`` set; SIGINT / SIGTERM when called in the main thread; a
    KeyboardInterrupt raised by ``on_frame``) or a source timeout ends the run after the
    current frame: the sinks are closed (so the overlay plays), the tracker's state is
    saved, and ``run.json`` says ``interrupted``. ``run.json`` is written last;
    ``status: complete`` means every output is whole. Raises ValueError for bad
    input, including a source that gave no frame at all (``run.json`` then says ``failed``).
    """
    exports = parse_exports(options.exports)
    stop = stop if stop is not None else threading.Event()
    # the reader first: a pipe's header is awaited in __init__, where Ctrl-C must still
    # raise KeyboardInterrupt (there is nothing to close yet)
    part = FrameRange(options.start, options.end,  # --max-frames counts from --start
                      None if options.start is None else options.max_frames)
    with VideoReader(source, fps=options.fps, timeout=options.timeout, frames=part,
                     max_frames=None if options.start is not None else options.max_frames,
                     ) as reader, stop_on_signals(stop):
        info = reader.info
        if options.start is not None:
            prompts = prompts_at_start(prompts, reader.peek(), part)
        prompts, notes = check_prompts(prompts, info)
        key = _resume_key(source, info, prompts, segmenter, segmenter_info, options, exports)
        previous = None
        if options.resume:
            out = Path(options.output)
            previous = load_previous(out, key)
            remove_partial(out)
        else:
            out = prepare_output(options.output, overwrite=options.overwrite)
        job = _Job(reader, info, prompts, segmenter, options, exports, out, key, previous,
                   segmenter_info, notes)
        summary = job.run(on_frame, stop)
    if summary.status == "failed":  # only a source without a decodable frame gets here
        raise ValueError(f"source {str(source)!r}: {summary.error}")
    return summary


class _Job:
    """One call of :func:`run` once the source is open and the output folder ready."""

    def __init__(self, reader: VideoReader, info: VideoInfo, prompts: list[ObjectPrompt],
                 segmenter: Segmenter, options: RunOptions, exports: tuple[str, ...],
                 out: Path, key: dict, previous: _Previous | None,
                 segmenter_info: dict | None, notes: list[str]) -> None:
        self.reader, self.info, self.prompts = reader, info, prompts
        self.segmenter, self.options, self.exports = segmenter, options, exports
        self.out, self.key, self.previous = out, key, previous
        self.segmenter_info, self.notes = segmenter_info, notes
        self.timings = Timings()
        self.started = time.time()

    def run(self, on_frame, stop: threading.Event) -> RunSummary:
        previous = self.previous
        tracker = Tracker(self.segmenter, config=self.options.config)
        if previous is None:
            tracker.add_prompts(self.prompts)
            self._write_run_json(self._summary("running", []), None)
        else:
            tracker.load_state_dict(previous.tracker_state)
        first = min(p.frame_index for p in self.prompts)
        self.late = _LatePrompts(self.prompts, None if previous is None else previous.last_frame)
        frames: Iterator[Frame] = iter(self.reader)
        if previous is not None:
            frames = _after(frames, previous.last_frame)
        resume_after = None if previous is None else previous.last_frame
        sinks = SinkThread(make_sinks(self.exports, self.out, self.info,
                                      annotator=self.options.annotator,
                                      resume_after=resume_after))
        encoded = _Encoded(_timed(frames, self.timings), self.segmenter, self.options.batch,
                           self.timings, halt=stop)
        progress = _Progress(last=resume_after)
        status, error = "failed", None
        try:
            for frame, embedding in encoded:
                progress.between_frames = False
                result = _step(tracker, frame, embedding, first, self.timings, self.late)
                sinks.write(result)
                progress.between_frames = True
                progress.frames, progress.last = progress.frames + 1, result.frame_index
                if on_frame is not None:
                    on_frame(result, self.info)
                if stop.is_set():
                    break
            status = "interrupted" if stop.is_set() else "complete"
        except KeyboardInterrupt:
            status = "interrupted"
        except SourceTimeout as exc:
            status, error = "interrupted", str(exc)
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.reader.close()
            encoded.close()
            summary = self._finish(status, error, sinks, tracker, progress)
        return summary

    def _finish(self, status: str, error: str | None, sinks: SinkThread, tracker: Tracker,
                progress: _Progress) -> RunSummary:
        """Close the sinks, save the state to resume from, write run.json last."""
        t0 = time.perf_counter()
        outputs: list[Path] = []
        closed = False
        try:
            outputs = sinks.close()
            closed = True
        except BaseException as exc:
            status = "failed"
            error = error or f"writing the outputs failed: {type(exc).__name__}: {exc}"
            raise
        finally:
            self.timings.write = sinks.seconds + (time.perf_counter() - t0)
            self.timings.total = time.time() - self.started
            total = progress.frames + (self.previous.frames if self.previous else 0)
            if total == 0 and status == "complete":
                status, error = "failed", self._no_frames()
            if total == 0:
                _discard(outputs)
                outputs = []
            resumable = (closed and status != "complete" and total > 0
                         and progress.between_frames and progress.last is not None
                         and self._save_state(tracker))
            summary = self._summary(status, outputs, sinks, progress, error, resumable)
            self._write_run_json(summary, error)
            if status == "complete":
                shutil.rmtree(self.out / STATE_DIR, ignore_errors=True)
        return summary

    def _no_frames(self) -> str:
        skipped = sum(s.count for s in self.reader.skipped)
        more = f" ({skipped} could not be decoded)" if skipped else ""
        return f"the source delivered no frames{more}"

    def _save_state(self, tracker: Tracker) -> bool:
        if not hasattr(tracker, "state_dict"):
            return False
        try:
            save_state({"tracker": tracker.state_dict()}, self.out / STATE_DIR)
        except (OSError, TypeError, ValueError) as exc:
            self.notes.append(f"the state to resume from could not be saved: {exc}")
            return False
        return True

    def _summary(self, status: str, outputs: list[Path], sinks: SinkThread | None = None,
                 progress: _Progress | None = None, error: str | None = None,
                 resumable: bool = False) -> RunSummary:
        previous = self.previous
        done = (progress.frames if progress else 0) + (previous.frames if previous else 0)
        last = progress.last if progress else (previous.last_frame if previous else None)
        notes = list(self.notes) + list(self.reader.notes)
        notes += getattr(self, "late", _LatePrompts(())).notes
        if sinks is not None:
            notes += sinks.notes
        return RunSummary(status, done, last, outputs, self.timings, notes,
                          list(self.reader.skipped), self.out / "run.json", error, resumable,
                          None if previous is None else previous.last_frame)

    def _write_run_json(self, summary: RunSummary, error: str | None) -> None:
        data = run_record(summary, error, info=self.info, options=self.options,
                          exports=self.exports, segmenter=self.segmenter,
                          segmenter_info=self.segmenter_info, versions=_versions())
        data.update({
            "resumable": summary.resumable,
            "resumed_from": summary.resumed_from,
            "skipped_frames": summary.skipped_frames,
            "skipped": [asdict(s) for s in summary.skipped],
            "resume_key": self.key,
        })
        write_json_atomic(summary.run_json, data)


def run_record(summary: RunSummary, error: str | None, *, info: VideoInfo,
               options: RunOptions, exports: Sequence[str], segmenter: Segmenter,
               segmenter_info: dict | None, versions: dict[str, str]) -> dict:
    """The keys of ``run.json`` that file and live runs share (callers add their own)."""
    return {
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
        "inputs": options.inputs,
        "model": {"name": getattr(segmenter, "name", type(segmenter).__name__),
                  **(segmenter_info or {})},
        "tracker": asdict(options.config),
        "exports": list(exports),
        "outputs": [p.name for p in summary.outputs],
        "notes": summary.notes,
        "timings_s": asdict(summary.timings),
        "seconds_per_frame": summary.timings.per_frame(),
        "versions": versions,
    }


def _discard(paths: Sequence[Path]) -> None:
    """Remove outputs of a run that produced no frame (they would look like results)."""
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON under a temporary name, flush it to disk, then rename it into place."""
    tmp = path.with_name(f".{path.name}.part")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _versions() -> dict[str, str]:
    import av
    import cv2
    import numpy

    versions = {"samvideo": __version__, "python": platform.python_version(),
                "numpy": numpy.__version__, "av": av.__version__, "opencv": cv2.__version__}
    # from the package metadata: importing torch would cost a GrabCut run seconds
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        versions["torch"] = importlib.metadata.version("torch")
    return versions


def remove_partial(out: Path) -> None:
    """Delete temporary ``.*.part`` leftovers of a crashed run (never final files)."""
    for p in Path(out).glob(".*.part"):
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
