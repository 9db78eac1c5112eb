"""Latency of live tracking: serve a clip as a live stream on loopback, track it, print
the figures.

The clip is sent as MPEG-TS (H.264) over TCP on 127.0.0.1, paced at its real rate
(``tools/stream_server.py``), and tracked by :func:`samvideo.run.run` as
``samvideo track tcp://...`` would: the newest frame is segmented, the others predicted.
Printed: frames received / processed / predicted-only, the processing rate, the time
per segmented frame, and the latency from a frame's arrival to its result, p50 / p95 /
max, the share of the frames received that were segmented, and how long the first
mask took (the prompted frame's arrival to its mask) and how many frames after it the
next one was segmented. ``--random-sam NAME``
builds a model with random weights by its family's own code (``tools/make_random_sam.py``:
``mobile_sam``, ``sam2.1_hiera_tiny`` ..., ``vit_b`` ...: the real cost; official weights
cannot be downloaded everywhere).

Usage::

    python tools/bench_live.py --model grabcut
    python tools/bench_live.py --random-sam mobile_sam --device cpu --loops 3
    python tools/bench_live.py --random-sam vit_b --device cpu --loops 3
    python tools/bench_live.py --checkpoint sam_vit_b_01ec64.pth --device cuda --json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import samvideo  # noqa: F401
except ImportError:  # run from a checkout without ``pip install -e .``
    sys.path.insert(0, str(ROOT))

from stream_server import StreamServer  # noqa: E402  (tools/ is the script's folder)

from samvideo.prompts import load_prompts_file, prompts_from_args  # noqa: E402
from samvideo.run import LiveOptions, run  # noqa: E402
from samvideo.segmenters import build_segmenter  # noqa: E402
from samvideo.video import VideoReader  # noqa: E402

DEFAULT_CLIP = ROOT / "sample_videos" / "moving" / "video.mp4"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model = p.add_mutually_exclusive_group()
    model.add_argument("--model", default="grabcut",
                       help="grabcut, or a cached checkpoint's name (mobile_sam, vit_b, ...)")
    model.add_argument("--checkpoint", type=Path, help="a checkpoint file of any family")
    model.add_argument("--random-sam", metavar="NAME",
                       help="a model with random weights: mobile_sam, sam2.1_hiera_tiny, "
                            "sam2.1_hiera_small, ..., tiny, vit_b, vit_l or vit_h")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="video to stream")
    p.add_argument("--prompts", type=Path, default=None,
                   help="prompts JSON (default: prompts.json beside the clip)")
    p.add_argument("--box", default=None, metavar="X1,Y1,X2,Y2", help="instead of --prompts")
    p.add_argument("--loops", type=int, default=5,
                   help="play the clip this many times, forwards and backwards in turn (the "
                        "object's path stays continuous: a jump back to the start would "
                        "measure a lost tracker)")
    p.add_argument("--rate", type=Fraction, default=None, help="stream rate (default: clip's)")
    p.add_argument("--exports", default="video,davis,jsonl", help="outputs written meanwhile")
    p.add_argument("--output", type=Path, default=None, help="keep the outputs here")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p.parse_args(argv)


def make_segmenter(args: argparse.Namespace, workdir: Path):
    sam_options = {"device": args.device, "precision": args.precision}
    if args.random_sam:
        spec = importlib.util.spec_from_file_location("make_random_sam",
                                                      ROOT / "tools" / "make_random_sam.py")
        tool = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tool)
        path = tool.save_random_checkpoint(workdir / f"random_{args.random_sam}.pt",
                                           args.random_sam)
        return build_segmenter("auto", checkpoint=path, **sam_options), f"random {args.random_sam}"
    if args.checkpoint:
        return build_segmenter("auto", checkpoint=args.checkpoint, **sam_options), \
            str(args.checkpoint)
    options = {} if args.model == "grabcut" else sam_options
    return build_segmenter(args.model, **options), args.model


def load_prompts(args: argparse.Namespace):
    if args.box:
        return prompts_from_args([("box", args.box)])
    path = args.prompts or args.clip.parent / "prompts.json"
    if not path.is_file():
        raise SystemExit(f"bench_live: no prompts: give --prompts FILE.json or --box "
                         f"({path} does not exist)")
    return load_prompts_file(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prompts = load_prompts(args)
    with VideoReader(args.clip) as clip:
        rate = args.rate or clip.info.rate
        clip_frames = [f.rgb for f in clip]
    frames = [rgb for i in range(args.loops)
              for rgb in (clip_frames if i % 2 == 0 else clip_frames[::-1])]
    with tempfile.TemporaryDirectory(prefix="bench_live_") as tmp:
        workdir = Path(tmp)
        segmenter, model = make_segmenter(args, workdir)
        out = args.output or workdir / "out"
        options = LiveOptions(output=out, overwrite=True, exports=tuple(args.exports.split(",")))
        with StreamServer(frames, rate=rate) as server:
            summary = run(server.url, prompts, segmenter, options)
        live = json.loads((out / "run.json").read_text())["live"]
    h, w = frames[0].shape[:2]
    info = {"clip": str(args.clip), "size": f"{w}x{h}", "rate": str(rate),
            "frames_sent": len(frames), "model": model,
            "device": str(getattr(segmenter, "device", "cpu")),
            "precision": str(getattr(segmenter, "precision", "-")),
            "machine": f"{platform.machine()}, {_cpus()} CPUs", **live}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(report(info, summary.status))
    return 0


def report(d: dict, status: str) -> str:
    lat, latp = d["latency_ms"], d["latency_processed_ms"]
    return "\n".join([
        f"source:     {Path(d['clip']).name} {d['size']} at {d['rate']} frames/s "
        f"(period {d['frame_period_ms']:.1f} ms), {d['frames_sent']} frames over TCP",
        f"model:      {d['model']} on {d['device']} ({d['precision']}); {d['machine']}",
        f"frames:     {d['frames_received']} received, {d['frames_processed']} processed, "
        f"{d['frames_predicted_only']} predicted-only, {d['frames_dropped']} dropped ({status}); "
        f"segmented {d['frames_processed'] / max(d['frames_received'], 1):.0%}",
        f"processing: {d['processing_fps']} frames/s; segment mean {d['segment_ms_mean']} ms, "
        f"max {d['segment_ms_max']} ms",
        f"latency:    all frames p50 {lat['p50']} ms, p95 {lat['p95']} ms, max {lat['max']} ms",
        f"            processed  p50 {latp['p50']} ms, p95 {latp['p95']} ms, "
        f"max {latp['max']} ms",
        f"first mask: {d['first_mask_ms']} ms after the prompted frame arrived; the next "
        f"segmented frame {d['frames_to_next_segmented']} frames after it",
    ])


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    raise SystemExit(main())
