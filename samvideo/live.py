"""Real time: the live schedule of the frame loop, its statistics, and re-selection.

The live policy (:class:`LiveSchedule`): the tracker always segments the *newest* frame
it has (encoded when its turn comes, one at a time); the frames that arrived meanwhile
are written with the Kalman-predicted box and the last mask moved by the predicted
motion (state ``predicted``, :meth:`~samvideo.tracker.Tracker.predict_only`), so every
output keeps the source's frame count and timing while the latency stays bounded.
:class:`LiveStats` counts frames received / processed / predicted-only and measures the
latency from a frame's arrival to its result (p50 / p95 / max).

Re-selection: a prompts file watched for changes (:class:`PromptWatcher`,
``--watch-prompts``), or prompts a program puts into a :class:`PromptInbox`: each
object given is (re)started on the next frame that is segmented.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from samvideo.loop import PromptFeed, Scheduled
from samvideo.prompts import ObjectPrompt, load_prompts_file
from samvideo.stop import Stop
from samvideo.video import VideoInfo
from samvideo.video.live import LiveFrame, LiveReader


class PromptInbox:
    """Thread-safe mailbox of prompts to apply on the next segmented frame."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prompts: list[ObjectPrompt] = []

    def put(self, prompts: Sequence[ObjectPrompt]) -> None:
        for p in prompts:
            if p.box is None and not p.points:
                raise ValueError(f"prompt for object {p.object_id} has neither box nor points")
        with self._lock:
            self._prompts.extend(prompts)

    def take(self) -> list[ObjectPrompt]:
        with self._lock:
            prompts, self._prompts = self._prompts, []
        return prompts


