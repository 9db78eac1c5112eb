"""A tracking run: a source opened, its frames tracked through the one frame loop
(:func:`samvideo.loop.frame_loop`), every result written to the chosen exports, and
``run.json`` kept up to date.

:class:`Run` is iterable: it yields one :class:`~samvideo.results.FrameResult` per frame
while it writes them, so the command line, ``samvideo.track()`` and the browser page all
drive the same object; :func:`run` iterates one to the end. A file run
(:class:`FileOptions`) and a live run (:class:`LiveOptions`) differ in how the source is
opened and scheduled, nothing else.

Reliability rules:

* a stop (:class:`~samvideo.stop.Stop` set: by the caller, by SIGINT / SIGTERM inside
  :func:`run`, or by leaving the iteration early) ends a file run after the current
  frame, and a live run once every frame received is written: the sinks are closed (the
  overlay plays, every export is flushed); a file run's tracker state is saved under
  ``.resume/`` (JSON + NPZ) and ``run.json`` says ``interrupted`` with the last frame
  done, so ``FileOptions(resume=True)`` continues from there;
* a source that delivers no frame for ``timeout_s`` seconds stops the run the same way,
  with the reason in ``run.json``'s ``error``;
* every output is written under a temporary name and renamed when whole; ``run.json``
  says ``running`` while a run goes and is rewritten last, so ``status: complete`` means
  complete.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from samvideo.annotate import MaskAnnotator
from samvideo.export import DEFAULT_EXPORTS, SinkThread, make_sinks, parse_exports
from samvideo.live import LiveSchedule, LiveStats, PromptInbox, PromptWatcher
from samvideo.loop import EveryFrame, PromptFeed, Timings, frame_loop
from samvideo.prompts import ObjectPrompt, check_prompts, prompt_to_json, prompts_at_start
from samvideo.record import settings, versions, write_json_atomic
from samvideo.results import FrameResult
from samvideo.resume import STATE_DIR, Previous, load_previous, save_state
from samvideo.segmenters import describe
from samvideo.segmenters.base import PromptRequest, Segmenter
from samvideo.stop import Stop
from samvideo.tracker import Tracker, TrackerConfig
from samvideo.video import Frame, FrameRange, Position, Skipped, SourceTimeout, VideoReader
from samvideo.video.live import LiveReader, check_source


@dataclass(frozen=True)
class RunOptions:
    """What every run needs besides the source, the prompts and the model."""

    output: Path | None = None  # a folder for the exports and run.json; None: results only
    exports: tuple[str, ...] = DEFAULT_EXPORTS
    overwrite: bool = False  # refuse to write into a non-empty folder unless asked
    max_frames: int | None = None  # stop after this many frames
    timeout_s: float | None = 30.0  # no frame for this long: the source stalled (None: wait)
    annotator: MaskAnnotator = field(default_factory=MaskAnnotator)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    inputs: dict = field(default_factory=dict)  # what the user asked, for run.json


@dataclass(frozen=True)
class FileOptions(RunOptions):
    """A run over a file, a frames folder or a pipe: every frame segmented."""

    start: Position | None = None  # first source frame (int) or second (float) tracked
    end: Position | None = None  # source frame (int) or second (float) not tracked any more
    fps: Fraction | None = None  # rate of a frames folder (None: 24, DAVIS's)
    batch: int = 1  # frames per encoder call: more only pays off on a GPU
    resume: bool = False  # continue the interrupted run in ``output``


@dataclass(frozen=True)
class LiveOptions(RunOptions):
    """A run in real time over a camera, a stream or a file played live."""

    duration_s: float | None = None  # stop at this much source time
    pace: bool | None = None  # None: files play at their own rate, live sources as they come
    open_timeout_s: float = 10.0  # a camera or server that does not answer at all
    max_backlog_mb: float = 512.0  # frames waiting for the tracker: beyond, oldest dropped
    warmup_frames: int = 2  # after a prompt, frames segmented in order (LiveSchedule)
    warmup_latency_s: float = 0.5  # ...while their results come within this of arrival
    warm_up: bool = True  # segment a blank frame before the source opens, so first-call
    # costs (lazy set-up, CUDA context, allocator) are paid before any frame waits
    watch_prompts: Path | None = None  # a prompts file that re-selects objects on change


@dataclass
class RunSummary:
    """What a run did (``run.json`` holds the same and more)."""

    status: str  # complete / interrupted / failed
    frames: int  # frames done in all (a resumed run counts the earlier ones too)
    last_frame: int | None
    outputs: list[Path]
    timings: Timings
    notes: list[str]
    skipped: list[Skipped]
    run_json: Path | None  # None without an output folder
    error: str | None = None  # why a run stopped early (e.g. the source timed out)
    resumable: bool = False  # ``--resume`` can continue it
    resumed_from: int | None = None  # last frame of the run this one continued
    live: LiveStats | None = None  # a live run's figures
    stop_reason: str | None = None  # why a live run ended (video.live.STOP_REASONS)

    @property
    def skipped_frames(self) -> int:
        return sum(s.count for s in self.skipped)


# -- the output folder -----------------------------------------------------------------


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


def remove_partial(out: Path) -> None:
    """Delete temporary ``.*.part`` leftovers of a crashed run (never final files)."""
    for p in Path(out).glob(".*.part"):
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()


def _discard(paths: Sequence[Path]) -> None:
    """Remove outputs of a run that produced no frame (they would look like results)."""
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()


# -- sources ---------------------------------------------------------------------------


class _FileSource:
    """A file, a frames folder or a pipe: opened first (a pipe's header is awaited here,
    where Ctrl-C still raises KeyboardInterrupt), then the prompts are checked against
    it and the output folder is prepared or the interrupted run is loaded."""

    stop_status = "interrupted"  # a stop ends a file run early: --resume continues it
    flushes_on_stop = False  # ...after the current frame

    def __init__(self, source: str | Path, prompts: Sequence[ObjectPrompt],
                 segmenter: Segmenter, options: FileOptions, exports: tuple[str, ...]) -> None:
        self.options = options
        part = FrameRange(options.start, options.end,  # --max-frames counts from --start
                          None if options.start is None else options.max_frames)
        self.reader = VideoReader(source, fps=options.fps, timeout=options.timeout_s,
                                  frames=part, max_frames=None if options.start is not None
                                  else options.max_frames)
        try:
            self.info = self.reader.info
            if options.start is not None:
                prompts = prompts_at_start(prompts, self.reader.peek(), part)
            self.prompts, self.notes = check_prompts(prompts, self.info)
            self.key = self._resume_key(source, segmenter, exports)
            self.previous: Previous | None = None
            self.out = None
            if options.output is not None and options.resume:
                self.out = Path(options.output)
                self.previous = load_previous(self.out, self.key)
                remove_partial(self.out)
            elif options.output is not None:
                self.out = prepare_output(options.output, overwrite=options.overwrite)
        except BaseException:
            self.reader.close()
            raise
        self.sources: list[Callable[[], list[ObjectPrompt]]] = []
        self.stats: LiveStats | None = None

    def _resume_key(self, source: str | Path, segmenter: Segmenter,
                    exports: tuple[str, ...]) -> dict:
        """What must not change between an interrupted run and its ``--resume``."""
        path, info, options = Path(source), self.info, self.options
        return json.loads(json.dumps({
            "source": str(path.resolve()),
            "source_bytes": path.stat().st_size if path.is_file() else None,
            "frame_size": [info.width, info.height],
            "prompts": [prompt_to_json(p) for p in self.prompts],
            "model": getattr(segmenter, "name", type(segmenter).__name__),
            "model_info": describe(segmenter),
            "exports": list(exports),
            "tracker": asdict(options.tracker),
            "overlay": asdict(options.annotator),
            "fps": None if options.fps is None else str(options.fps),
            "start": None if options.start is None else str(options.start),
        }, default=str))

    def schedule(self, feed: PromptFeed, after: int | None, idle: bool, timings: Timings,
                 stop: Stop) -> EveryFrame:
        frames = _timed(iter(self.reader), timings)
        if after is not None:
            frames = (f for f in frames if f.index > after)  # done by the interrupted run
        return EveryFrame(frames, batch=self.options.batch,
                          idle_before=feed.next_frame if idle else None)

    def describe_notes(self, feed: PromptFeed) -> list[str]:
        return [*self.notes, *self.reader.notes,
                *(f"frame {p.frame_index} could not be decoded: the prompt of object "
                  f"{p.object_id} was applied on frame {index}" for p, index in feed.moved)]

    @property
    def skipped(self) -> list[Skipped]:
        return list(self.reader.skipped)

    def no_frames(self) -> str:
        skipped = sum(s.count for s in self.reader.skipped)
        more = f" ({skipped} could not be decoded)" if skipped else ""
        return f"the source delivered no frames{more}"

    def failure(self, error: str | None) -> Exception:
        return ValueError(f"source {str(self.reader.path)!r}: {error}")

    def stop_reason(self, stop: Stop) -> str | None:
        return None

    def record(self, stop: Stop) -> dict:
        return {"resume_key": self.key}

    def finish(self, timings: Timings) -> None:
        pass

    def close(self) -> None:
        self.reader.close()


class _LiveSource:
    """A camera, a stream, a pipe or a file played live: everything is set up first (the
    output folder, the model warmed up), then the source is opened and read from at
    once, so that no frame waits on the set-up."""

    stop_status = "complete"  # a stop ends a live run with every frame received written
    flushes_on_stop = True  # the schedule predicts what was received, then ends

    def __init__(self, source: str | Path | LiveReader, prompts: Sequence[ObjectPrompt],
                 segmenter: Segmenter, options: LiveOptions, inbox: PromptInbox | None) -> None:
        self.options = options
        if not isinstance(source, LiveReader):
            check_source(source)
        self.out = None if options.output is None else prepare_output(
            options.output, overwrite=options.overwrite)
        self.watcher = PromptWatcher(options.watch_prompts) if options.watch_prompts else None
        versions()  # imports torch's metadata: done before any frame arrives
        if options.warm_up:
            _warm_up(segmenter)
        self.reader = source if isinstance(source, LiveReader) else LiveReader(
            source, pace=options.pace, open_timeout_s=options.open_timeout_s,
            timeout_s=options.timeout_s, max_frames=options.max_frames,
            duration_s=options.duration_s, max_backlog_mb=options.max_backlog_mb)
        try:
            self.reader.start()
            self.info = self.reader.info
            self.prompts, self.notes = list(prompts), []
            if prompts or (self.watcher is None and inbox is None):
                self.prompts, self.notes = check_prompts(prompts, self.info)  # none: raises
        except BaseException:
            self.reader.close()
            raise
        self.previous: Previous | None = None  # a live stream cannot be rewound
        self.sources = [s.take if isinstance(s, PromptInbox) else s.poll
                        for s in (inbox, self.watcher) if s is not None]
        self.stats = LiveStats()

    def schedule(self, feed: PromptFeed, after: int | None, idle: bool, timings: Timings,
                 stop: Stop) -> LiveSchedule:
        o = self.options
        return LiveSchedule(self.reader, feed, stats=self.stats, stop=stop,
                            warmup_frames=o.warmup_frames, warmup_latency_s=o.warmup_latency_s)

    def describe_notes(self, feed: PromptFeed) -> list[str]:
        notes = list(self.notes)
        rejected = (self.watcher.errors if self.watcher else []) + feed.rejected
        notes += [f"watched prompts ignored: {m}" for m in rejected]
        reason = self.reader.stop_reason
        if reason == "stalled":
            notes.append(f"no frame from {self.reader.source} for "
                         f"{self.reader.timeout_s:g} s: stopped")
        if reason == "source_error":
            notes.append(f"the source failed after {self.reader.received} frames: "
                         f"{self.reader.source_error}")
        return notes

    skipped: list[Skipped] = []

    def no_frames(self) -> str:
        return "the source delivered no frames"

    def failure(self, error: str | None) -> Exception:
        return RuntimeError(f"{self.reader.source}: {error}")

    def stop_reason(self, stop: Stop) -> str:
        return "interrupted" if stop.is_set() else self.reader.stop_reason

    def record(self, stop: Stop) -> dict:
        reader = self.reader
        return {"mode": "live", "live": {
            "stop_reason": self.stop_reason(stop), "source_kind": reader.kind,
            "paced": reader.pace, "rate_known": reader.rate_known,
            **self.stats.to_dict(self.info)}}

    def finish(self, timings: Timings) -> None:
        self.stats.received, self.stats.dropped = self.reader.received, self.reader.dropped
        timings.decode = self.reader.decode_s

    def close(self) -> None:
        self.reader.close()


def _warm_up(segmenter: Segmenter) -> None:
    """Run the segmenter once on a blank frame, so first-call costs (lazy set-up, CUDA
    context and kernels, allocator growth) are paid before the first live frame."""
    blank = np.zeros((64, 64, 3), np.uint8)
    embedding = segmenter.encode([blank])[0]
    segmenter.predict(embedding, [PromptRequest.make((16, 16, 48, 48))])


def _timed(frames: Iterator[Frame], timings: Timings) -> Iterator[Frame]:
    while True:
        t0 = time.perf_counter()
        try:
            frame = next(frames)
        except StopIteration:
            return
        timings.decode += time.perf_counter() - t0
        yield frame


# -- the run ---------------------------------------------------------------------------


@dataclass
class _Progress:
    frames: int = 0  # frames done by this run
    last: int | None = None  # source index of the last frame done
    between_frames: bool = True  # False while a frame is half written: state not saveable


class Run:
    """One tracking run: iterate it for one :class:`FrameResult` per frame, in source
    order; each is written to the exports before it is handed over.

    The source is opened, the prompts checked and the output folder prepared in the
    constructor, so bad input fails there (ValueError naming it). Iterating to the end
    finishes the run; leaving early (``break``, an exception, :meth:`close`, or ``stop``
    set) ends it as a stop does (see the module docstring). :attr:`summary` is set once
    it has ended. Use it in a ``with`` block, or iterate it to the end.
    """

    def __init__(
        self,
        source: str | Path | LiveReader,
        prompts: Sequence[ObjectPrompt],
        segmenter: Segmenter,
        options: FileOptions | LiveOptions,
        *,
        stop: Stop | None = None,  # set it to end the run cleanly
        inbox: PromptInbox | None = None,  # live re-selections from a program (a UI)
    ) -> None:
        self.segmenter, self.options = segmenter, options
        self.stop = stop if stop is not None else Stop()
        self.exports = parse_exports(options.exports)
        self.timings = Timings()
        self.started = time.time()
        self.summary: RunSummary | None = None
        if isinstance(options, LiveOptions):
            self.source: _FileSource | _LiveSource = _LiveSource(
                source, prompts, segmenter, options, inbox)
        else:
            self.source = _FileSource(source, prompts, segmenter, options, self.exports)
        self.info = self.source.info
        self.out: Path | None = self.source.out
        self._results: Iterator[FrameResult] | None = None

    @property
    def live(self) -> LiveStats | None:
        """A live run's figures as they go (None for a file run)."""
        return self.source.stats

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[FrameResult]:
        if self._results is not None:
            raise RuntimeError("a run can be iterated once: start another")
        self._results = self._track()
        return self._results

    def close(self) -> None:
        """End the run (if it is going, as a stop does); release the source."""
        if self._results is not None:
            self._results.close()  # runs _track's finally: outputs closed, run.json
        if self.summary is None:
            self.source.close()

    def _track(self) -> Iterator[FrameResult]:
        source, previous = self.source, self.source.previous
        tracker = Tracker(self.segmenter, config=self.options.tracker)
        after = None
        if previous is not None:
            tracker.load_state_dict(previous.tracker_state)
            after = previous.last_frame
        feed = PromptFeed(source.prompts, after=after, sources=source.sources)
        halt = None if source.flushes_on_stop else self.stop
        schedule = source.schedule(feed, after, not tracker.object_ids, self.timings, self.stop)
        sinks = None
        if self.out is not None:
            sinks = SinkThread(make_sinks(self.exports, self.out, self.info,
                                          annotator=self.options.annotator,
                                          resume_after=after))
            if previous is None:
                self._write_run_json(self._summary("running", [], feed, None, _Progress()))
        progress = _Progress(last=after)
        status, error = "failed", None
        results = frame_loop(schedule, tracker, feed, timings=self.timings, halt=halt)
        try:
            while True:
                progress.between_frames = False  # the tracker is in a frame: not saveable
                result = next(results, None)
                if result is None:
                    progress.between_frames = True
                    break
                if sinks is not None:
                    sinks.write(result)
                progress.between_frames = True
                progress.frames, progress.last = progress.frames + 1, result.frame_index
                yield result
            status = source.stop_status if self.stop.is_set() else "complete"
        except GeneratorExit:
            status = "interrupted"  # the caller left the loop early
            raise
        except KeyboardInterrupt:
            status = "interrupted"  # a second Ctrl-C: stop at once, outputs still closed
        except SourceTimeout as exc:
            status, error = "interrupted", str(exc)
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            source.close()
            results.close()
            self.summary = self._finish(status, error, sinks, tracker, feed, progress)
        if self.summary.status == "failed":  # only a source without a frame gets here
            raise source.failure(self.summary.error)

    def _finish(self, status: str, error: str | None, sinks: SinkThread | None,
                tracker: Tracker, feed: PromptFeed, progress: _Progress) -> RunSummary:
        """Close the sinks, save the state to resume from, write run.json last."""
        t0 = time.perf_counter()
        outputs: list[Path] = []
        closed = sinks is None
        try:
            if sinks is not None:
                outputs = sinks.close()
                closed = True
        except BaseException as exc:
            status = "failed"
            error = error or f"writing the outputs failed: {type(exc).__name__}: {exc}"
            raise
        finally:
            self.timings.write = (sinks.seconds if sinks else 0.0) + time.perf_counter() - t0
            self.timings.total = time.time() - self.started
            self.source.finish(self.timings)
            previous = self.source.previous
            total = progress.frames + (previous.frames if previous else 0)
            if total == 0 and status == "complete":
                status, error = "failed", self.source.no_frames()
            if total == 0:
                _discard(outputs)
                outputs = []
            resumable = (self.out is not None and isinstance(self.source, _FileSource)
                         and closed and status != "complete" and total > 0
                         and progress.between_frames and progress.last is not None
                         and self._save_state(tracker))
            summary = self._summary(status, outputs, feed, sinks, progress, error, resumable)
            if self.out is not None:
                self._write_run_json(summary)
                if status == "complete":
                    shutil.rmtree(self.out / STATE_DIR, ignore_errors=True)
        return summary

    def _save_state(self, tracker: Tracker) -> bool:
        try:
            save_state({"tracker": tracker.state_dict()}, self.out / STATE_DIR)
        except (OSError, TypeError, ValueError) as exc:
            self.source.notes.append(f"the state to resume from could not be saved: {exc}")
            return False
        return True

    def _summary(self, status: str, outputs: list[Path], feed: PromptFeed,
                 sinks: SinkThread | None, progress: _Progress, error: str | None = None,
                 resumable: bool = False) -> RunSummary:
        previous = self.source.previous
        done = progress.frames + (previous.frames if previous else 0)
        last = progress.last if progress.last is not None else (
            previous.last_frame if previous else None)
        notes = self.source.describe_notes(feed) + (sinks.notes if sinks else [])
        return RunSummary(
            status, done, last, outputs, self.timings, notes, self.source.skipped,
            None if self.out is None else self.out / "run.json", error, resumable,
            None if previous is None else previous.last_frame, self.source.stats,
            self.source.stop_reason(self.stop))

    def _write_run_json(self, summary: RunSummary) -> None:
        info, options = self.info, self.options
        data = {
            "status": summary.status,
            "error": summary.error,
            "frames_done": summary.frames,
            "last_frame": summary.last_frame,
            "source": {
                "path": info.source, "width": info.width, "height": info.height,
                "rate": str(info.rate), "time_base": str(info.time_base),
                "frame_count": info.frame_count, "duration_s": info.duration_s,
                "codec": info.codec, "has_audio": info.has_audio,
            },
            "inputs": options.inputs,
            "model": {"name": getattr(self.segmenter, "name", type(self.segmenter).__name__),
                      **describe(self.segmenter)},
            "tracker": settings(options.tracker),
            "exports": list(self.exports),
            "outputs": [p.name for p in summary.outputs],
            "notes": summary.notes,
            "timings_s": asdict(summary.timings),
            "seconds_per_frame": summary.timings.per_frame(),
            "versions": versions(),
            "resumable": summary.resumable,
            "resumed_from": summary.resumed_from,
            "skipped_frames": summary.skipped_frames,
            "skipped": [asdict(s) for s in summary.skipped],
            **self.source.record(self.stop),
        }
        write_json_atomic(summary.run_json, data)


def run(
    source: str | Path | LiveReader,
    prompts: Sequence[ObjectPrompt],
    segmenter: Segmenter,
    options: FileOptions | LiveOptions,
    *,
    stop: Stop | None = None,  # set it to stop (after the current frame, for a file)
    inbox: PromptInbox | None = None,  # live re-selections from a program
    on_frame: Callable[[FrameResult, Run], Any] | None = None,  # progress, a preview
) -> RunSummary:
    """Track ``prompts`` through ``source`` to the end and write the chosen exports.

    In the main thread, SIGINT and SIGTERM set ``stop`` (a second one stops at once,
    outputs still closed). Returns the summary; raises ValueError for bad input
    (before anything is tracked), including a file that gave no frame at all
    (``run.json`` then says ``failed``), RuntimeError for a live source that gave none.
    """
    tracking = Run(source, prompts, segmenter, options, stop=stop, inbox=inbox)
    with tracking.stop.on_signals(), tracking:
        for result in tracking:
            if on_frame is not None:
                on_frame(result, tracking)
    return tracking.summary  # set when the iteration ended
