"""``tools/eval_davis.py`` on a DAVIS-shaped folder made of the bundled sample clips."""

from __future__ import annotations

import json

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


def test_reverse_plays_each_clip_backwards_from_its_last_frame_with_the_object(eval_davis,
                                                                               tmp_path):
    """The last two masks of the clip are emptied (the object has left): the reversed
    clip starts at the frame before them, and frame k is source frame last - k, pixel for
    pixel, beside its own mask."""
    from samvideo.video import VideoReader

    davis = tmp_path / "davis"
    (davis / "moving" / "masks").mkdir(parents=True)
    (davis / "moving" / "video.mp4").symlink_to(SAMPLES / "moving" / "video.mp4")
    truth = list_mask_files(SAMPLES / "moving" / "masks")
    for i, path in enumerate(truth):
        m = read_mask(path).astype(np.uint8)
        if i >= len(truth) - 2:
            m[:] = 0
        Image.fromarray(m).save(davis / "moving" / "masks" / path.name)
    with VideoReader(davis / "moving" / "video.mp4") as reader:
        source = [f.rgb for f in reader]

    back = eval_davis.reverse_clips(davis, ["moving"], tmp_path / "reversed")
    frames = sorted((back / "moving" / "frames").glob("*.png"))
    masks = list_mask_files(back / "moving" / "masks")
    last = len(truth) - 3
    assert len(frames) == len(masks) == last + 1
    for k in (0, 1, last):
        rgb = np.asarray(Image.open(frames[k]).convert("RGB"))
        np.testing.assert_array_equal(rgb, source[last - k])
        np.testing.assert_array_equal(read_mask(masks[k]), read_mask(truth[last - k]))
    assert eval_davis.clip_source(back / "moving") == back / "moving" / "frames"


def test_the_sample_clip_is_tracked_backwards_through_the_command_line(eval_davis, tmp_path,
                                                                       capsys):
    assert eval_davis.main(["--davis", str(SAMPLES), "--clips", "moving", "--reverse",
                            "--variants", "full", "--out", str(tmp_path), "--json"]) == 0
    printed = capsys.readouterr().out
    assert "play backwards" in printed
    report = json.loads(printed[printed.index("{"):])
    (score,) = report["full"]["clips"]
    assert score["frames"] == len(list_mask_files(SAMPLES / "moving" / "masks"))
    assert score["j"] > 0.9 and score["j_first"] > 0.9
    assert not (tmp_path / "reversed").exists()  # the reversed copy is never kept


def test_the_report_holds_every_variant_and_direction(eval_davis, tmp_path, capsys):
    """``--report`` writes the ablation report that docs/tracking.md is: the mean of
    every variant in every direction and the per-clip table, with the command."""
    report = tmp_path / "tracking.md"
    assert eval_davis.main(["--davis", str(SAMPLES), "--clips", "moving", "--variants",
                            "full,no-still", "--directions", "forward,reverse", "--out",
                            str(tmp_path / "out"), "--report", str(report)]) == 0
    text = report.read_text()
    assert "--variants full,no-still" in text and "do not edit by hand" in text
    for heading in ("## Forward", "## Reverse", "## Per clip, full, forward",
                    "## Per clip, full, reverse"):
        assert heading in text
    rows = [line for line in text.splitlines() if line.startswith(("| full", "| no-still"))]
    assert len(rows) == 4 and all(float(r.split("|")[4].strip(" *")) > 0.5 for r in rows)
    assert (tmp_path / "out" / "reverse" / "no-still" / "moving" / "masks").is_dir()


def test_the_oracle_report_names_its_segmenter(eval_davis, tmp_path, capsys):
    """``--oracle --report`` (docs/oracle.md): the same report, segmented by the
    ground-truth oracle through ``samvideo.run``, and saying so."""
    report = tmp_path / "oracle.md"
    assert eval_davis.main(["--davis", str(SAMPLES), "--clips", "moving", "--variants", "full",
                            "--oracle", "--out", str(tmp_path / "out"), "--report",
                            str(report)]) == 0
    text = report.read_text()
    assert text.startswith("# The tracking policy's ceiling") and "tools/oracle.py" in text
    (row,) = [line for line in text.splitlines() if line.startswith("| full")]
    assert float(row.split("|")[4].strip(" *")) > 0.95
