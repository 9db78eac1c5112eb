"""``--auto``: first-frame objects from SAM's automatic mask generator, filtered."""

from __future__ import annotations

import av
import numpy as np
import pytest

from samvideo.auto import AutoConfig, auto_prompts, filter_masks, prompts_from_masks
from samvideo.cli import main
from samvideo.masks import box_to_mask
from samvideo.segmenters.grabcut import GrabCutSegmenter
from tests.helpers import SAMPLES

SHAPE = (240, 320)


def _record(box, iou=0.95, stability=0.97, point=None):
    mask = box_to_mask(box, SHAPE)
    if point is None:
        point = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    return {"segmentation": mask, "predicted_iou": iou, "stability_score": stability,
            "point_coords": [list(point)]}


def test_filters_beware_the_blob():
    records = [
        _record((10, 10, 60, 60), iou=0.96),  # an object
        _record((100, 100, 150, 170), iou=0.93),  # another
        _record((20, 20, 40, 40), iou=0.99),  # a part of the first: the whole wins
        _record((0, 120, 320, 240), iou=0.99),  # the floor: touches 3 sides, large
        _record((200, 10, 203, 13), iou=0.99),  # a speck
        _record((200, 50, 260, 100), iou=0.80),  # unsure (predicted IoU)
        _record((200, 150, 260, 200), stability=0.5),  # unstable
    ]
    kept = filter_masks(records, SHAPE, AutoConfig())
    boxes = [tuple(np.argwhere(r["segmentation"])[[0, -1]].ravel()) for r in kept]
    assert len(kept) == 2 and boxes == [(100, 100, 169, 149), (10, 10, 59, 59)]
    assert len(filter_masks(records, SHAPE, AutoConfig(max_objects=1))) == 1


def test_prompts_from_masks_give_tight_boxes_and_inner_clicks():
    prompts = prompts_from_masks([_record((10, 10, 60, 60)), _record((100, 100, 150, 170),
                                                                     point=(5, 5))])
    assert [p.object_id for p in prompts] == [1, 2]
    assert prompts[0].box == (10.0, 10.0, 60.0, 60.0) and prompts[0].points == ((35.0, 35.0),)
    assert prompts[1].points == ()  # the grid point lies outside its mask: no click
    assert all(p.frame_index == 0 for p in prompts)


def test_config_is_checked():
    with pytest.raises(ValueError, match="max_objects=0"):
        AutoConfig(max_objects=0)
    with pytest.raises(ValueError, match="max_area_frac=2"):
        AutoConfig(max_area_frac=2)


def test_grabcut_cannot_segment_everything(tmp_path, capsys):
    frame = np.zeros((*SHAPE, 3), np.uint8)
    with pytest.raises(ValueError, match="--auto needs a SAM or MobileSAM model"):
        auto_prompts(GrabCutSegmenter(), frame)
    code = main(["track", str(SAMPLES / "moving" / "video.mp4"), "--auto", "--model", "grabcut",
                 "-o", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--auto needs a SAM or MobileSAM model" in err and "Traceback" not in err


def test_auto_refuses_other_prompts_and_max_objects_needs_it(tmp_path, capsys):
    video = str(SAMPLES / "moving" / "video.mp4")
    assert main(["track", video, "--auto", "--box", "1,1,20,20", "-o", str(tmp_path)]) == 2
    assert "--auto finds the objects" in capsys.readouterr().err
    assert main(["track", video, "--box", "1,1,20,20", "--max-objects", "2",
                 "-o", str(tmp_path)]) == 2
    assert "--max-objects goes with --auto" in capsys.readouterr().err


def test_tiny_sam_seeds_objects_on_the_first_frame(tiny_sam_checkpoint):
    """A random tiny SAM finds nothing object-like by the default filters; with them
    relaxed, the generator runs through the real path and the prompts are well formed."""
    from samvideo.segmenters.sam import SamSegmenter

    with av.open(str(SAMPLES / "two_objects" / "video.mp4")) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    seg = SamSegmenter(tiny_sam_checkpoint, device="cpu")
    relaxed = AutoConfig(points_per_side=4, pred_iou_thresh=0, stability_score_thresh=0,
                         min_area_frac=0, max_area_frac=1, max_border_sides=5, max_objects=2)
    prompts = auto_prompts(seg, rgb, relaxed)
    assert 1 <= len(prompts) <= 2
    for p in prompts:
        x1, y1, x2, y2 = p.box
        assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 240
