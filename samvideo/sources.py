"""Where a run's frames come from, and where its outputs go: the output folder
(:func:`prepare_output`), a file, a frames folder or a pipe (:class:`FileSource`, which
also picks up an interrupted or killed run for ``--resume``), and a live source
(:class:`LiveSource`). :class:`samvideo.run.Run` opens one of them and drives the frame
loop over its schedule.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from samvideo.directions import BACKWARD_DIR, backward_span, check_direction
from samvideo.export import recover_outputs
from samvideo.live import LiveSchedule, LiveStats, PromptInbox, PromptWatcher
from samvideo.loop import EveryFrame, PromptFeed, Timings
from samvideo.prompts import (
    ObjectPrompt,
    check_prompts,
    click_only_notes,
    prompt_to_json,
    prompts_at_start,
)
from samvideo.record import versions
from samvideo.resume import (
    STATE_DIR,
    Previous,
    check_resumable,
    load_previous,
    remove_state,
    save_state,
)
from samvideo.segmenters import describe
from samvideo.segmenters.base import PromptRequest, Segmenter
from samvideo.stop import Stop
from samvideo.video import Frame, FrameRange, Skipped, VideoReader, is_stream, is_url
from samvideo.video.frames import FrameStore
from samvideo.video.live import LiveReader, check_source

if TYPE_CHECKING:
    from samvideo.run import FileOptions, LiveOptions


# -- the output folder -----------------------------------------------------------------


def check_output(path: Path, *, overwrite: bool = False, resume: bool = False) -> None:
    """Refuse an output folder a run could not use, changing nothing: a file, a
    non-empty folder (unless ``overwrite``), or for ``resume`` a folder holding no run
    to continue. Callers check before costly set-up (loading a model); ValueError."""
    path = Path(path)
    if resume:
        check_resumable(path)
        return
    if path.exists() and not path.is_dir():
        raise ValueError(f"output {str(path)!r} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ValueError(f"output folder {str(path)!r} is not empty: use --overwrite, "
                         "--resume (to continue an interrupted run) or another -o DIR")


def prepare_output(path: Path, *, overwrite: bool) -> Path:
    """Create the output folder; refuse a non-empty one unless ``overwrite``."""
    path = Path(path)
    check_output(path, overwrite=overwrite)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".samvideo-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"output folder {str(path)!r} is not writable: "
                         f"{exc.strerror or exc}") from None
    (path / "run.json").unlink(missing_ok=True)  # a new run: old status is not ours
    remove_state(path / STATE_DIR)
    shutil.rmtree(path / BACKWARD_DIR, ignore_errors=True)
    remove_partial(path)
    return path


def remove_partial(out: Path) -> None:
    """Delete temporary ``.*.part`` leftovers of a crashed run (never final files)."""
    for p in Path(out).glob(".*.part"):
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()


def state_of(previous: Previous) -> dict:
    """What :func:`~samvideo.resume.save_state` saves for a run stopped after
    ``previous.last_frame`` (what :func:`~samvideo.resume.load_previous` reads back)."""
    return {"tracker": previous.tracker_state, "last_frame": previous.last_frame,
            "frames_done": previous.frames, "skipped": previous.skipped,
            "run_s": previous.run_s, **({"sinks": previous.sinks} if previous.sinks else {})}


def discard(paths: Sequence[Path]) -> None:
    """Remove outputs of a run that produced no frame (they would look like results)."""
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()


# -- sources ---------------------------------------------------------------------------


class FileSource:
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
            self.first_index: int | None = None  # source index of the first frame tracked
            if options.start is not None:
                first = self.reader.peek()
                prompts = prompts_at_start(prompts, first, part)
                self.first_index = first.index
            self.prompts, self.notes = check_prompts(prompts, self.info)
            self.notes += click_only_notes(self.prompts, getattr(segmenter, "name", ""))
            self.span = self._backward_span(source)
            self.key = self._resume_key(source, segmenter, exports)
            self.previous: Previous | None = None
            self.out = None
            if options.output is not None and options.resume:
                self.out = Path(options.output)
                self.previous = self._pick_up(load_previous(self.out, self.key), exports)
                remove_partial(self.out)
            elif options.output is not None:
                self.out = prepare_output(options.output, overwrite=options.overwrite)
        except BaseException:
            self.reader.close()
            raise
        self.sources: list[Callable[[], list[ObjectPrompt]]] = []
        self.stats: LiveStats | None = None
        self._store: FrameStore | None = None

    def _backward_span(self, source: str | Path) -> tuple[int, int] | None:
        """The frames to track backwards (``direction`` backward / both), or None."""
        direction = check_direction(self.options.direction)
        if direction == "forward":
            return None
        if is_stream(source):
            raise ValueError(f"--direction {direction} reads the frames before the prompts "
                             "again, which a pipe cannot give: save the video to a file")
        first = self.first_index if self.first_index is not None else 0
        span = backward_span(self.prompts, first)
        return span or ((first, first) if direction == "backward" else None)

    def frames(self) -> FrameStore:
        """Random access to the source's frames (the backward pass reads them)."""
        if self._store is None:
            self._store = FrameStore(self.reader.path, fps=self.options.fps)
        return self._store

    def _pick_up(self, previous: Previous, exports: tuple[str, ...]) -> Previous:
        """A killed run's temporary files become the outputs it had at its last
        checkpoint, and its state the one a clean stop there would have saved: from here
        on it is an interrupted run like any other."""
        if previous.sinks is None:
            return previous
        recover_outputs(exports, self.out, self.info, previous.sinks, previous.last_frame)
        previous.sinks = None
        save_state(state_of(previous), self.out / STATE_DIR)
        return previous

    def _resume_key(self, source: str | Path, segmenter: Segmenter,
                    exports: tuple[str, ...]) -> dict:
        """What must not change between an interrupted run and its ``--resume``."""
        info, options = self.info, self.options
        path = None if is_url(source) else Path(source)
        return json.loads(json.dumps({
            "source": str(source) if path is None else str(path.resolve()),
            "source_bytes": path.stat().st_size if path is not None and path.is_file() else None,
            "frame_size": [info.width, info.height],
            "prompts": [prompt_to_json(p) for p in self.prompts],
            "model": getattr(segmenter, "name", type(segmenter).__name__),
            "model_info": describe(segmenter),
            "exports": list(exports),
            "tracker": asdict(options.tracker),
            "overlay": asdict(options.annotator),
            "fps": None if options.fps is None else str(options.fps),
            "start": None if options.start is None else str(options.start),
            "direction": options.direction,
        }, default=str))

    def schedule(self, feed: PromptFeed, after: int | None, idle: bool, timings: Timings,
                 stop: Stop) -> EveryFrame:
        frames = _timed(iter(self.reader), timings)
        if after is not None:
            frames = (f for f in frames if f.index > after)  # done by the interrupted run
        if self.options.direction == "backward":  # the frames after the prompts: not wanted
            last = self.span[1]
            frames = itertools.takewhile(lambda f: f.index <= last, frames)
            return EveryFrame(frames, batch=self.options.batch, idle_before=last + 1)
        return EveryFrame(frames, batch=self.options.batch,
                          idle_before=feed.next_frame if idle else None)

    def expected_frames(self) -> int | None:
        """Frames the run tracks in all, earlier processes of a resumed run included (as
        the container counts them: a damaged file may give fewer); None when unknown."""
        count, o = self.info.frame_count, self.options
        if count is None:
            return None
        first = self.first_index if self.first_index is not None else 0
        end = count
        if isinstance(o.end, int):
            end = min(end, o.end)
        elif isinstance(o.end, float):
            end = min(end, math.ceil(o.end * self.info.rate - 1e-9))
        if o.max_frames is not None:
            end = min(end, (first if o.start is not None else 0) + o.max_frames)
        if o.direction == "backward" and self.span is not None:
            end = min(end, self.span[1] + 1)
        return max(end - first, 0)

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
        if self._store is not None:
            self._store.close()


class LiveSource:
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
    span = None  # a live stream cannot be tracked backwards

    def expected_frames(self) -> int | None:
        return None  # a live source ends when it ends

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


