"""The Python API: samvideo.track, samvideo.Tracker, results to numpy and supervision."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import samvideo
from samvideo.api import build_prompts
from samvideo.video import probe
from tests.helpers import SAMPLES, FakeSegmenter, make_frames, square_box

CLIP = SAMPLES / "moving" / "video.mp4"
BOX = (39, 129, 90, 171)


def test_track_yields_a_result_per_frame_in_source_order():
    run = samvideo.track(CLIP, box=BOX, points=[(62, 150)], model="grabcut", max_frames=6)
    assert run.info.width == 320 and "grabcut" in run.model.lower()
    results = list(run)
    assert [r.frame_index for r in results] == list(range(6))
    assert results[3].time_s == pytest.approx(3 / 24)
    obj = results[3][1]
    assert obj.mask.shape == (240, 320) and obj.mask.dtype == bool and obj.mask.any()
    arrays = results[3].to_numpy()
    assert arrays["masks"].shape == (1, 240, 320) and arrays["masks"].dtype == bool
    assert arrays["boxes_xyxy"].shape == (1, 4) and arrays["boxes_xyxy"].dtype == np.float32
    assert arrays["scores"].dtype == np.float32 and arrays["object_ids"].tolist() == [1]
    assert run.summary is None


def test_track_with_output_writes_the_exports(tmp_path):
    out = tmp_path / "out"
    results = list(samvideo.track(CLIP, box=BOX, model="grabcut", max_frames=5, output=out,
                                  exports="davis,jsonl,coco"))
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["frames_done"] == 5
    for r in results:  # the yielded masks are the written ones
        png = np.array(Image.open(out / "masks" / f"{r.frame_index:05d}.png"))
        np.testing.assert_array_equal(png == 1, r[1].mask)
    assert (out / "masks.coco.json").is_file() and (out / "tracks.jsonl").is_file()


def test_leaving_early_closes_the_outputs(tmp_path):
    out = tmp_path / "out"
    with samvideo.track(CLIP, box=BOX, model="grabcut", output=out,
                        exports="video,jsonl") as run:
        for r in run:
            if r.frame_index == 3:
                break
    assert run.summary.status == "interrupted"
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert 4 <= probe(out / "overlay.mp4").frame_count <= 6  # the overlay plays
    assert not list(out.glob(".*.part"))


def test_several_boxes_are_several_objects():
    prompts = build_prompts(np.array([[1, 2, 30, 40], [50, 60, 90, 100]]))
    assert [(p.object_id, p.box) for p in prompts] == [(1, (1.0, 2.0, 30.0, 40.0)),
                                                       (2, (50.0, 60.0, 90.0, 100.0))]
    assert build_prompts(points=[(5, 6)])[0].points == ((5.0, 6.0),)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"box": (1, 2, 3)}, "box="),
        ({"box": [[1, 2, 30, 40], [5, 6, 70, 80]], "points": [(9, 9)]}, "prompts="),
        ({}, "no object to track"),
        ({"box": BOX, "start": "soon"}, "--start 'soon'"),
        ({"box": BOX, "exports": "gif"}, "unknown export format 'gif'"),
        ({"box": (400, 300, 500, 400)}, "outside"),
    ],
)
def test_bad_arguments_fail_at_once(kwargs, message):
    with pytest.raises(ValueError, match=message):
        samvideo.track(CLIP, model="grabcut", **kwargs)


def test_a_ready_segmenter_and_a_later_start():
    seg = FakeSegmenter(lambda t: square_box(t + 10), (240, 320))  # it counts from 0
    results = list(samvideo.track(CLIP, box=square_box(10), model=seg, start=10, end=14))
    assert [r.frame_index for r in results] == [10, 11, 12, 13]
    assert results[0][1].state == "prompted"


def test_tracker_with_your_own_frames():
    frames = make_frames(8)
    tracker = samvideo.Tracker(samvideo.load_model("grabcut")[0])
    result = tracker.init(frames[0], [samvideo.ObjectPrompt(1, box=square_box(0))])
    assert result.frame_index == 0 and result[1].state == "prompted"
    for rgb in frames[1:]:
        result = tracker.step(rgb)
    assert result.frame_index == 7
    x1, y1, x2, y2 = result[1].box_xyxy
    tx1, ty1, tx2, ty2 = square_box(7)
    assert abs(x1 - tx1) < 6 and abs(y2 - ty2) < 6


def test_to_supervision():
    sv = pytest.importorskip("supervision")
    results = list(samvideo.track(CLIP, box=[BOX, (200, 20, 260, 80)], model="grabcut",
                                  max_frames=2))
    det = results[1].to_supervision()
    assert isinstance(det, sv.Detections)
    kept = [o for o in results[1].objects if o.mask.any()]
    assert len(det) == len(kept) and det.mask.shape[1:] == (240, 320)
    assert det.tracker_id.tolist() == [o.object_id for o in kept]
    np.testing.assert_allclose(det.xyxy, [o.box_xyxy for o in kept])
    assert det.data["state"].tolist() == [o.state for o in kept]
    image = sv.MaskAnnotator().annotate(results[1].image.copy(), det)  # supervision draws it
    assert image.shape == (240, 320, 3)


def test_track_with_a_sam_checkpoint(tiny_sam_checkpoint):
    run = samvideo.track(CLIP, box=BOX, model="auto", checkpoint=tiny_sam_checkpoint,
                         device="cpu", max_frames=2)
    results = list(run)
    assert "SAM" in run.model and [r.frame_index for r in results] == [0, 1]
    assert results[1][1].mask.shape == (240, 320)
