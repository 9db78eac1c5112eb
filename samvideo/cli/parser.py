"""The ``samvideo`` command's arguments (argparse): sub-commands, their options, and
the checks of single values; what the options mean is in each ``help``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from fractions import Fraction

from samvideo import __version__


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


class _Ordered(argparse.Action):
    """Collect --box / --point / --neg-point / --name in command-line order (points and
    names belong to the box before them)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        items = list(getattr(namespace, "prompt_items", None) or [])
        kind = {"--box": "box", "--point": "point", "--neg-point": "neg_point",
                "--name": "name"}[option_string]
        items.append((kind, values))
        namespace.prompt_items = items


def _parse(text: str, kind: type, noun: str):
    """``kind(text)``, or an argparse error saying that ``text`` is not ``noun``."""
    try:
        return kind(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None


def _check(ok: bool, text: str, rule: str) -> None:
    if not ok:
        raise argparse.ArgumentTypeError(f"{text!r} must be {rule}")


def _positive_int(text: str) -> int:
    value = _parse(text, int, "a whole number")
    _check(value >= 1, text, "at least 1")
    return value


def _non_negative_int(text: str) -> int:
    value = _parse(text, int, "a whole number")
    _check(value >= 0, text, "0 or more")
    return value


def _positive_float(text: str) -> float:
    value = _parse(text, float, "a number")
    _check(0 < value < float("inf"), text, "a positive number")
    return value


def _non_negative_float(text: str) -> float:
    value = _parse(text, float, "a number")
    _check(0 <= value < float("inf"), text, "a number >= 0")
    return value


def _fraction(text: str) -> Fraction:
    value = _parse(text, Fraction, "a rate like 24 or 30000/1001")
    _check(value > 0, text, "positive")
    return value


def _port(text: str) -> int:
    value = _parse(text, int, "a port number")
    _check(0 <= value <= 65535, text, "within 0..65535")
    return value


def _seconds(text: str) -> float | None:
    value = _parse(text, float, "a number of seconds")
    _check(value >= 0 and value != float("inf"), text, "a finite number >= 0 (0 = no limit)")
    return value or None


def _unit_float(text: str) -> float:
    value = _parse(text, float, "a number")
    _check(0.0 <= value <= 1.0, text, "within [0, 1]")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="samvideo", description="Track objects through a video with SAM.")
    parser.add_argument("--version", action="version", version=f"samvideo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("track", help="track objects through a video")
    t.add_argument("source", help="video file, folder of JPEG/PNG frames, or - for a video "
                                   "piped on standard input")
    t.add_argument("--box", action=_Ordered, metavar="X1,Y1,X2,Y2",
                   help="object box on the first frame, XYXY pixels (repeat for more objects)")
    t.add_argument("--point", action=_Ordered, metavar="X,Y",
                   help="a click on the object of the last --box; without a box, the click "
                        "alone gives the object (SAM takes it as it is, GrabCut finds the "
                        "object's extent around it)")
    t.add_argument("--neg-point", action=_Ordered, metavar="X,Y",
                   help="background click for the object of the last --box")
    t.add_argument("--name", action=_Ordered, metavar="NAME",
                   help="what the object of the last --box is (\"player 7\"): written to every "
                        "export (COCO category, MOTS class, tracks.jsonl, the overlay's label)")
    t.add_argument("--prompts", metavar="FILE.json", help="objects with boxes/points per frame")
    t.add_argument("--select", action="store_true",
                   help="draw the boxes / click the points on the first frame in a window")
    add_model_options(t)
    add_run_options(t)
    t.add_argument("-o", "--output", default="samvideo_out", metavar="DIR")
    t.add_argument("--overwrite", action="store_true", help="write into a non-empty folder")
    t.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in -o DIR (same arguments otherwise)")
    t.add_argument("--save-every", type=_seconds, default=10.0, metavar="SECONDS",
                   help="checkpoint the outputs and the tracker this often, so that a killed "
                        "run (even SIGKILL) is continued by --resume from there (default 10; "
                        "0 = never)")
    t.add_argument("--direction", default="forward", choices=("forward", "backward", "both"),
                   help="track forward from the prompts (default), backward from them to the "
                        "first frame, or both (a prompt on frame 40 gives frames 0-39 too)")
    t.add_argument("--start", default=None, metavar="FRAME|TIME",
                   help="first source frame to track: a frame number (120) or a time (2.5s, "
                        "1:30); outputs keep source frame numbers, --box is on this frame")
    t.add_argument("--end", default=None, metavar="FRAME|TIME",
                   help="stop before this source frame number or time")
    add_settings_options(t)
    t.add_argument("--auto", action="store_true",
                   help="find the objects to track with SAM's segment-everything on the first "
                        "frame (SAM models only; instead of --box / --point / --prompts)")
    t.add_argument("--max-objects", type=_positive_int, default=None, metavar="N",
                   help="with --auto: track at most N objects, the largest (default 10)")
    t.add_argument("--auto-grid", type=_positive_int, default=None, metavar="N",
                   help="with --auto: prompt SAM with an N x N grid of points (default 16; "
                        "32 finds smaller objects at 4x the cost, 8 is 4x faster)")
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
    e.add_argument("--all-frames", action="store_true",
                   help="refuse predictions that lack frames of the ground truth (by default "
                        "a part run is scored on the frames both have, and says so)")

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
    add_model_options(u)
    add_tracker_option(u)
    add_settings_options(u)
    _add_batch(sub)
    return parser


def _add_batch(sub) -> None:
    from samvideo.batching import DATASET_EXPORTS, ENGINES

    b = sub.add_parser("batch", help="track every clip of a manifest, on this machine or a "
                                     "Ray cluster")
    b.add_argument("manifest", help="a .csv or .jsonl file: one clip per row (source, box / "
                                    "points / prompts, output, start, end, ground_truth)")
    b.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="batch.json, the data-set exports, and a folder per clip")
    b.add_argument("--engine", default="local", choices=ENGINES,
                   help="local: a process pool on this machine; ray: Ray tasks")
    b.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="a running Ray cluster (auto, HOST:PORT, ray://HOST:10001); "
                        "default: a local one started for the run")
    b.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="clips at once (default: one per core for CPU models, one per GPU)")
    b.add_argument("--cpus-per-clip", type=_positive_float, default=None, metavar="F",
                   help="cores (threads) per clip (default: this machine's cores / workers; "
                        "1 on a running cluster)")
    b.add_argument("--gpus-per-clip", type=_non_negative_float, default=None, metavar="F",
                   help="GPUs per clip, 0.5 = two clips a GPU (default: 1 for SAM where "
                        "there are GPUs, else 0)")
    b.add_argument("--retries", type=_non_negative_int, default=2, metavar="K",
                   help="tries after the first for a clip that fails (default 2); each "
                        "resumes from the clip's last frame where it can")
    b.add_argument("--skip-bad", action="store_true",
                   help="run the good rows of a manifest that has bad ones")
    b.add_argument("--overwrite", action="store_true",
                   help="redo every clip, even those complete from an earlier run")
    b.add_argument("--dataset-export", action="append", default=[], choices=DATASET_EXPORTS,
                   help="also write one file over all clips (youtube-vis: youtube_vis.json)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    add_model_options(b)
    add_run_options(b)
    add_settings_options(b)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """The options that choose and load the segmenter (:func:`samvideo.segmenters.load_model`)."""
    from samvideo.segmenters import MODEL_NAMES

    p.add_argument("--model", default="auto", choices=MODEL_NAMES,
                   help="segmenter (auto: the best cached checkpoint for the device, or the "
                        "family of --checkpoint; else GrabCut)")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="a SAM, SAM 2.1 or MobileSAM checkpoint file (its tensors say which)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))


def add_tracker_option(p: argparse.ArgumentParser) -> None:
    """``--tracker box|memory`` (:func:`samvideo.tracker.make_tracker`)."""
    p.add_argument("--tracker", default="box", choices=("box", "memory"),
                   help="box (default, every model): the mask's box, Kalman-smoothed, prompts "
                        "the next frame; memory (SAM 2.1 models): SAM 2.1's video memory of "
                        "past frames, streamed, with SAMURAI's motion-aware choice")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """How a file is tracked and what is written (``track`` and ``batch``: every clip)."""
    from samvideo.annotate import OVERLAY_STYLES

    p.add_argument("--batch", type=_positive_int, default=None,
                   help="frames per encoder call (default: 4 on CUDA, 1 on CPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the SAM encoder")
    p.add_argument("--reference", action="store_true",
                   help="SAM exactly as SamPredictor computes it (slower; for checking)")
    p.add_argument("--timeout", type=_seconds, default=30.0, metavar="SECONDS",
                   help="give up when the source delivers no frame for this long "
                        "(default 30; 0 = wait forever)")
    p.add_argument("--export", default="video,davis,jsonl",
                   help="comma list of: video, davis, davis-binary, cutout, jsonl, coco, npz, "
                        "mots")
    p.add_argument("--overlay-style", default="all", choices=OVERLAY_STYLES)
    p.add_argument("--opacity", type=_unit_float, default=0.45, help="mask tint opacity")
    p.add_argument("--max-frames", type=_positive_int, default=None)
    p.add_argument("--fps", type=_fraction, default=None,
                   help="frame rate of a frames folder (default 24)")
    add_tracker_option(p)
    p.add_argument("--no-motion", action="store_true",
                   help="no Kalman filter: the last mask box is the next prompt (--tracker "
                        "memory: SAM 2's own choice and memory, no SAMURAI weighing)")
    p.add_argument("--no-reprompt", action="store_true",
                   help="never re-prompt with the user's clicks")


def add_settings_options(p: argparse.ArgumentParser) -> None:
    """``--config`` / ``--set``: the tracker's and GrabCut's settings (:mod:`samvideo.settings`)."""
    p.add_argument("--config", metavar="FILE.json", default=None,
                   help='settings by section, e.g. {"tracker": {"lost_after": 8}, '
                        '"grabcut": {"max_side": 400}}')
    p.add_argument("--set", dest="settings", action="append", default=[],
                   metavar="SECTION.NAME=VALUE",
                   help="one setting, e.g. tracker.lost_after=8 or grabcut.max_side=400 "
                        "(repeat; after --config)")


#: options whose value may start with "-" (a negative coordinate), which argparse would
#: otherwise take for an option: "--box -5,10,40,60" reads as "--box=-5,10,40,60"
_COORDINATE_OPTIONS = ("--box", "--point", "--neg-point")


def attach_negative_values(argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    for token in argv:
        if out and out[-1] in _COORDINATE_OPTIONS and token[:1] == "-" and token[1:2] in \
                set("0123456789."):
            out[-1] = f"{out[-1]}={token}"
            continue
        out.append(token)
    return out
