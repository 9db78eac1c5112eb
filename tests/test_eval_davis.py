"""``tools/eval_davis.py`` on a DAVIS-shaped folder made of the bundled sample clips."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from samvideo.metrics import list_mask_files, read_mask
from tests.conftest import ROOT, load_tool

SAMPLES = ROOT / "sample_videos"


@pytest.fixture(scope="module")
def eval_davis():
    return load_tool("eval_davis")


def test_first_frame_j_is_the_first_masks_iou(eval_davis, tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for folder, (x0, x1) in ((gt, (10, 30)), (pred, (20, 40))):
        folder.mkdir()
        for i in range(3):  # only the first mask counts
            m = np.zeros((40, 50), np.uint8)
            m[5:15, x0:x1] = 1 if i == 0 else 0
            Image.fromarray(m).save(folder / f"{i:05d}.png")
    assert eval_davis.first_frame_j(pred, gt) == pytest.approx(100 / 300)


def test_a_sample_clip_is_tracked_and_scored(eval_davis, tmp_path):
    """The ``moving`` sample is laid out as DAVIS is (video.mp4 + masks/): the tool
    tracks it from its first mask's box through ``samvideo track`` and scores it."""
    boxes = {"moving": eval_davis.first_box(SAMPLES / "moving" / "masks")}
    (score,) = eval_davis.evaluate_all(SAMPLES, boxes, ["full"], tmp_path, 1)["full"]
    truth = read_mask(list_mask_files(SAMPLES / "moving" / "masks")[0]) > 0
    written = read_mask(list_mask_files(tmp_path / "full" / "moving" / "masks")[0]) > 0
    assert score.j_first == pytest.approx((written & truth).sum() / (written | truth).sum())
    assert score.j_first > 0.9 and score.j > 0.9 and score.jf > 0.85
    assert score.frames == len(list_mask_files(SAMPLES / "moving" / "masks"))
    table = eval_davis.format_table("full", [score])
    assert "J0" in table.splitlines()[1] and f"{score.j_first:.3f}" in table


def test_a_clip_with_no_first_box_stops_the_run_before_any_tracking(eval_davis, tmp_path,
                                                                     capsys):
    """A clip whose first mask is empty (the object enters later) is named at once,
    in one line with exit status 2, and no clip is tracked."""
    davis, out = tmp_path / "davis", tmp_path / "out"
    for clip, first in (("good", 1), ("late", 0)):
        (davis / clip / "masks").mkdir(parents=True)
        (davis / clip / "video.mp4").symlink_to(SAMPLES / "moving" / "video.mp4")
        for i in range(2):
            m = np.zeros((40, 50), np.uint8)
            m[5:15, 10:30] = first if i == 0 else 1
            Image.fromarray(m).save(davis / clip / "masks" / f"{i:05d}.png")
    with pytest.raises(SystemExit) as stop:
        eval_davis.main(["--davis", str(davis), "--out", str(out), "--variants", "full"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "late" in err and "empty" in err
    assert not out.exists()
