"""Motion: a constant-velocity Kalman filter over the box (filterpy), and dense optical
flow (OpenCV DIS) to move the previous mask onto the current frame.

The Kalman state is ``[cx, cy, w, h, vcx, vcy, vw, vh]`` in pixels and pixels per
frame; the measurement is the mask's box as ``[cx, cy, w, h]``. Boxes in and out are
XYXY pixels (x2/y2 exclusive). A small interface (``predict`` / ``update`` / ``reset``)
keeps the tracker independent of the filter, as norfair's filter factories do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
from filterpy.kalman import KalmanFilter

from samvideo.masks import Box, resize_mask


def xyxy_to_cxcywh(box: Box) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dtype=float)


def cxcywh_to_xyxy(state: np.ndarray) -> Box:
    cx, cy, w, h = (float(v) for v in state[:4])
    w, h = max(w, 1.0), max(h, 1.0)
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


class MotionModel(Protocol):
    """What the tracker needs from a motion model (:func:`make_motion_model` makes one)."""

    @property
    def box(self) -> Box:
        """The current estimate (XYXY pixels)."""
        ...

    def predict(self) -> Box:
        """Advance one frame; return the predicted box (XYXY pixels)."""
        ...

    def update(self, box: Box) -> Box:
        """Correct the current prediction with a measured box; return the smoothed box."""
        ...

    def reset(self, box: Box) -> None:
        """Restart at a box the user gave (a correction): what was learned is forgotten."""
        ...

    def state_dict(self) -> dict:
        """Everything needed to continue exactly (:func:`motion_from_state_dict`)."""
        ...


@dataclass(frozen=True)
class KalmanConfig:
    """The noise model of :class:`KalmanBoxFilter`, as fractions of the box's size (so a
    small far object and a large near one are smoothed alike)."""

    measurement_std: float = 0.05  # box noise: SAM boxes jitter by a few percent a frame
    velocity_std: float = 0.02  # process noise on velocities, per frame: real objects
    # accelerate, but not every jitter is an acceleration
    size_velocity_damping: float = 0.8  # size changes decay: objects rarely grow or
    # shrink for long, and an undamped size velocity explodes while coasting

    def __post_init__(self) -> None:
        for name in ("measurement_std", "velocity_std"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be positive")
        if not 0.0 <= self.size_velocity_damping <= 1.0:
            raise ValueError(f"size_velocity_damping={self.size_velocity_damping!r} must be "
                             "within [0, 1]")


class KalmanBoxFilter:
    """Constant-velocity Kalman filter over centre and size of a box.

    ``predict()`` once per frame, then ``update(box)`` when the frame gave a trusted
    mask; skip the update (coast) when it did not, and the box keeps moving at the
    last estimated velocity while its uncertainty grows.
    """

    def __init__(self, box: Box, config: KalmanConfig | None = None) -> None:
        self.config = config = config or KalmanConfig()
        self.measurement_std = config.measurement_std
        self.velocity_std = config.velocity_std
        self.size_velocity_damping = config.size_velocity_damping
        kf = KalmanFilter(dim_x=8, dim_z=4)
        kf.F = np.eye(8)
        kf.F[:4, 4:] = np.eye(4)
        kf.F[6, 6] = kf.F[7, 7] = config.size_velocity_damping
        kf.H = np.eye(4, 8)
        z = xyxy_to_cxcywh(box)
        kf.x = np.concatenate([z, np.zeros(4)]).reshape(8, 1)
        scale = max(z[2], z[3])
        kf.P = np.diag([(0.1 * scale) ** 2] * 4 + [(0.2 * scale) ** 2] * 4)
        self._kf = kf
        self._set_noise(scale)

    def _set_noise(self, scale: float) -> None:
        r = (self.measurement_std * scale) ** 2
        q_pos = (0.25 * self.velocity_std * scale) ** 2
        q_vel = (self.velocity_std * scale) ** 2
        self._kf.R = np.eye(4) * r
        self._kf.Q = np.diag([q_pos] * 4 + [q_vel] * 4)

    @property
    def box(self) -> Box:
        """The current estimate (XYXY pixels)."""
        return cxcywh_to_xyxy(self._kf.x[:, 0])

    @property
    def velocity(self) -> tuple[float, float]:
        return float(self._kf.x[4, 0]), float(self._kf.x[5, 0])

    @property
    def uncertainty(self) -> float:
        """Standard deviation of the centre estimate, in pixels."""
        return float(np.sqrt(max(self._kf.P[0, 0], self._kf.P[1, 1])))

    def predict(self) -> Box:
        x = self._kf.x
        if x[2, 0] + x[6, 0] < 1:  # never let the size go through zero
            x[6, 0] = 0.0
        if x[3, 0] + x[7, 0] < 1:
            x[7, 0] = 0.0
        self._kf.predict()
        return self.box

    def update(self, box: Box) -> Box:
        z = xyxy_to_cxcywh(box)
        self._set_noise(max(z[2], z[3]))
        self._kf.update(z.reshape(4, 1))
        return self.box

    def reset(self, box: Box) -> None:
        """Restart at a box given by the user (a correction): velocity forgotten."""
        self.__init__(box, self.config)

    def state_dict(self) -> dict:
        """Everything needed to continue exactly: the filter's float64 arrays ``x`` (8, 1),
        ``P`` / ``F`` / ``Q`` (8, 8), ``H`` (4, 8), ``R`` (4, 4) and the settings."""
        kf = self._kf
        return {"kind": "kalman", "measurement_std": self.measurement_std,
                "velocity_std": self.velocity_std,
                "size_velocity_damping": self.size_velocity_damping,
                **{k: np.array(getattr(kf, k), dtype=np.float64)
                   for k in ("x", "P", "F", "H", "Q", "R")}}

    @classmethod
    def from_state_dict(cls, d: dict) -> KalmanBoxFilter:
        """The inverse of :meth:`state_dict`."""
        kf = cls((0.0, 0.0, 1.0, 1.0), KalmanConfig(
            float(d["measurement_std"]), float(d["velocity_std"]),
            float(d["size_velocity_damping"])))
        for k, shape in (("x", (8, 1)), ("P", (8, 8)), ("F", (8, 8)), ("H", (4, 8)),
                         ("Q", (8, 8)), ("R", (4, 4))):
            value = np.array(d[k], dtype=np.float64)
            if value.shape != shape:
                raise ValueError(f"Kalman state {k!r} has shape {value.shape}, expected {shape}")
            setattr(kf._kf, k, value)
        return kf


class StaticBox:
    """No motion model (``--no-motion``): the prediction is the last measured box."""

    def __init__(self, box: Box) -> None:
        self.box: Box = tuple(float(v) for v in box)  # type: ignore[assignment]

    velocity = (0.0, 0.0)
    uncertainty = 0.0

    def predict(self) -> Box:
        return self.box

    def update(self, box: Box) -> Box:
        self.box = tuple(float(v) for v in box)  # type: ignore[assignment]
        return self.box

    def reset(self, box: Box) -> None:
        self.update(box)

    def state_dict(self) -> dict:
        return {"kind": "none", "box": [float(v) for v in self.box]}

    @classmethod
    def from_state_dict(cls, d: dict) -> StaticBox:
        return cls(tuple(d["box"]))


def make_motion_model(kind: str, box: Box, kalman: KalmanConfig | None = None) -> MotionModel:
    """Motion model factory: ``"kalman"`` (default, with ``kalman``'s noise) or ``"none"``."""
    if kind == "kalman":
        return KalmanBoxFilter(box, kalman)
    if kind == "none":
        return StaticBox(box)
    raise ValueError(f"unknown motion model {kind!r}: choose 'kalman' or 'none'")


def motion_from_state_dict(d: dict) -> MotionModel:
    """Rebuild a motion model from its ``state_dict()``."""
    kind = d.get("kind")
    if kind == "kalman":
        return KalmanBoxFilter.from_state_dict(d)
    if kind == "none":
        return StaticBox.from_state_dict(d)
    raise ValueError(f"unknown motion model kind {kind!r} in a saved state")


# -- optical flow -----------------------------------------------------------------------


@dataclass(frozen=True)
class FlowConfig:
    """How :func:`flow_warp` computes the optical flow that moves the previous mask."""

    margin: float = 1.0  # flow runs on the mask's box grown by this fraction of its size
    # on each side: room for the motion plus context for the flow
    max_side: int = 320  # the crop is downscaled to this longest side: where the
    # segmenter reads the moved mask's pixels (GrabCut), flow errors add up frame after
    # frame, so fewer pixels cost accuracy
    box_max_side: int = 240  # the same for a segmenter that reads only the prompt box
    # made from it (SAM's families, ``reads_prior_mask`` False): an ideal segmenter
    # (tools/oracle.py) scores the same with these fewer pixels
    refine: bool = True  # DIS's variational refinement: flow edges that follow the
    # object's, which a segmenter reading the moved mask's pixels needs (GrabCut)...
    box_refine: bool = False  # ...and one that reads only its box does not: without it
    # DIS takes half the time and the ideal segmenter scores the same
    min_texture: float = 2.0  # below this standard deviation of the crop's luma (grey
    # levels) the flow is meaningless (zero on a flat image)
    match_reach: float = 1.5  # before the flow, the object is looked for by its looks
    # (:func:`match_shift`) this many times its size around where it was, and the flow
    # follows only what is left: fast objects move further than flow follows. 0 = off
    match_above: float = 0.7  # ...where it matches this well (correlation)...
    match_gain: float = 0.2  # ...and better than where it was by this much (an occluder
    # in front changes the object's looks a little everywhere)

    def __post_init__(self) -> None:
        if (not self.match_reach >= 0 or not -1.0 <= self.match_above <= 1.0
                or not 0.0 <= self.match_gain <= 2.0):
            raise ValueError(f"match_reach={self.match_reach!r}, match_above="
                             f"{self.match_above!r}, match_gain={self.match_gain!r}: need "
                             "match_reach >= 0, match_above within [-1, 1], match_gain "
                             "within [0, 2]")
        if (not self.margin >= 0 or min(self.max_side, self.box_max_side) < _DIS_MIN_SIDE
                or not self.min_texture >= 0):
            raise ValueError(f"margin={self.margin!r}, max_side={self.max_side!r}, "
                             f"box_max_side={self.box_max_side!r}, min_texture="
                             f"{self.min_texture!r}: need margin >= 0, max_side and "
                             f"box_max_side >= {_DIS_MIN_SIDE}, min_texture >= 0")


@dataclass(frozen=True)
class StillConfig:
    """When prior pixels count as background the mask took along
    (:meth:`FlowWarp.still_part`): they move with the background while the object moves."""

    below: float = 0.5  # frame pixels: a pixel whose flow is this close to the
    # background's moves with it (DIS is accurate to a fraction of a pixel on texture)
    min_motion: float = 2.0  # frame pixels: ...but only while a quarter of the mask moves
    # at least this much against the background (an object that stands still moves
    # with the background all over, and none of it is stuck)
    max_fraction: float = 0.5  # ...and at most this fraction of the mask is still: the
    # still part must be the lesser one
    min_piece: float = 0.05  # still pieces smaller than this fraction of the mask are
    # kept: a walker's planted foot moves with the ground for a few frames

    def __post_init__(self) -> None:
        for name in ("below", "min_motion"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be at least 0")
        for name in ("max_fraction", "min_piece"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be within [0, 1]")


@dataclass
class FlowWarp:
    """A mask carried from the previous frame to the current one by optical flow.

    Attributes:
        mask: (H, W) bool, the previous mask moved pixel by pixel along the flow.
        back: (h, w, 2) float32 backward flow of the crop (crop pixels: for each pixel of
            the current crop, where it was in the previous one).
        region: (x0, y0, x1, y1) int, the crop in frame pixels.
        scale: crop pixels per frame pixel.
    """

    mask: np.ndarray
    back: np.ndarray
    region: tuple[int, int, int, int]
    scale: float
    #: the last mask taken to the crop and its crop: the tracker asks about the moved
    #: prior twice (its displacement, its growth)
    _last_crop: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False,
                                                             compare=False)

    def _crop(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` (H, W) bool of this frame, resized to the crop's pixels."""
        if self._last_crop is not None and self._last_crop[0] is mask:
            return self._last_crop[1]
        h, w = self.back.shape[:2]
        sub = _to_crop(mask, self.region, (w, h))
        self._last_crop = (mask, sub)
        return sub

    def displacement(self, mask: np.ndarray) -> tuple[float, float] | None:
        """Median displacement (dx, dy) in frame pixels, previous frame to this one, of
        the pixels of a (H, W) bool mask of *this* frame (e.g. the object's visible part:
        robust to the part that went behind something); None if none lies in the crop."""
        sub = self._crop(mask)
        if not sub.any():
            return None
        dx, dy = -np.median(self.back[sub], axis=0) / self.scale
        return float(dx), float(dy)

    def growth(self, mask: np.ndarray, *, limit: float = 1.25) -> float | None:
        """How much the pixels of a (H, W) bool mask of *this* frame spread out between
        the previous frame and this one: the median ratio of their distances to their
        centroid now and then (1 = the same size; > 1 growing, a zoom or an object
        coming closer), clipped to [1 / ``limit``, ``limit``]; None with too few pixels
        in the crop (pixels near the frame's edge, where the flow drifts, are left
        out). Robust to a part that went behind something: the visible part's pixels
        keep their spacing."""
        ys, xs = np.nonzero(self._crop(mask))
        x0, y0, _, _ = self.region
        fh, fw = self.mask.shape
        fx, fy = x0 + xs / self.scale, y0 + ys / self.scale  # frame pixels
        inner = ((fx >= _EDGE_PX) & (fx < fw - _EDGE_PX) & (fy >= _EDGE_PX)
                 & (fy < fh - _EDGE_PX))  # the flow drifts at the frame's edge
        xs, ys = xs[inner], ys[inner]
        if len(xs) < _MIN_BACKGROUND_POINTS:
            return None
        pick = np.linspace(0, len(xs) - 1, min(_SCALE_POINTS, len(xs))).astype(int)
        now = np.stack([xs[pick], ys[pick]], 1).astype(np.float32)
        then = now + self.back[ys[pick], xs[pick]]
        d_now = np.linalg.norm(now - now.mean(axis=0), axis=1)
        d_then = np.linalg.norm(then - then.mean(axis=0), axis=1)
        far = d_then > 0.25 * float(np.median(d_then)) + 1e-6  # near the centre: noise
        if far.sum() < _MIN_BACKGROUND_POINTS:
            return None
        ratio = float(np.median(d_now[far] / d_then[far]))
        return min(max(ratio, 1.0 / limit), limit)

    def still_part(self, prev_mask: np.ndarray,
                   config: StillConfig | None = None) -> np.ndarray | None:
        """The part of the moved mask that moves with the background: (H, W) bool, or
        None when there is none to tell apart (too little background, the object not
        moving against it, or most of the mask still).

        The background's motion is a homography fitted by RANSAC to the flow of the
        crop's pixels away from the mask (``prev_mask``, the (H, W) bool mask this
        flow moved, and the moved mask, both grown by 4 crop pixels). A tracked object
        moves against its background; a piece of the background that the mask took
        (a wall behind the first box, a fence of the object's colour) moves with it,
        frame after frame. Thresholds: :class:`StillConfig`.
        """
        config = config or StillConfig()
        x0, y0, x1, y1 = self.region
        h, w = self.back.shape[:2]
        moved = _to_crop(self.mask, self.region, (w, h))
        around = cv2.dilate((moved | _to_crop(prev_mask, self.region, (w, h))).view(np.uint8),
                            np.ones((9, 9), np.uint8)) == 0
        ys, xs = np.nonzero(around)
        if len(xs) < _MIN_BACKGROUND_POINTS or moved.sum() < _MIN_BACKGROUND_POINTS:
            return None
        pick = np.linspace(0, len(xs) - 1, min(_BACKGROUND_POINTS, len(xs))).astype(int)
        here = np.stack([xs[pick], ys[pick]], 1).astype(np.float32)
        there = here + self.back[ys[pick], xs[pick]]
        homography, _ = cv2.findHomography(here, there, cv2.RANSAC, 1.0)
        if homography is None:
            return None
        ys, xs = np.nonzero(moved)
        here = np.stack([xs, ys], 1).astype(np.float32)
        expected = cv2.perspectiveTransform(here[:, None], homography)[:, 0]
        residual = np.linalg.norm(here + self.back[ys, xs] - expected, axis=1) / self.scale
        if np.percentile(residual, 75) < config.min_motion:
            return None
        slow = residual < config.below
        if slow.sum() > config.max_fraction * len(slow):
            return None
        still = np.zeros((h, w), np.uint8)
        still[ys[slow], xs[slow]] = 1
        still = cv2.morphologyEx(still, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        _, labels, stats, _ = cv2.connectedComponentsWithStats(still, connectivity=8)
        big = np.r_[False, stats[1:, cv2.CC_STAT_AREA] >= config.min_piece * len(slow)]
        out = np.zeros(self.mask.shape, bool)
        out[y0:y1, x0:x1] = resize_mask(big[labels], (x1 - x0, y1 - y0))
        return out


#: background points the homography of :meth:`FlowWarp.still_part` is fitted to, and
#: the fewest (of them, and of the mask's pixels) it needs
_BACKGROUND_POINTS = 800
_MIN_BACKGROUND_POINTS = 50
_SCALE_POINTS = 800  # object pixels :meth:`FlowWarp.growth` samples...
_EDGE_PX = 16  # ...this far from the frame's edge at least


def _to_crop(mask: np.ndarray, region: tuple[int, int, int, int], size) -> np.ndarray:
    """The (H, W) bool mask's ``region`` (x0, y0, x1, y1) resized to ``size`` (w, h)."""
    x0, y0, x1, y1 = region
    return resize_mask(mask[y0:y1, x0:x1], size)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """(H, W) uint8 luma of an (H, W, 3) uint8 RGB frame."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def match_shift(prev: np.ndarray, image: np.ndarray, mask: np.ndarray, *,
                reach: float = 1.5, max_side: int = 48
                ) -> tuple[int, int, float, float] | None:
    """Where the object went: the displacement (dx, dy) in whole frame pixels, previous
    frame to this one, at which its pixels (the (H, W) bool ``mask`` of ``prev``) best
    match ``image`` (mean-subtracted normalised correlation; ``prev`` and ``image`` are
    (H, W, 3) uint8 RGB, or luma), looked for within its box grown by ``reach`` times
    its size on every side, at most ``max_side`` pixels across the object; the
    correlation there, and how much better it is than staying put (near 0 for an
    object that moved a few pixels, which optical flow follows by itself). The global
    step before the dense flow. None for an empty or flat object."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    h, w = image.shape[:2]
    x0, x1, y0, y1 = int(xs[0]), int(xs[-1]) + 1, int(ys[0]), int(ys[-1]) + 1
    scale = min(1.0, max_side / max(x1 - x0, y1 - y0))
    px, py = int(reach * (x1 - x0)) + 2, int(reach * (y1 - y0)) + 2
    sx0, sx1, sy0, sy1 = max(x0 - px, 0), min(x1 + px, w), max(y0 - py, 0), min(y1 + py, h)
    size = (max(int(round((x1 - x0) * scale)), 2), max(int(round((y1 - y0) * scale)), 2))
    template = _shrink(prev[y0:y1, x0:x1], size)
    weight = cv2.resize(mask[y0:y1, x0:x1].astype(np.uint8), size,
                        interpolation=cv2.INTER_NEAREST)
    window = _shrink(image[sy0:sy1, sx0:sx1], (max(int(round((sx1 - sx0) * scale)), 1),
                                                max(int(round((sy1 - sy0) * scale)), 1)))
    if (window.shape[0] < size[1] or window.shape[1] < size[0] or weight.sum() < 4
            or float(template[weight > 0].std()) < 2.0):
        return None
    if template.ndim == 3:
        weight = np.repeat(weight[..., None], template.shape[2], axis=2)
    score = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED, mask=weight)
    score = np.nan_to_num(score, nan=-1.0, posinf=-1.0, neginf=-1.0)
    j, i = np.unravel_index(int(np.argmax(score)), score.shape)
    zj = min(max(int(round((y0 - sy0) * scale)), 0), score.shape[0] - 1)
    zi = min(max(int(round((x0 - sx0) * scale)), 0), score.shape[1] - 1)
    dx = int(round(sx0 + i / scale - x0))
    dy = int(round(sy0 + j / scale - y0))
    return dx, dy, float(score[j, i]), float(score[j, i] - score[zj, zi])


def flow_warp(prev_gray: np.ndarray, gray: np.ndarray, mask: np.ndarray,
              config: FlowConfig | None = None, shift: tuple[int, int] | None = None, *,
              prev_rgb: np.ndarray | None = None,
              rgb: np.ndarray | None = None) -> FlowWarp | None:
    """Move a (H, W) bool ``mask`` of ``prev_gray`` onto ``gray`` (both (H, W) uint8) with
    DIS optical flow computed on a downscaled crop around the mask (:class:`FlowConfig`).

    ``shift`` (dx, dy) whole frame pixels is where the object went as far as a global
    step knows (given, or found by :func:`match_shift` in the frames ``prev_rgb`` and
    ``rgb``, (H, W, 3) uint8 RGB or (H, W) luma, when both are given,
    ``config.match_reach``): the flow is computed between the object's crop of the
    previous frame and the crop shifted by it on this one, so that it only has to follow
    what is left (optical flow follows a few pixels, not an object's width). Returns
    None for an empty mask or a crop without texture. Backward flow (current → previous)
    is used, so every pixel of the result samples the previous mask once: no holes, no
    double cover.
    """
    config = config or FlowConfig()
    if prev_gray.shape != gray.shape or mask.shape != gray.shape:
        raise ValueError(f"flow_warp: shapes differ: {prev_gray.shape}, {gray.shape}, "
                         f"{mask.shape}")
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    if shift is None and config.match_reach > 0 and prev_rgb is not None and rgb is not None:
        found = match_shift(prev_rgb, rgb, mask, reach=config.match_reach)
        if (found is not None and found[2] >= config.match_above
                and found[3] >= config.match_gain):
            shift = found[:2]
    h, w = gray.shape
    bw, bh = xs[-1] + 1 - xs[0], ys[-1] + 1 - ys[0]
    pad_x, pad_y = int(config.margin * bw) + 4, int(config.margin * bh) + 4
    if min(w, h) < _DIS_MIN_SIDE:
        return None
    if shift is not None and shift != (0, 0):
        return _shifted_warp(prev_gray, gray, mask, config, shift,
                             (xs[0] - pad_x, ys[0] - pad_y, xs[-1] + 1 + pad_x,
                              ys[-1] + 1 + pad_y))
    x0, y0, x1, y1 = _crop_region((xs[0] - pad_x, ys[0] - pad_y, xs[-1] + 1 + pad_x,
                                   ys[-1] + 1 + pad_y), (h, w), config.max_side)
    return _warp_crop(prev_gray[y0:y1, x0:x1], gray[y0:y1, x0:x1],
                      mask[y0:y1, x0:x1].astype(np.float32), (x0, y0, x1, y1), config, (h, w))


def _shifted_warp(prev_gray: np.ndarray, gray: np.ndarray, mask: np.ndarray,
                  config: FlowConfig, shift: tuple[int, int],
                  around: tuple[int, int, int, int]) -> FlowWarp | None:
    """:func:`flow_warp` between the previous frame's crop ``around`` (x0, y0, x1, y1,
    the mask's box with the margin) and this frame's crop there moved by ``shift``."""
    h, w = gray.shape
    sx, sy = shift
    x0, y0, x1, y1 = _crop_region((around[0] + sx, around[1] + sy, around[2] + sx,
                                   around[3] + sy), (h, w), config.max_side)
    then = (x0 - sx, y0 - sy, x1 - sx, y1 - sy)  # the same crop, where the object was
    warp = _warp_crop(_padded_crop(prev_gray, then), gray[y0:y1, x0:x1],
                      _padded_crop(mask.astype(np.float32), then), (x0, y0, x1, y1), config,
                      (h, w))
    if warp is None:
        return None
    # in this crop's own pixels, as FlowWarp keeps it: where each pixel was
    warp.back[..., 0] -= sx * warp.back.shape[1] / (x1 - x0)
    warp.back[..., 1] -= sy * warp.back.shape[0] / (y1 - y0)
    return warp


def _warp_crop(then: np.ndarray, now: np.ndarray, then_mask: np.ndarray,
               region: tuple[int, int, int, int], config: FlowConfig,
               shape: tuple[int, int]) -> FlowWarp | None:
    """The mask moved by DIS flow between two same-sized crops: ``now`` (uint8 luma of
    this frame's ``region``, x0, y0, x1, y1) and ``then`` (the previous frame's, with
    ``then_mask``, float32, on it); the result is an (H, W) = ``shape`` bool mask."""
    x0, y0, x1, y1 = region
    scale = _crop_scale(x1 - x0, y1 - y0, config.max_side)
    size = (max(int(round((x1 - x0) * scale)), _DIS_MIN_SIDE),
            max(int(round((y1 - y0) * scale)), _DIS_MIN_SIDE))
    a, b = _shrink(then, size), _shrink(now, size)
    if float(b.std()) < config.min_texture or float(a.std()) < config.min_texture:
        return None
    m = _shrink(then_mask, size)
    back = _dis(refine=config.refine).calc(b, a, None)  # for each pixel of b, where it was in a
    gx, gy = np.meshgrid(np.arange(size[0], dtype=np.float32),
                         np.arange(size[1], dtype=np.float32))
    moved = cv2.remap(m, gx + back[..., 0], gy + back[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    up = cv2.resize(moved, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    out = np.zeros(shape, bool)
    out[y0:y1, x0:x1] = up > 0.5
    return FlowWarp(out, back, region, scale)


def _shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (H, W) or (H, W, C) resized to ``size`` (w, h) by area averaging: halved
    first while both sides are even and at least twice the size's, since OpenCV's area
    resize is many times faster at exactly half than at any other ratio (each halving
    averages whole pixel pairs, so the result covers the same area as one resize)."""
    w, h = size
    while (image.shape[1] >= 2 * w and image.shape[0] >= 2 * h
           and image.shape[1] % 2 == 0 and image.shape[0] % 2 == 0):
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2),
                           interpolation=cv2.INTER_AREA)
    if image.shape[1] == w and image.shape[0] == h:
        return np.ascontiguousarray(image)  # a crop is a view; the flow needs whole rows
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _padded_crop(image: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` of a region that may reach past the image: outside
    pixels repeat the edge (an image) or are 0 (a mask)."""
    x0, y0, x1, y1 = region
    h, w = image.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx1 <= cx0 or cy1 <= cy0:
        return np.zeros((y1 - y0, x1 - x0), image.dtype)
    crop = image[cy0:cy1, cx0:cx1]
    border = cv2.BORDER_CONSTANT if image.dtype == np.float32 else cv2.BORDER_REPLICATE
    return cv2.copyMakeBorder(crop, cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1, border, value=0)


#: OpenCV's DIS flow crashes (segfault, OpenCV 4.x-5.0) on images with a side under 32
#: pixels and a longer other side; crops are kept at least this large on both sides.
_DIS_MIN_SIDE = 32


def _crop_scale(w: int, h: int, max_side: int) -> float:
    """Crop pixels per frame pixel of a w x h crop that the flow downscales to
    ``max_side``."""
    scale = min(1.0, max_side / max(w, h))
    return max(scale, _DIS_MIN_SIDE / min(w, h))  # a thin crop is upsampled


def _crop_region(region: tuple[int, int, int, int], shape: tuple[int, int],
                 max_side: int) -> tuple[int, int, int, int]:
    """``region`` (x0, y0, x1, y1) within a frame of ``shape`` (H, W): at least
    :data:`_DIS_MIN_SIDE` pixels a side, and each side grown (within the frame) to a
    whole multiple of 2 ** k, k the halvings its downscale takes, so that every halving
    takes :func:`_shrink`'s fast path."""
    h, w = shape
    x0, x1 = _at_least(max(region[0], 0), min(region[2], w), _DIS_MIN_SIDE, w)
    y0, y1 = _at_least(max(region[1], 0), min(region[3], h), _DIS_MIN_SIDE, h)
    scale = _crop_scale(x1 - x0, y1 - y0, max_side)
    unit = 2 ** int(np.floor(np.log2(1.0 / scale))) if scale < 0.5 else 1
    x0, x1 = _at_least(x0, x1, min(-(-(x1 - x0) // unit) * unit, w), w)
    y0, y1 = _at_least(y0, y1, min(-(-(y1 - y0) // unit) * unit, h), h)
    return x0, y0, x1, y1


def _at_least(lo: int, hi: int, size: int, limit: int) -> tuple[int, int]:
    """Grow the span [lo, hi) about its centre to ``size`` pixels within [0, limit)."""
    if hi - lo >= size:
        return lo, hi
    lo = max(min((lo + hi - size) // 2, limit - size), 0)
    return lo, lo + size


#: DIS's finest pyramid level (0 = full crop resolution). The FAST preset stops at 2
#: (a quarter), which smooths a small object's motion into its still surroundings and
#: underestimates it by a third; 1 measures it within ~5 % for ~1 ms on a 160-px crop.
_DIS_FINEST_SCALE = 1


def _dis(*, refine: bool) -> cv2.DISOpticalFlow:
    # a new instance per call: cheap, thread-safe and free of state from earlier calls
    # (the same frames always give the same flow, which --resume relies on)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    dis.setFinestScale(_DIS_FINEST_SCALE)
    if not refine:
        dis.setVariationalRefinementIterations(0)
    return dis
