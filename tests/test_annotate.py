"""The overlay's look: styles, opacity, and labels that read on every object colour."""

from __future__ import annotations

import numpy as np
import pytest

from samvideo.annotate import OVERLAY_STYLES, MaskAnnotator, object_colour, text_colour
from samvideo.masks import box_to_mask
from samvideo.results import FrameResult, ObjectResult

H, W = 120, 160
BOX = (40.0, 50.0, 90.0, 100.0)


def frame(state: str = "tracking") -> tuple[np.ndarray, FrameResult]:
    rgb = np.full((H, W, 3), 90, np.uint8)
    mask = box_to_mask(BOX, (H, W)) if state != "lost" else np.zeros((H, W), bool)
    obj = ObjectResult(0, 0.0, 1, mask, BOX, 0.87, state)
    return rgb, FrameResult(0, 0.0, [obj], rgb)


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a != b).any(axis=2)


@pytest.mark.parametrize("style", OVERLAY_STYLES)
def test_each_style_draws_what_it_says(style):
    rgb, result = frame()
    out = MaskAnnotator(style=style).annotate(rgb, result)
    assert out.shape == rgb.shape and out.dtype == np.uint8 and (rgb == 90).all()  # a copy
    diff = changed(out, rgb)
    inside = diff[60:90, 50:80].mean()  # the mask's interior, away from lines and label
    assert (inside > 0.9) == (style in ("fill", "all"))
    label = diff[30:48, 40:90].any()  # the "#1 0.87" tag above the box
    assert label  # every style labels the object
    edge = diff[55:95, 38:40].mean()  # just left of the mask: contour or box line
    assert (edge > 0.5) == (style != "fill")


def test_opacity_sets_the_tint_strength():
    rgb, result = frame()
    none = MaskAnnotator(style="fill", opacity=0.0).annotate(rgb, result)
    full = MaskAnnotator(style="fill", opacity=1.0).annotate(rgb, result)
    assert (none[70, 60] == 90).all()
    assert tuple(full[70, 60]) == object_colour(1)


def test_a_lost_object_gets_a_dashed_box_and_says_lost():
    rgb, result = frame("lost")
    out = MaskAnnotator(style="fill").annotate(rgb, result)
    top = changed(out, rgb)[50, 40:90]
    assert 0.2 < top.mean() < 0.9  # dashed
    assert changed(out, rgb)[30:48, 40:120].any()


@pytest.mark.parametrize("object_id", range(1, 21))
def test_label_text_contrasts_with_its_tag(object_id):
    def luminance(c):
        lin = [(v / 255) / 12.92 if v / 255 <= 0.03928 else ((v / 255 + 0.055) / 1.055) ** 2.4
               for v in c]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    bg = object_colour(object_id)
    fg = text_colour(bg)
    light, dark = sorted((luminance(bg), luminance(fg)), reverse=True)
    assert (light + 0.05) / (dark + 0.05) >= 3.0  # WCAG contrast for large text


def test_bad_style_and_opacity_are_named():
    with pytest.raises(ValueError, match="'glow'"):
        MaskAnnotator(style="glow")
    with pytest.raises(ValueError, match="1.5"):
        MaskAnnotator(opacity=1.5)


def two_objects(h: int = H, w: int = W) -> tuple[np.ndarray, list[ObjectResult]]:
    """Object 1 with its label above it, and object 2 whose mask lies over that label."""
    rgb = np.full((h, w, 3), 90, np.uint8)
    box1 = (40.0, 50.0, 90.0, 100.0)
    box2 = (30.0, 20.0, 120.0, 52.0)  # covers the strip above object 1: its label's place
    return rgb, [ObjectResult(0, 0.0, 1, box_to_mask(box1, (h, w)), box1, 0.87, "tracking"),
                 ObjectResult(0, 0.0, 2, box_to_mask(box2, (h, w)), box2, 0.91, "predicted")]


@pytest.mark.parametrize("style", ["fill", "all"])
def test_labels_are_drawn_over_every_other_object(style):
    """Issue 15 item 5: object 2's tint and lines used to be drawn over object 1's label."""
    rgb, (one, two) = two_objects()
    plain = MaskAnnotator(style=style, labels=False)
    labelled = MaskAnnotator(style=style)
    alone = labelled.annotate(rgb, FrameResult(0, 0.0, [one], rgb))
    label = changed(alone, plain.annotate(rgb, FrameResult(0, 0.0, [one], rgb)))
    label[50:, :] = False  # object 1's tag only: it sits above its box
    assert label.sum() > 50
    both = labelled.annotate(rgb, FrameResult(0, 0.0, [one, two], rgb))
    assert (both[label] == alone[label]).all()


def label_box(h: int, w: int) -> tuple[int, int]:
    """(height, width) in pixels of the tag of an object in the middle of an h x w frame."""
    rgb = np.full((h, w, 3), 90, np.uint8)
    box = (w * 0.4, h * 0.4, w * 0.6, h * 0.6)
    result = FrameResult(0, 0.0, [ObjectResult(0, 0.0, 1, box_to_mask(box, (h, w)), box, 0.97,
                                               "tracking")], rgb)
    diff = changed(MaskAnnotator(style="box").annotate(rgb, result),
                   MaskAnnotator(style="box", labels=False).annotate(rgb, result))
    rows, cols = np.nonzero(diff)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_labels_are_sized_to_the_frame():
    """Issue 15 item 5: on a 176x144 phone clip the label covered a third of the width
    (the face under it); it scales with the frame and stays legible."""
    small_h, small_w = label_box(144, 176)
    big_h, big_w = label_box(720, 1280)
    assert 8 <= small_h <= 12 and small_w <= 0.2 * 176, (small_h, small_w)
    assert 20 <= big_h <= 32, (big_h, big_w)
    assert small_h / 144 < 0.09 and big_h / 720 < 0.045


@pytest.mark.parametrize("opacity", [0.45, 0.3, 0.0, 1.0])
def test_the_tint_is_the_pixel_by_pixel_blend(opacity):
    """The tint (a lookup table, on the mask's box) gives every pixel exactly what the
    blend ``pixel * (1 - opacity) + colour * opacity``, truncated, gives it."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    mask = rng.random((H, W)) > 0.6
    mask[0, :] = mask[:, -1] = True  # on the frame's edge too
    result = FrameResult(0, 0.0, [ObjectResult(0, 0.0, 2, mask, (0.0, 0.0, W, H), 0.9,
                                                "tracking")], rgb)
    out = MaskAnnotator(style="fill", opacity=opacity, labels=False).annotate(rgb, result)
    tint = np.array(object_colour(2), np.float32)
    want = rgb.copy()
    want[mask] = (rgb[mask] * (1 - opacity) + tint * opacity).astype(np.uint8)
    assert np.array_equal(out, want)


def test_contours_found_on_the_mask_box_are_the_whole_frame_ones():
    import cv2

    rng = np.random.default_rng(4)
    rgb = np.full((H, W, 3), 90, np.uint8)
    mask = np.zeros((H, W), bool)
    mask[10:60, 20:70] = rng.random((50, 50)) > 0.3  # ragged, several pieces
    mask[H - 5 :, :30] = True  # one on the frame's edge
    result = FrameResult(0, 0.0, [ObjectResult(0, 0.0, 1, mask, (0.0, 10.0, 70.0, H), 0.9,
                                                "tracking")], rgb)
    out = MaskAnnotator(style="contour", labels=False).annotate(rgb, result)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    want = rgb.copy()
    cv2.drawContours(want, contours, -1, object_colour(1), 2, cv2.LINE_AA)
    assert np.array_equal(out, want)
