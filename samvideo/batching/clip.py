"""One clip on a worker: :func:`run_clip`, the same code under both engines.

A worker builds the segmenter once (:func:`worker_model`: a per-process cache) and keeps
it for every clip it runs. For each clip it reads the clip folder's ``run.json`` first:

* ``complete`` for the same inputs (the run's resume key, the part and ``max_frames``):
  nothing is run again;
* ``resumable`` (interrupted, or stopped with its state saved): the run continues from
  its last frame, as ``samvideo track --resume`` does;
* anything else (no run, a run killed mid-way, other inputs): the clip starts again.

:func:`run_clip` yields a :class:`Started`, then :class:`Frames` every ``every_s``
seconds, then one :class:`ClipOutcome`, small records that are all the driver gets
back: the masks stay in the clip's folder.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from samvideo.batching.manifest import Clip
from samvideo.batching.options import ModelSpec
from samvideo.prompts import prompt_to_json
from samvideo.run import FileOptions, Run
from samvideo.segmenters.base import Segmenter
from samvideo.stop import Stop


@dataclass(frozen=True)
class ClipJob:
    """What a worker is sent for one clip (a few kilobytes: no frames, no model)."""

    clip: Clip
    options: FileOptions  # the batch's run settings; output, part and inputs set here
    model: ModelSpec
    manifest: str  # the manifest's path, for run.json's inputs
    threads: int | None = None  # the worker's share of the cores (None: leave as is)
    encoder_batch: int | None = None  # frames per encoder call (None: 4 on CUDA, else 1)
    redo: bool = False  # start again even where a run is complete (--overwrite)
    dataset_exports: tuple[str, ...] = ()  # per-clip files the data-set exports merge


@dataclass(frozen=True)
class Started:
    """A worker took the clip."""

    row: int
    host: str
    pid: int
    frames_before: int  # frames an earlier run did (resumed, or all: complete before)


@dataclass(frozen=True)
class Frames:
    """Frames this try has tracked so far."""

    row: int
    frames: int


@dataclass(frozen=True)
class Lost:
    """A try that ended without an outcome: its worker died, or the engine stopped it."""

    row: int
    error: str
    cancelled: bool = False  # stopped by the batch (Ctrl-C), not lost


@dataclass
class ClipOutcome:
    """How one try of a clip ended (the driver keeps this and nothing heavier).

    ``status`` is ``run.json``'s (complete / interrupted / failed), or ``not started``
    when the batch was stopped before the clip began.
    """

    row: int
    status: str
    frames: int = 0  # frames done in all (earlier runs included)
    frames_run: int = 0  # frames this try tracked
    seconds: float = 0.0  # this try's wall time, from opening the source to run.json
    error: str | None = None
    resumable: bool = False
    resumed_from: int | None = None  # last frame of the run this try continued
    earlier: bool = False  # complete from an earlier batch: nothing was run
    metrics: dict[str, float] | None = None  # J, F, J&F where the row gave ground truth
    notes: list[str] = field(default_factory=list)
    host: str | None = None
    pid: int | None = None
    model_loaded: bool = False  # this try built the worker's model (its first clip)
    fatal: bool = False  # the model could not be built: no clip can run

    @property
    def fps(self) -> float | None:
        return self.frames_run / self.seconds if self.frames_run and self.seconds else None


#: the worker process's segmenter: (spec, device, segmenter)
_LOADED: tuple[ModelSpec, str | None, Segmenter] | None = None


def worker_model(spec: ModelSpec, *, device: str | None = None,
                 threads: int | None = None) -> tuple[Segmenter, bool]:
    """This process's segmenter for ``spec``, built on first use; True when built now.

    ``threads`` caps OpenCV's and torch's threads, so that workers sharing a machine
    do not fight over its cores (BLAS threads are set by the engine, in the worker's
    environment, before numpy loads)."""
    global _LOADED
    if _LOADED is not None and _LOADED[0] == spec and _LOADED[1] == device:
        return _LOADED[2], False
    _LOADED = None  # free the old model before building another
    segmenter = spec.load(device=device)
    if threads:
        import cv2

        cv2.setNumThreads(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    _LOADED = (spec, device, segmenter)
    return segmenter, True


def read_run_json(out: str | Path) -> dict[str, Any] | None:
    """A clip folder's ``run.json``, or None where there is none (or it is unreadable)."""
    try:
        data = json.loads((Path(out) / "run.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def run_clip(job: ClipJob, *, stop: Stop, device: str | None = None,
             every_s: float = 0.5) -> Iterator[Started | Frames | ClipOutcome]:
    """Track one clip (or find it done); see the module docstring. Never raises for a
    clip's own failure: the outcome says ``failed`` with the error."""
    host, pid = socket.gethostname(), os.getpid()
    row = job.clip.row
    if stop.is_set():
        yield ClipOutcome(row, "not started", host=host, pid=pid)
        return
    try:
        segmenter, loaded = worker_model(job.model, device=device, threads=job.threads)
    except Exception as exc:  # a bad checkpoint: every clip would fail; stop the batch
        yield ClipOutcome(row, "failed", error=f"the model could not be built on {host}: "
                          f"{_error(exc)}", host=host, pid=pid, fatal=True)
        return
    t0 = time.perf_counter()
    try:
        yield from _track(job, segmenter, stop, every_s, (host, pid, loaded))
    except Exception as exc:  # a bad file, a failing model: this try failed, say why
        state = read_run_json(job.clip.output) or {}
        yield ClipOutcome(row, "failed", frames=int(state.get("frames_done") or 0),
                          seconds=time.perf_counter() - t0, error=_error(exc),
                          resumable=bool(state.get("resumable")), host=host, pid=pid,
                          model_loaded=loaded)


def _track(job: ClipJob, segmenter: Segmenter, stop: Stop, every_s: float,
           where: tuple[str, int, bool]) -> Iterator[Started | Frames | ClipOutcome]:
    host, pid, loaded = where
    clip, out = job.clip, Path(job.clip.output)
    t0 = time.perf_counter()
    cuda = str(getattr(segmenter, "device", "")).startswith("cuda")
    options = replace(job.options, output=out, start=clip.start, end=clip.end,
                      resume=False, overwrite=True, inputs=_inputs(job),
                      batch=job.encoder_batch or (4 if cuda else 1))
    previous = None if job.redo else read_run_json(out)
    if previous and previous.get("status") == "complete" and _same(previous, job, segmenter,
                                                                   options):
        frames = int(previous.get("frames_done") or 0)
        yield Started(clip.row, host, pid, frames)
        metrics, notes = _finish(job, out)
        yield ClipOutcome(clip.row, "complete", frames=frames, earlier=True, metrics=metrics,
                          notes=notes, seconds=time.perf_counter() - t0, host=host, pid=pid,
                          model_loaded=loaded)
        return
    tracking, before = None, 0
    if previous and previous.get("resumable"):
        try:
            tracking = Run(clip.source, clip.prompts, segmenter,
                           replace(options, resume=True, overwrite=False), stop=stop)
            before = int(previous.get("frames_done") or 0)
        except ValueError:  # run.json is another job's (other inputs): start again
            tracking = None
    if tracking is None:
        tracking = Run(clip.source, clip.prompts, segmenter, options, stop=stop)
    yield Started(clip.row, host, pid, before)
    done, last = 0, time.perf_counter()
    with tracking:
        for _ in tracking:
            done += 1
            if time.perf_counter() - last >= every_s:
                last = time.perf_counter()
                yield Frames(clip.row, done)
    summary = tracking.summary
    metrics, notes = _finish(job, out) if summary.status == "complete" else (None, [])
    yield ClipOutcome(clip.row, summary.status, frames=summary.frames, frames_run=done,
                      seconds=time.perf_counter() - t0, error=summary.error,
                      resumable=summary.resumable, resumed_from=summary.resumed_from,
                      metrics=metrics, notes=[*summary.notes, *notes], host=host, pid=pid,
                      model_loaded=loaded)


def _inputs(job: ClipJob) -> dict[str, Any]:
    """run.json's ``inputs`` for a clip of a batch."""
    clip = job.clip
    return {"api": "samvideo batch", "manifest": job.manifest, "row": clip.row,
            "name": clip.name, "source": clip.source,
            "prompts": [prompt_to_json(p) for p in clip.prompts], "model": job.model.name,
            "checkpoint": job.model.checkpoint, "part": _part(job)}


def _part(job: ClipJob) -> dict[str, Any]:
    """What decides which frames are tracked besides the resume key's ``start``."""
    clip = job.clip
    return {"start": None if clip.start is None else str(clip.start),
            "end": None if clip.end is None else str(clip.end),
            "max_frames": job.options.max_frames}


def _same(previous: dict[str, Any], job: ClipJob, segmenter: Segmenter,
          options: FileOptions) -> bool:
    """Whether the complete run in the clip's folder is this job: the same resume key
    (source, its size, prompts, model and its settings, tracker, exports, overlay) and
    the same part."""
    probe = Run(job.clip.source, job.clip.prompts, segmenter, replace(options, output=None))
    try:
        key = probe.source.key
    finally:
        probe.close()
    old = previous.get("resume_key") or {}
    inputs = previous.get("inputs") or {}
    return all(old.get(k) == v for k, v in key.items()) and inputs.get("part") == _part(job)


def _finish(job: ClipJob, out: Path) -> tuple[dict[str, float] | None, list[str]]:
    """After a complete run: the clip's J / F / J&F and its data-set export files."""
    notes: list[str] = []
    metrics = None
    if job.clip.ground_truth:
        from samvideo.metrics import evaluate_sequence

        try:
            scores = evaluate_sequence(out / "masks", job.clip.ground_truth, name=job.clip.name)
        except ValueError as exc:
            notes.append(f"J and F not computed: {exc}")
        else:
            j = sum(s.j_mean for s in scores) / len(scores)
            f = sum(s.f_mean for s in scores) / len(scores)
            metrics = {"J": j, "F": f, "J&F": (j + f) / 2}
    if "youtube-vis" in job.dataset_exports:
        from samvideo.export import youtube_vis

        youtube_vis.write_clip(out, job.clip.name, [p.object_id for p in job.clip.prompts])
    return metrics, notes


def _error(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
