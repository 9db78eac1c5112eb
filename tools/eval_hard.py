"""Score the tracking policy on the synthetic clips of its known failure kinds.

``tools/make_sample_videos.py`` renders them with exact ground truth (its ``HARD_CLIPS``:
an object that jumps further than its width a frame, one behind a row of thin poles, one
in two separate parts, a thin stick, one coming into view over the frame's edge). Each is
tracked from its first-frame prompt through ``samvideo.track`` by GrabCut and by the
ground-truth oracle (``tools/oracle.py``: every mask right, the policy's own ceiling), and
scored per frame. Printed: mean J, lowest J and frames ``lost``, per clip and segmenter.

Usage::

    python tools/eval_hard.py
    python tools/eval_hard.py --clips poles thin --segmenters grabcut
    python tools/eval_hard.py --report docs/hard_clips.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
try:
    import samvideo
except ImportError:  # run from a checkout without ``pip install -e .``
    sys.path.insert(0, str(ROOT))
    import samvideo
if str(Path(__file__).parent) not in sys.path:  # tools/ is not a package
    sys.path.insert(0, str(Path(__file__).parent))

from eval_davis import _commit  # noqa: E402
from make_sample_videos import HARD_CLIPS, generate  # noqa: E402
from oracle import OracleSegmenter  # noqa: E402

from samvideo.masks import mask_iou  # noqa: E402
from samvideo.metrics import list_mask_files, read_mask  # noqa: E402
from samvideo.prompts import load_prompts_file  # noqa: E402

SEGMENTERS = ("grabcut", "oracle")


@dataclass
class HardScore:
    """One clip tracked by one segmenter."""

    clip: str
    segmenter: str
    frames: int
    mean_j: float
    min_j: float
    lost: int  # frames on which the object is reported ``lost``


def score_clip(folder: Path, segmenter: str) -> HardScore:
    """Track the clip in ``folder`` (video.mp4, masks/, prompts.json; object 1) from its
    prompts with ``segmenter`` ("grabcut" or "oracle") and score every frame."""
    truth = [read_mask(p) == 1 for p in list_mask_files(folder / "masks")]
    model = (OracleSegmenter(folder / "video.mp4", folder / "masks") if segmenter == "oracle"
             else segmenter)
    results = samvideo.track(folder / "video.mp4",
                             prompts=load_prompts_file(folder / "prompts.json"), model=model)
    js, lost = [], 0
    for result, gt in zip(results, truth, strict=True):
        js.append(mask_iou(result.label_map() == 1, gt))
        lost += any(o.object_id == 1 and o.state == "lost" for o in result.objects)
    return HardScore(folder.name, segmenter, len(js), float(np.mean(js)), float(np.min(js)),
                     lost)


def evaluate(clips: list[str], segmenters: list[str], workdir: Path) -> list[HardScore]:
    """Generate ``clips`` under ``workdir`` and score each with every segmenter."""
    generate(workdir, clips)
    return [score_clip(workdir / clip, s) for clip in clips for s in segmenters]


def what(clip: str) -> str:
    """The first sentence of the clip maker's docstring: what the clip tests."""
    doc = " ".join((HARD_CLIPS[clip].__doc__ or "").split())
    return doc.split(": ")[0].split(", 48 frames")[0].rstrip(".")


def table(scores: list[HardScore], segmenters: list[str]) -> str:
    """The plain-text table: one row per clip, mean / lowest J and lost frames each."""
    head = f"{'clip':<8}" + "".join(f" {s + ' J':>11} {'min':>6} {'lost':>5}" for s in segmenters)
    lines = [head, "-" * len(head)]
    for clip, row in _by_clip(scores, segmenters):
        lines.append(f"{clip:<8}" + "".join(f" {c.mean_j:>11.3f} {c.min_j:>6.3f} {c.lost:>5}"
                                            for c in row))
    return "\n".join(lines)


def _by_clip(scores: list[HardScore], segmenters: list[str]):
    """(clip, its scores in the order of ``segmenters``) for each clip, in order."""
    for clip in dict.fromkeys(s.clip for s in scores):
        yield clip, [next(x for x in scores if x.clip == clip and x.segmenter == s)
                     for s in segmenters]


def markdown(scores: list[HardScore], segmenters: list[str], argv: list[str]) -> str:
    """The report (e.g. docs/hard_clips.md)."""
    command = " ".join(["python tools/eval_hard.py", *argv])
    cols = "".join(f" {s} mean J | {s} lowest J | {s} lost |" for s in segmenters)
    lines = ["# The tracking policy on its known failure kinds", "",
             f"Written by `{command}` on {datetime.date.today().isoformat()} "
             f"({platform.machine()}, {os.cpu_count()} CPUs, commit {_commit()}); do not edit "
             "by hand. Synthetic clips of `tools/make_sample_videos.py` (320x240, 48 frames, "
             "exact ground truth), tracked from their first-frame prompt through "
             "`samvideo.track`; J per frame; `lost`: frames the object is reported lost. "
             "The oracle (tools/oracle.py) gives every mask right: what is lost there is the "
             "policy's own doing.", "",
             "| clip | what it tests |" + cols,
             "| --- | --- |" + " ---: | ---: | ---: |" * len(segmenters)]
    for clip, row in _by_clip(scores, segmenters):
        lines.append(f"| {clip} | {what(clip)} |" + "".join(
            f" {c.mean_j:.3f} | {c.min_j:.3f} | {c.lost} |" for c in row))
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", nargs="+", choices=list(HARD_CLIPS), default=list(HARD_CLIPS),
                   help="which clips (default: all)")
    p.add_argument("--segmenters", default=",".join(SEGMENTERS),
                   help=f"comma list of {', '.join(SEGMENTERS)} (default: both)")
    p.add_argument("--report", type=Path, metavar="FILE.md", help="also write the report here")
    p.add_argument("--json", action="store_true", help="also print the scores as JSON")
    args = p.parse_args(argv)
    args.segmenters = [s for s in args.segmenters.split(",") if s]
    bad = sorted(set(args.segmenters) - set(SEGMENTERS)) or (not args.segmenters and ["(none)"])
    if bad:
        p.error(f"--segmenters: {', '.join(bad)}: choose from {', '.join(SEGMENTERS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="eval_hard_") as tmp:
        scores = evaluate(args.clips, args.segmenters, Path(tmp))
    print(table(scores, args.segmenters))
    if args.json:
        print(json.dumps([asdict(s) for s in scores], indent=2))
    if args.report is not None:
        args.report.write_text(markdown(scores, args.segmenters,
                                        sys.argv[1:] if argv is None else argv))
        print(f"report: {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
