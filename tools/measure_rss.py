"""Peak memory of ``samvideo track`` on long generated clips.

Memory must stay flat in the clip's length: nothing holds the whole video. This tool
generates clips (a textured square bouncing over a textured background, 24 fps, H.264;
320x240 unless ``--size`` says otherwise) of each length asked for, runs a tracker on
each in its own process, and reports the peak resident set size
(``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a small wrapper process whose only child is
the run) and the RSS sampled from ``/proc/PID/status`` at a quarter, half and three
quarters of the run. ``--tracker``:

* ``box`` (default): ``samvideo track --model grabcut``;
* ``memory``: ``samvideo.track(tracker="memory")`` (the same run path as the command) with
  a random SAM 2.1 hiera_tiny (built by ``sam2``'s code, ``tools/make_random_sam.py``)
  at an ``--image-size`` encoder input (64: seconds per hundred frames on a CPU);
* ``sam2-predictor``: SAM 2's own ``SAM2VideoPredictor`` on the same clip (as JPEG frames,
  its input), same model and input size: ``init_state`` then ``propagate_in_video``.

::

    python tools/measure_rss.py                      # 300 and 3,000 frames, every export
    python tools/measure_rss.py --frames 300 3000 10000 --exports video,davis,jsonl
    OMP_NUM_THREADS=1 python tools/measure_rss.py --tracker memory --size 64x64 \
        --image-size 64 --exports davis,jsonl
    OMP_NUM_THREADS=1 python tools/measure_rss.py --tracker sam2-predictor --size 64x64 \
        --image-size 64
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE = Fraction(24)
ALL_EXPORTS = "video,davis,jsonl,coco,npz,mots"

#: run in a separate process: start the command, sample its RSS, report its peak
WRAPPER = r"""
import json, resource, subprocess, sys, time
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
samples, t0 = [], time.monotonic()
while proc.poll() is None:
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        samples.append((time.monotonic() - t0, rss))
    except (OSError, StopIteration):
        pass
    time.sleep(0.25)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": proc.returncode, "seconds": time.monotonic() - t0,
                  "peak_kb": peak, "samples": samples}))
"""


#: the memory tracker's run, in the measured process: argv = checkpoint, image size,
#: clip, output folder, box, exports
MEMORY_RUNNER = r"""
import sys, samvideo
from samvideo.segmenters.sam2 import Sam2Segmenter
ckpt, side, clip, out, box, exports = sys.argv[1:]
seg = Sam2Segmenter(ckpt, device="cpu", precision="fp32", image_size=int(side))
box = tuple(float(v) for v in box.split(","))
with samvideo.track(clip, box=box, model=seg, tracker="memory", output=out, overwrite=True,
                    exports=exports) as tracking:
    for _ in tracking:
        pass
"""

#: SAM 2's own video predictor, in the measured process: argv = config, checkpoint,
#: image size, JPEG folder, box
PREDICTOR_RUNNER = r"""
import sys, warnings, numpy as np, torch
from sam2.build_sam import build_sam2_video_predictor
config, ckpt, side, folder, box = sys.argv[1:]
warnings.simplefilter("ignore")
predictor = build_sam2_video_predictor(config, ckpt, device="cpu",
                                       hydra_overrides_extra=[f"++model.image_size={side}"])
with torch.inference_mode():
    state = predictor.init_state(folder)
    predictor.add_new_points_or_box(state, 0, 1, box=np.array([float(v) for v in box.split(",")]))
    for _ in predictor.propagate_in_video(state):
        pass
