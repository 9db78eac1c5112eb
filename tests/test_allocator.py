"""samvideo.allocator: a CPU segmenter's large freed blocks are reused, not mapped afresh."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

# Page faults while MobileSAM encodes three frames after two warm-up frames: memory
# mapped afresh for each large activation is faulted in again, page by page; reused
# memory is not. In a fresh child process each: the tuning is process-wide for good.
_ENCODE = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import samvideo.segmenters.promptable as promptable
    from samvideo.allocator import keep_freed_memory
    from samvideo.segmenters import build_segmenter

    if sys.argv[2] == "untuned":
        promptable.keep_freed_memory = lambda: False
    seg = build_segmenter("mobile_sam", checkpoint=sys.argv[1], device="cpu")
    frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    for _ in range(2):
        seg.encode([frame])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        seg.encode([frame])
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(json.dumps({"faults": faults, "applied": seg.keeps_freed_memory,
                      "again": keep_freed_memory()}))
""")


def _encode(checkpoint, mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _ENCODE, str(checkpoint), mode],
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc: Linux only")
def test_a_cpu_segmenter_reuses_its_activations_memory(mobile_sam_checkpoint):
    untuned = _encode(mobile_sam_checkpoint, "untuned")
    tuned = _encode(mobile_sam_checkpoint, "tuned")
    assert untuned["applied"] is False
    assert tuned["applied"] is True and tuned["again"] is True  # once, then the same answer
    assert untuned["faults"] > 10_000  # tens of MiB of activations a frame, mapped afresh
    assert tuned["faults"] < 0.2 * untuned["faults"]
