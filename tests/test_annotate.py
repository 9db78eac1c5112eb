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
