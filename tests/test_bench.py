"""The benchmarks' code paths, run small (figures come from running the tools, never from
tests): the loop-overhead harness, and ``--gpu-table``'s smoke mode on the CPU."""

from __future__ import annotations

import json
import os

import pytest

from samvideo.segmenters import load_model
from tests.conftest import load_tool

SLOW = os.environ.get("SAMVIDEO_SLOW_TESTS") == "1"


@pytest.mark.parametrize("family", ["mobile_sam", "sam2"])
def test_overhead_harness_splits_model_tracker_and_io(shared_data, request, family):
    harness = load_tool("bench_overhead")
    checkpoint = request.getfixturevalue(f"{family}_checkpoint")
    segmenter, _ = load_model("auto", checkpoint=checkpoint, device="cpu")
    row = harness.measure(segmenter, shared_data / "davis2016-train" / "bear", frames=3,
                          objects=2)
    assert row["states_last_frame"] == ["tracking", "tracking"]  # the oracle's answers held
    assert row["model_ms"] > 0 and row["tracker_ms"] > 0 and row["io_ms"] > 0
    assert 0 < row["postprocess_ms"] < row["tracker_ms"] and row["draw_ms"] > 0
    assert 0 < row["flow_ms"] < row["tracker_ms"] and row["oracle_ms"] > 0


@pytest.mark.skipif(not SLOW, reason="over 20 s: set SAMVIDEO_SLOW_TESTS=1")
def test_gpu_table_smoke_mode_runs_on_a_cpu(tmp_path, capsys):
    bench = load_tool("bench")
    assert bench.main(["--gpu-table", "--smoke", "--device", "cpu",
                       "--json", str(tmp_path / "t.json")]) == 0
    rows = json.loads((tmp_path / "t.json").read_text())["rows"]
    assert [(r["model"], r["size"]) for r in rows] == [("mobile_sam", "480p"),
                                                       ("mobile_sam", "1080p")]
    assert all(r["samvideo_fps"] > 0 and r["encoder_tflop_per_frame"] > 0 for r in rows)
    assert "mobile_sam" in capsys.readouterr().out
