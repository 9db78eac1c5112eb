"""The ``samvideo`` command.

Exit status: 0 done; 2 bad input or usage (one line on stderr, no traceback);
1 an unexpected failure; 130 interrupted (outputs closed, run.json says so).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from samvideo import __version__

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


class _Ordered(argparse.Action):
    """Collect --box / --point / --neg-point in command-line order (points belong to
    the box before them)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        items = list(getattr(namespace, "prompt_items", None) or [])
        kind = {"--box": "box", "--point": "point", "--neg-point": "neg_point"}[option_string]
        items.append((kind, values))
        namespace.prompt_items = items


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _fraction(text: str) -> Fraction:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate like 24 or 30000/1001") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} must be within 0..65535")
    return value


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0 (0 = no limit)")
    return value or None


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be within [0, 1]")
    return value


def build_parser() -> argparse.ArgumentParser:
    from samvideo.annotate import OVERLAY_STYLES
    from samvideo.segmenters import MODEL_NAMES

    parser = _Parser(prog="samvideo", description="Track objects through a video with SAM.")
    parser.add_argument("--version", action="version", version=f"samvideo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("track", help="track objects through a video")
    t.add_argument("source", help="video file, folder of JPEG/PNG frames, or - for a video "
                                   "piped on standard input")
    t.add_argument("--box", action=_Ordered, metavar="X1,Y1,X2,Y2",
                   help="object box on the first frame, XYXY pixels (repeat for more objects)")
    t.add_argument("--point", action=_Ordered, metavar="X,Y",
                   help="foreground click for the object of the last --box")
    t.add_argument("--neg-point", action=_Ordered, metavar="X,Y",
                   help="background click for the object of the last --box")
    t.add_argument("--prompts", metavar="FILE.json", help="objects with boxes/points per frame")
    t.add_argument("--select", action="store_true",
                   help="draw the boxes / click the points on the first frame in a window")
    t.add_argument("--model", default="auto", choices=MODEL_NAMES,
                   help="segmenter (auto: best cached SAM checkpoint, else GrabCut)")
    t.add_argument("--checkpoint", metavar="PATH", help="SAM checkpoint file")
    t.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    t.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    t.add_argument("--batch", type=_positive_int, default=None,
                   help="frames per encoder call (default: 4 on CUDA, 1 on CPU)")
    t.add_argument("--compile", action="store_true", help="torch.compile the SAM encoder")
    t.add_argument("--reference", action="store_true",
                   help="SAM exactly as SamPredictor computes it (slower; for checking)")
    t.add_argument("-o", "--output", default="samvideo_out", metavar="DIR")
    t.add_argument("--overwrite", action="store_true", help="write into a non-empty folder")
    t.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in -o DIR (same arguments otherwise)")
    t.add_argument("--timeout", type=_seconds, default=30.0, metavar="SECONDS",
                   help="give up when the source delivers no frame for this long "
                        "(default 30; 0 = wait forever)")
    t.add_argument("--export", default="video,davis,jsonl",
                   help="comma list of: video, davis, davis-binary, cutout, jsonl, coco, npz, "
                        "mots")
    t.add_argument("--overlay-style", default="all", choices=OVERLAY_STYLES)
    t.add_argument("--opacity", type=_unit_float, default=0.45, help="mask tint opacity")
    t.add_argument("--max-frames", type=_positive_int, default=None)
    t.add_argument("--start", default=None, metavar="FRAME|TIME",
                   help="first source frame to track: a frame number (120) or a time (2.5s, "
                        "1:30); outputs keep source frame numbers, --box is on this frame")
    t.add_argument("--end", default=None, metavar="FRAME|TIME",
                   help="stop before this source frame number or time")
    t.add_argument("--fps", type=_fraction, default=None,
                   help="frame rate of a frames folder (default 24)")
    t.add_argument("--no-motion", action="store_true",
                   help="no Kalman filter: the last mask box is the next prompt")
    t.add_argument("--no-reprompt", action="store_true",
                   help="never re-prompt with the user's clicks")
    t.add_argument("--auto", action="store_true",
                   help="find the objects to track with SAM's segment-everything on the first "
                        "frame (SAM models only; instead of --box / --point / --prompts)")
    t.add_argument("--max-objects", type=_positive_int, default=None, metavar="N",
                   help="with --auto: track at most N objects, the largest (default 10)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    live = t.add_argument_group("live sources (cameras /dev/videoN or camera:N, stream URLs "
                                "rtsp:// rtmp:// http(s):// udp:// tcp://, or --live)")
    live.add_argument("--live", action="store_true",
                      help="real-time mode for a file (plays at its own rate) or - (stdin); "
                           "implied for cameras and URLs")
    live.add_argument("--duration", type=_seconds, default=None, metavar="SECONDS",
                      help="stop a live run after this much stream time")
    live.add_argument("--preview", default=None, metavar="[HOST:]PORT",
                      help="serve the live overlay as MJPEG over HTTP (default host 127.0.0.1)")
    live.add_argument("--show", action="store_true", help="show the live overlay in a window")
    live.add_argument("--watch-prompts", default=None, metavar="FILE.json",
                      help="re-select objects during a live run: each change of this prompts "
                           "file (re)starts its objects on the next frame")

    w = sub.add_parser("weights", help="list, download or verify SAM checkpoints")
    wsub = w.add_subparsers(dest="weights_command", required=True, parser_class=_Parser)
    wsub.add_parser("list", help="official checkpoints and which are cached")
    d = wsub.add_parser("download", help="download a checkpoint into the cache")
    d.add_argument("name", help="vit_h, vit_l or vit_b")
    d.add_argument("--mirror", default=None,
                   help="base URL to fetch from (default $SAMVIDEO_WEIGHTS_MIRROR or Meta's)")
    d.add_argument("--quiet", action="store_true")
    v = wsub.add_parser("verify", help="check a checkpoint file's size and MD5")
    v.add_argument("path")

    e = sub.add_parser("eval", help="J&F of predicted masks against ground truth (DAVIS)")
    e.add_argument("pred_dir")
    e.add_argument("gt_dir")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")

    u = sub.add_parser("ui", help="a local browser page to prompt, track and review")
    u.add_argument("--host", default=None,
                   help="address to listen on (default 127.0.0.1; another address serves "
                        "the files under --root to whoever reaches it)")
    u.add_argument("--port", type=_port, default=8765, help="TCP port (0 = any free port)")
    u.add_argument("--root", default=".", metavar="DIR",
                   help="only videos under this folder can be opened (default: current folder)")
    u.add_argument("--max-upload-mb", type=_positive_int, default=500, metavar="MB")
    u.add_argument("--workdir", default=None, metavar="DIR",
                   help="keep uploads and run outputs here (default: a temporary folder, "
                        "removed on exit)")
    u.add_argument("--model", default="auto", choices=MODEL_NAMES)
    u.add_argument("--checkpoint", metavar="PATH", help="SAM checkpoint file")
    u.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    u.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    return parser


#: options whose value may start with "-" (a negative coordinate), which argparse would
#: otherwise take for an option: "--box -5,10,40,60" reads as "--box=-5,10,40,60"
_COORDINATE_OPTIONS = ("--box", "--point", "--neg-point")


def _attach_negative_values(argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    for token in argv:
        if out and out[-1] in _COORDINATE_OPTIONS and token[:1] == "-" and token[1:2] in \
                set("0123456789."):
            out[-1] = f"{out[-1]}={token}"
            continue
        out.append(token)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    with warnings.catch_warnings():
        if not os.environ.get("SAMVIDEO_DEBUG"):  # library warnings (torch's unpickler...)
            warnings.simplefilter("ignore")  # would break the one-line error contract
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else argv
        args = build_parser().parse_args(_attach_negative_values(argv))
        handler = {"track": _track, "weights": _weights, "eval": _eval,
                   "ui": _ui}[args.command]
        return handler(args)
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except ValueError as exc:
        return _fail(f"samvideo: error: {exc}", EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("samvideo: interrupted", EXIT_INTERRUPTED)
    except Exception as exc:  # an unexpected failure: one line, details on request
        if _is_source_timeout(exc):  # not a bug: the source stalled; say so plainly
            return _fail(f"samvideo: error: {exc}", EXIT_FAILURE)
        if os.environ.get("SAMVIDEO_DEBUG"):
            traceback.print_exc()
        where = "" if os.environ.get("SAMVIDEO_DEBUG") else " (SAMVIDEO_DEBUG=1 for details)"
        return _fail(f"samvideo: failed: {type(exc).__name__}: {exc}{where}", EXIT_FAILURE)


def _is_source_timeout(exc: BaseException) -> bool:
    from samvideo.video import SourceTimeout

    return isinstance(exc, SourceTimeout)


def _fail(message: str, code: int) -> int:
    print(message.splitlines()[0] if message else "samvideo: error", file=sys.stderr)
    return code


def _collect_prompts(args):
    from samvideo.prompts import load_prompts_file, prompts_from_args

    prompts = prompts_from_args(getattr(args, "prompt_items", None) or [])
    if args.prompts:
        from_file = load_prompts_file(args.prompts)
        taken = {p.object_id for p in prompts}
        clash = taken & {p.object_id for p in from_file if p.frame_index == 0}
        if clash:
            raise ValueError(f"object id(s) {sorted(clash)} are given both by --box and by "
                             f"--prompts {args.prompts!r}")
        prompts += from_file
    return prompts


def _track(args) -> int:
    from samvideo.annotate import MaskAnnotator
    from samvideo.export import parse_exports
    from samvideo.pipeline import RunOptions, run
    from samvideo.segmenters import build_segmenter, resolve_model
    from samvideo.tracker import TrackerConfig
    from samvideo.video import FrameRange, is_stream, probe

    if _is_live(args):
        return _track_live(args)
    if args.source == "-":  # a video piped on standard input
        args.source = "/dev/stdin"
    part = FrameRange.parse(args.start, args.end)
    if args.auto:
        _check_auto(args)
        prompts = []  # found on the first frame once the model is loaded
    else:
        if args.max_objects:
            raise UsageError("samvideo track: --max-objects goes with --auto")
        prompts = _select_prompts(args, part) if args.select else _collect_prompts(args)
    exports = parse_exports(args.export)
    if args.resume and args.overwrite:
        raise UsageError("samvideo track: --resume continues the run in -o DIR, --overwrite "
                         "starts afresh: give one of them")
    if not is_stream(args.source):  # a pipe can be read once: the reader probes it
        probe(args.source, fps=args.fps)  # bad sources fail before a model is loaded
    model, reason = resolve_model(args.model, args.checkpoint)
    if args.auto and model == "grabcut":
        raise ValueError("--auto needs a SAM model (--model vit_b|vit_l|vit_h or --checkpoint "
                         "PATH): GrabCut cannot segment everything; give the objects with "
                         "--box / --point / --prompts instead")
    options = {}
    if model != "grabcut":
        options = {"device": args.device, "precision": args.precision,
                   "compile": args.compile, "reference": args.reference}
    segmenter = build_segmenter(model, checkpoint=args.checkpoint, **options)
    if args.model == "auto":  # say which model "auto" chose (once it loaded: an error
        print(f"samvideo: {reason}", file=sys.stderr)  # stays the only line)
    seg_info = {k: str(getattr(segmenter, k)) for k in ("device", "precision", "arch")
                if hasattr(segmenter, k)}
    batch = args.batch or (4 if seg_info.get("device", "").startswith("cuda") else 1)
    if args.auto:
        prompts = _auto_prompts(args, segmenter, part)
    config = TrackerConfig(motion="none" if args.no_motion else "kalman",
                           reprompt=not args.no_reprompt)
    run_options = RunOptions(
        output=Path(args.output), exports=exports, overwrite=args.overwrite,
        max_frames=args.max_frames, batch=batch, fps=args.fps,
        start=part.start, end=part.end,
        annotator=MaskAnnotator(style=args.overlay_style, opacity=args.opacity),
        config=config, resume=args.resume, timeout=args.timeout,
        inputs={"argv": sys.argv[1:], "source": args.source,
                "prompts": [vars(p) for p in prompts], "model": args.model,
                "checkpoint": args.checkpoint},
    )
    bar = None if args.quiet else _progress_bar()
    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        summary = run(args.source, prompts, segmenter, run_options,
                      on_frame=bar, segmenter_info=seg_info)
    except (RuntimeError, ValueError) as exc:
        if is_stream(args.source) and "no frames" in str(exc):
            raise ValueError(f"{exc}: {PIPE_HINT}") from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        if bar is not None:
            bar.close()
    for note in summary.notes:
        print(f"samvideo: note: {note}", file=sys.stderr)
    if summary.skipped:
        where = ", ".join(s.describe() for s in summary.skipped[:5])
        more = ", ..." if len(summary.skipped) > 5 else ""
        print(f"samvideo: skipped {summary.skipped_frames} frame(s) that could not be decoded: "
              f"{where}{more} (details in run.json)", file=sys.stderr)
    _report(summary, Path(args.output))
    if summary.status == "complete":
        return EXIT_OK
    resume = " (--resume continues it)" if summary.resumable else ""
    last = "no frame" if summary.last_frame is None else f"up to frame {summary.last_frame}"
    kept = f"outputs {last} kept, run.json says {summary.status}{resume}"
    if summary.error:
        return _fail(f"samvideo: error: {summary.error}; {kept}", EXIT_FAILURE)
    print(f"samvideo: interrupted: {kept}", file=sys.stderr)
    return EXIT_INTERRUPTED


PIPE_HINT = ("an MP4 whose index comes last cannot be read from a pipe: pipe Matroska or "
             "MPEG-TS (ffmpeg -i IN -c copy -f matroska -), or give the file's path")


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
    config = AutoConfig(max_objects=args.max_objects or AutoConfig.max_objects)
    prompts = auto_prompts(segmenter, rgb, config)
    if not prompts:
        raise ValueError(f"--auto found no object to track on the first frame of "
                         f"{args.source!r}; give one with --box X1,Y1,X2,Y2")
    if not args.quiet:
        print(f"samvideo: --auto found {len(prompts)} object(s) on the first frame",
              file=sys.stderr)
    return prompts


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
    from samvideo.live import is_live_source

    if args.live or is_live_source(args.source):
        return True
    given = [flag for flag, value in (("--duration", args.duration), ("--preview", args.preview),
                                      ("--show", args.show),
                                      ("--watch-prompts", args.watch_prompts)) if value]
    if given:
        raise UsageError(f"samvideo track: {', '.join(given)} work(s) with live sources only: "
                         "a camera, a stream URL, or --live")
    return False


def _build_model(args):
    """The segmenter ``--model`` / ``--checkpoint`` / ``--device`` ask for, and its
    description for run.json."""
    from samvideo.segmenters import build_segmenter, resolve_model

    model, reason = resolve_model(args.model, args.checkpoint)
    if args.model == "auto":  # always say which model "auto" chose
        print(f"samvideo: {reason}", file=sys.stderr)
    options = {}
    if model != "grabcut":
        options = {"device": args.device, "precision": args.precision,
                   "compile": args.compile, "reference": args.reference}
    segmenter = build_segmenter(model, checkpoint=args.checkpoint, **options)
    info = {k: str(getattr(segmenter, k)) for k in ("device", "precision", "arch")
            if hasattr(segmenter, k)}
    return segmenter, info


def _slowdown_s() -> float:
    """Test hook: $SAMVIDEO_LIVE_SLOWDOWN_MS adds that much time to every segmented frame."""
    text = os.environ.get("SAMVIDEO_LIVE_SLOWDOWN_MS", "").strip()
    try:
        value = float(text) if text else 0.0
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ValueError(f"SAMVIDEO_LIVE_SLOWDOWN_MS={text!r} must be a number of ms >= 0")
    return value / 1000


def _track_live(args) -> int:
    """``samvideo track`` on a camera, a stream, or a file/stdin with --live."""
    from samvideo.annotate import MaskAnnotator
    from samvideo.export import parse_exports
    from samvideo.live import LiveOptions, check_source, run_live
    from samvideo.preview import MjpegServer, WindowPreview, parse_address
    from samvideo.tracker import TrackerConfig

    for flag, given in (("--resume", args.resume), ("--select", getattr(args, "select", None)),
                        ("--auto", getattr(args, "auto", False)),
                        ("--start", getattr(args, "start", None)),
                        ("--end", getattr(args, "end", None))):
        if given:
            raise UsageError(f"samvideo track: {flag} does not apply to a live source (a live "
                             "stream cannot be rewound; use --duration / --max-frames)")
    prompts = _collect_prompts(args)
    exports = parse_exports(args.export)
    check_source(args.source)  # bad sources fail before a model is loaded
    if not prompts and not args.watch_prompts:
        raise ValueError("no object to track: give --box X1,Y1,X2,Y2 (or --point X,Y, "
                         "--prompts FILE.json, or --watch-prompts FILE.json)")
    annotator = MaskAnnotator(style=args.overlay_style, opacity=args.opacity)
    address = parse_address(args.preview) if args.preview else None
    window = WindowPreview(annotator=annotator) if args.show else None  # no display: say so
    segmenter, seg_info = _build_model(args)
    timeout = getattr(args, "timeout", 10.0)
    options = LiveOptions(
        output=Path(args.output), exports=exports, overwrite=args.overwrite,
        max_frames=args.max_frames, duration_s=args.duration,
        read_timeout_s=timeout if timeout else float("inf"), slowdown_s=_slowdown_s(),
        watch_prompts=Path(args.watch_prompts) if args.watch_prompts else None,
        annotator=annotator,
        config=TrackerConfig(motion="none" if args.no_motion else "kalman",
                             reprompt=not args.no_reprompt),
        inputs={"argv": sys.argv[1:], "source": args.source, "live": True,
                "prompts": [vars(p) for p in prompts], "model": args.model,
                "checkpoint": args.checkpoint},
    )
    preview = None
    if address is not None:
        preview = MjpegServer(*address, render=lambda r: annotator.annotate(r.image, r))
        print(f"samvideo: live preview at {preview.url}", file=sys.stderr, flush=True)
    stop = threading.Event()
    bar = None if args.quiet else _live_bar()

    def on_frame(result, stats) -> None:
        if bar is not None:
            bar(result, stats)
        if preview is not None:
            preview.publish(result)
        if window is not None:
            window.show(result)
            if window.stop_requested:
                stop.set()

    try:
        summary = run_live(args.source, prompts, segmenter, options, stop=stop,
                           on_frame=on_frame, segmenter_info=seg_info)
    finally:
        for closer in (bar, preview, window):
            if closer is not None:
                closer.close()
    for note in summary.notes:
        print(f"samvideo: note: {note}", file=sys.stderr)
    print(f"samvideo: live: {summary.live.line()} (stopped: {summary.stop_reason})",
          file=sys.stderr)
    _report(summary, Path(args.output))
    return EXIT_OK if summary.status == "complete" else EXIT_INTERRUPTED


class _live_bar:
    """tqdm progress for a live run: frames so far, how many segmented and predicted."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, result, stats) -> None:
        if self._bar is None:  # from the first frame: the set-up is not in the rate
            from tqdm import tqdm

            self._bar = tqdm(unit="frame", desc="live", file=sys.stderr, dynamic_ncols=True)
        self._bar.update(1)
        self._bar.set_postfix_str(f"processed {stats.processed}, predicted {stats.predicted}",
                                  refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _sigterm(signum, frame) -> None:
    raise KeyboardInterrupt


class _progress_bar:
    """tqdm progress on stderr, fed by the pipeline's per-frame hook."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, result, info) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=info.frame_count, unit="frame", desc="tracking",
                             file=sys.stderr, dynamic_ncols=True)
        self._bar.update(1)
        states = ",".join(f"{o.object_id}:{o.state}" for o in result.objects)
        self._bar.set_postfix_str(states, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _report(summary, out: Path) -> None:
    spf = summary.timings.per_frame()
    print(f"{summary.status}: {summary.frames} frames in {summary.timings.total:.1f} s "
          f"({spf['total']:.3f} s/frame)")
    for path in summary.outputs:
        print(f"  {path}")
    print(f"  {summary.run_json}")


def _weights(args) -> int:
    from samvideo import weights

    if args.weights_command == "list":
        print(f"cache: {weights.cache_dir()}")
        for ck in weights.CHECKPOINTS.values():
            cached = weights.cached_path(ck.name)
            mark = "cached" if cached else "not cached"
            print(f"{ck.name:6} {ck.filename:22} {ck.size_bytes / 1e6:8.1f} MB  {mark}")
        return EXIT_OK
    if args.weights_command == "download":
        ck = weights.get(args.name)
        path = weights.cached_path(ck.name)
        if path is None:
            path = weights.download(ck.name, mirror=args.mirror, progress=not args.quiet)
        print(path)
        return EXIT_OK
    result = weights.verify(args.path)
    print(result.message)
    return EXIT_OK if result.ok else EXIT_USAGE


def _eval(args) -> int:
    import json

    from samvideo.metrics import evaluate

    report = evaluate(args.pred_dir, args.gt_dir)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format_table())
    return EXIT_OK


def _ui(args) -> int:
    import tempfile

    from samvideo.segmenters import build_segmenter, resolve_model
    from samvideo.ui import UiConfig, UiState, bind_socket, create_app, is_loopback, serve, url_of
    from samvideo.ui.server import LOOPBACK_HOSTS

    host = args.host or "127.0.0.1"
    root = Path(args.root).resolve()
    if not root.is_dir():
        raise ValueError(f"--root {args.root!r} is not a folder")
    sock = bind_socket(host, args.port, allow_remote=args.host is not None)
    model, reason = resolve_model(args.model, args.checkpoint)
    if args.model == "auto":
        print(f"samvideo: {reason}", file=sys.stderr)
    options = {} if model == "grabcut" else {"device": args.device, "precision": args.precision}
    segmenter = build_segmenter(model, checkpoint=args.checkpoint, **options)
    seg_info = {k: str(getattr(segmenter, k)) for k in ("device", "precision", "arch")
                if hasattr(segmenter, k)}
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="samvideo-ui-")).resolve()
    config = UiConfig(root=root, workdir=workdir,
                      max_upload_bytes=args.max_upload_mb * 1024 * 1024,
                      batch=4 if seg_info.get("device", "").startswith("cuda") else 1)
    state = UiState(config, segmenter, segmenter_info=seg_info)
    local = is_loopback(host)
    if not local:
        print(f"samvideo: warning: listening on {host}, not loopback: whoever reaches it can "
              f"open the videos under {root}", file=sys.stderr)
    kept = "" if args.workdir else ", removed on exit"
    print(f"samvideo ui: {url_of(sock)}  (root {root}; outputs in {workdir}{kept}; "
          "Ctrl-C stops)", flush=True)
    try:
        serve(create_app(state, allowed_hosts=LOOPBACK_HOSTS if local else None), sock)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its clean shutdown
        pass
    finally:
        if not args.workdir:
            state.remove_workdir()
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
