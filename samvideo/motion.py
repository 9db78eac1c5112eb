"""Motion: a constant-velocity Kalman filter over the box (filterpy), and dense optical
flow (OpenCV DIS) to move the previous mask onto the current frame.

The Kalman state is ``[cx, cy, w, h, vcx, vcy, vw, vh]`` in pixels and pixels per
frame; the measurement is the mask's box as ``[cx, cy, w, h]``. Boxes in and out are
XYXY pixels (x2/y2 exclusive). A small interface (``predict`` / ``update`` / ``reset``)
keeps the tracker independent of the filter, as norfair's filter factories do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from filterpy.kalman import KalmanFilter

from samvideo.masks import resize_mask

Box = tuple[float, float, float, float]


def xyxy_to_cxcywh(box: Box) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dtype=float)


def cxcywh_to_xyxy(state: np.ndarray) -> Box:
    cx, cy, w, h = (float(v) for v in state[:4])
    w, h = max(w, 1.0), max(h, 1.0)
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


class MotionModel(Protocol):
    """What the tracker needs from a motion model."""

    def predict(self) -> Box:
        """Advance one frame; return the predicted box (XYXY pixels)."""
        ...

    def update(self, box: Box) -> Box:
        """Correct the current prediction with a measured box; return the smoothed box."""
        ...

    @property
    def velocity(self) -> tuple[float, float]:
        """Centre velocity (pixels per frame)."""
        ...


class KalmanBoxFilter:
    """Constant-velocity Kalman filter over centre and size of a box.

    ``predict()`` once per frame, then ``update(box)`` when the frame gave a trusted
    mask; skip the update (coast) when it did not, and the box keeps moving at the
    last estimated velocity while its uncertainty grows.
    """

    def __init__(
        self,
        box: Box,
        *,
        measurement_std: float = 0.05,  # box noise as a fraction of its size: SAM boxes
        # jitter by a few percent frame to frame
        velocity_std: float = 0.02,  # process noise on velocities (fraction of size per
        # frame): lets real objects accelerate without trusting every jitter
        size_velocity_damping: float = 0.8,  # size changes decay: objects rarely grow
        # or shrink for long, and an undamped size velocity explodes while coasting
    ) -> None:
        self.measurement_std = measurement_std
        self.velocity_std = velocity_std
        self.size_velocity_damping = size_velocity_damping
        kf = KalmanFilter(dim_x=8, dim_z=4)
        kf.F = np.eye(8)
        kf.F[:4, 4:] = np.eye(4)
        kf.F[6, 6] = kf.F[7, 7] = size_velocity_damping
        kf.H = np.eye(4, 8)
        z = xyxy_to_cxcywh(box)
        kf.x = np.concatenate([z, np.zeros(4)]).reshape(8, 1)
        scale = max(z[2], z[3])
        kf.P = np.diag([(0.1 * scale) ** 2] * 4 + [(0.2 * scale) ** 2] * 4)
        self._kf = kf
        self._set_noise(scale)

    def _set_noise(self, scale: float) -> None:
        # Noise scales with the box size, so a small far object and a large near one
        # are smoothed alike.
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
        self.__init__(box, measurement_std=self.measurement_std, velocity_std=self.velocity_std,
                      size_velocity_damping=self.size_velocity_damping)

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
        kf = cls((0.0, 0.0, 1.0, 1.0), measurement_std=float(d["measurement_std"]),
                 velocity_std=float(d["velocity_std"]),
                 size_velocity_damping=float(d["size_velocity_damping"]))
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


def make_motion_model(kind: str, box: Box) -> KalmanBoxFilter | StaticBox:
    """Motion model factory: ``"kalman"`` (default) or ``"none"``."""
    if kind == "kalman":
        return KalmanBoxFilter(box)
    if kind == "none":
        return StaticBox(box)
    raise ValueError(f"unknown motion model {kind!r}: choose 'kalman' or 'none'")


def motion_from_state_dict(d: dict) -> KalmanBoxFilter | StaticBox:
    """Rebuild a motion model from its ``state_dict()``."""
    kind = d.get("kind")
    if kind == "kalman":
        return KalmanBoxFilter.from_state_dict(d)
    if kind == "none":
        return StaticBox.from_state_dict(d)
    raise ValueError(f"unknown motion model kind {kind!r} in a saved state")


# -- optical flow -----------------------------------------------------------------------


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

    def displacement(self, mask: np.ndarray) -> tuple[float, float] | None:
        """Median displacement (dx, dy) in frame pixels, previous frame to this one, of
        the pixels of a (H, W) bool mask of *this* frame (e.g. the object's visible part:
        robust to the part that went behind something); None if none lies in the crop."""
        h, w = self.back.shape[:2]
        sub = _to_crop(mask, self.region, (w, h))
        if not sub.any():
            return None
        dx, dy = -np.median(self.back[sub], axis=0) / self.scale
        return float(dx), float(dy)

    def still_part(
        self,
        prev_mask: np.ndarray,
        *,
        below: float = 0.5,  # frame pixels: a pixel whose flow is this close to the
        # background's moves with it. DIS is accurate to a fraction of a pixel on
        # texture. DAVIS J&F: 0.4 0.597 (one clip lost: soccerball 0.52 -> 0.06), 0.5
        # 0.616, 0.6 0.613; 0.8 takes slow parts of the object too (0.553, with
        # min_motion 1.5)
        min_motion: float = 2.0,  # frame pixels: ...but only while a quarter of the mask
        # moves at least this much against the background (an object that stands still
        # moves with the background all over, and none of it is stuck). DAVIS J&F,
        # forward / backwards (``tools/eval_davis.py [--reverse]``), with the colour
        # models fitted without randomness: 1.5 0.615 / 0.546, 2 0.622 / 0.550, 3 0.616
        # / 0.540. 2 lets slow walkers have the ground between their legs cut away
        # (rhino +0.07 / +0.12, elephant +0.03 / +0.01)
        max_fraction: float = 0.5,  # ...and at most this fraction of the mask is still:
        # the still part must be the lesser one (0.8: DAVIS J&F 0.609 vs 0.610)
        min_piece: float = 0.05,  # still pieces smaller than this fraction of the mask
        # are kept: a walker's planted foot moves with the ground for a few frames
        # (DAVIS J&F 0.616 either way; hike 0.90 -> 0.92, lucia 0.82 -> 0.84, hockey
        # 0.71 -> 0.67; 0.02: 0.616)
    ) -> np.ndarray | None:
        """The part of the moved mask that moves with the background: (H, W) bool, or
        None when there is none to tell apart (too little background, the object not
        moving against it, or most of the mask still).

        The background's motion is a homography fitted by RANSAC to the flow of the
        crop's pixels away from the mask (``prev_mask``, the (H, W) bool mask this
        flow moved, and the moved mask, both grown by 4 crop pixels). A tracked object
        moves against its background; a piece of the background that the mask took
        (a wall behind the first box, a fence of the object's colour) moves with it,
        frame after frame. Pieces under ``min_piece`` of the mask are left out.

        The figures by the options are DAVIS J&F of the tracker's default use
        (``tools/eval_davis.py``). Those of ``below``, ``max_fraction`` and ``min_piece``
        were measured with min_motion 3, and ``below``'s and ``max_fraction``'s before
        ``min_piece``, all while GrabCut's colour models still started from a seeded
        random k-means whose seed alone moved the mean by up to 0.03: read differences
        under 0.02 there as noise. ``min_motion``'s were measured on the clips forward
        and backwards, without that randomness.
        """
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
        if np.percentile(residual, 75) < min_motion:
            return None
        slow = residual < below
        if slow.sum() > max_fraction * len(slow):
            return None
        still = np.zeros((h, w), np.uint8)
        still[ys[slow], xs[slow]] = 1
        still = cv2.morphologyEx(still, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        _, labels, stats, _ = cv2.connectedComponentsWithStats(still, connectivity=8)
        big = np.r_[False, stats[1:, cv2.CC_STAT_AREA] >= min_piece * len(slow)]
        out = np.zeros(self.mask.shape, bool)
        out[y0:y1, x0:x1] = resize_mask(big[labels], (x1 - x0, y1 - y0))
        return out


#: background points the homography of :meth:`FlowWarp.still_part` is fitted to, and
#: the fewest (of them, and of the mask's pixels) it needs
_BACKGROUND_POINTS = 800
_MIN_BACKGROUND_POINTS = 50


def _to_crop(mask: np.ndarray, region: tuple[int, int, int, int], size) -> np.ndarray:
    """The (H, W) bool mask's ``region`` (x0, y0, x1, y1) resized to ``size`` (w, h)."""
    x0, y0, x1, y1 = region
    return resize_mask(mask[y0:y1, x0:x1], size)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """(H, W) uint8 luma of an (H, W, 3) uint8 RGB frame."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def flow_warp(
    prev_gray: np.ndarray,
    gray: np.ndarray,
    mask: np.ndarray,
    *,
    margin: float = 1.0,  # flow is computed on the mask's box grown by this fraction of
    # its size on each side: room for the motion plus context for the flow (DAVIS J&F
    # 0.536 at 0.5, 0.542 at 1.0)
    max_side: int = 320,  # the crop is downscaled to this longest side. Flow errors
    # add up frame after frame (the mask follows the flow): DAVIS J&F 0.524 at 160 px,
    # 0.536 at 320 px, for ~2 ms more per frame
    min_texture: float = 2.0,  # flow needs texture: below this standard deviation of
    # the crop's luma (grey levels) the flow is meaningless (zero on a flat image)
) -> FlowWarp | None:
    """Move a (H, W) bool ``mask`` of ``prev_gray`` onto ``gray`` (both (H, W) uint8) with
    DIS optical flow computed on a downscaled crop around the mask.

    Returns None for an empty mask or a crop without texture. Backward flow (current →
    previous) is used, so every pixel of the result samples the previous mask once: no
    holes, no double cover.
    """
    if prev_gray.shape != gray.shape or mask.shape != gray.shape:
        raise ValueError(f"flow_warp: shapes differ: {prev_gray.shape}, {gray.shape}, "
                         f"{mask.shape}")
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    h, w = gray.shape
    bw, bh = xs[-1] + 1 - xs[0], ys[-1] + 1 - ys[0]
    pad_x, pad_y = int(margin * bw) + 4, int(margin * bh) + 4
    x0, x1 = max(xs[0] - pad_x, 0), min(xs[-1] + 1 + pad_x, w)
    y0, y1 = max(ys[0] - pad_y, 0), min(ys[-1] + 1 + pad_y, h)
    if min(w, h) < _DIS_MIN_SIDE:
        return None
    x0, x1 = _at_least(x0, x1, _DIS_MIN_SIDE, w)
    y0, y1 = _at_least(y0, y1, _DIS_MIN_SIDE, h)
    scale = min(1.0, max_side / max(x1 - x0, y1 - y0))
    scale = max(scale, _DIS_MIN_SIDE / min(x1 - x0, y1 - y0))  # a thin crop is upsampled
    size = (max(int(round((x1 - x0) * scale)), _DIS_MIN_SIDE),
            max(int(round((y1 - y0) * scale)), _DIS_MIN_SIDE))
    a = cv2.resize(prev_gray[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    b = cv2.resize(gray[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    if float(b.std()) < min_texture or float(a.std()) < min_texture:
        return None
    m = cv2.resize(mask[y0:y1, x0:x1].astype(np.float32), size, interpolation=cv2.INTER_AREA)
    back = _dis().calc(b, a, None)  # for each pixel of b, where it was in a
    gx, gy = np.meshgrid(np.arange(size[0], dtype=np.float32),
                         np.arange(size[1], dtype=np.float32))
    moved = cv2.remap(m, gx + back[..., 0], gy + back[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    up = cv2.resize(moved, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((h, w), bool)
    out[y0:y1, x0:x1] = up > 0.5
    return FlowWarp(out, back, (x0, y0, x1, y1), scale)


#: OpenCV's DIS flow crashes (segfault, OpenCV 4.x-5.0) on images with a side under 32
#: pixels and a longer other side; crops are kept at least this large on both sides.
_DIS_MIN_SIDE = 32


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


def _dis() -> cv2.DISOpticalFlow:
    # a new instance per call: cheap, thread-safe and free of state from earlier calls
    # (the same frames always give the same flow, which --resume relies on)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    dis.setFinestScale(_DIS_FINEST_SCALE)
    return dis
