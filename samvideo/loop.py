"""The one frame loop: frames in, one :class:`~samvideo.results.FrameResult` per frame out.

::

    schedule ──► encode (ahead, in batches) ──► prompts due ──► tracker.step ──► result
                                                                (or predict_only)

Every way samvideo tracks goes through :func:`frame_loop`: a file run, ``samvideo.track()``
with or without an output folder, a live run, and the browser page's tracking and
previews. What differs between them is the :class:`Schedule` the loop is given (which
frames are segmented, how far ahead they may be encoded), not a copy of the loop:

* :class:`EveryFrame` (files, the page): every frame is segmented, encoded ``batch`` at
  a time in a background thread while the tracker works on earlier frames (the encoder
  never depends on prompts);
* :class:`samvideo.live.LiveSchedule` (live sources): the newest frame is segmented and
  the frames there was no time for are predicted by the motion model.

Prompts reach the tracker through a :class:`PromptFeed` on the frame they are due.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from samvideo import handoff
from samvideo.prompts import ObjectPrompt, fit_to_frame
from samvideo.results import FrameResult
from samvideo.stop import Stop
from samvideo.tracker import Tracker
from samvideo.video import Frame

#: What the loop did with a frame (:meth:`Schedule.done`): ``segmented`` (encoded and
#: tracked), ``predicted`` (moved by the motion model only), ``idle`` (no object yet).
KINDS = ("segmented", "predicted", "idle")

_END = object()
_ENCODER_CLOSE_S = 10.0  # how long close() waits for an encoder batch in flight

Encode = Callable[[Sequence[Frame]], list[Any]]


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


@dataclass
class Scheduled:
    """A frame, and whether to segment it."""

    frame: Frame
    #: False: there was no time for it (live); the motion model predicts it
    segment: bool = True


class Schedule(Protocol):
    """Which frames the loop segments, and how far ahead it may encode them."""

    #: frames encoded at a time in a background thread, ahead of the tracker; 0 = each
    #: frame in the loop's thread when its turn comes (live: only the newest is encoded)
    batch: int

    def __iter__(self) -> Iterator[Scheduled]: ...

    def done(self, item: Scheduled, kind: str, seconds: float, prompted: bool) -> None:
        """Told after each frame: what was done (:data:`KINDS`), in how many seconds,
        and whether prompts were applied on it."""
        ...


class EveryFrame:
    """Every frame segmented, in source order (files, frames folders, pipes)."""

    def __init__(
        self,
        frames: Iterable[Frame],
        *,
        batch: int = 1,  # frames per encoder call; >1 only pays off on a GPU
        idle_before: int | None = None,  # frames before this index have no object yet:
        # not encoded (the first prompt comes later)
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch={batch}: must be at least 1")
        self.frames, self.batch, self.idle_before = frames, batch, idle_before

    def __iter__(self) -> Iterator[Scheduled]:
        for frame in self.frames:
            yield Scheduled(frame, self.idle_before is None or frame.index >= self.idle_before)

    def done(self, item: Scheduled, kind: str, seconds: float, prompted: bool) -> None:
        pass


class PromptFeed:
    """Prompts waiting for their frame, handed over on the frame they are due.

    Prompts keep their source frame index; one whose frame was never segmented (it
    could not be decoded, or a live run had no time for it) is applied on the next
    segmented frame (:attr:`moved` says which). ``sources`` give prompts to apply on
    the next segmented frame (live re-selection: a watched file, a program's inbox).
    ``reverse``: the frames come last first (tracking backwards), and so do the prompts.
    """

    def __init__(
        self,
        prompts: Sequence[ObjectPrompt],
        *,
        after: int | None = None,  # a resumed run: prompts up to this frame were applied
        sources: Sequence[Callable[[], list[ObjectPrompt]]] = (),
        reverse: bool = False,  # frames in decreasing source order (a backward pass)
    ) -> None:
        for p in prompts:
            if p.box is None and not p.points:
                raise ValueError(f"prompt for object {p.object_id} has neither box nor points")
        self._reverse = reverse
        self._fixed = sorted((p for p in prompts if after is None or p.frame_index > after),
                             key=lambda p: p.frame_index, reverse=reverse)
        self._sources = list(sources)
        self._now: list[ObjectPrompt] = []
        #: (prompt, frame it was applied on) for prompts applied after their own frame
        self.moved: list[tuple[ObjectPrompt, int]] = []
        #: why prompts from ``sources`` were refused (one line each)
        self.rejected: list[str] = []
        #: object id -> name, from the prompts that name their object
        self.names: dict[int, str] = {p.object_id: p.name for p in prompts if p.name}

    @property
    def next_frame(self) -> int | None:
        """The source index of the next prompt still waiting for its frame (the earliest;
        the latest for a ``reverse`` feed)."""
        return self._fixed[0].frame_index if self._fixed else None

    def poll(self, shape: tuple[int, ...]) -> int:
        """Take what the sources offer now, fitted to frames of ``shape`` (H, W, ...);
        returns how many prompts were taken."""
        taken = 0
        for source in self._sources:
            for p in source():
                try:
                    q, _ = fit_to_frame(p, shape[1], shape[0])
                except ValueError as exc:
                    self.rejected.append(str(exc))
                    continue
                self._now.append(q)
                if q.name:
                    self.names[q.object_id] = q.name
                taken += 1
        return taken

    def name(self, result: FrameResult) -> FrameResult:
        """Give the result's objects the names their prompts gave them (in place)."""
        for obj in result.objects:
            obj.name = self.names.get(obj.object_id, obj.name)
        return result

    def due(self, index: int) -> list[ObjectPrompt]:
        """The prompts to apply on source frame ``index`` (which is being segmented)."""
        due: list[ObjectPrompt] = []
        while self._fixed and (self._fixed[0].frame_index >= index if self._reverse
                               else self._fixed[0].frame_index <= index):
            p = self._fixed.pop(0)
            if p.frame_index != index:
                self.moved.append((p, index))
            due.append(p)
        due += self._now
        self._now = []
        return [p if p.frame_index == index else replace(p, frame_index=index) for p in due]


def frame_loop(
    schedule: Schedule,
    tracker: Tracker,
    feed: PromptFeed,
    *,
    encode: Encode | None = None,  # frames -> embeddings; None = the tracker's segmenter's
    timings: Timings | None = None,  # filled in as frames go by
    halt: Stop | None = None,  # end after the current frame once it is set
) -> Iterator[FrameResult]:
    """Track the scheduled frames: one :class:`FrameResult` per frame, in source order."""
    timings = timings if timings is not None else Timings()
    if encode is None:
        def encode(frames: Sequence[Frame]) -> list[Any]:
            return tracker.segmenter.encode([f.rgb for f in frames])
    ahead = _Ahead(iter(schedule), encode, schedule.batch, timings, halt) \
        if schedule.batch > 0 else None
    items = ahead if ahead is not None else ((item, None) for item in schedule)
    try:
        for item, embedding in items:
            t0 = time.perf_counter()
            result, kind, prompted = _track_one(item, embedding, tracker, feed, encode, timings)
            schedule.done(item, kind, time.perf_counter() - t0, prompted)
            timings.frames += 1
            yield result
            if halt is not None and halt.is_set():
                return
    finally:
        if ahead is not None:
            ahead.close()


def _track_one(item: Scheduled, embedding: Any, tracker: Tracker, feed: PromptFeed,
               encode: Encode, timings: Timings) -> tuple[FrameResult, str, bool]:
    """One frame: predicted, idle (no object yet) or segmented with the prompts due."""
    frame = item.frame
    empty = FrameResult(frame.index, frame.time_s, [], frame.rgb)
    if not item.segment:
        if not tracker.object_ids:
            return empty, "idle", False
        return tracker.predict_only(frame.rgb, frame_index=frame.index,
                                    time_s=frame.time_s), "predicted", False
    due = feed.due(frame.index)
    if not tracker.object_ids and not due:
        return empty, "idle", False
    if due:
        tracker.add_prompts(due)
    if embedding is None:
        t0 = time.perf_counter()
        embedding = encode([frame])[0]
        timings.encode += time.perf_counter() - t0
    t0 = time.perf_counter()
    result = tracker.step(frame.rgb, frame_index=frame.index, time_s=frame.time_s,
                          embedding=embedding)
    timings.track += time.perf_counter() - t0
    return result, "segmented", bool(due)


class _Ahead:
    """Scheduled frames with their embeddings, the frames to segment encoded ``batch`` at
    a time in a background thread. Iteration ends early, without error, once ``halt`` is
    set (the loop checks it)."""

    def __init__(self, items: Iterator[Scheduled], encode: Encode, batch: int,
                 timings: Timings, halt: Stop | None) -> None:
        self._items, self._encode, self._batch = items, encode, batch
        self._timings, self._halt = timings, halt
        self._queue: queue.Queue = queue.Queue(maxsize=max(2 * batch, 2))
        self._stop = threading.Event()
        self._encoding = False  # a batch is in the encoder (close() waits for it)
        self._thread = threading.Thread(target=self._run, name="samvideo-encode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            chunk: list[Scheduled] = []
            for item in self._items:
                if item.segment:
                    chunk.append(item)
                if chunk and (len(chunk) == self._batch or not item.segment):
                    self._emit(chunk)
                    chunk = []
                if not item.segment:
                    self._put((item, None))
                if self._stop.is_set():
                    return
            if chunk:
                self._emit(chunk)
            self._put(_END)
        except BaseException as exc:  # handed over to the consumer
            self._put(exc)

    def _emit(self, chunk: list[Scheduled]) -> None:
        t0 = time.perf_counter()
        self._encoding = True
        try:
            embeddings = self._encode([item.frame for item in chunk])
        finally:
            self._encoding = False
        self._timings.encode += time.perf_counter() - t0
        for item, embedding in zip(chunk, embeddings, strict=True):
            self._put((item, embedding))

    def _put(self, entry: Any) -> None:
        handoff.put(self._queue, entry, self._stop)

    def __iter__(self) -> Iterator[tuple[Scheduled, Any]]:
        while self._halt is None or not self._halt.is_set():
            try:
                entry = self._queue.get(timeout=handoff.POLL_S)
            except queue.Empty:
                continue
            if entry is _END:
                return
            if isinstance(entry, BaseException):
                raise entry
            yield entry

    def close(self) -> None:
        """Stop; wait (boundedly, and not once ``halt`` hurries) for a batch in flight,
        then let the daemon thread go (a thread waiting for the source ends when the
        source is closed)."""
        self._stop.set()
        halt = self._halt  # asked twice (hurried): the batch in flight is not waited for
        handoff.drain(self._queue, self._thread, _ENCODER_CLOSE_S,
                      lambda: self._encoding and not (halt is not None and halt.hurried))
