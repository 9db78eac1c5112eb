from __future__ import annotations

import cv2
import numpy as np
import pytest

from samvideo.masks import box_to_mask, mask_iou
from samvideo.motion import (
    Box,
    FlowConfig,
    KalmanBoxFilter,
    StaticBox,
    StillConfig,
    flow_warp,
    make_motion_model,
    motion_from_state_dict,
)
from tests.helpers import square_box


def test_constant_velocity_box_is_predicted():
    kf = KalmanBoxFilter(square_box(0))
    for t in range(1, 15):
        kf.predict()
        kf.update(square_box(t))
    predicted = kf.predict()  # frame 15, never measured
    for got, want in zip(predicted, square_box(15), strict=True):
        assert got == pytest.approx(want, abs=0.5)
    vx, vy = kf.velocity
    assert (vx, vy) == (pytest.approx(4.0, abs=0.1), pytest.approx(2.0, abs=0.1))


def test_coasting_keeps_moving_and_grows_uncertainty():
    kf = KalmanBoxFilter(square_box(0))
    for t in range(1, 10):
        kf.predict()
        kf.update(square_box(t))
    before = kf.uncertainty
    for _ in range(10, 20):  # no measurement: coast
        box = kf.predict()
    assert box[0] == pytest.approx(square_box(19)[0], abs=2.0)
    assert kf.uncertainty > before


def test_size_never_collapses_while_coasting():
    kf = KalmanBoxFilter((0, 0, 40, 40))
    for w in (36, 30, 22, 14, 8):  # shrinking fast
        kf.predict()
        kf.update((0, 0, w, w))
    for _ in range(50):
        x1, y1, x2, y2 = kf.predict()
        assert x2 - x1 >= 1 and y2 - y1 >= 1


def test_static_model_and_factory():
    m = make_motion_model("none", (1, 2, 3, 4))
    assert isinstance(m, StaticBox)
    assert m.predict() == (1, 2, 3, 4)
    m.update((5, 6, 7, 8))
    assert m.predict() == (5, 6, 7, 8)
    with pytest.raises(ValueError, match="'wobbly'"):
        make_motion_model("wobbly", (0, 0, 1, 1))


def test_kalman_state_dict_round_trip_continues_identically():
    kf = KalmanBoxFilter(square_box(0))
    for t in range(1, 6):
        kf.predict()
        kf.update(square_box(t))
    state = kf.state_dict()
    copy = KalmanBoxFilter.from_state_dict(state)
    for t in range(6, 10):
        assert kf.predict() == copy.predict()
        assert kf.update(square_box(t)) == copy.update(square_box(t))
    assert motion_from_state_dict(StaticBox((1, 2, 3, 4)).state_dict()).box == (1, 2, 3, 4)
    with pytest.raises(ValueError, match="'spline'"):
        motion_from_state_dict({"kind": "spline"})
    state["P"] = np.eye(3)
    with pytest.raises(ValueError, match="'P'"):
        KalmanBoxFilter.from_state_dict(state)


def _textured_clip(n: int) -> list[np.ndarray]:
    """Grey frames: a square with a fixed texture moving by square_box over a fixed
    textured background (make_frames redraws the square's noise on every frame)."""
    rng = np.random.default_rng(0)
    smooth = lambda a: cv2.GaussianBlur(a.astype(np.float32), (0, 0), 1.5)  # noqa: E731
    bg = smooth(rng.integers(0, 120, (240, 320)))
    tex = smooth(rng.integers(120, 255, (40, 40)))
    out = []
    for t in range(n):
        f = bg.copy()
        x1, y1, _, _ = (int(v) for v in square_box(t))
        f[y1:y1 + 40, x1:x1 + 40] = tex
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return out


