"""Score ``samvideo track`` (GrabCut backend) on the DAVIS 2016 train clips.

For every clip of ``../shared/data/davis2016-train/<clip>/`` (``video.mp4`` plus
``masks/00000.png``...), the tool runs ``samvideo track`` as a user would: the only
input taken from the ground truth is the tight box of the first frame's mask. Then it
scores the written masks with :mod:`samvideo.metrics` (DAVIS J, F, J&F; first and last
frames left out) and prints a per-clip table (J, F, J&F, fps, and J0: the J of the
first frame's mask, the cut from the box alone that every later frame inherits) with the
mean, once per variant:

* ``full``         the default tracker (Kalman filter + optical flow, re-prompting);
* ``no-motion``    ``--no-motion``: the last mask and box, unmoved, prompt the next frame;
* ``no-reprompt``  ``--no-reprompt``: doubtful masks are never asked for again;
* ``no-flow``      ``--set tracker.flow=null``: the Kalman box, not optical flow, moves
                   the previous mask;
* ``no-still``     ``--set tracker.still=null``: no still-background cue;

so the tables show what each part is worth. ``--reverse`` tracks every clip backwards,
from its last frame that shows the object to its first: thirty more trials, with other
first boxes and the motion played backwards, to check that a change which helps the
forward clips is not tuned to them (the reversed frames are written losslessly, as PNG,
to a temporary folder deleted at the end; their fps include reading PNG, not H.264).

``fps`` is frames / the pipeline's wall time from ``run.json`` (decode, track and
write; model loading and interpreter start-up excluded); ``cpu ms`` is the whole
process's CPU time per frame (start-up included). Run with ``--jobs 1`` on an otherwise
idle machine when the fps figures matter: two jobs share the two cores of the reference
machine.

    python tools/eval_davis.py [--clips bear boat] [--jobs 2] [--out eval_davis_out]
        [--variants full,no-motion,no-reprompt,no-flow,no-still] [--davis PATH]
        [--reverse | --directions forward,reverse] [--json] [--report docs/tracking.md]

``--report FILE`` writes the ablation report (Markdown: the command, the machine, the
mean of every variant in every direction, the per-clip table of ``full``), which is
where measured figures live; ``docs/tracking.md`` is written this way, never by hand.

DAVIS 2016 is CC BY-NC 4.0: it is read where it lies and never copied into the
project; the predictions are written under ``--out``. When the DAVIS folder is absent
the tool says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DAVIS = ROOT.parent / "shared" / "data" / "davis2016-train"
VARIANTS = {"full": [], "no-motion": ["--no-motion"], "no-reprompt": ["--no-reprompt"],
            "no-flow": ["--set", "tracker.flow=null"], "no-still": ["--set", "tracker.still=null"]}
DIRECTIONS = ("forward", "reverse")
LOW_J, HIGH_J = 0.2, 0.7  # a frame whose mask has J below LOW_J is wrong, above HIGH_J good
EXIT_FRAMES = 5  # an object that leaves the frame should be lost within this many frames
#: fixed folds of the 30 train clips for cross-validation (every fifth clip by name)
FOLDS = (
    ("bear", "car-turn", "flamingo", "lucia", "paragliding", "stroller"),
    ("bmx-bumps", "dance-jump", "hike", "mallard-fly", "rhino", "surf"),
    ("boat", "dog-agility", "hockey", "mallard-water", "rollerblade", "swing"),
    ("breakdance-flare", "drift-turn", "horsejump-low", "motocross-bumps", "scooter-gray",
     "tennis"),
    ("bus", "elephant", "kite-walk", "motorbike", "soccerball", "train"),
)
MAX_JOBS = 2  # the reference machine has two cores


@dataclass
class ClipScore:
    """One clip under one variant."""

    clip: str
    variant: str
    frames: int
    j: float
    f: float
    jf: float
    j_first: float  # J of the first frame's mask (the cut from the box alone)
    fps: float  # frames / pipeline wall time (run.json)
    cpu_ms: float  # process CPU time per frame, start-up included
    wall_s: float  # the whole ``samvideo track`` process
    # what the scores say (see score_rates): frames with J < 0.2 on which the object is
    # there, and how many of them were lost or scored below reprompt_below; frames with
    # J > 0.7, and how many scored at or above it; times the object left the frame, and
    # how many times it was lost within EXIT_FRAMES frames
    low: int = 0
    low_flagged: int = 0
    high: int = 0
    high_trusted: int = 0
    exits: int = 0
    exits_lost: int = 0


def list_clips(davis: Path, names: list[str] | None) -> list[str]:
    """Clip folders holding ``video.mp4`` (or a ``frames/`` folder) and ``masks/``;
    ValueError names unknown clips."""
    found = sorted(p.name for p in davis.iterdir()
                   if clip_source(p).exists() and (p / "masks").is_dir())
    if not names:
        return found
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValueError(f"unknown clip(s) {', '.join(unknown)} in {davis}")
    return list(names)


def clip_source(folder: Path) -> Path:
    """What ``samvideo track`` reads for a clip: its ``video.mp4``, else ``frames/``."""
    video = folder / "video.mp4"
    return video if video.is_file() else folder / "frames"


def reverse_clips(davis: Path, clips: list[str], dest: Path) -> Path:
    """Write every clip backwards under ``dest`` (``<clip>/frames/00000.png``... and
    ``<clip>/masks/``), from its last frame whose mask shows the object to its first
    frame, and return ``dest``: a DAVIS-shaped folder for :func:`evaluate_all`.
    ValueError when a clip's frames and masks differ in number or no mask shows the
    object."""
    import cv2

    from samvideo.metrics import VOID_LABEL, list_mask_files, read_mask
    from samvideo.video import VideoReader

    for clip in clips:
        masks = list_mask_files(davis / clip / "masks")
        with VideoReader(clip_source(davis / clip)) as reader:
            frames = [f.rgb for f in reader]
        if len(frames) != len(masks):
            raise ValueError(f"{clip}: {len(frames)} frames but {len(masks)} masks: "
                             "cannot pair them to play the clip backwards")
        shows = [bool(((m > 0) & (m != VOID_LABEL)).any()) for m in map(read_mask, masks)]
        if not any(shows):
            raise ValueError(f"{clip}: no mask shows the object: nothing to track backwards")
        last = max(i for i, s in enumerate(shows) if s)
        for sub in ("frames", "masks"):
            (dest / clip / sub).mkdir(parents=True, exist_ok=True)
        for k, i in enumerate(range(last, -1, -1)):
            cv2.imwrite(str(dest / clip / "frames" / f"{k:05d}.png"),
                        cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR))
            (dest / clip / "masks" / f"{k:05d}.png").write_bytes(masks[i].read_bytes())
    return dest


def first_box(mask_dir: Path) -> tuple[int, int, int, int]:
    """Tight XYXY box (x2/y2 exclusive) of the object in the first ground-truth mask."""
    from samvideo.masks import mask_to_box
    from samvideo.metrics import VOID_LABEL, list_mask_files, read_mask

    labels = read_mask(list_mask_files(mask_dir)[0])
    box = mask_to_box((labels > 0) & (labels != VOID_LABEL))
    if box is None:
        raise ValueError(f"the first mask in {mask_dir} is empty: no box to start from")
    return tuple(int(v) for v in box)  # type: ignore[return-value]


def run_clip(davis: Path, clip: str, first: tuple[int, int, int, int], variant: str,
             out: Path, oracle: bool = False) -> ClipScore:
    """Track one clip from the XYXY box ``first`` with one variant through the command
    line (or, with ``oracle``, in this process with the ground-truth oracle of
    ``tools/oracle.py`` as the segmenter), then score it."""

    if oracle:
        return run_oracle(davis, clip, first, variant, out)

    box = ",".join(str(v) for v in first)
    dest = out / variant / clip
    cmd = [sys.executable, "-m", "samvideo.cli", "track", str(clip_source(davis / clip)),
           "--box", box, "--model", "grabcut", "-o", str(dest), "--overwrite",
           "--export", "davis,jsonl", "--quiet", *VARIANTS[variant]]
    log = out / variant / f"{clip}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # wait4: the child's own CPU time
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{clip} ({variant}): samvideo track exited with "
                           f"{proc.returncode}: {tail[0]}")
    run = json.loads((dest / "run.json").read_text())
    if run["status"] != "complete":
        raise RuntimeError(f"{clip} ({variant}): run.json says {run['status']}: {run['error']}")
    frames = int(run["frames_done"])
    return score_clip(dest, davis / clip / "masks", clip, variant, frames,
                      frames / max(run["timings_s"]["total"], 1e-9),
                      1000 * (usage.ru_utime + usage.ru_stime) / max(frames, 1), wall)


def score_clip(dest: Path, gt_dir: Path, clip: str, variant: str, frames: int, fps: float,
               cpu_ms: float, wall: float) -> ClipScore:
    """J, F, J&F, J0 and the score rates of the run written in ``dest``."""
    from samvideo.metrics import evaluate_sequence

    (score,) = evaluate_sequence(dest / "masks", gt_dir, name=clip)
    rates = score_rates(dest, gt_dir)
    return ClipScore(clip, variant, frames, score.j_mean, score.f_mean, score.jf_mean,
                     first_frame_j(dest / "masks", gt_dir), fps, cpu_ms, wall, **rates)


def score_rates(dest: Path, gt_dir: Path, *, low: float = LOW_J, high: float = HIGH_J
                ) -> dict[str, int]:
    """Whether the reported scores and states mean something, frame by frame, from the
    run's ``tracks.jsonl`` and masks against the ground truth (first frame left out):
    frames where the object is there and the mask is wrong (J < ``low``) should be
    ``lost`` or score below ``reprompt_below``; frames with J > ``high`` should score at
    or above it; when the object leaves (its ground truth becomes empty) it should be
    ``lost`` within ``EXIT_FRAMES`` frames."""
    from samvideo.metrics import VOID_LABEL, jaccard, list_mask_files, read_mask
    from samvideo.tracker import TrackerConfig

    below = TrackerConfig().reprompt_below
    records = {}
    for line in (dest / "tracks.jsonl").read_text().splitlines():
        r = json.loads(line)
        records[r["frame"]] = r
    out = dict.fromkeys(("low", "low_flagged", "high", "high_trusted", "exits", "exits_lost"), 0)
    present_before, gone_since = False, None
    for i, path in enumerate(list_mask_files(gt_dir)):
        labels = read_mask(path)
        gt = (labels > 0) & (labels != VOID_LABEL)
        rec = records.get(i)
        pred_path = dest / "masks" / path.name
        if rec is None or not pred_path.exists():
            continue
        pred = read_mask(pred_path) > 0
        lost = rec["state"] == "lost" or not pred.any()
        if gt.any():
            gone_since = None
            if i > 0:
                j = jaccard(pred, gt, void=labels == VOID_LABEL)
                if j < low:
                    out["low"] += 1
                    out["low_flagged"] += lost or rec["score"] < below
                elif j > high:
                    out["high"] += 1
                    out["high_trusted"] += not lost and rec["score"] >= below
            present_before = True
        elif present_before:
            if gone_since is None:
                gone_since = i
                out["exits"] += 1
                exit_lost = False
            if not exit_lost and i - gone_since < EXIT_FRAMES and lost:
                out["exits_lost"] += 1
                exit_lost = True
    return out


def run_oracle(davis: Path, clip: str, first: tuple[int, int, int, int], variant: str,
               out: Path) -> ClipScore:
    """One clip tracked by ``samvideo.run.Run`` with the oracle segmenter (the policy's
    own ceiling: every mask it is given is right), with ``variant``'s settings."""
    if str(Path(__file__).parent) not in sys.path:  # tools/ is not a package
        sys.path.insert(0, str(Path(__file__).parent))
    from oracle import OracleSegmenter

    from samvideo.cli.parser import build_parser
    from samvideo.cli.track import configs_from
    from samvideo.prompts import ObjectPrompt
    from samvideo.run import FileOptions, run

    source, dest = clip_source(davis / clip), out / variant / clip
    args = build_parser().parse_args(["track", str(source), *VARIANTS[variant]])
    options = FileOptions(dest, exports=("davis", "jsonl"), overwrite=True,
                          tracker=configs_from(args)["tracker"])
    start = time.perf_counter()
    cpu = time.process_time()
    summary = run(source, [ObjectPrompt(1, tuple(float(v) for v in first))],
                  OracleSegmenter(source, davis / clip / "masks"), options)
    wall = time.perf_counter() - start
    return score_clip(dest, davis / clip / "masks", clip, variant, summary.frames,
                      summary.frames / max(summary.timings.total, 1e-9),
                      1000 * (time.process_time() - cpu) / max(summary.frames, 1), wall)


