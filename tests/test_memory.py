"""Every writer streams: a 2,000-frame clip tracked with GrabCut into every export keeps
its resident memory flat (read from /proc in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import make_frames, write_clip

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, sys
from pathlib import Path
from samvideo.run import FileOptions, run
from samvideo.prompts import ObjectPrompt
from samvideo.segmenters import build_segmenter

def rss_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])

samples = {}
def on_frame(result, info):
    if result.frame_index % 100 == 0:
        samples[result.frame_index] = rss_kib("VmRSS")

options = FileOptions(output=Path(sys.argv[2]), exports=tuple(sys.argv[3].split(",")))
summary = run(sys.argv[1], [ObjectPrompt(1, box=(8, 13, 26, 31))], build_segmenter("grabcut"),
              options, on_frame=on_frame)
print(json.dumps({"status": summary.status, "frames": summary.frames, "samples": samples,
                  "peak_kib": rss_kib("VmHWM"), "seconds": summary.timings.total}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_memory_stays_flat_over_2000_frames(tmp_path):
    """Measured on 2 CPU cores: ~15 s for the test (11 s tracking 2,000 64x48 frames
    into all eight exports); RSS ~224 MiB at frame 200, +1.5 MiB by frame 2,000, peak
    226 MiB (the limit below leaves room for allocator noise)."""
    frames = make_frames(2000, width=64, height=48, start=(8.0, 13.0), velocity=(0.0, 0.0),
                         size=18.0)
    clip = write_clip(tmp_path / "long.mp4", frames)
    del frames
    exports = "video,davis,davis-binary,cutout,jsonl,coco,npz,mots"
    proc = subprocess.run([sys.executable, "-c", PROBE, str(clip), str(tmp_path / "out"),
                           exports], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["status"] == "complete" and report["frames"] == 2000
    samples = {int(k): v for k, v in report["samples"].items()}
    growth_mib = (max(v for k, v in samples.items() if k >= 200) - samples[200]) / 1024
    print(f"RSS at frame 200: {samples[200] / 1024:.1f} MiB, growth after: "
          f"{growth_mib:.2f} MiB, peak {report['peak_kib'] / 1024:.1f} MiB, "
          f"{report['seconds']:.1f} s")
    assert growth_mib < 8, samples
    assert len(list((tmp_path / "out" / "masks").glob("*.png"))) == 2000