class PromptWatcher:
    """Watch a prompts file (the ``--prompts`` JSON format); :meth:`poll` returns its
    objects each time the file's content changes (and once at start when it exists).

    The ``frame`` field is ignored: a watched prompt applies on the next segmented frame.
    Write the file atomically (write a temporary file, then rename) or just save it: a
    half-written file is not valid JSON and is read again when it changes next.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        min_interval_s: float = 0.05,  # a stat() per frame at most 20 times a second
    ) -> None:
        self.path = Path(path)
        self.min_interval_s = min_interval_s
        self._seen: tuple[int, int] | None = None
        self._content: bytes | None = None
        self._last_poll = -1e9
        #: messages about invalid versions of the file, oldest first
        self.errors: list[str] = []

    def poll(self) -> list[ObjectPrompt]:
        now = time.monotonic()
        if now - self._last_poll < self.min_interval_s:
            return []
        self._last_poll = now
        try:
            st = self.path.stat()
        except OSError:
            return []
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._seen:
            return []
        self._seen = stamp
        try:
            content = self.path.read_bytes()
        except OSError:
            return []
        if content == self._content:
            return []
        try:
            prompts = load_prompts_file(self.path)
        except ValueError as exc:
            self.errors.append(str(exc))
            return []
        self._content = content
        return [replace(p, frame_index=0) for p in prompts]


class _Reservoir:
    """A fixed-size uniform sample of a stream of numbers (memory flat over long runs),
    with the exact count, mean and maximum."""

    def __init__(self, size: int = 20000, seed: int = 0) -> None:
        self.size = size
        self.values: list[float] = []
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self._rng = random.Random(seed)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.max = max(self.max, value)
        if len(self.values) < self.size:
            self.values.append(value)
        else:
            j = self._rng.randrange(self.count)
            if j < self.size:
                self.values[j] = value

    def summary_ms(self) -> dict[str, float | None]:
        if not self.count:
            return {"p50": None, "p95": None, "max": None, "mean": None}
        p50, p95 = np.percentile(np.asarray(self.values), [50, 95])
        return {"p50": round(p50 * 1000, 2), "p95": round(p95 * 1000, 2),
                "max": round(self.max * 1000, 2), "mean": round(self.total / self.count * 1000, 2)}


@dataclass
class LiveStats:
    """What a live run did. Latency is from a frame's arrival (decoded, in this process)
    to its result (tracked or predicted), in seconds."""

    received: int = 0  # frames the source delivered
    processed: int = 0  # frames segmented
    predicted: int = 0  # frames written with predicted masks: no time to segment them
    idle: int = 0  # frames before any object was given
    dropped: int = 0  # frames lost because the backlog overflowed (absent from outputs)
    prompts_applied: int = 0  # re-selections (watched file, inbox) taken in
    segment_s: float = 0.0  # time spent segmenting (encode + track), processed frames
    segment_max_s: float = 0.0  # the longest segmentation of one frame
    wall_s: float = 0.0  # from the first frame's arrival to the last result
    latency: _Reservoir = field(default_factory=_Reservoir)
    latency_processed: _Reservoir = field(default_factory=_Reservoir)
    first_mask_s: float | None = None  # from the first prompted frame's arrival to its mask
    first_gap: int | None = None  # frames from that frame to the next one segmented
    prompt_index: int | None = None  # the first prompted frame's index

    def to_dict(self, info: VideoInfo | None = None) -> dict[str, Any]:
        rate = self.processed / self.wall_s if self.wall_s > 0 else None
        data = {
            "frames_received": self.received, "frames_processed": self.processed,
            "frames_predicted_only": self.predicted, "frames_idle": self.idle,
            "frames_dropped": self.dropped, "prompts_applied": self.prompts_applied,
            "processing_fps": None if rate is None else round(rate, 3),
            "segment_ms_mean": round(self.segment_s / self.processed * 1000, 2)
            if self.processed else None,
            "segment_ms_max": round(self.segment_max_s * 1000, 2),
            "wall_s": round(self.wall_s, 3),
            "latency_ms": self.latency.summary_ms(),
            "latency_processed_ms": self.latency_processed.summary_ms(),
            "first_mask_ms": None if self.first_mask_s is None
            else round(self.first_mask_s * 1000, 2),
            "frames_to_next_segmented": self.first_gap,
        }
        if info is not None:
            data["source_fps"] = round(float(info.rate), 3)
            data["frame_period_ms"] = round(1000 / float(info.rate), 3)
        return data

    def line(self, info: VideoInfo | None = None) -> str:
        """One human line: counts, rate and latency (the CLI prints it)."""
        d = self.to_dict(info)
        lat = d["latency_ms"]
        fps = "-" if d["processing_fps"] is None else f"{d['processing_fps']:.1f}"
        text = (f"{d['frames_received']} frames received, {d['frames_processed']} processed, "
                f"{d['frames_predicted_only']} predicted-only")
        if d["frames_dropped"]:
            text += f", {d['frames_dropped']} dropped"
        text += f"; processing {fps} frames/s"
        if lat["p50"] is not None:
            text += f"; latency p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, " \
                    f"max {lat['max']:.0f} ms"
        return text


class LiveSchedule:
    """The frame loop's schedule for a live source (see the module docstring).

    Two exceptions to "segment the newest": a frame a user prompt is given for is
    segmented; and right after a prompt, the next ``warmup_frames`` frames are segmented
    in order while their results come within ``warmup_latency_s`` of their arrival: the
    motion model knows nothing of the object's velocity before two close frames, and a
    jump over many frames with a zero velocity loses a moving object. Once ``stop`` is
    set the reader stops and every frame received is still written (as predicted). The
    reader must be started (``with reader:``).
    """

    batch = 0  # only the newest frame is encoded, when its turn comes

    def __init__(
        self,
        reader: LiveReader,
        feed: PromptFeed,
        *,
        stats: LiveStats | None = None,  # filled in as frames go by
        stop: Stop | None = None,  # set it to end the run cleanly (Ctrl-C)
        warmup_frames: int = 2,  # after a prompt, segment this many frames in order...
        warmup_latency_s: float = 0.5,  # ...unless a result would come later than this
        poll_s: float = 0.1,  # how often to look at ``stop`` while no frame comes
    ) -> None:
        if warmup_frames < 0:
            raise ValueError(f"warmup_frames={warmup_frames!r} must be >= 0")
        self.reader, self.feed, self.stop = reader, feed, stop
        self.stats = stats if stats is not None else LiveStats()
        self.warmup_frames, self.warmup_latency_s, self.poll_s = (
            warmup_frames, warmup_latency_s, poll_s)
        self.waiting: deque[LiveFrame] = deque()
        self.stopping = False
        self.warm = 0  # frames still to segment in order after a prompt
        self.last_segment_s = 0.0
        self.first_arrival: float | None = None
        self.last_seen = time.monotonic()

    def __iter__(self) -> Iterator[Scheduled]:
        while self._collect():
            if not self.waiting:
                continue
            self.stats.prompts_applied += self.feed.poll(self.waiting[-1].rgb.shape)
            for _ in range(self._target()):
                yield Scheduled(self.waiting.popleft(), segment=False)
            if self.waiting and not self.stopping:
                yield Scheduled(self.waiting.popleft(), segment=True)
        self.stats.received, self.stats.dropped = self.reader.received, self.reader.dropped

    def done(self, item: Scheduled, kind: str, seconds: float, prompted: bool) -> None:
        stats = self.stats
        if kind == "segmented":
            self.last_segment_s = seconds
            stats.processed += 1
            stats.segment_s += seconds
            stats.segment_max_s = max(stats.segment_max_s, seconds)
            if prompted:
                self.warm = self.warmup_frames
        elif kind == "predicted":
            stats.predicted += 1
        else:
            stats.idle += 1
        now = time.perf_counter()
        arrival = getattr(item.frame, "arrival", now)
        if kind == "segmented" and prompted and stats.first_mask_s is None:
            stats.first_mask_s, stats.prompt_index = now - arrival, item.frame.index
        elif kind == "segmented" and stats.first_gap is None and stats.prompt_index is not None:
            stats.first_gap = item.frame.index - stats.prompt_index
        stats.latency.add(now - arrival)
        if kind == "segmented":
            stats.latency_processed.add(now - arrival)
        stats.wall_s = now - (self.first_arrival or arrival)

    def _collect(self) -> bool:
        """Move newly arrived frames to ``waiting``; False when the run is over."""
        if self.stop is not None and self.stop.is_set() and not self.stopping:
            self.reader.stop()  # flush what was received, read nothing more
            self.stopping = True
        batch = self.reader.take(timeout=0 if self.waiting else self.poll_s)
        if batch is None:
            return bool(self.waiting)
        if batch:
            self.waiting.extend(batch)
            self.last_seen = time.monotonic()
            if self.first_arrival is None:
                self.first_arrival = batch[0].arrival
            return True
        if self.waiting:
            return True
        if self.stopping:
            return False  # the reader may be stuck in a read: don't wait for it
        timeout = self.reader.timeout_s
        if timeout is not None and time.monotonic() - self.last_seen > timeout + 2 * self.poll_s:
            self.reader.stop_reason = "stalled"  # stuck where libav's timeout can't reach
            return False
        return True

    def _target(self) -> int:
        """How many waiting frames to predict before the one to segment."""
        if self.stopping:
            return len(self.waiting)  # no more segmentation: what is left is predicted
        due = self.feed.next_frame
        if due is not None:
            for i, f in enumerate(self.waiting):
                if f.index >= due:
                    return i
        if self.warm > 0:
            self.warm -= 1
            late = time.perf_counter() - self.waiting[0].arrival + self.last_segment_s
            if late <= self.warmup_latency_s:
                return 0
            self.warm = 0
        return len(self.waiting) - 1
