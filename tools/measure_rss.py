"""Peak memory of ``samvideo track`` with the GrabCut backend on long generated clips.

Memory must stay flat in the clip's length: nothing holds the whole video. This tool
generates 320x240 clips (a textured square bouncing over a textured background, 24 fps,
H.264) of each length asked for, runs ``samvideo track`` on each in its own process, and
reports the peak resident set size (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a small
wrapper process whose only child is the run) and the RSS sampled from
``/proc/PID/status`` at a quarter, half and three quarters of the run.

    python tools/measure_rss.py                      # 300 and 3,000 frames, every export
    python tools/measure_rss.py --frames 300 3000 10000 --exports video,davis,jsonl
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

WIDTH, HEIGHT, SIZE = 320, 240, 48
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


def square_path(t: int) -> tuple[int, int]:
    """Top-left corner of the square on frame ``t``: it bounces around the frame."""
    span_x, span_y = WIDTH - SIZE - 20, HEIGHT - SIZE - 20
    x = 10 + abs((3 * t) % (2 * span_x) - span_x)
    y = 10 + abs((2 * t) % (2 * span_y) - span_y)
    return x, y


def write_clip(path: Path, frames: int) -> Path:
    """A ``frames``-long 320x240 clip, generated frame by frame (flat memory here too)."""
    rng = np.random.default_rng(0)
    background = rng.integers(60, 110, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    background[..., 1] += 30
    texture = (np.array([200, 40, 40]) + rng.integers(0, 30, (SIZE, SIZE, 3))).astype(np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20"}
        for t in range(frames):
            rgb = background.copy()
            x, y = square_path(t)
            rgb[y:y + SIZE, x:x + SIZE] = texture
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = t, 1 / RATE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def measure(clip: Path, out: Path, exports: str) -> dict:
    x, y = square_path(0)
    cmd = [sys.executable, "-m", "samvideo.cli", "track", str(clip), "--box",
           f"{x},{y},{x + SIZE},{y + SIZE}", "--model", "grabcut", "-o", str(out),
           "--overwrite", "--quiet", "--export", exports]
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
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"samvideo track --model grabcut --export {args.exports}, {WIDTH}x{HEIGHT}")
        print(f"{'frames':>7} {'run s':>7} {'peak RSS MB':>12} {'RSS @25%':>9} "
              f"{'@50%':>7} {'@75%':>7}")
        rows = []
        for n in args.frames:
            t0 = time.monotonic()
            clip = write_clip(work / f"clip_{n}.mp4", n)
            made = time.monotonic() - t0
            r = measure(clip, work / f"out_{n}", args.exports)
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