@pytest.mark.parametrize("refine", [True, False])  # unrefined: a box-only segmenter's
def test_flow_moves_a_mask_with_the_object(refine):
    grays = _textured_clip(3)
    mask = box_to_mask(square_box(1), (240, 320))
    moved = flow_warp(grays[1], grays[2], mask, FlowConfig(refine=refine))
    assert moved is not None and moved.mask.dtype == bool
    assert mask_iou(moved.mask, box_to_mask(square_box(2), (240, 320))) > 0.85
    assert moved.displacement(moved.mask) == (pytest.approx(4.0, abs=1.0),
                                              pytest.approx(2.0, abs=1.0))
    # the displacement of a part of the object (e.g. its visible part) is the same
    half = box_to_mask(square_box(2), (240, 320))
    half[:, 40:] = False
    dx, dy = moved.displacement(half)
    assert (dx, dy) == (pytest.approx(4.0, abs=1.0), pytest.approx(2.0, abs=1.0))


def test_flow_gives_up_on_flat_images_and_empty_masks():
    flat = np.full((240, 320), 90, np.uint8)
    mask = box_to_mask((20, 20, 60, 60), (240, 320))
    assert flow_warp(flat, flat, mask) is None
    assert flow_warp(flat, flat, np.zeros((240, 320), bool)) is None
    with pytest.raises(ValueError, match="shapes differ"):
        flow_warp(flat, flat[:100], mask)


@pytest.mark.parametrize("option", ["max_side", "box_max_side"])
def test_flow_crop_sizes_are_checked(option):
    with pytest.raises(ValueError, match=f"{option}=8"):
        FlowConfig(**{option: 8})


@pytest.mark.parametrize("box", [(10, 100, 300, 104), (100, 10, 103, 230), (0, 0, 2, 2)])
def test_flow_on_thin_or_tiny_masks_does_not_crash(box):
    # OpenCV's DIS segfaults on images thinner than 32 px with a longer other side
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (240, 320), dtype=np.uint8)
    b = np.roll(a, 2, axis=1)
    moved = flow_warp(a, b, box_to_mask(box, (240, 320)))
    assert moved is None or moved.mask.shape == (240, 320)


def _panning_clip(object_velocity: tuple[int, int]) -> tuple[list[np.ndarray], list[Box]]:
    """Two grey frames of a camera panning 2 px per frame to the right over a textured
    scene (the background moves left) and a textured 40-px square moving by
    ``object_velocity`` (on screen) over it; returns the frames and the square's boxes."""
    rng = np.random.default_rng(1)
    smooth = lambda a: cv2.GaussianBlur(a.astype(np.float32), (0, 0), 1.5)  # noqa: E731
    scene = smooth(rng.integers(0, 120, (240, 340)))
    tex = smooth(rng.integers(120, 255, (40, 40)))
    frames, boxes = [], []
    for t in range(2):
        f = scene[:, 2 * t: 2 * t + 320].copy()
        x, y = 100 + object_velocity[0] * t, 100 + object_velocity[1] * t
        f[y:y + 40, x:x + 40] = tex
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
        boxes.append((x, y, x + 40, y + 40))
    return frames, boxes


def test_still_part_is_the_background_the_mask_took():
    (a, b), (obj_a, obj_b) = _panning_clip((6, 2))
    shape = (240, 320)
    patch_a = (obj_a[0] - 30, obj_a[1], obj_a[0], obj_a[3])  # background left of the square
    prev = box_to_mask(obj_a, shape) | box_to_mask(patch_a, shape)
    moved = flow_warp(a, b, prev)
    still = moved.still_part(prev)
    assert still is not None and still.shape == shape and still.dtype == bool
    patch_b = box_to_mask((patch_a[0] - 2, patch_a[1], patch_a[2] - 2, patch_a[3]), shape)
    # the patch, shifted with the background, is found; the square is not
    assert (still & patch_b).sum() > 0.6 * patch_b.sum()
    assert (still & box_to_mask(obj_b, shape)).sum() < 0.05 * 40 * 40
    # a stricter threshold finds less of it, never more
    stricter = moved.still_part(prev, StillConfig(below=0.2))
    assert stricter is None or stricter.sum() <= still.sum()


