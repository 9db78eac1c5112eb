"""``samvideo track``: a file, a frames folder or a pipe, or a live source (a camera, a
stream URL, ``--live``), through one :class:`~samvideo.run.Run`."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

from samvideo.cli.parser import UsageError
from samvideo.cli.progress import ProgressBar, report, resuming_line

EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 130

PIPE_HINT = ("an MP4 whose index comes last cannot be read from a pipe: pipe Matroska or "
             "MPEG-TS (ffmpeg -i IN -c copy -f matroska -), or give the file's path")


def track(args) -> int:
    if _is_live(args):
        return _track_live(args)
    from samvideo.export import parse_exports
    from samvideo.prompts import check_prompts
    from samvideo.run import FileOptions
    from samvideo.sources import check_output
    from samvideo.video import FrameRange, is_stream, probe

    if args.source == "-":  # a video piped on standard input
        args.source = "/dev/stdin"
    part = FrameRange.parse(args.start, args.end)
    if args.auto:
        _check_auto(args)
        prompts = []  # found on the first frame once the model is loaded
    else:
        if args.max_objects or args.auto_grid:
            flag = "--max-objects" if args.max_objects else "--auto-grid"
            raise UsageError(f"samvideo track: {flag} goes with --auto")
        prompts = _select_prompts(args, part) if args.select else _collect_prompts(args)
    exports = parse_exports(args.export)
    if args.resume and args.overwrite:
        raise UsageError("samvideo track: --resume continues the run in -o DIR, --overwrite "
                         "starts afresh: give one of them")
    # bad input fails before a model is loaded (seconds for SAM)
    check_output(Path(args.output), overwrite=args.overwrite, resume=args.resume)
    if args.direction != "forward" and is_stream(args.source):
        raise UsageError(f"samvideo track: --direction {args.direction} reads the frames "
                         "before the prompts again, which a pipe cannot give: save the video "
                         "to a file")
    if not is_stream(args.source):  # a pipe can be read once: the reader probes it
        info = probe(args.source, fps=args.fps)
        if prompts:
            check_prompts(prompts, info)
    segmenter, tracker, model_note = load_segmenter(args)
    if args.auto:
        _say(args, model_note)
        model_note = None
        prompts = _auto_prompts(args, segmenter, part)
    cuda = str(getattr(segmenter, "device", "")).startswith("cuda")
    options = FileOptions(
        output=Path(args.output), exports=exports, overwrite=args.overwrite,
        max_frames=args.max_frames, batch=args.batch or (4 if cuda else 1), fps=args.fps,
        start=part.start, end=part.end, annotator=_annotator(args), tracker=tracker,
        resume=args.resume, timeout_s=args.timeout, save_every_s=args.save_every,
        direction=args.direction, inputs=_inputs(args, prompts))
    try:
        summary = _run(args, prompts, segmenter, options, ProgressBar(), model_note=model_note)
    except (RuntimeError, ValueError) as exc:
        if is_stream(args.source) and "no frames" in str(exc):
            raise ValueError(f"{exc}: {PIPE_HINT}") from None
        raise
    if summary.skipped:
        where = ", ".join(s.describe() for s in summary.skipped[:5])
        more = ", ..." if len(summary.skipped) > 5 else ""
        print(f"samvideo: skipped {summary.skipped_frames} frame(s) that could not be decoded: "
              f"{where}{more} (details in run.json)", file=sys.stderr)
    report(summary)
    if summary.status == "complete":
        return EXIT_OK
    resume = " (--resume continues it)" if summary.resumable else ""
    last = "no frame" if summary.last_frame is None else f"up to frame {summary.last_frame}"
    kept = f"outputs {last} kept, run.json says {summary.status}{resume}"
    if summary.error:
        print(f"samvideo: error: {summary.error}; {kept}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"samvideo: interrupted: {kept}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _track_live(args) -> int:
    """``samvideo track`` on a camera, a stream, or a file/stdin with --live."""
    from samvideo.export import parse_exports
    from samvideo.preview import MjpegServer, WindowPreview, parse_address
    from samvideo.run import LiveOptions
    from samvideo.sources import check_output
    from samvideo.video.live import check_source

    for flag, given in (("--resume", args.resume), ("--select", getattr(args, "select", None)),
                        ("--auto", getattr(args, "auto", False)),
                        ("--start", getattr(args, "start", None)),
                        ("--end", getattr(args, "end", None)),
                        ("--direction", getattr(args, "direction", "forward") != "forward")):
        if given:
            raise UsageError(f"samvideo track: {flag} does not apply to a live source (a live "
                             "stream cannot be rewound; use --duration / --max-frames)")
    prompts = _collect_prompts(args)
    exports = parse_exports(args.export)
    check_source(args.source)  # bad input fails before a model is loaded
    check_output(Path(args.output), overwrite=args.overwrite)
    if not prompts and not args.watch_prompts:
        from samvideo.prompts import NO_OBJECT

        raise ValueError(NO_OBJECT.replace("--select", "--watch-prompts FILE.json"))
    annotator = _annotator(args)
    address = parse_address(args.preview) if args.preview else None
    window = WindowPreview(annotator=annotator) if args.show else None  # no display: say so
    segmenter, tracker, model_note = load_segmenter(args)
    options = LiveOptions(
        output=Path(args.output), exports=exports, overwrite=args.overwrite,
        max_frames=args.max_frames, duration_s=args.duration, timeout_s=args.timeout,
        watch_prompts=Path(args.watch_prompts) if args.watch_prompts else None,
        annotator=annotator, tracker=tracker, inputs=_inputs(args, prompts, live=True))
    preview = None
    if address is not None:
        preview = MjpegServer(*address, render=lambda r: annotator.annotate(r.image, r))
        print(f"samvideo: live preview at {preview.url}", file=sys.stderr, flush=True)
    try:
        summary = _run(args, prompts, segmenter, options, ProgressBar(live=True),
                       preview=preview, window=window, model_note=model_note)
    finally:
        for closer in (preview, window):
            if closer is not None:
                closer.close()
    print(f"samvideo: live: {summary.live.line()} (stopped: {summary.stop_reason})",
          file=sys.stderr)
    report(summary)
    return EXIT_OK if summary.status == "complete" else EXIT_INTERRUPTED


def _run(args, prompts: list, segmenter: Any, options: Any, bar: ProgressBar, *,
         preview: Any = None, window: Any = None, model_note: str | None = None):
    """Open the run (SIGTERM there is Ctrl-C: a pipe's header may be awaited), then track
    with SIGINT / SIGTERM setting the run's stop; returns the summary, notes printed.
    ``model_note`` (which model ``auto`` chose) is said once the run has opened: an
    error in the input stays the only line."""
    from samvideo.run import Run

    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        tracking = Run(args.source, prompts, segmenter, options)
        _say(args, model_note)
        _say(args, resuming_line(tracking))
        if not args.quiet:
            tracking.on_backward = bar.backward
        with tracking.stop.on_signals(then_ignore=True), tracking:
            for result in tracking:
                if not args.quiet:
                    bar.update(result, tracking)
                if preview is not None:
                    preview.publish(result)
                if window is not None:
                    window.show(result)
                    if window.stop_requested:
                        tracking.stop.set("window closed")
    finally:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:  # stopped: stays ignored
            signal.signal(signal.SIGTERM, previous)
        bar.close()
    summary = tracking.summary
    for note in summary.notes:
        print(f"samvideo: note: {note}", file=sys.stderr)
    return summary


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _say(args, line: str | None) -> None:
    """A line on stderr about the run, unless ``--quiet``."""
    if line and not args.quiet:
        print(line if line.startswith("samvideo") else f"samvideo: {line}", file=sys.stderr,
              flush=True)


def load_segmenter(args) -> tuple[Any, Any, str | None]:
    """The segmenter ``--model`` / ``--checkpoint`` / ``--device`` ask for, with GrabCut's
    and the tracker's settings from ``--config`` / ``--set`` / ``--no-motion`` /
    ``--no-reprompt``, and, for ``--model auto``, the line saying which model it chose
    (the caller says it once the input is known to be good)."""
    from samvideo.segmenters import VIDEO_MEMORY_MODELS, load_model, resolve_model

    configs = configs_from(args)
    memory = getattr(args, "tracker", "box") == "memory"
    among = VIDEO_MEMORY_MODELS if memory else None  # --model auto: one with a memory
    name, _ = resolve_model(args.model, args.checkpoint, device=args.device, among=among)
    if memory and name != "auto" and name not in VIDEO_MEMORY_MODELS:
        # before the model loads (seconds): the same line the tracker would give
        raise ValueError(f"--tracker memory needs a SAM 2.1 model (--model sam2.1_hiera_* or "
                         f"a SAM 2.1 --checkpoint): {name} has no video memory; use "
                         "--tracker box")
    if getattr(args, "auto", False) and name == "grabcut":
        raise ValueError("--auto needs a SAM or MobileSAM model (--model vit_b|vit_l|vit_h|"
                         "mobile_sam or --checkpoint PATH): GrabCut cannot segment everything; "
                         "give the objects with --box / --point / --prompts instead")
    segmenter, reason = load_model(
        args.model, checkpoint=args.checkpoint, device=args.device, precision=args.precision,
        compile=getattr(args, "compile", False), reference=getattr(args, "reference", False),
        grabcut=configs["grabcut"], among=among)
    if memory:
        from samvideo.tracker import check_tracker

        check_tracker(segmenter, configs["memory"])
    return (segmenter, configs["memory" if memory else "tracker"],
            reason if args.model == "auto" else None)


def configs_from(args) -> dict[str, Any]:
    """The tracker's and GrabCut's configs (``{"tracker": ..., "grabcut": ...}``) from
    ``--config``, ``--set``, ``--no-motion`` and ``--no-reprompt``."""
    from samvideo import settings

    assignments = settings.read_file(args.config) if args.config else {}
    assignments.update(settings.parse_assignment(a) for a in args.settings)
    memory = getattr(args, "tracker", "box") == "memory"
    if getattr(args, "no_motion", False):
        assignments.update({"memory.motion_aware": False} if memory else
                           {"tracker.motion": "none"})
    if getattr(args, "no_reprompt", False):
        assignments["memory.reprompt" if memory else "tracker.reprompt"] = False
    return settings.build(assignments)


def _annotator(args):
    from samvideo.annotate import MaskAnnotator

    return MaskAnnotator(style=args.overlay_style, opacity=args.opacity)


def _inputs(args, prompts: list, *, live: bool = False) -> dict:
    """What the user asked, for run.json."""
    from samvideo.prompts import prompt_to_json

    inputs = {"argv": sys.argv[1:], "source": args.source,
              "prompts": [prompt_to_json(p) for p in prompts], "model": args.model,
              "checkpoint": args.checkpoint}
    return {**inputs, "live": True} if live else inputs


def _collect_prompts(args) -> list:
    from samvideo.prompts import load_prompts_file, name_objects, prompts_from_args

    prompts = prompts_from_args(getattr(args, "prompt_items", None) or [])
    if args.prompts:
        from_file = load_prompts_file(args.prompts)
        taken = {p.object_id for p in prompts}
        clash = taken & {p.object_id for p in from_file if p.frame_index == 0}
        if clash:
            raise ValueError(f"object id(s) {sorted(clash)} are given both by --box and by "
                             f"--prompts {args.prompts!r}")
        prompts += from_file
    return name_objects(prompts, "--name / --prompts")


def _check_auto(args) -> None:
    """``--auto`` finds the objects itself: no other prompt source goes with it."""
    given = [flag for flag, value in (("--box / --point", getattr(args, "prompt_items", None)),
                                      ("--prompts", args.prompts),
                                      ("--select", getattr(args, "select", None))) if value]
    if given:
        raise UsageError(f"samvideo track: --auto finds the objects on the first frame: give it "
                         f"without {', '.join(given)}")


def _auto_prompts(args, segmenter, part) -> list:
    """``--auto``: first-frame prompts from SAM's automatic mask generator."""
    from samvideo.auto import AutoConfig, auto_prompts

    rgb = _first_frame(args, part, "--auto", "find objects on")
    config = AutoConfig(max_objects=args.max_objects or AutoConfig.max_objects,
                        points_per_side=args.auto_grid or AutoConfig.points_per_side)
    bar = None if args.quiet else _AutoBar()
    try:
        prompts = auto_prompts(segmenter, rgb, config, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    if not prompts:
        raise ValueError(f"--auto found no object to track on the first frame of "
                         f"{args.source!r}; give one with --box X1,Y1,X2,Y2")
    if not args.quiet:
        print(f"samvideo: --auto found {len(prompts)} object(s) on the first frame",
              file=sys.stderr)
    return prompts


class _AutoBar:
    """``--auto``'s progress on stderr: the first frame encoded, then SAM's batches of
    grid points (:func:`samvideo.auto.auto_prompts` calls it with done, total)."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="step", desc="--auto: finding objects",
                             file=sys.stderr, dynamic_ncols=True)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _select_prompts(args, part) -> list:
    """``--select``: the prompts drawn in a window on the first frame to track."""
    from samvideo.select import check_display, select_prompts

    if getattr(args, "prompt_items", None) or args.prompts:
        raise UsageError("samvideo track: --select draws the prompts: give it without "
                         "--box / --point / --prompts")
    check_display()  # before anything is decoded
    return select_prompts(_first_frame(args, part, "--select", "select on"))


def _first_frame(args, part, flag: str, purpose: str):
    """The first frame to track, (H, W, 3) uint8 RGB, read ahead of the run (by
    ``--select`` / ``--auto``); a pipe cannot be read twice, so it is refused."""
    from samvideo.video import VideoReader, is_stream

    if is_stream(args.source):
        raise UsageError(f"samvideo track: {flag} reads the first frame before tracking, "
                         "which a pipe cannot give twice: save the video to a file")
    with VideoReader(args.source, fps=args.fps, frames=part) as reader:
        first = reader.peek()
    if first is None:
        raise ValueError(f"source {args.source!r} has no frame to {purpose}")
    return first.rgb


def _is_live(args) -> bool:
    """Live mode: a camera or a stream URL, or --live; live-only flags need it."""
    from samvideo.video.live import is_live_source

    if args.live or is_live_source(args.source):
        return True
    given = [flag for flag, value in (("--duration", args.duration), ("--preview", args.preview),
                                      ("--show", args.show),
                                      ("--watch-prompts", args.watch_prompts)) if value]
    if given:
        raise UsageError(f"samvideo track: {', '.join(given)} work(s) with live sources only: "
                         "a camera, a stream URL, or --live")
    return False

