from __future__ import annotations

import numpy as np
import pytest

from samvideo.masks import (
    PostProcess,
    anchor_box,
    back_project,
    box_iou,
    box_to_mask,
    clip_box,
    colour_histogram,
    expand_box,
    histogram_similarity,
    label_map,
    make_disjoint,
    mask_iou,
    mask_to_box,
    postprocess,
    warp_mask,
)
from tests.helpers import make_frames, square_box

SHAPE = (240, 320)


def test_box_and_mask_round_trip_with_exclusive_corners():
    mask = box_to_mask((10, 20, 50, 70), SHAPE)
    assert mask.sum() == 40 * 50
    assert mask_to_box(mask) == (10.0, 20.0, 50.0, 70.0)
    assert mask_to_box(np.zeros(SHAPE, bool)) is None
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert box_iou(None, (0, 0, 1, 1)) == 0.0
    assert mask_iou(np.zeros(SHAPE, bool), np.zeros(SHAPE, bool)) == 1.0
    assert clip_box((-5, -5, 400, 300), 320, 240) == (0.0, 0.0, 320.0, 240.0)
    assert expand_box((10, 10, 20, 30), 0.5) == (5, 0, 25, 40)


def test_warp_mask_moves_and_scales():
    mask = box_to_mask((10, 10, 30, 20), SHAPE)
    out = warp_mask(mask, (10, 10, 30, 20), (100, 50, 140, 70))
    assert mask_to_box(out) == (100.0, 50.0, 140.0, 70.0)


def test_postprocess_fills_holes_and_drops_islands_and_off_target_parts():
    mask = box_to_mask((50, 50, 150, 150), SHAPE)
    mask[100, 100] = False  # a pinhole: filled
    mask[10:13, 10:13] = True  # a speck far away: dropped (small)
    mask[60:90, 250:280] = True  # a large part outside the expected box: dropped
    out = postprocess(mask, PostProcess(), expected=(40, 40, 160, 160))
    assert out[100, 100] and not out[11, 11] and not out[70, 260]
    assert out.sum() == 100 * 100
    # with nothing expected, the large part stays; never is the whole mask erased
    kept = postprocess(mask, PostProcess(), expected=None)
    assert kept[70, 260]
    lone = box_to_mask((250, 60, 280, 90), SHAPE)
    assert postprocess(lone, PostProcess(), expected=(0, 0, 50, 50)).sum() == lone.sum()
    smooth = postprocess(mask, PostProcess(smooth_radius=2), expected=(40, 40, 160, 160))
    assert smooth.sum() > 0


def test_postprocess_keeps_the_small_parts_the_object_had():
    # the front of an object cut off by a post: a small island, dropped as a speck unless
    # it lies inside ``parts`` (the previous mask moved onto this frame)
    mask = box_to_mask((50, 50, 150, 150), SHAPE)
    mask[60:70, 160:170] = True  # 1 % of the mask, beyond a gap
    before = box_to_mask((50, 50, 172, 150), SHAPE)
    expected = (40, 40, 180, 160)
    assert not postprocess(mask, PostProcess(), expected)[65, 165]
    kept = postprocess(mask, PostProcess(), expected, parts=before)
    assert kept[65, 165] and kept.sum() == mask.sum()
    # a speck the object never had goes, though in the expected box and next to ``parts``
    mask[152:155, 60:63] = True
    assert not postprocess(mask, PostProcess(), expected, parts=before)[153, 61]


def test_disjoint_masks_higher_score_wins():
    a = box_to_mask((0, 0, 60, 60), SHAPE)
    b = box_to_mask((40, 40, 100, 100), SHAPE)
    ma, mb = make_disjoint([a, b], [0.9, 0.8])
    assert not (ma & mb).any() and ma[50, 50] and not mb[50, 50]
    ma, mb = make_disjoint([a, b], [0.7, 0.8])
    assert mb[50, 50] and not ma[50, 50]
    labels = label_map([(1, ma), (2, mb)], SHAPE)
    assert labels[10, 10] == 1 and labels[90, 90] == 2 and labels[200, 200] == 0