def first_frame_j(pred_dir: Path, gt_dir: Path) -> float:
    """J (IoU) of the first predicted mask against the first ground-truth mask."""
    from samvideo.metrics import VOID_LABEL, jaccard, list_mask_files, read_mask

    gt = read_mask(list_mask_files(gt_dir)[0])
    pred = read_mask(list_mask_files(pred_dir)[0])
    return jaccard(pred > 0, (gt > 0) & (gt != VOID_LABEL), void=gt == VOID_LABEL)


def format_table(variant: str, scores: list[ClipScore]) -> str:
    """One variant's per-clip rows and the mean row."""
    head = (f"{'clip':<18} {'frames':>6} {'J':>6} {'F':>6} {'J&F':>6} {'J0':>6} {'fps':>6} "
            f"{'cpu ms':>7}")
    lines = [f"== {variant} ==", head, "-" * len(head)]
    for s in scores:
        lines.append(f"{s.clip:<18} {s.frames:>6} {s.j:>6.3f} {s.f:>6.3f} {s.jf:>6.3f} "
                     f"{s.j_first:>6.3f} {s.fps:>6.1f} {s.cpu_ms:>7.1f}")
    lines.append("-" * len(head))
    m = means(scores)
    lines.append(f"{'mean (' + str(len(scores)) + ')':<18} {m['frames']:>6} {m['j']:>6.3f} "
                 f"{m['f']:>6.3f} {m['jf']:>6.3f} {m['j_first']:>6.3f} {m['fps']:>6.1f} "
                 f"{m['cpu_ms']:>7.1f}")
    return "\n".join(lines)


