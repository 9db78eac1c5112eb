"""The ``ray`` engine: each clip a Ray task with its resources, on a running cluster or on
one started on this machine for the run.

* Scheduling and resources are Ray's: every clip is submitted at once (``--workers`` N
  keeps at most N in flight) with ``num_cpus`` / ``num_gpus``, and Ray runs as many as
  the cluster holds, on any node.
* The model is built once per worker process: tasks keep their workers
  (``max_calls=0``; Ray would recycle a GPU task's worker after every call) and the
  worker caches the model (:func:`~samvideo.batching.clip.worker_model`).
* Each task reads its clip and writes its outputs on a path every node sees (a shared
  file system) and returns only a :class:`~samvideo.batching.clip.ClipOutcome`;
  progress goes through a small actor the driver polls (Ray Client, ``ray://``, has no
  streaming generators).
* Stopping is Ray's cancellation: ``ray.cancel`` raises KeyboardInterrupt in a running
  task, which the task's signal handler turns into a clean stop (frame finished, files
  closed, ``run.json`` interrupted); a second Ctrl-C cancels with ``force=True``.
* Retries are the driver's, the same for both engines (``max_retries=0`` here): each
  try is counted in the report and resumes from the clip's ``run.json``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from samvideo.batching.clip import ClipJob, ClipOutcome, Frames, Lost, Started, run_clip
from samvideo.batching.local_engine import thread_environment
from samvideo.stop import Stop

INSTALL = "--engine ray needs Ray: pip install 'samvideo[ray]' (or pip install ray)"
STOP_WAIT_S = 30.0  # a failing driver waits this long for clips to close their files


def import_ray() -> Any:
    """The ``ray`` module; ValueError saying how to install it where it is missing."""
    try:
        import ray
    except ImportError:
        raise ValueError(INSTALL) from None
    return ray


class RayEngine:
    """Clips as Ray tasks; see the module docstring."""

    name = "ray"

    def __init__(self, *, address: str | None = None, workers: int | None = None,
                 cpus_per_clip: float | None = None, gpus_per_clip: float | None = None,
                 wants_gpu: bool = False) -> None:
        self.address, self.workers = address, workers
        self.cpus_per_clip, self.gpus_per_clip = cpus_per_clip, gpus_per_clip
        self.wants_gpu = wants_gpu
        self.slots = workers or 1 << 30  # None: every clip submitted, Ray schedules them
        self.threads: int | None = None
        self._ray: Any = None
        self._owns = False  # started (or connected) here: shut down at the end
        self._refs: dict[Any, int] = {}  # object ref -> row
        self._progress: Any = None
        self._cluster: dict[str, float] = {}
        self.start_s = 0.0  # starting (or joining) the cluster, before any clip

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "workers": self.workers,
                "cpus_per_clip": self.cpus_per_clip, "gpus_per_clip": self.gpus_per_clip,
                "threads_per_worker": self.threads, "cluster": self._cluster,
                "start_s": self.start_s, "ray": getattr(self._ray, "__version__", None)}

    def __enter__(self) -> RayEngine:
        t0 = time.monotonic()
        ray = self._ray = import_ray()
        self.address = self.address or os.environ.get("RAY_ADDRESS") or None  # as ray.init
        if not ray.is_initialized():  # else: the caller's (a notebook, a test) is used
            try:
                ray.init(address=self.address,
                         num_cpus=os.cpu_count() if self.address is None else None,
                         include_dashboard=False, log_to_driver=False,
                         logging_level=logging.ERROR)
            except (ConnectionError, RuntimeError, ValueError, ImportError) as exc:
                where = self.address or "a local cluster"
                raise ValueError(f"Ray could not start or reach {where}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else exc}") from None
            self._owns = True
        try:
            self._prepare(ray)
        except BaseException:
            self.__exit__()
            raise
        self.start_s = time.monotonic() - t0
        return self

    def _prepare(self, ray: Any) -> None:
        self._cluster = {k: v for k, v in ray.cluster_resources().items()
                         if k in ("CPU", "GPU", "memory")}
        cpus, gpus = self._cluster.get("CPU", 0), self._cluster.get("GPU", 0)
        if self.gpus_per_clip is None:
            self.gpus_per_clip = 1.0 if self.wants_gpu and gpus >= 1 else 0.0
        if self.cpus_per_clip is None:  # a share of this machine, or 1 on a cluster
            local = self.address is None
            self.cpus_per_clip = float(max(1, int(cpus) // self.workers)) if (
                local and self.workers) else 1.0
        for what, need, have in (("cpus", self.cpus_per_clip, cpus),
                                 ("gpus", self.gpus_per_clip, gpus)):
            if need > have:
                raise ValueError(f"--{what}-per-clip {need:g}: the Ray cluster has {have:g} "
                                 f"{what.upper()[:-1]}s in all")
        self.threads = max(1, int(self.cpus_per_clip))
        self._progress = ray.remote(num_cpus=0)(_Progress).remote()
        self._task = ray.remote(max_calls=0)(_ray_clip).options(
            num_cpus=self.cpus_per_clip, num_gpus=self.gpus_per_clip, max_retries=0,
            runtime_env={"env_vars": thread_environment(self.threads)})

    def __exit__(self, *exc: object) -> None:
        ray = self._ray
        if ray is None or not ray.is_initialized():
            return
        if self._refs:  # the driver failed: stop the clips cleanly, then at once
            self.stop()
            ray.wait(list(self._refs), num_returns=len(self._refs), timeout=STOP_WAIT_S)
            self.kill()
            self._refs.clear()
        if self._owns:
            ray.shutdown()

    def submit(self, job: ClipJob) -> None:
        self._refs[self._task.remote(job, self._progress)] = job.clip.row

    def poll(self, timeout: float) -> list[Started | Frames | ClipOutcome | Lost]:
        """What happened since the last call, waiting up to ``timeout`` s for something."""
        ray = self._ray
        ready: list[Any] = []
        if self._refs:
            ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs),
                                timeout=timeout)
        events: list[Started | Frames | ClipOutcome | Lost] = list(
            ray.get(self._progress.take.remote()))
        for ref in ready:
            row = self._refs.pop(ref)
            try:
                events.append(ray.get(ref))
            except ray.exceptions.TaskCancelledError:
                events.append(Lost(row, "stopped", cancelled=True))
            except ray.exceptions.RayError as exc:  # the worker or its node died
                events.append(Lost(row, f"{type(exc).__name__}: "
                                        f"{str(exc).splitlines()[0] if str(exc) else ''}"))
        return events

    def stop(self) -> None:
        """Cancel every clip: waiting ones never start, running ones stop cleanly."""
        for ref in self._refs:
            self._ray.cancel(ref)

    def kill(self) -> None:
        for ref in self._refs:
            self._ray.cancel(ref, force=True)


class _Progress:
    """The actor that holds workers' progress reports until the driver takes them."""

    def __init__(self) -> None:
        self.events: list[Started | Frames] = []

    def report(self, event: Started | Frames) -> None:
        self.events.append(event)

    def take(self) -> list[Started | Frames]:
        events, self.events = self.events, []
        return events


def _ray_clip(job: ClipJob, progress: Any) -> ClipOutcome:
    """The Ray task: one clip; ``ray.cancel`` (KeyboardInterrupt, delivered as SIGINT to
    this worker's main thread) sets the run's stop instead of tearing it down."""
    stop = Stop()
    with stop.on_signals():
        for item in run_clip(job, stop=stop):
            if isinstance(item, ClipOutcome):
                return item
            sent = progress.report.remote(item)
            if isinstance(item, Started):
                # delivered before the clip goes on: a report still pending in a worker
                # that is killed is lost with it, and the clip's record would miss the worker
                import_ray().get(sent)
    raise RuntimeError(f"clip row {job.clip.row}: the task gave no outcome")