def test_still_part_is_none_when_the_object_moves_with_the_background():
    # the square is painted on the scene: everything moves with the camera
    (a, b), (obj_a, _) = _panning_clip((-2, 0))
    prev = box_to_mask(obj_a, (240, 320))
    moved = flow_warp(a, b, prev)
    assert moved is not None and moved.still_part(prev) is None


def test_still_part_leaves_small_pieces_alone():
    # a piece of 4 % of the mask that moves with the background (a planted foot) stays
    (a, b), (obj_a, _) = _panning_clip((6, 2))
    piece = (obj_a[0] - 30, obj_a[1] + 14, obj_a[0] - 22, obj_a[1] + 22)
    prev = box_to_mask(obj_a, (240, 320)) | box_to_mask(piece, (240, 320))
    moved = flow_warp(a, b, prev)
    piece_b = box_to_mask((piece[0] - 2, piece[1], piece[2] - 2, piece[3]), (240, 320))
    every = moved.still_part(prev, StillConfig(min_piece=0.0))
    assert (every & piece_b).sum() > 0.9 * piece_b.sum()
    kept = moved.still_part(prev)
    assert kept is None or not kept.any()


def _textured_scene(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A (240, 320, 3) uint8 smooth-noise background and a (30, 30, 3) striped object."""
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8),
                                  (0, 0), 3)
    yy, xx = np.mgrid[0:30, 0:30]
    stripes = (128 + 100 * np.sin(xx / 2.0) * np.cos(yy / 3.0)).astype(np.uint8)
    return background, np.stack([stripes, 255 - stripes, stripes // 2], axis=2)


def _place(background: np.ndarray, patch: np.ndarray, x: int, y: int):
    frame = background.copy()
    frame[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    mask = np.zeros(background.shape[:2], bool)
    mask[y:y + patch.shape[0], x:x + patch.shape[1]] = True
    return frame, mask


def test_match_shift_finds_an_object_that_moved_more_than_its_width():
    from samvideo.motion import match_shift

    background, patch = _textured_scene()
    prev, mask = _place(background, patch, 60, 100)
    now, _ = _place(background, patch, 100, 110)  # 40 px right, 10 down: more than its width
    dx, dy, score, gain = match_shift(prev, now, mask)
    assert (dx, dy) == (pytest.approx(40, abs=1), pytest.approx(10, abs=1))
    assert score > 0.9 and gain > 0.5
    dx, dy, _, gain = match_shift(prev, prev, mask)  # staying put gains nothing
    assert (dx, dy, gain) == (0, 0, 0.0)


def test_flow_follows_a_jump_only_with_the_global_match_first():
    from samvideo.motion import FlowConfig, to_gray

    background, patch = _textured_scene()
    prev, mask = _place(background, patch, 60, 100)
    now, truth = _place(background, patch, 100, 110)
    warp = flow_warp(to_gray(prev), to_gray(now), mask, prev_rgb=prev, rgb=now)
    assert mask_iou(warp.mask, truth) > 0.8
    local = flow_warp(to_gray(prev), to_gray(now), mask, FlowConfig(match_reach=0.0),
                      prev_rgb=prev, rgb=now)
    assert local is None or mask_iou(local.mask, truth) < 0.5


@pytest.mark.parametrize("zoom", [1.0, 1.15])
def test_growth_is_how_much_the_object_spread_out(zoom):
    from samvideo.motion import to_gray

    background, patch = _textured_scene()
    big = cv2.resize(patch, (60, 60), interpolation=cv2.INTER_CUBIC)
    prev, mask = _place(background, big, 120, 80)
    side = int(round(60 * zoom))
    grown = cv2.resize(big, (side, side), interpolation=cv2.INTER_CUBIC)
    off = (side - 60) // 2
    now, truth = _place(background, grown, 120 - off, 80 - off)
    warp = flow_warp(to_gray(prev), to_gray(now), mask)
    assert warp.growth(truth) == pytest.approx(zoom, abs=0.05)