def means(scores: list[ClipScore]) -> dict:
    """Mean J, F, J&F over clips (as DAVIS averages); fps over all frames."""
    frames = sum(s.frames for s in scores)
    pipeline_s = sum(s.frames / s.fps for s in scores)
    return {"clips": len(scores), "frames": frames,
            "j": float(np.mean([s.j for s in scores])),
            "f": float(np.mean([s.f for s in scores])),
            "jf": float(np.mean([s.jf for s in scores])),
            "j_first": float(np.mean([s.j_first for s in scores])),
            "fps": frames / max(pipeline_s, 1e-9),
            "cpu_ms": float(np.mean([s.cpu_ms for s in scores]))}


def rates(scores: list[ClipScore]) -> dict:
    """The score rates over clips (see :func:`score_rates`): shares in [0, 1] (None
    when there was no such frame) and the counts they are of."""
    def share(hit: str, n: str) -> float | None:
        total = sum(getattr(s, n) for s in scores)
        return sum(getattr(s, hit) for s in scores) / total if total else None

    return {"low": share("low_flagged", "low"), "n_low": sum(s.low for s in scores),
            "high": share("high_trusted", "high"), "n_high": sum(s.high for s in scores),
            "exits": share("exits_lost", "exits"), "n_exits": sum(s.exits for s in scores)}


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def fold_table(runs: dict[str, dict[str, list[ClipScore]]], variants: list[str]) -> str:
    """Mean J&F of each fold (:data:`FOLDS`) per variant and direction."""
    lines = []
    for direction, results in runs.items():
        head = f"{direction:<10} " + " ".join(f"{'fold ' + str(k):>7}" for k in
                                                 range(len(FOLDS))) + f" {'all':>7}"
        lines += [head, "-" * len(head)]
        for v in variants:
            by_clip = {c.clip: c.jf for c in results[v]}
            cells = [_mean([by_clip[c] for c in fold if c in by_clip]) for fold in FOLDS]
            lines.append(f"{v:<10} " + " ".join(f"{x:>7.3f}" if x is not None else
                                                f"{'-':>7}" for x in cells)
                         + f" {_mean(list(by_clip.values())):>7.3f}")
        lines.append("")
    return "\n".join(lines)