"""


def square_path(t: int, width: int, height: int, size: int) -> tuple[int, int]:
    """Top-left corner of the square on frame ``t``: it bounces around the frame."""
    span_x, span_y = width - size - 20, height - size - 20
    x = 10 + abs((3 * t) % (2 * span_x) - span_x)
    y = 10 + abs((2 * t) % (2 * span_y) - span_y)
    return x, y


def square_size(width: int, height: int) -> int:
    """The square's side: 48 on 320x240, a fifth of the shorter side on smaller frames."""
    return min(48, min(width, height) // 5)


def write_clip(path: Path, frames: int, width: int = 320, height: int = 240,
               jpeg_folder: Path | None = None) -> Path:
    """A ``frames``-long clip, generated frame by frame (flat memory here too); also as
    JPEG frames in ``jpeg_folder`` (SAM 2's predictor's input) when given."""
    size = square_size(width, height)
    rng = np.random.default_rng(0)
    background = rng.integers(60, 110, size=(height, width, 3), dtype=np.uint8)
    background[..., 1] += 30
    texture = (np.array([200, 40, 40]) + rng.integers(0, 30, (size, size, 3))).astype(np.uint8)
    if jpeg_folder is not None:
        from PIL import Image

        jpeg_folder.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20"}
        for t in range(frames):
            rgb = background.copy()
            x, y = square_path(t, width, height, size)
            rgb[y:y + size, x:x + size] = texture
            if jpeg_folder is not None:
                Image.fromarray(rgb).save(jpeg_folder / f"{t:05d}.jpg", quality=95)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = t, 1 / RATE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def command(tracker: str, clip: Path, out: Path, args: argparse.Namespace,
            width: int, height: int) -> list[str]:
    """The measured process's command line."""
    size = square_size(width, height)
    x, y = square_path(0, width, height, size)
    box = f"{x},{y},{x + size},{y + size}"
    if tracker == "box":
        return [sys.executable, "-m", "samvideo.cli", "track", str(clip), "--box", box,
                "--model", "grabcut", "-o", str(out), "--overwrite", "--quiet", "--export",
                args.exports]
    if tracker == "memory":
        return [sys.executable, "-c", MEMORY_RUNNER, str(args.checkpoint),
                str(args.image_size), str(clip), str(out), box, args.exports]
    from samvideo.segmenters.sam2 import SAM2_ARCHS

    return [sys.executable, "-c", PREDICTOR_RUNNER, SAM2_ARCHS["sam2.1_hiera_tiny"].config,
            str(args.checkpoint), str(args.image_size), str(clip.with_suffix("")), box]


def measure(cmd: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True,
                          text=True, check=True)
    result = json.loads(done.stdout)
    if result["code"] != 0:
        raise RuntimeError(f"samvideo track exited with {result['code']}: {done.stderr}")
    return result


def rss_at(samples: list, fraction: float) -> float:
    """RSS in MB at ``fraction`` of the run's duration."""
    if not samples:
        return float("nan")
    end = samples[-1][0]
    return min(samples, key=lambda s: abs(s[0] - fraction * end))[1] / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[300, 3000])
    parser.add_argument("--exports", default=ALL_EXPORTS)
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the clips and outputs in this folder")
    parser.add_argument("--tracker", default="box", choices=("box", "memory", "sam2-predictor"))
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the clips")
    parser.add_argument("--image-size", type=int, default=64,
                        help="SAM 2.1's encoder input (memory, sam2-predictor)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a SAM 2.1 hiera_tiny checkpoint (default: a random one, seed 0)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.tracker != "box" and args.checkpoint is None:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from make_random_sam import save_random_checkpoint

            args.checkpoint = save_random_checkpoint(work / "sam2.1_hiera_tiny.pt",
                                                     "sam2.1_hiera_tiny", seed=0)
        what = {"box": "samvideo track --model grabcut",
                "memory": f"samvideo.track(tracker='memory'), SAM 2.1 tiny at {args.image_size}",
                "sam2-predictor": f"SAM2VideoPredictor, SAM 2.1 tiny at {args.image_size}"}
        exports = "" if args.tracker == "sam2-predictor" else f" --export {args.exports}"
        print(f"{what[args.tracker]}{exports}, {width}x{height}")
        print(f"{'frames':>7} {'run s':>7} {'peak RSS MB':>12} {'RSS @25%':>9} "
              f"{'@50%':>7} {'@75%':>7}")
        rows = []
        for n in args.frames:
            t0 = time.monotonic()
            jpegs = work / f"clip_{n}" if args.tracker == "sam2-predictor" else None
            clip = write_clip(work / f"clip_{n}.mp4", n, width, height, jpegs)
            made = time.monotonic() - t0
            r = measure(command(args.tracker, clip, work / f"out_{n}", args, width, height))
            peak = r["peak_kb"] / 1024
            rows.append((n, peak))
            print(f"{n:>7} {r['seconds']:>7.1f} {peak:>12.1f} {rss_at(r['samples'], 0.25):>9.1f} "
                  f"{rss_at(r['samples'], 0.5):>7.1f} {rss_at(r['samples'], 0.75):>7.1f}"
                  f"   (clip made in {made:.1f} s)", flush=True)
        if len(rows) > 1:
            (n0, p0), (n1, p1) = rows[0], rows[-1]
            print(f"peak RSS grows by {p1 - p0:+.1f} MB from {n0} to {n1} frames "
                  f"({(p1 - p0) / max(n1 - n0, 1) * 1024:.2f} kB per frame)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
