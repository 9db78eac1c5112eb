"""``samvideo batch``: every clip of a manifest, with the ``track`` options applying to
each, on this machine's process pool or a Ray cluster (:mod:`samvideo.batching`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from samvideo.cli.track import configs_from

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def batch(args) -> int:
    from samvideo.batching import read_manifest, run_batch

    options = batch_options(args)
    if options.engine == "ray":
        from samvideo.batching.ray_engine import import_ray

        import_ray()  # without Ray: one line saying how to install it, before any probing
    manifest = read_manifest(args.manifest, options)
    for line in manifest.describe_bad():
        print(f"samvideo: bad row: {line}", file=sys.stderr)
    if manifest.bad and not args.skip_bad:
        others = len(manifest.clips)
        print(f"samvideo: error: {len(manifest.bad)} bad row(s) in {manifest.path.name}: "
              f"fix them, or give --skip-bad to run the other {others}", file=sys.stderr)
        return EXIT_USAGE
    bar = BatchBar(quiet=args.quiet)
    try:
        report = run_batch(manifest, options, on_progress=bar.update)
    finally:
        bar.close()
    print(report.format_table())
    for name in [*report.dataset_files, report.batch_json.name]:
        print(f"  {Path(report.output) / name}")
    failed = [c for c in report.clips if c.status == "failed"]
    for clip in failed:
        print(f"samvideo: {clip.name} failed after {clip.tries} tries: {clip.error}",
              file=sys.stderr)
    if report.status == "complete":
        return EXIT_OK
    if report.status == "interrupted":
        print("samvideo: interrupted: the same command resumes the interrupted clips and "
              "skips the complete ones", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FAILURE


def batch_options(args) -> Any:
    """:class:`~samvideo.batching.BatchOptions` from the command line, through
    :func:`samvideo.api.batch_options` (the ``track`` options become every clip's)."""
    from samvideo.annotate import MaskAnnotator
    from samvideo.api import batch_options as build
    from samvideo.segmenters import VIDEO_MEMORY_MODELS, resolve_model

    configs = configs_from(args)
    memory = args.tracker == "memory"
    options = build(
        args.output, engine=args.engine, ray_address=args.ray_address, workers=args.workers,
        cpus_per_clip=args.cpus_per_clip, gpus_per_clip=args.gpus_per_clip,
        retries=args.retries, skip_bad=args.skip_bad, overwrite=args.overwrite,
        dataset_exports=args.dataset_export, model=args.model, checkpoint=args.checkpoint,
        device=args.device, precision=args.precision, compile=args.compile,
        reference=args.reference, exports=args.export, max_frames=args.max_frames,
        fps=args.fps, timeout_s=args.timeout, tracker=configs["memory" if memory else "tracker"],
        grabcut=configs["grabcut"], batch=args.batch,
        annotator=MaskAnnotator(style=args.overlay_style, opacity=args.opacity))
    if args.model == "auto":
        among = VIDEO_MEMORY_MODELS if memory else None
        print(f"samvideo: {resolve_model(args.model, args.checkpoint, among=among)[1]}",
              file=sys.stderr)
    return options


class BatchBar:
    """One tqdm bar on stderr over the manifest's frames, with the clips done / running /
    failed and the frames per second over all workers."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self._bar: Any = None

    def update(self, progress: Any) -> None:
        if self.quiet:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=progress.frames_total, unit="frame", desc="batch",
                             file=sys.stderr, dynamic_ncols=True)
        bar = self._bar
        bar.total = progress.frames_total
        text = (f"clips {progress.done}/{progress.clips} done, {progress.running} running, "
                f"{progress.failed} failed, {progress.fps:.1f} frames/s")
        if progress.stopping:
            text += "; stopping: each clip finishes its frame and closes its files"
        bar.set_postfix_str(text, refresh=False)
        bar.update(progress.frames_done - bar.n)  # less after a clip starts again

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
