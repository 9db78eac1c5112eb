"""Seconds per frame of ``--tracker memory`` against ``--tracker box`` with the same model.

Both run through ``samvideo.track`` (the one frame loop, the same encoder, no output
folder) with a random SAM 2.1 hiera_tiny built by ``sam2``'s code
(``tools/make_random_sam.py``; random weights cost what real ones cost) on the sample
clip ``sample_videos/two_objects`` (320x240, two objects). The first frame (the prompts,
first-call costs) is left out of the figure; the trackers alternate, ``--repeats`` times,
and the best time of each is kept (a shared CPU's noise only ever adds).

::

    OMP_NUM_THREADS=1 python tools/bench_tracker.py                 # 1024, SAM 2.1's input
    OMP_NUM_THREADS=1 python tools/bench_tracker.py --image-size 256 --frames 20
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import samvideo  # noqa: E402
from samvideo.prompts import load_prompts_file  # noqa: E402

CLIP = ROOT / "sample_videos" / "two_objects"


def seconds_per_frame(segmenter, tracker: str, frames: int) -> float:
    """Wall seconds per frame after the first, for ``frames`` frames."""
    prompts = load_prompts_file(CLIP / "prompts.json")
    with samvideo.track(CLIP / "video.mp4", prompts=prompts, model=segmenter, tracker=tracker,
                        max_frames=frames) as tracking:
        it = iter(tracking)
        next(it)
        t0 = time.perf_counter()
        n = sum(1 for _ in it)
    return (time.perf_counter() - t0) / max(n, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=1024,
                        help="SAM 2.1's encoder input (1024: the real cost)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a SAM 2.1 checkpoint (default: a random hiera_tiny, seed 0)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    import torch

    from samvideo.segmenters.sam2 import Sam2Segmenter

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None:
            from make_random_sam import save_random_checkpoint

            checkpoint = save_random_checkpoint(Path(tmp) / "sam2.1_hiera_tiny.pt",
                                                "sam2.1_hiera_tiny", seed=0)
        segmenter = Sam2Segmenter(checkpoint, device="cpu", precision="fp32",
                                  image_size=args.image_size)
        best = {"box": float("inf"), "memory": float("inf")}
        for _ in range(args.repeats):
            for tracker in best:
                best[tracker] = min(best[tracker],
                                    seconds_per_frame(segmenter, tracker, args.frames))
    ratio = best["memory"] / best["box"]
    figures = {"model": segmenter.name, "image_size": args.image_size, "frames": args.frames,
               "threads": torch.get_num_threads(), "box_s_per_frame": round(best["box"], 4),
               "memory_s_per_frame": round(best["memory"], 4), "memory_over_box": round(ratio, 3)}
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{segmenter.name} at {args.image_size}, two objects, {torch.get_num_threads()} "
              f"thread(s): box {best['box']:.3f} s/frame, memory {best['memory']:.3f} s/frame "
              f"(memory / box = {ratio:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
