"""The ``samvideo`` command.

Exit status: 0 done; 2 bad input or usage (one line on stderr, no traceback);
1 an unexpected failure; 130 interrupted (outputs closed, run.json says so).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
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
    t.add_argument("source", help="video file or folder of JPEG/PNG frames")
    t.add_argument("--box", action=_Ordered, metavar="X1,Y1,X2,Y2",
                   help="object box on the first frame, XYXY pixels (repeat for more objects)")
    t.add_argument("--point", action=_Ordered, metavar="X,Y",
                   help="foreground click for the object of the last --box")
    t.add_argument("--neg-point", action=_Ordered, metavar="X,Y",
                   help="background click for the object of the last --box")
    t.add_argument("--prompts", metavar="FILE.json", help="objects with boxes/points per frame")
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
    t.add_argument("--export", default="video,davis,jsonl",
                   help="comma list of: video, davis, davis-binary, jsonl, coco, npz, mots")
    t.add_argument("--overlay-style", default="all", choices=OVERLAY_STYLES)
    t.add_argument("--opacity", type=_unit_float, default=0.45, help="mask tint opacity")
    t.add_argument("--max-frames", type=_positive_int, default=None)
    t.add_argument("--fps", type=_fraction, default=None,
                   help="frame rate of a frames folder (default 24)")
    t.add_argument("--no-motion", action="store_true",
                   help="no Kalman filter: the last mask box is the next prompt")
    t.add_argument("--no-reprompt", action="store_true",
                   help="never re-prompt with the user's clicks")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        handler = {"track": _track, "weights": _weights, "eval": _eval}[args.command]
        return handler(args)
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except ValueError as exc:
        return _fail(f"samvideo: error: {exc}", EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("samvideo: interrupted", EXIT_INTERRUPTED)
    except Exception as exc:  # an unexpected failure: one line, details on request
        if os.environ.get("SAMVIDEO_DEBUG"):
            traceback.print_exc()
        where = "" if os.environ.get("SAMVIDEO_DEBUG") else " (SAMVIDEO_DEBUG=1 for details)"
        return _fail(f"samvideo: failed: {type(exc).__name__}: {exc}{where}", EXIT_FAILURE)


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
    from samvideo.video import probe

    prompts = _collect_prompts(args)
    exports = parse_exports(args.export)
    probe(args.source, fps=args.fps)  # bad sources fail before a model is loaded
    model, reason = resolve_model(args.model, args.checkpoint)
    if args.model == "auto":  # always say which model "auto" chose
        print(f"samvideo: {reason}", file=sys.stderr)
    options = {}
    if model != "grabcut":
        options = {"device": args.device, "precision": args.precision,
                   "compile": args.compile, "reference": args.reference}
    segmenter = build_segmenter(model, checkpoint=args.checkpoint, **options)
    seg_info = {k: str(getattr(segmenter, k)) for k in ("device", "precision", "arch")
                if hasattr(segmenter, k)}
    batch = args.batch or (4 if seg_info.get("device", "").startswith("cuda") else 1)
    config = TrackerConfig(motion="none" if args.no_motion else "kalman",
                           reprompt=not args.no_reprompt)
    run_options = RunOptions(
        output=Path(args.output), exports=exports, overwrite=args.overwrite,
        max_frames=args.max_frames, batch=batch, fps=args.fps,
        annotator=MaskAnnotator(style=args.overlay_style, opacity=args.opacity),
        config=config,
        inputs={"argv": sys.argv[1:], "source": args.source,
                "prompts": [vars(p) for p in prompts], "model": args.model,
                "checkpoint": args.checkpoint},
    )
    bar = None if args.quiet else _progress_bar()
    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        summary = run(args.source, prompts, segmenter, run_options,
                      on_frame=bar, segmenter_info=seg_info)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if bar is not None:
            bar.close()
    for note in summary.notes:
        print(f"samvideo: note: {note}", file=sys.stderr)
    if summary.skipped:
        where = ", ".join(str(i) for i, _ in summary.skipped[:10])
        print(f"samvideo: skipped {len(summary.skipped)} undecodable packet(s), after "
              f"frame(s) {where}", file=sys.stderr)
    _report(summary, Path(args.output))
    return EXIT_OK if summary.status == "complete" else EXIT_INTERRUPTED


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
