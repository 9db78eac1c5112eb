from __future__ import annotations

import numpy as np
import pytest

from samvideo.masks import box_to_mask, expand_box, mask_iou, warp_mask
from samvideo.segmenters import GrabCutSegmenter, PromptRequest, Segmenter, build_segmenter
from tests.helpers import make_frames, square_box

SHAPE = (240, 320)


def test_is_a_segmenter_built_by_name():
    seg = build_segmenter("grabcut")
    assert isinstance(seg, Segmenter) and isinstance(seg, GrabCutSegmenter)


def test_box_prompt_segments_the_object():
    frame = make_frames(1)[0]
    seg = GrabCutSegmenter()
    (emb,) = seg.encode([frame])
    (cand,) = seg.predict(emb, [PromptRequest.make(expand_box(square_box(0), 0.1))])
    assert cand.masks.shape == (1, *SHAPE) and cand.masks.dtype == bool
    assert 0.0 <= cand.scores[0] <= 1.0
    assert mask_iou(cand.masks[0], box_to_mask(square_box(0), SHAPE)) > 0.9
    assert cand.scores[0] > 0.7


def test_prior_mask_and_first_frame_colours_follow_the_object():
    frames = make_frames(6)
    seg = GrabCutSegmenter()
    memory: dict = {}
    truth0 = box_to_mask(square_box(0), SHAPE)
    (c0,) = seg.predict(seg.encode([frames[0]])[0],
                        [PromptRequest.make(square_box(0), memory=memory)])
    assert "grabcut_fgd" in memory  # the object's colour model, kept for later frames
    prior = warp_mask(c0.masks[0], square_box(0), square_box(5))
    (c5,) = seg.predict(seg.encode([frames[5]])[0],
                        [PromptRequest.make(square_box(5), prior_mask=prior, memory=memory)])
    assert mask_iou(c5.masks[0], box_to_mask(square_box(5), SHAPE)) > 0.9
    assert mask_iou(c0.masks[0], truth0) > 0.9


def test_clicks_seed_foreground_and_background():
    frame = make_frames(1)[0]
    seg = GrabCutSegmenter()
    emb = seg.encode([frame])[0]
    box = (10.0, 20.0, 80.0, 90.0)  # larger than the square (20, 30, 60, 70)
    (with_neg,) = seg.predict(emb, [PromptRequest.make(box, points=[(40, 50)],
                                                       neg_points=[(15, 25), (75, 85)])])
    m = with_neg.masks[0]
    assert m[50, 40] and not m[25, 15] and not m[85, 75]


def test_a_region_without_the_object_scores_low():
    frame = make_frames(1)[0]
    seg = GrabCutSegmenter()
    memory: dict = {}
    emb = seg.encode([frame])[0]
    seg.predict(emb, [PromptRequest.make(square_box(0), memory=memory)])
    empty_area = (200.0, 150.0, 260.0, 210.0)  # background only
    prior = box_to_mask(empty_area, SHAPE)
    (cand,) = seg.predict(emb, [PromptRequest.make(empty_area, prior_mask=prior, memory=memory)])
    assert cand.scores[0] < 0.35


def test_needs_a_box_or_a_click():
    seg = GrabCutSegmenter()
    emb = seg.encode([make_frames(1)[0]])[0]
    with pytest.raises(ValueError, match="box or at least one foreground point"):
        seg.predict(emb, [PromptRequest.make(None)])
    (cand,) = seg.predict(emb, [PromptRequest.make(None, points=[(40, 50)])])
    assert cand.masks[0][50, 40]


def test_options_are_checked():
    with pytest.raises(ValueError, match="max_side=4"):
        GrabCutSegmenter(max_side=4)
    assert np.isfinite(GrabCutSegmenter(max_side=64).max_side)