def cross_validate(runs: dict[str, dict[str, list[ClipScore]]], variants: list[str]) -> str:
    """Leave one fold out: for each fold, the variant with the best J&F on the other
    folds (forward and reverse together when both ran), scored on the fold it was not
    chosen on. The mean of those held-out scores is the cross-validated J&F."""
    def score(variant: str, clips: set[str]) -> float:
        values = [c.jf for results in runs.values() for c in results[variant]
                  if c.clip in clips]
        return float(np.mean(values)) if values else float("nan")

    lines = [f"{'fold':<6} {'chosen on the others':<28} {'held-out J&F':>12}"]
    held = []
    for k, fold in enumerate(FOLDS):
        others = {c for j, f in enumerate(FOLDS) if j != k for c in f}
        best = max(variants, key=lambda v: score(v, others))
        held.append(score(best, set(fold)))
        lines.append(f"{k:<6} {best:<28} {held[-1]:>12.3f}")
    lines.append(f"cross-validated J&F {np.nanmean(held):.3f}; on all clips: "
                 + ", ".join(f"{v} {score(v, {c for f in FOLDS for c in f}):.3f}"
                             for v in variants))
    return "\n".join(lines)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--davis", type=Path, default=DEFAULT_DAVIS,
                        help=f"DAVIS 2016 train folder (default {DEFAULT_DAVIS})")
    parser.add_argument("--clips", nargs="+", default=None, help="clip names (default: all)")
    parser.add_argument("--jobs", type=int, default=1,
                        help=f"clips tracked at once, 1..{MAX_JOBS} (default 1: fair fps)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where predictions go (default: a temporary folder)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma list of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--reverse", action="store_true",
                        help="track every clip backwards, from its last frame that shows "
                             "the object (= --directions reverse)")
    parser.add_argument("--directions", default=None,
                        help="comma list of forward, reverse (default: forward)")
    parser.add_argument("--json", action="store_true", help="also print the scores as JSON")
    parser.add_argument("--report", type=Path, default=None, metavar="FILE.md",
                        help="write the ablation report (e.g. docs/tracking.md)")
    parser.add_argument("--set", dest="settings", action="append", default=[],
                        metavar="SECTION.NAME=VALUE",
                        help="a setting added to every variant (as samvideo track --set)")
    parser.add_argument("--folds", action="store_true",
                        help="print the mean J&F of each fold (FOLDS) per variant")
    parser.add_argument("--tune", default=None, metavar="SECTION.NAME=V1,V2,...",
                        help="one variant per value of a setting, and the value chosen by "
                             "leave-one-fold-out cross-validation")
    parser.add_argument("--oracle", action="store_true",
                        help="segment with the ground-truth oracle (tools/oracle.py): the "
                             "tracking policy's own ceiling")
    args = parser.parse_args(argv)
    if not 1 <= args.jobs <= MAX_JOBS:
        parser.error(f"--jobs {args.jobs}: choose 1..{MAX_JOBS}")
    variants = _choices(parser, "--variants", args.variants, VARIANTS)
    if args.tune:
        variants = _tuning_variants(parser, args.tune, variants[0])
    for assignment in args.settings:
        for v in variants:
            VARIANTS[v] = [*VARIANTS[v], "--set", assignment]
    directions = _choices(parser, "--directions", args.directions or (
        "reverse" if args.reverse else "forward"), DIRECTIONS)
    if not args.davis.is_dir():
        print(f"eval_davis: no DAVIS data at {args.davis}; nothing to do")
        return 0
    try:
        clips = list_clips(args.davis, args.clips)
    except ValueError as exc:
        parser.error(str(exc))
    runs: dict[str, dict[str, list[ClipScore]]] = {}
    with tempfile.TemporaryDirectory(prefix="eval_davis_") as tmp:
        for direction in directions:
            davis, out = args.davis, (args.out or Path(tmp))
            try:
                if direction == "reverse":
                    davis = reverse_clips(davis, clips, Path(tmp) / "reversed")
                    out = out / "reverse" if len(directions) > 1 else out
                # every clip's box before any tracking: a bad clip fails now, not after an hour
                boxes = {clip: first_box(davis / clip / "masks") for clip in clips}
            except ValueError as exc:
                parser.error(str(exc))
            if direction == "reverse":
                print("the clips play backwards, from their last frame that shows the object")
            runs[direction] = evaluate_all(davis, boxes, variants, out, args.jobs,
                                           oracle=args.oracle)
            print_report(runs[direction], variants, args.json)
    if args.folds or args.tune:
        print(fold_table(runs, variants))
    if args.tune:
        print(cross_validate(runs, variants))
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(markdown_report(runs, variants, argv, oracle=args.oracle),
                               encoding="utf-8")
        print(f"report: {args.report}")
    return 0


