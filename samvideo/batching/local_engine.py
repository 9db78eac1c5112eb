"""The ``local`` engine: a process pool on this machine, one clip per worker at a time.

Workers are spawned (not forked: the driver may hold threads and a CUDA context) with
their share of the cores in ``OMP_NUM_THREADS`` and its kin, build the model once
(:func:`~samvideo.batching.clip.worker_model`) and report progress through a queue. A
worker ignores Ctrl-C: the driver owns the signals and stops the workers through a
shared event, so that each finishes its frame and closes its files. A worker that dies
(killed, out of memory) breaks a :class:`~concurrent.futures.ProcessPoolExecutor`: the
clips it was running come back as :class:`~samvideo.batching.clip.Lost` and the next
clip starts a new pool.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from samvideo.batching.clip import ClipJob, ClipOutcome, Frames, Lost, Started, run_clip
from samvideo.stop import Stop

#: the variables thread pools read when a process starts (numpy's BLAS, torch, OpenCV)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "OPENCV_FOR_THREADS_NUM")
LOST = "the worker process died (killed, or out of memory); the clips on the pool stopped"


def thread_environment(threads: int | None) -> dict[str, str]:
    """The environment that gives a worker ``threads`` threads (empty: leave as is)."""
    return {name: str(threads) for name in THREAD_VARIABLES} if threads else {}


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set ``values`` in this process's environment for the block: spawned workers copy
    it when they start, and the pool starts them as clips come, not all at first."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class LocalEngine:
    """Clips on a pool of ``workers`` processes on this machine; see the module docstring."""

    name = "local"

    def __init__(self, *, workers: int, threads: int | None = None,
                 devices: list[str] | None = None) -> None:
        self.workers = self.slots = workers
        self.threads = threads
        self.devices = devices or []  # worker k uses devices[k % len]: one GPU each
        self._ctx = multiprocessing.get_context("spawn")
        self._events: Any = self._ctx.Queue()
        self._cancel = self._ctx.Event()
        self._counter = self._ctx.Value("i", 0)
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future, int] = {}
        self._pids: dict[int, int] = {}  # row -> pid of the worker running it
        self._env = _environ(thread_environment(threads))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "workers": self.workers, "threads_per_worker": self.threads,
                "devices": self.devices or None}

    def __enter__(self) -> LocalEngine:
        self._env.__enter__()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            if exc_type is not None:  # the driver failed: let the clips close their files
                self.stop()
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self._env.__exit__(None, None, None)

    def submit(self, job: ClipJob) -> None:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=self._ctx, initializer=_init_worker,
                initargs=(self._events, self._cancel, self._counter, self.devices))
        self._futures[self._pool.submit(_work, job)] = job.clip.row

    def poll(self, timeout: float) -> list[Started | Frames | ClipOutcome | Lost]:
        """What happened since the last call, waiting up to ``timeout`` s for something."""
        done: set[Future] = set()
        if self._futures:
            done, _ = wait(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        events: list[Started | Frames | ClipOutcome | Lost] = self._drain(
            0 if self._futures else timeout)
        for future in done:
            row = self._futures.pop(future)
            self._pids.pop(row, None)
            try:
                events.append(future.result())
            except BrokenProcessPool:
                events.append(Lost(row, LOST))
                self._pool = None  # broken for good: the next submit starts another
        return events

    def _drain(self, timeout: float) -> list[Started | Frames | ClipOutcome | Lost]:
        events = []
        try:
            item = self._events.get(timeout=timeout) if timeout else self._events.get_nowait()
            while True:
                if isinstance(item, Started):
                    self._pids[item.row] = item.pid
                events.append(item)
                item = self._events.get_nowait()
        except queue.Empty:
            pass
        return events

    def stop(self) -> None:
        """Ask every worker to finish its frame, close its files and return."""
        self._cancel.set()

    def kill(self) -> None:
        """Stop the workers at once (a second Ctrl-C): their clips' run.json keep saying
        ``running``, never ``complete``."""
        for pid in self._pids.values():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


# -- in the worker process -------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(events: Any, cancel: Any, counter: Any, devices: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver owns Ctrl-C (see the module)
    stop = Stop()
    threading.Thread(target=lambda: (cancel.wait(), stop.set("interrupted")), daemon=True,
                     name="samvideo-batch-stop").start()
    with counter.get_lock():
        k = counter.value
        counter.value += 1
    _WORKER.update(events=events, stop=stop, device=devices[k % len(devices)] if devices
                   else None)


def _work(job: ClipJob) -> ClipOutcome:
    for item in run_clip(job, stop=_WORKER["stop"], device=_WORKER["device"]):
        if isinstance(item, ClipOutcome):
            return item
        _WORKER["events"].put(item)
    raise RuntimeError(f"clip row {job.clip.row}: the worker gave no outcome")
