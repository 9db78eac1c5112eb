"""A batch run: the manifest checked, the engine chosen and sized, the clips driven to
the end, the data-set exports merged and ``batch.json`` written last."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from samvideo.batching.clip import ClipJob
from samvideo.batching.driver import BatchProgress, Driver, Engine
from samvideo.batching.manifest import Clip, Manifest, load_manifest
from samvideo.batching.options import BatchOptions, ModelSpec
from samvideo.batching.report import BatchReport, ClipRecord
from samvideo.stop import Stop


def read_manifest(path: str | Path, options: BatchOptions) -> Manifest:
    """Read and check ``path`` for a batch run with ``options`` (bad rows are listed in
    the result, not raised)."""
    clip = options.clip
    return load_manifest(path, options.output, exports=tuple(clip.exports), fps=clip.fps,
                         max_frames=clip.max_frames, overwrite=options.overwrite)


def run_batch(manifest: str | Path | Manifest, options: BatchOptions, *,
              stop: Stop | None = None,
              on_progress: Callable[[BatchProgress], None] | None = None) -> BatchReport:
    """Run every good clip of ``manifest`` and return the report (also in ``batch.json``).

    Bad rows raise ValueError (the first one named) unless ``options.skip_bad``. Without
    ``stop``, SIGINT / SIGTERM in the main thread stop the batch cleanly (a second one
    at once); with it, setting it does. A model that cannot be built raises ValueError
    once ``batch.json`` says ``failed``."""
    if not isinstance(manifest, Manifest):
        manifest = read_manifest(manifest, options)
    if manifest.bad and not options.skip_bad:
        more = len(manifest.bad) - 1
        raise ValueError(manifest.describe_bad()[0] + (f" (and {more} more bad row(s))"
                                                       if more else "")
                         + "; skip_bad / --skip-bad runs the good rows")
    if not manifest.clips:
        raise ValueError(f"manifest {str(manifest.path)!r} has no good row to run")
    out = _prepare(options.output)
    records = {c.row: ClipRecord.of(c) for c in manifest.clips}
    report = BatchReport(str(manifest.path), out, options.to_json(), list(records.values()),
                         bad_rows=[{"line": b.describe(manifest.path), "row": b.row,
                                    "field": b.field} for b in manifest.bad])
    signals = contextlib.nullcontext() if stop is not None else None
    stop = stop if stop is not None else Stop()
    signals = signals or stop.on_signals()  # the caller's stop: the caller's signals
    t0 = time.monotonic()
    engine = make_engine(options, len(manifest.clips))
    driver = None
    try:
        with engine, signals:  # signals after the engine: ray.init sets a SIGTERM handler
            report.engine = engine.describe()
            report.write()
            jobs = [_job(c, options, manifest, engine.threads) for c in manifest.clips]
            driver = Driver(engine, jobs, records, retries=options.retries, stop=stop,
                            on_progress=on_progress)
            try:
                driver.run()
            except KeyboardInterrupt:  # a second Ctrl-C: the workers stop at once
                engine.kill()
    finally:
        report.wall_s = time.monotonic() - t0
    report.error = driver.fatal if driver else None
    _settle(report, stop)
    if options.dataset_exports and not report.error:
        report.dataset_files = _dataset_exports(report, options)
    report.write()
    if report.error:
        raise ValueError(report.error)
    return report


def make_engine(options: BatchOptions, clips: int) -> Engine:
    """The engine ``options`` ask for, sized to this machine (local) or left to Ray."""
    if options.engine == "ray":
        from samvideo.batching.ray_engine import RayEngine, import_ray

        import_ray()  # without Ray: say how to install it before anything runs
        return RayEngine(address=options.ray_address, workers=options.workers,
                         cpus_per_clip=options.cpus_per_clip,
                         gpus_per_clip=options.gpus_per_clip, wants_gpu=options.model.uses_gpu)
    from samvideo.batching.local_engine import LocalEngine

    cores = os.cpu_count() or 1
    devices = _local_gpus(options.model)
    if options.workers:
        workers = options.workers
    elif devices:  # a worker per GPU (or per share of one)
        workers = max(1, int(len(devices) / (options.gpus_per_clip or 1.0)))
    else:
        workers = max(1, int(cores // (options.cpus_per_clip or 1)))
    workers = min(workers, clips)  # more workers than clips would only start and wait
    threads = int(options.cpus_per_clip) if options.cpus_per_clip else max(1, cores // workers)
    return LocalEngine(workers=workers, threads=threads, devices=devices)


def _local_gpus(spec: ModelSpec) -> list[str]:
    """The GPUs local workers share out: none for GrabCut or a CPU device."""
    if not spec.uses_gpu:
        return []
    if spec.device.startswith("cuda:"):
        return [spec.device]
    try:
        import torch
    except ImportError:
        return []
    return [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def _prepare(output: Path) -> Path:
    out = Path(output).resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {str(output)!r} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"output folder {str(output)!r} cannot be made: "
                         f"{exc.strerror or exc}") from None
    return out


def _job(clip: Clip, options: BatchOptions, manifest: Manifest, threads: int | None) -> ClipJob:
    return ClipJob(clip=clip, options=options.clip, model=options.model,
                   manifest=str(manifest.path.resolve()), threads=threads,
                   encoder_batch=options.encoder_batch, redo=options.overwrite,
                   dataset_exports=options.dataset_exports)


def _settle(report: BatchReport, stop: Stop) -> None:
    """The batch's status once every clip has ended."""
    for record in report.clips:
        if record.status in ("waiting", "queued", "running"):
            record.status = "not started" if record.status != "running" else "interrupted"
    counts = report.counts()
    if report.error or counts.get("failed"):
        report.status = "failed"
    elif counts.get("complete", 0) == len(report.clips):
        report.status = "complete"
    else:
        report.status = "interrupted" if stop.is_set() else "failed"


def _dataset_exports(report: BatchReport, options: BatchOptions) -> list[str]:
    from samvideo.export import youtube_vis

    complete = [c.output for c in report.clips if c.status == "complete"]
    if not complete or "youtube-vis" not in options.dataset_exports:
        return []
    dest = youtube_vis.merge(complete, Path(report.output) / youtube_vis.BATCH_FILE,
                             description=f"samvideo batch {report.manifest}")
    return [dest.name]
