"""Motion models for a box: a constant-velocity Kalman filter (filterpy).

The state is ``[cx, cy, w, h, vcx, vcy, vw, vh]`` in pixels and pixels per frame;
the measurement is the mask's box as ``[cx, cy, w, h]``. Boxes in and out are XYXY
pixels. A small interface (``predict`` / ``update`` / ``coast``) keeps the tracker
independent of the filter, as norfair's filter factories do.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from filterpy.kalman import KalmanFilter

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
        self.__init__(box, measurement_std=self.measurement_std, velocity_std=self.velocity_std)


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


def make_motion_model(kind: str, box: Box) -> KalmanBoxFilter | StaticBox:
    """Motion model factory: ``"kalman"`` (default) or ``"none"``."""
    if kind == "kalman":
        return KalmanBoxFilter(box)
    if kind == "none":
        return StaticBox(box)
    raise ValueError(f"unknown motion model {kind!r}: choose 'kalman' or 'none'")