def _tuning_variants(parser: argparse.ArgumentParser, text: str, base: str) -> list[str]:
    """``NAME=V1,V2`` → one variant ``NAME=V`` per value, on top of ``base``."""
    name, sep, values = text.partition("=")
    if not sep or not values.strip(","):
        parser.error(f"--tune {text!r}: give SECTION.NAME=V1,V2,...")
    chosen = []
    for value in values.split(","):
        variant = f"{name}={value}"
        VARIANTS[variant] = [*VARIANTS[base], "--set", variant]
        chosen.append(variant)
    return chosen


def _choices(parser: argparse.ArgumentParser, flag: str, text: str, allowed) -> list[str]:
    chosen = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in chosen if v not in allowed]
    if bad or not chosen:
        parser.error(f"{flag} {text!r}: choose from {', '.join(allowed)}")
    return chosen


def markdown_report(runs: dict[str, dict[str, list[ClipScore]]], variants: list[str],
                    argv: list[str] | None, *, oracle: bool = False) -> str:
    """The ablation report: every variant's mean per direction, then ``full`` per clip
    (``oracle``: the runs segmented with the ground-truth oracle)."""
    import datetime
    import platform

    command = " ".join(["python tools/eval_davis.py", *(sys.argv[1:] if argv is None else argv)])
    segmenter = ("The ground-truth oracle (tools/oracle.py) segments: every mask it gives "
                 "is right, so these are the tracking policy's own ceiling; the tracker is "
                 "given the first frame's tight box; " if oracle
                 else "The GrabCut backend, the first frame's tight box as the only input "
                 "from the ground truth; ")
    title = "The tracking policy's ceiling" if oracle else "Tracking quality"
    lines = [f"# {title} on DAVIS 2016 train", "",
             f"Written by `{command}` on {datetime.date.today().isoformat()} "
             f"({platform.machine()}, {os.cpu_count()} CPUs, commit {_commit()}); do not edit "
             f"by hand. {segmenter}J, F, J&F as DAVIS defines them (first and last frames "
             "left out); J0 is the first frame's J (the cut from the box alone); fps is "
             "frames over the pipeline's wall time (read it only from runs with `--jobs 1` "
             "on an idle machine).", ""]
    for direction, results in runs.items():
        lines += [f"## {direction.capitalize()}", "", "| variant | J | F | J&F | J0 | fps |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for v in variants:
            m = means(results[v])
            lines.append(f"| {v} | {m['j']:.3f} | {m['f']:.3f} | **{m['jf']:.3f}** | "
                         f"{m['j_first']:.3f} | {m['fps']:.1f} |")
        lines.append("")
    lines += ["## Folds", "", "Mean J&F of each fold of `FOLDS` (cross-validation: a "
              "setting is chosen on four folds and scored on the fifth).", "", "```",
              fold_table(runs, variants), "```", "",
              "## What the scores say", "",
              f"Frames whose mask is wrong (J < {LOW_J}, the object there) that are `lost` or "
              f"score below `reprompt_below`; good frames (J > {HIGH_J}) that score at or "
              f"above it; objects leaving the frame that are `lost` within {EXIT_FRAMES} "
              "frames.", "", "| direction | variant | wrong flagged | good trusted | exits "
              "lost |", "| --- | --- | --- | --- | --- |"]
    for direction, results in runs.items():
        for v in variants:
            r = rates(results[v])
            lines.append(f"| {direction} | {v} | {_rate(r['low'])} of {r['n_low']} | "
                         f"{_rate(r['high'])} of {r['n_high']} | {_rate(r['exits'])} of "
                         f"{r['n_exits']} |")
    lines.append("")
    for direction, results in runs.items():
        name = variants[0]
        lines += [f"## Per clip, {name}, {direction}", "",
                  "| clip | frames | J | F | J&F | J0 |", "| --- | --- | --- | --- | --- | --- |"]
        for c in sorted(results[name], key=lambda c: c.jf):
            lines.append(f"| {c.clip} | {c.frames} | {c.j:.3f} | {c.f:.3f} | {c.jf:.3f} | "
                         f"{c.j_first:.3f} |")
        lines.append("")
    return "\n".join(lines)


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                             capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def evaluate_all(davis: Path, boxes: dict[str, tuple[int, int, int, int]], variants: list[str],
                 out: Path, jobs: int, *, oracle: bool = False) -> dict[str, list[ClipScore]]:
    """Every clip (name -> first box) under every variant, ``jobs`` at a time."""
    tasks = [(clip, v) for v in variants for clip in boxes]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = list(pool.map(lambda cv: run_clip(davis, cv[0], boxes[cv[0]], cv[1], out,
                                                 oracle), tasks))
    results: dict[str, list[ClipScore]] = {v: [] for v in variants}
    for score in done:
        results[score.variant].append(score)
    return results


def print_report(results: dict[str, list[ClipScore]], variants: list[str], as_json: bool) -> None:
    for v in variants:
        print(format_table(v, results[v]))
        print()
    print("summary (mean over clips):")
    for v in variants:
        m = means(results[v])
        print(f"  {v:<12} J {m['j']:.3f}  F {m['f']:.3f}  J&F {m['jf']:.3f}  "
              f"J0 {m['j_first']:.3f}  {m['fps']:.1f} fps  {m['cpu_ms']:.0f} cpu ms/frame")
    print(f"scores (J < {LOW_J}: lost or low score; J > {HIGH_J}: trusted score; object "
          f"gone: lost within {EXIT_FRAMES} frames):")
    for v in variants:
        r = rates(results[v])
        print(f"  {v:<12} {_rate(r['low'])} of {r['n_low']} wrong frames flagged, "
              f"{_rate(r['high'])} of {r['n_high']} good frames trusted, "
              f"{_rate(r['exits'])} of {r['n_exits']} exits lost in time")
    if as_json:
        print(json.dumps({v: {"mean": means(results[v]),
                              "clips": [asdict(s) for s in results[v]]} for v in variants},
                         indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
