"""What the box tracker remembers of each object (:class:`TrackedObject`), and its state
as plain data (``--resume``): dicts, lists, JSON scalars and numpy arrays, which
:mod:`samvideo.resume` saves as JSON + NPZ without pickle."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from samvideo.masks import Box
from samvideo.motion import MotionModel, motion_from_state_dict
from samvideo.tracker.config import TrackerConfig


@dataclass
class TrackedObject:
    """Everything the tracker remembers about one object."""

    object_id: int
    motion: MotionModel
    #: user clicks relative to the user's box: (u, v) in box units, label 1/0
    rel_points: np.ndarray
    rel_labels: np.ndarray
    last_mask: np.ndarray | None = None
    last_box: Box | None = None
    last_logits: np.ndarray | None = None
    good_area: float = 0.0
    good_size: tuple[float, float] = (0.0, 0.0)
    weak_run: int = 0
    lost_for: int = 0
    #: HSV histograms: the object on its prompted frame, the recent good masks, and the
    #: surroundings of the prompted mask (for back-projection while searching)
    hist_first: np.ndarray | None = None
    hist_recent: np.ndarray | None = None
    hist_around: np.ndarray | None = None
    #: the whole object's box as last measured (XYXY); while the mask is partial it is
    #: moved by the object's optical flow, so the motion model sees the true motion
    full_box: Box | None = None
    #: the object's whole extent (XYXY) the prompt box grows to: the mask's box, edges
    #: kept a while where the mask lost a part (:attr:`TrackerConfig.extent`)
    extent: Box | None = None
    #: while lost: the last frame's mask that scored and looked like the object but was
    #: too small to re-acquire it ((H, W) bool): a part coming out from behind something
    #: or into the frame, where the next frame's search starts
    lead: np.ndarray | None = None
    memory: dict = field(default_factory=dict)

    @property
    def lost(self) -> bool:
        return self.lost_for > 0


def copy_tree(value: Any) -> Any:
    """A deep copy of a tree of dicts / lists / tuples (as lists) / arrays / scalars."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [copy_tree(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return copy.deepcopy(value)


def config_dict(config: TrackerConfig) -> dict:
    return copy_tree(asdict(config))


_OBJECT_ARRAYS = ("rel_points", "rel_labels", "last_mask", "last_logits", "hist_first",
                  "hist_recent", "hist_around", "lead")


def object_dict(o: TrackedObject) -> dict:
    d = {name: copy_tree(getattr(o, name)) for name in _OBJECT_ARRAYS}
    d.update(object_id=o.object_id, motion=copy_tree(o.motion.state_dict()),
             last_box=None if o.last_box is None else [float(v) for v in o.last_box],
             full_box=None if o.full_box is None else [float(v) for v in o.full_box],
             extent=None if o.extent is None else [float(v) for v in o.extent],
             good_area=float(o.good_area), good_size=[float(v) for v in o.good_size],
             weak_run=o.weak_run, lost_for=o.lost_for, memory=copy_tree(o.memory))
    return d


def object_from_dict(d: dict) -> TrackedObject:
    box = d["last_box"]
    o = TrackedObject(int(d["object_id"]), motion_from_state_dict(copy_tree(d["motion"])),
                copy_tree(d["rel_points"]), copy_tree(d["rel_labels"]))
    for name in _OBJECT_ARRAYS[2:]:
        setattr(o, name, copy_tree(d[name]))
    o.last_box = None if box is None else tuple(float(v) for v in box)
    o.full_box = None if d["full_box"] is None else tuple(float(v) for v in d["full_box"])
    o.extent = None if d["extent"] is None else tuple(float(v) for v in d["extent"])
    o.good_area = float(d["good_area"])
    o.good_size = (float(d["good_size"][0]), float(d["good_size"][1]))
    o.weak_run, o.lost_for = int(d["weak_run"]), int(d["lost_for"])
    o.memory = copy_tree(d["memory"])
    return o
