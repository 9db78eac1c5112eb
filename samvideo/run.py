"""A tracking run: a source opened, its frames tracked through the one frame loop
(:func:`samvideo.loop.frame_loop`), every result written to the chosen exports, and
``run.json`` kept up to date.

:class:`Run` is iterable: it yields one :class:`~samvideo.results.FrameResult` per frame
while it writes them, so the command line, ``samvideo.track()`` and the browser page all
drive the same object; :func:`run` iterates one to the end. A file run
(:class:`FileOptions`) and a live run (:class:`LiveOptions`) differ in how the source is
opened and scheduled (:mod:`samvideo.sources`), nothing else.

Reliability rules (however a run ends, no frame it finished is lost):

* a stop (:class:`~samvideo.stop.Stop` set: by the caller, by SIGINT / SIGTERM inside
  :func:`run`, or by leaving the iteration early) ends a file run after the current
  frame, and a live run once every frame received is written: the sinks are closed (the
  overlay plays, every export is flushed); a file run's tracker state is saved under
  ``.resume/`` (JSON + NPZ) and ``run.json`` says ``interrupted`` with the last frame
  done, so ``FileOptions(resume=True)`` continues from there. Asking again (a second
  Ctrl-C) only stops the wait for work in flight: nothing raises while closing;
* every ``save_every_s`` seconds a file run checkpoints: each sink makes its temporary
  files whole up to the last frame written, the tracker's state is saved with them, and
  ``run.json`` (still ``running``) says how far the outputs are good
  (``checkpoint``); a run killed outright (SIGKILL, a power cut of the process) is
  picked up by ``--resume`` from its last checkpoint, with outputs equal to a run
  never interrupted;
* a source that delivers no frame for ``timeout_s`` seconds stops the run the same way,
  with the reason in ``run.json``'s ``error``;
* every output is written under a temporary name and renamed when whole; ``run.json``
  says ``running`` while a run goes and is rewritten last, so ``status: complete`` means
  complete (``failed``: an error stopped it, or the source gave no frame).
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from samvideo.annotate import MaskAnnotator
from samvideo.directions import BACKWARD_DIR, BackwardResults
from samvideo.export import DEFAULT_EXPORTS, Categories, SinkThread, make_sinks, parse_exports
from samvideo.live import LiveStats, PromptInbox
from samvideo.loop import PromptFeed, Timings, frame_loop
from samvideo.prompts import ObjectPrompt
from samvideo.record import settings, versions, write_json_atomic
from samvideo.results import FrameResult
from samvideo.resume import STATE_DIR, remove_state, save_state
from samvideo.segmenters import describe
from samvideo.segmenters.base import Segmenter
from samvideo.sources import FileSource, LiveSource, discard, prepare_output, remove_partial
from samvideo.stop import Stop
from samvideo.tracker import (
    MemoryConfig,
    Tracker,
    TrackerConfig,
    check_tracker,
    make_tracker,
    tracker_name,
)
from samvideo.video import Position, Skipped, SourceTimeout
from samvideo.video.live import LiveReader


@dataclass(frozen=True)
class RunOptions:
    """What every run needs besides the source, the prompts and the model."""

    output: Path | None = None  # a folder for the exports and run.json; None: results only
    exports: tuple[str, ...] = DEFAULT_EXPORTS
    overwrite: bool = False  # refuse to write into a non-empty folder unless asked
    max_frames: int | None = None  # stop after this many frames
    timeout_s: float | None = 30.0  # no frame for this long: the source stalled (None: wait)
    annotator: MaskAnnotator = field(default_factory=MaskAnnotator)
    #: the tracker and its settings: a TrackerConfig is the box tracker (every model), a
    #: MemoryConfig SAM 2.1's memory tracker (samvideo.tracker.make_tracker)
    tracker: TrackerConfig | MemoryConfig = field(default_factory=TrackerConfig)
    inputs: dict = field(default_factory=dict)  # what the user asked, for run.json


@dataclass(frozen=True)
class FileOptions(RunOptions):
    """A run over a file, a frames folder or a pipe: every frame segmented."""

    start: Position | None = None  # first source frame (int) or second (float) tracked
    end: Position | None = None  # source frame (int) or second (float) not tracked any more
    fps: Fraction | None = None  # rate of a frames folder (None: 24, DAVIS's)
    batch: int = 1  # frames per encoder call: more only pays off on a GPU
    resume: bool = False  # continue the interrupted run in ``output``
    save_every_s: float | None = 10.0  # checkpoint this often (None: never): a killed run
    # loses at most this much work, and one checkpoint costs the writer thread a few ms
    direction: str = "forward"  # forward / backward / both: also (or only) track from the
    # prompts back towards the first frame, as SAM 2 does (samvideo.directions)
    backward_buffer_mb: float = 256.0  # tracking backwards: one keyframe interval of
    # frames is held this far in memory, in a temporary file beyond


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
    frames_here: int = 0  # frames done by this process (``frames`` counts earlier ones too)
    run_s: float = 0.0  # seconds every process of the run took together (this one too)
    checkpoint: dict | None = None  # while running: how far the outputs are good
    checkpoints: dict | None = None  # {"count", "seconds"}: the writer thread's work on them

    @property
    def skipped_frames(self) -> int:
        return sum(s.count for s in self.skipped)


# -- the run ---------------------------------------------------------------------------


@dataclass
class _Progress:
    frames: int = 0  # frames done by this run
    last: int | None = None  # source index of the last frame done
    between_frames: bool = True  # False while a frame is half written: state not saveable
    saved: dict | None = None  # the last checkpoint: {"last_frame", "frames_done"}
    last_save: float = field(default_factory=time.monotonic)


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
        check_tracker(segmenter, options.tracker)
        if isinstance(options.tracker, MemoryConfig) and \
                getattr(options, "direction", "forward") != "forward":
            raise ValueError(f"--direction {options.direction} runs the box tracker backwards: "
                             "--tracker memory tracks forward only")
        self.stop = stop if stop is not None else Stop()
        self.exports = parse_exports(options.exports)
        self.timings = Timings()
        self.started = time.time()
        self.summary: RunSummary | None = None
        if isinstance(options, LiveOptions):
            self.source: FileSource | LiveSource = LiveSource(
                source, prompts, segmenter, options, inbox)
        else:
            self.source = FileSource(source, prompts, segmenter, options, self.exports)
        self.info = self.source.info
        self.out: Path | None = self.source.out
        self._results: Iterator[FrameResult] | None = None
        #: called with (frames done, frames in all) while tracking backwards, before the
        #: first frame is handed out (the command's and the page's progress)
        self.on_backward: Callable[[int, int], Any] | None = None

    @property
    def live(self) -> LiveStats | None:
        """A live run's figures as they go (None for a file run)."""
        return self.source.stats

    @property
    def expected_frames(self) -> int | None:
        """How many frames this run tracks in all (earlier processes of a resumed run
        included), when the source says; None when unknown (a pipe, a live source)."""
        return self.source.expected_frames()

    @property
    def frames_before(self) -> int:
        """Frames an interrupted run had done before this process resumed it (0 if none)."""
        previous = self.source.previous
        return previous.frames if previous is not None else 0

    @property
    def resumed_from(self) -> int | None:
        """The last frame the interrupted run this one continues had done, or None."""
        previous = self.source.previous
        return previous.last_frame if previous is not None else None

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
        tracker = make_tracker(self.segmenter, self.options.tracker)
        after = None
        if previous is not None:
            tracker.load_state_dict(previous.tracker_state)
            after = previous.last_frame
        forward = source.prompts if getattr(source, "span", None) is None or \
            self.options.direction == "both" else []
        feed = PromptFeed(forward, after=after, sources=source.sources)
        halt = None if source.flushes_on_stop else self.stop
        progress = _Progress(last=after)
        if self.out is not None:
            if previous is not None:  # the outputs are good up to there already
                progress.saved = {"last_frame": after, "frames_done": previous.frames}
            self._write_run_json(self._summary("running", [], feed, None, progress))
        backward = self._backward()
        if backward is not None and not backward.complete:  # stopped while going backwards
            backward.remove()
            self.summary = self._finish("interrupted", None, None, tracker, feed, progress)
            source.close()
            return
        schedule = source.schedule(feed, after, not tracker.object_ids, self.timings, self.stop)
        sinks = None
        if self.out is not None:
            ordered = sorted(source.prompts, key=lambda p: (p.frame_index, p.object_id))
            sinks = SinkThread(make_sinks(self.exports, self.out, self.info,
                                          annotator=self.options.annotator,
                                          resume_after=after,
                                          categories=Categories(p.name for p in ordered)))
        every = getattr(self.options, "save_every_s", None) if sinks is not None else None
        status, error = "failed", None
        results = frame_loop(schedule, tracker, feed, timings=self.timings, halt=halt)
        try:
            while True:
                progress.between_frames = False  # the tracker is in a frame: not saveable
                result = next(results, None)
                if result is None:
                    progress.between_frames = True
                    break
                feed.name(result)
                if backward is not None:
                    result = backward.join(result)
                if sinks is not None:
                    sinks.write(result)
                progress.between_frames = True
                progress.frames, progress.last = progress.frames + 1, result.frame_index
                if every is not None and time.monotonic() - progress.last_save >= every:
                    self._checkpoint(sinks, tracker, feed, progress)
                yield result
            status = source.stop_status if self.stop.is_set() else "complete"
        except GeneratorExit:
            status = "interrupted"  # the caller left the loop early
            raise
        except KeyboardInterrupt:
            status = "interrupted"  # raised by the caller's own handler: outputs still closed
        except SourceTimeout as exc:
            status, error = "interrupted", str(exc)
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            source.close()
            results.close()
            self.summary = self._finish(status, error, sinks, tracker, feed, progress)
            if backward is not None and (self.out is None or self.summary.status == "complete"):
                backward.remove()
        if self.summary.status == "failed":  # only a source without a frame gets here
            raise source.failure(self.summary.error)

    def _backward(self) -> BackwardResults | None:
        """The backward pass's results (``direction`` backward / both): tracked now, or
        those a resumed run's earlier process tracked to the end for the same job."""
        source = self.source
        span = getattr(source, "span", None)
        if span is None:
            return None
        folder = self.out / BACKWARD_DIR if self.out is not None else Path(
            tempfile.mkdtemp(prefix="samvideo-backward-"))
        results = BackwardResults(folder)
        key = source.key
        if results.complete and results.key() == key:
            return results.load()
        results.run(source.frames(), source.prompts, self.segmenter, self.options.tracker,
                    span, key=key, batch=self.options.batch,
                    buffer_mb=self.options.backward_buffer_mb, stop=self.stop,
                    timings=self.timings, progress=self.on_backward)
        return results

    # -- checkpoints and the end ---------------------------------------------------------

    def _state(self, tracker: Tracker, progress: _Progress) -> dict:
        """What ``--resume`` needs to continue after the last frame done (resume.py)."""
        previous = self.source.previous
        return {"tracker": tracker.state_dict(), "last_frame": progress.last,
                "frames_done": progress.frames + self.frames_before,
                "skipped": [asdict(s) for s in self.source.skipped],
                "run_s": (previous.run_s if previous else 0.0) + time.time() - self.started}

    def _checkpoint(self, sinks: SinkThread, tracker: Tracker, feed: PromptFeed,
                    progress: _Progress) -> None:
        """Queue a checkpoint after the frames written so far: the writer thread makes
        the sinks' files whole, then the state and run.json are saved there."""
        state = self._state(tracker, progress)  # the tracker moves on: taken now
        summary = self._summary("running", [], feed, None, progress)
        progress.last_save = time.monotonic()

        def save(sinks_data: dict) -> None:
            try:
                save_state({**state, "sinks": sinks_data}, self.out / STATE_DIR)
            except (OSError, TypeError, ValueError) as exc:
                self.source.notes.append(f"a checkpoint could not be saved: {exc}")
                return
            summary.checkpoint = progress.saved = {"last_frame": state["last_frame"],
                                                   "frames_done": state["frames_done"]}
            self._write_run_json(summary)

        sinks.checkpoint(save)

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
            total = progress.frames + self.frames_before
            if total == 0 and status == "complete":
                status, error = "failed", self.source.no_frames()
            if total == 0:
                discard(outputs)
                outputs = []
            saveable = (self.out is not None and isinstance(self.source, FileSource)
                        and closed and status != "complete" and total > 0)
            # mid-frame (an exception in the tracker) the last checkpoint still holds
            resumable = saveable and ((progress.between_frames and progress.last is not None
                                       and self._save_state(tracker, progress))
                                      or progress.saved is not None)
            summary = self._summary(status, outputs, feed, sinks, progress, error, resumable)
            if self.out is not None:
                self._write_run_json(summary)
                if status == "complete":
                    remove_state(self.out / STATE_DIR)
        return summary

    def _save_state(self, tracker: Tracker, progress: _Progress) -> bool:
        try:
            save_state(self._state(tracker, progress), self.out / STATE_DIR)
        except (OSError, TypeError, ValueError) as exc:
            self.source.notes.append(f"the state to resume from could not be saved: {exc}")
            return False
        return True

    def _summary(self, status: str, outputs: list[Path], feed: PromptFeed,
                 sinks: SinkThread | None, progress: _Progress, error: str | None = None,
                 resumable: bool = False) -> RunSummary:
        previous = self.source.previous
        done = progress.frames + self.frames_before
        last = progress.last if progress.last is not None else (
            previous.last_frame if previous else None)
        notes = list(dict.fromkeys(self.source.describe_notes(feed)
                                   + (sinks.notes if sinks else [])))  # each note once
        elapsed = self.timings.total if self.timings.total else time.time() - self.started
        return RunSummary(
            status, done, last, outputs, self.timings, notes, self.source.skipped,
            None if self.out is None else self.out / "run.json", error, resumable,
            None if previous is None else previous.last_frame, self.source.stats,
            self.source.stop_reason(self.stop), frames_here=progress.frames,
            run_s=(previous.run_s if previous else 0.0) + elapsed,
            checkpoint=progress.saved if status == "running" else None,
            checkpoints=None if sinks is None else {"count": sinks.checkpoints,
                                                    "seconds": round(sinks.checkpoint_s, 4)})

    def _write_run_json(self, summary: RunSummary) -> None:
        info, options = self.info, self.options
        data = {
            "status": summary.status,
            "error": summary.error,
            "frames_done": summary.frames,
            "last_frame": summary.last_frame,
            "checkpoint": summary.checkpoint,
            "process": {"pid": os.getpid(), "host": socket.gethostname(),
                        "frames": summary.frames_here},
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
            "tracker_name": tracker_name(options.tracker),
            "exports": list(self.exports),
            "outputs": [p.name for p in summary.outputs],
            "notes": summary.notes,
            "timings_s": asdict(summary.timings),
            "seconds_per_frame": summary.timings.per_frame(),
            "run_s": round(summary.run_s, 3),
            "checkpoints": summary.checkpoints,
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

    In the main thread, SIGINT and SIGTERM set ``stop`` (a second one only hurries it:
    outputs are still closed). Returns the summary; raises ValueError for bad input
    (before anything is tracked), including a file that gave no frame at all
    (``run.json`` then says ``failed``), RuntimeError for a live source that gave none.
    """
    tracking = Run(source, prompts, segmenter, options, stop=stop, inbox=inbox)
    with tracking.stop.on_signals(), tracking:
        for result in tracking:
            if on_frame is not None:
                on_frame(result, tracking)
    return tracking.summary  # set when the iteration ended


__all__ = ["FileOptions", "LiveOptions", "Run", "RunOptions", "RunSummary", "prepare_output",
           "remove_partial", "run"]
