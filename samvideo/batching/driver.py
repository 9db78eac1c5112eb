"""The driver's loop, the same for both engines: send clips to the engine as it has room,
take back what happened, retry what failed, stop everything when asked.

A try fails when its outcome says so (an error, a source that stalled) or when it
comes back :class:`~samvideo.batching.clip.Lost` (the worker died); it is sent again,
first in line, while the clip has tries left, and the worker resumes it where
``run.json`` allows. When ``stop`` is set, clips not sent are dropped and the engine
stops the others cleanly; a model that cannot be built stops the batch too.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from samvideo.batching.clip import ClipJob, ClipOutcome, Frames, Lost, Started, read_run_json
from samvideo.batching.report import ClipRecord
from samvideo.stop import Stop

POLL_S = 0.25  # how often progress is taken and shown


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands (what the progress bar shows)."""

    clips: int
    done: int  # complete
    running: int
    failed: int
    frames_done: int  # frames of the manifest done, by earlier runs too
    frames_total: int | None  # frames of the manifest (None: some source does not say)
    frames_run: int  # frames this batch tracked
    elapsed_s: float
    stopping: bool = False

    @property
    def fps(self) -> float:
        """Frames per second over all workers, since the batch started."""
        return self.frames_run / self.elapsed_s if self.elapsed_s > 0 else 0.0


class Engine(Protocol):
    """What the driver asks of an engine (:class:`~samvideo.batching.local_engine.
    LocalEngine`, :class:`~samvideo.batching.ray_engine.RayEngine`), used in a ``with``."""

    slots: int  # clips it takes at once
    threads: int | None  # each worker's share of the cores

    def describe(self) -> dict[str, Any]: ...  # for batch.json

    def submit(self, job: ClipJob) -> None: ...

    def poll(self, timeout: float) -> list[Started | Frames | ClipOutcome | Lost]: ...

    def stop(self) -> None: ...  # every clip: finish the frame, close the files

    def kill(self) -> None: ...  # every clip at once


class Driver:
    """Runs ``jobs`` on ``engine``, keeping ``records`` up to date; see the module."""

    def __init__(self, engine: Engine, jobs: Sequence[ClipJob], records: dict[int, ClipRecord], *,
                 retries: int, stop: Stop,
                 on_progress: Callable[[BatchProgress], None] | None = None) -> None:
        self.engine, self.records, self.retries = engine, records, retries
        self.stop, self.on_progress = stop, on_progress
        self.jobs = {job.clip.row: job for job in jobs}
        self.queue = deque(job.clip.row for job in jobs)
        self.sent: set[int] = set()
        self.stopping = False
        self.fatal: str | None = None  # why no clip can run (the model)
        self.t0 = time.monotonic()

    def run(self) -> None:
        """Until every clip has ended (or been dropped by a stop)."""
        while self.queue or self.sent:
            if self.stop.is_set() and not self.stopping:
                self._stop_all()
            while self.queue and len(self.sent) < self.engine.slots:
                self._send(self.queue.popleft())
            for event in self.engine.poll(POLL_S):
                self._take(event)
            if self.on_progress is not None:
                self.on_progress(self.progress())

    def _stop_all(self) -> None:
        self.stopping = True
        for row in self.queue:
            self.records[row].status = "not started"
        self.queue.clear()
        self.engine.stop()

    def _send(self, row: int) -> None:
        record = self.records[row]
        record.tries += 1
        record.status = "queued"
        self.engine.submit(self.jobs[row])
        self.sent.add(row)

    def _take(self, event: Started | Frames | ClipOutcome | Lost) -> None:
        record = self.records[event.row]
        if isinstance(event, Started):
            if event.row in self.sent:
                record.status = "running"
                record.workers.append(f"{event.host}:{event.pid}")
                if record.tries == 1:
                    record.frames_before = event.frames_before
            return
        if isinstance(event, Frames):
            if event.row in self.sent:
                record.live_frames = event.frames
            return
        self.sent.discard(event.row)
        if isinstance(event, Lost):
            self._lost(record, event)
            return
        record.take(event)
        if event.fatal:
            self.fatal = event.error
            self.stop.set("the model could not be built")
        elif event.status not in ("complete", "not started") and not self.stopping:
            self._retry(record)  # failed, or interrupted by a fault (a stalled source)

    def _lost(self, record: ClipRecord, event: Lost) -> None:
        """A try without an outcome: what the clip's run.json says is what there is."""
        state = read_run_json(record.output) or {}
        record.frames_run += record.live_frames
        record.live_frames = 0
        record.frames = int(state.get("frames_done") or 0)
        record.resumable = bool(state.get("resumable"))
        status = state.get("status")
        if event.cancelled or self.stopping:
            record.status = status if status in ("complete", "interrupted") else "not started"
            return
        record.status, record.error = "failed", event.error
        self._retry(record)

    def _retry(self, record: ClipRecord) -> None:
        if record.tries <= self.retries and not self.stop.is_set():
            record.status = "waiting"
            self.queue.appendleft(record.row)
        else:
            record.status = "failed"

    def progress(self) -> BatchProgress:
        records = self.records.values()
        counts: dict[str, int] = {}
        for r in records:
            counts[r.status] = counts.get(r.status, 0) + 1
        expected = [r.frames_expected for r in records]
        done = sum(r.frames if r.status == "complete" else r.frames_before + r.live_frames
                   for r in records)
        return BatchProgress(
            clips=len(self.records), done=counts.get("complete", 0),
            running=counts.get("running", 0), failed=counts.get("failed", 0),
            frames_done=done, frames_total=None if None in expected else sum(expected),
            frames_run=sum(r.frames_run + r.live_frames for r in records),
            elapsed_s=time.monotonic() - self.t0, stopping=self.stopping)
