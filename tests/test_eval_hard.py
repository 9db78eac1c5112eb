"""``tools/eval_hard.py``: the synthetic failure-kind clips, generated, tracked through
``samvideo.track`` by GrabCut and the oracle, scored, reported."""

from __future__ import annotations

import numpy as np
import pytest

import samvideo
from samvideo.masks import mask_iou
from samvideo.metrics import list_mask_files, read_mask
from samvideo.prompts import load_prompts_file
from tests.conftest import load_tool


@pytest.fixture(scope="module")
def eval_hard():
    return load_tool("eval_hard")


def test_a_clip_is_scored_per_frame_against_its_truth(eval_hard, tmp_path):
    (grabcut, oracle) = eval_hard.evaluate(["parts"], ["grabcut", "oracle"], tmp_path)
    assert (grabcut.clip, grabcut.segmenter, oracle.segmenter) == ("parts", "grabcut", "oracle")
    assert grabcut.frames == oracle.frames == 48
    # the oracle's masks are the truth inside its boxes: the policy keeps both parts
    assert oracle.mean_j > 0.97 and oracle.lost == 0
    assert 0.0 <= grabcut.min_j <= grabcut.mean_j <= 1.0
    # the mean is the per-frame J of the masks samvideo gives for this clip
    clip = tmp_path / "parts"
    truth = [read_mask(p) == 1 for p in list_mask_files(clip / "masks")]
    results = samvideo.track(clip / "video.mp4", prompts=load_prompts_file(clip / "prompts.json"),
                             model="grabcut")
    js = [mask_iou(r.label_map() == 1, t) for r, t in zip(results, truth, strict=True)]
    assert grabcut.mean_j == pytest.approx(float(np.mean(js)))


def test_the_report_and_bad_options(eval_hard, tmp_path, capsys):
    report = tmp_path / "hard.md"
    assert eval_hard.main(["--clips", "enter", "--segmenters", "oracle", "--report",
                           str(report)]) == 0
    text = report.read_text()
    assert "python tools/eval_hard.py --clips enter --segmenters oracle" in text
    row = next(line for line in text.splitlines() if line.startswith("| enter |"))
    assert "coming into view over the frame's right edge" in row
    assert float(row.split("|")[3]) > 0.9  # the oracle's mean J on it
    assert "enter" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        eval_hard.main(["--segmenters", "sam"])
    assert exit_info.value.code == 2
    assert "--segmenters: sam: choose from grabcut, oracle" in capsys.readouterr().err
