"""GrabCut's settings (:class:`GrabCutConfig`) and its "embedding" (the frame itself)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: ``colour`` choices: "first+core" (see the module's docstring), "first" (the first
#: frame's foreground model, frozen), "frame" (both models re-learned on every frame),
#: "first+frame" (re-learned from this frame's seeds plus the first frame's object
#: pixels). "first+core" scores best on DAVIS.
COLOUR_MODES = ("first+core", "first", "frame", "first+frame")
MIN_MODEL_PIXELS = 64  # fewer pixels than this do not fit a 5-component GMM well


@dataclass
class GrabCutEmbedding:
    """GrabCut's "embedding" is the frame itself: (H, W, 3) uint8 RGB."""

    rgb: np.ndarray


@dataclass(frozen=True)
class GrabCutConfig:
    """Every setting of the GrabCut backend, with the reason for its default (the
    ablation figures are in ``docs/tracking.md``, written by ``tools/eval_davis.py``)."""

    max_side: int = 320  # tracked frames' crop is downscaled to this longest side:
    # GrabCut costs ~1.3 us per pixel per round, and more pixels gain little
    first_max_side: int = 320  # the object's first cut seeds every later frame: it may
    # spend more pixels and rounds (once per object)
    iterations: int = 1  # graph-cut rounds on tracked frames when the models are
    # re-learned ("frame", "first+frame"): a second round costs 40 % and scores lower
    first_iterations: int = 4  # rounds of the first cut (rectangle mode)
    margin: float = 0.1  # rectangle mode: the box grown by this fraction is the crop, its
    # outside sure background (a user's box is nearly tight)
    band: float = 0.03  # prior mode: prior pixels deeper than this fraction of the prior
    # box's mean side are sure foreground...
    reach: float = 0.03  # ...and pixels further out than this fraction sure background:
    # flow puts the prior within a few pixels, and a wider band lets the cut leak
    doubt_below: float = 0.2  # prior mode, frozen colours: sure-foreground seeds whose
    # colour posterior is under this are left to the cut (flow drags a prior onto an
    # occluder's edge)
    min_reach_px: float = 6.0  # ...but the band is at least this many frame pixels wide
    # outside: room for the flow's error on small objects
    regrow: float = 0.1  # prior mode: beyond the band, object-coloured sure background
    # within this fraction of the prior's side is left to the cut, so a part the mask
    # lost comes back when it is next to the mask (0 = off)
    regrow_above: float = 0.85  # ...where the colour posterior is at least this: colours
    # the models are unsure of stay out of reach
    regrow_in_box: bool = True  # ...and anywhere inside the request's box (the object's
    # extent): a part lost behind an occluder comes back where it shows again
    point_radius: float = 0.03  # a click's seed disc radius, as a fraction of the box's
    # longer side
    colour: str = "first+core"  # the colour models of later frames (COLOUR_MODES)
    colour_sample: int = 1024  # first-frame object pixels kept: a 5-component GMM needs
    # no more
    core_sample: int = 2048  # "first+core": this frame's prior-core pixels fitted with
    # them: the object as it looks now weighs twice the first frame
    min_box_fit: float = 0.5  # first frame: a mask whose box overlaps the user's box less
    # than this (IoU) missed the object: it is cut again...
    retry_margin: float = 1.0  # ...with this margin (more background to learn from)
    tight_box: float = 0.05  # first frame: the user's box is tight, so rows and columns
    # the cut left empty get their most object-like pixel pinned and the cut runs again
    # (Lempitsky et al. 2009); lines within this fraction of the box's side from its
    # edges are exempt (a box drawn a little loose). -1 = off
    pin_rounds: int = 5  # ...at most this many pin-and-cut rounds (a cut with re-learned
    # models can empty other lines)
    pin_min_cover: float = 0.5  # ...only when the plain cut already crosses this fraction
    # of the lines: a cut that missed the object would pin the background
    edge_radius: float = 2.0  # the upsampled mask is snapped to the frame's edges by a
    # guided filter of this radius in crop pixels (0 = plain bilinear)
    edge_eps: float = 0.01  # the guided filter's regulariser: luma edges (0..1) with
    # contrast well above its square root steer the boundary
    extent_scales: tuple[float, ...] = (0.1, 0.2, 0.35, 0.55, 0.8)  # clicks without a box:
    # squares this share of the frame's shorter side are cut in turn, to find one that
    # holds the object (one click on DAVIS 2016's first frames: J 0.47, its box 0.77)
    extent_max_side: int = 160  # ...each cut on a crop this small: they only find the box
    extent_margin: float = 1.0  # ...with this much background around the square: it is
    # loose by design, and the background model must explain what is in it
    extent_edge: float = 0.03  # ...a cut within this share of the square's side of its
    # edge (where the frame does not end) overflows the square...
    extent_min_fill: float = 0.04  # ...and one under this share of its area is only the
    # clicks (the square lies inside the object): both mean a larger square

    def __post_init__(self) -> None:
        if self.max_side < 16 or self.first_max_side < 16:
            raise ValueError(f"max_side={self.max_side}, first_max_side="
                             f"{self.first_max_side}: use at least 16 pixels")
        if self.colour not in COLOUR_MODES:
            raise ValueError(f"colour={self.colour!r}: choose one of {', '.join(COLOUR_MODES)}")
        if self.iterations < 1 or self.first_iterations < 1:
            raise ValueError(f"iterations={self.iterations}, first_iterations="
                             f"{self.first_iterations}: need at least 1")
        if self.colour_sample < MIN_MODEL_PIXELS or self.core_sample < 0:
            raise ValueError(f"colour_sample={self.colour_sample}, core_sample="
                             f"{self.core_sample}: need at least {MIN_MODEL_PIXELS} and 0 "
                             "pixels")
        for name in ("doubt_below", "regrow_above", "pin_min_cover"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be within [0, 1]")
        for name in ("margin", "band", "reach", "retry_margin", "regrow"):
            if not 0.0 <= getattr(self, name) <= 2.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be within [0, 2]")
        if not self.extent_scales or not all(0 < v <= 1 for v in self.extent_scales) \
                or self.extent_max_side < 16 or not 0 <= self.extent_edge < 0.5:
            raise ValueError(f"extent_scales={self.extent_scales!r}, extent_max_side="
                             f"{self.extent_max_side!r}, extent_edge={self.extent_edge!r}: use "
                             "shares in (0, 1], at least 16 pixels and an edge in [0, 0.5)")
        if not (self.tight_box == -1 or 0.0 <= self.tight_box < 0.5) or self.pin_rounds < 0:
            raise ValueError(f"tight_box={self.tight_box!r}, pin_rounds={self.pin_rounds!r}: "
                             "use tight_box in [0, 0.5) (-1 = off) and pin_rounds >= 0")