def test_make_disjoint_hands_back_a_mask_that_lost_nothing():
    a, b = box_to_mask((0, 0, 60, 60), SHAPE), box_to_mask((40, 40, 100, 100), SHAPE)
    far = box_to_mask((200, 150, 260, 210), SHAPE)
    ma, mb, mf = make_disjoint([a, b, far], [0.9, 0.8, 0.5])
    assert ma is a and mf is far  # the winner of the overlap, and one overlapping nothing
    assert mb is not b and not mb[50, 50] and mb[90, 90] and b[50, 50]  # b untouched


def test_colour_histogram_tells_the_object_from_the_background():
    frame = make_frames(1)[0]
    obj = box_to_mask(square_box(0), SHAPE)
    bg = box_to_mask((200, 150, 260, 210), SHAPE)
    h_obj, h_bg = colour_histogram(frame, obj), colour_histogram(frame, bg)
    assert h_obj.dtype == np.float32 and h_obj.sum() == pytest.approx(1.0)
    assert histogram_similarity(h_obj, h_obj) == pytest.approx(1.0, abs=1e-6)
    assert histogram_similarity(h_obj, h_bg) < 0.1
    assert colour_histogram(frame, np.zeros(SHAPE, bool)) is None
    assert histogram_similarity(None, h_obj) == 0.0


def test_back_projection_lights_up_object_coloured_pixels():
    frame = make_frames(1)[0]
    obj = box_to_mask(square_box(0), SHAPE)
    around = box_to_mask(expand_box(square_box(0), 0.5), SHAPE) & ~obj
    prob, (x0, y0) = back_project(frame, (0, 0, 320, 240), colour_histogram(frame, obj),
                                  colour_histogram(frame, around))
    assert (x0, y0) == (0, 0) and prob.shape == SHAPE and prob.dtype == np.float32
    assert prob[obj].mean() > 0.9 and prob[~obj].mean() < 0.1
    crop, origin = back_project(frame, (100.5, 50.2, 200, 120), colour_histogram(frame, obj), None)
    assert origin == (100, 50) and crop.shape == (70, 100)


def test_anchor_box_extends_a_partial_box_from_its_trusted_edge():
    size = (40.0, 30.0)
    # the right part is hidden: the left edge agrees with the prediction
    assert anchor_box((100, 50, 115, 80), (101, 50, 141, 80), size) == (100, 50, 140, 80)
    # the left part is hidden: the right edge agrees
    assert anchor_box((125, 50, 140, 80), (99, 50, 139, 80), size) == (100, 50, 140, 80)
    # a whole box is kept
    assert anchor_box((100, 50, 140, 80), (0, 0, 40, 30), size) == (100, 50, 140, 80)


def test_postprocess_on_the_mask_box_equals_the_whole_frame():
    """The clean-up works on the mask's box grown by a margin; the answer is the one the
    same steps give on the whole frame (holes that reach the margin are background)."""
    from samvideo.masks import PostProcess, _keep_components, _remove_small, postprocess

    rng = np.random.default_rng(3)
    for trial in range(40):
        mask = np.zeros((120, 160), bool)
        for _ in range(rng.integers(1, 6)):
            y, x = rng.integers(0, 120), rng.integers(0, 160)
            h, w = rng.integers(1, 25), rng.integers(1, 30)
            mask[max(y - 15, 0):y + h, max(x - 20, 0):x + w] = True
        mask &= rng.random(mask.shape) > 0.03  # pinholes
        if trial % 4 == 0:
            mask[:, :3] = True  # touching the frame's edge
        params = PostProcess(min_component_overlap=0.05 if trial % 2 else 0.0)
        expected_box = (20.0, 10.0, 120.0, 100.0) if trial % 3 else None
        area = int(mask.sum())
        want = ~_remove_small(~mask, params.fill_holes_frac * area, border_keeps=True)
        want = _keep_components(want, params, expected_box)
        assert np.array_equal(postprocess(mask, params, expected_box), want), trial
