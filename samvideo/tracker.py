"""The per-frame tracking policy.

For every object on every frame: the motion model predicts a box; the box (plus the
previous mask moved by the motion, as a prior) prompts the segmenter; among the
candidates the tracker picks one by a blend of the segmenter's score and agreement
with the prediction; the mask is cleaned up; when it is weak the tracker asks again
with the user's clicks re-projected into the predicted box; when it is bad the
object is ``lost``, reported with an empty mask while the motion model coasts and
the search box widens, until a candidate agrees again with what the object looked
like.

Use :class:`Tracker` directly when you bring your own frames::

    tracker = Tracker(GrabCutSegmenter())
    result = tracker.init(first_rgb, [ObjectPrompt(1, box=(10, 20, 110, 220))])
    for rgb in frames:
        result = tracker.step(rgb)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from samvideo.masks import (
    PostProcess,
    box_iou,
    clip_box,
    expand_box,
    make_disjoint,
    mask_to_box,
    postprocess,
    warp_mask,
)
from samvideo.motion import Box, KalmanBoxFilter, StaticBox, make_motion_model
from samvideo.prompts import ObjectPrompt
from samvideo.results import FrameResult, ObjectResult
from samvideo.segmenters.base import Candidates, PromptRequest, Segmenter


@dataclass(frozen=True)
class TrackerConfig:
    """Every threshold of the policy, with the reason for its default."""

    #: ``"kalman"`` or ``"none"`` (``--no-motion``: the last box is the next prompt).
    motion: str = "kalman"
    #: re-prompt with the user's clicks when the mask is weak (``--no-reprompt`` = False).
    reprompt: bool = True
    #: a chosen mask scoring below this is weak: ask again with box + clicks. SAM's
    #: predicted IoU is above 0.85 on clean frames; 0.7 marks real trouble.
    reprompt_below: float = 0.7
    #: below this (after re-prompting) the mask is not trusted at all: empty mask,
    #: the motion model coasts. An empty mask beats a wrong one.
    lost_below: float = 0.35
    #: this many weak frames in a row also make the object lost: a mask that stays
    #: doubtful for that long is usually on something else.
    lost_after: int = 5
    #: a mask whose area changes by more than this factor against the last good one,
    #: or whose box overlaps the prediction less than ``min_box_iou``, is a jump.
    max_area_change: float = 2.5
    min_box_iou: float = 0.2
    #: mask choice = ``score_weight`` * segmenter score + (1 - score_weight) * IoU of
    #: the mask's box with the predicted box. SAMURAI weighs motion 0.25: the score is
    #: the better signal, the motion breaks ties between SAM's nested candidates.
    score_weight: float = 0.75
    #: while lost, the search box (the last good size around the coasting centre) grows
    #: by this fraction of that size per lost frame, up to ``max_search_growth``: the
    #: object may have moved off the coasting path, the longer the further.
    search_growth: float = 0.25
    max_search_growth: float = 3.0
    #: a mask whose area differs from the last good area by more than this factor is
    #: reported but not fed to the motion model: a partly hidden object's box is
    #: biased (it shrinks towards the visible part) and would bend the trajectory.
    measure_area_change: float = 1.5
    #: to re-acquire, a candidate needs this score and an area within
    #: ``max_area_change`` of the last good mask.
    reacquire_above: float = 0.6
    #: hand the previous mask, moved by the motion, to the segmenter as a prior.
    use_prior: bool = True
    #: SAM: feed the previous frame's low-res logits as ``mask_input``. Off by default:
    #: the logits sit where the object was, not where it is.
    sam_mask_input: bool = False
    postprocess: PostProcess = field(default_factory=PostProcess)

    def __post_init__(self) -> None:
        if self.motion not in ("kalman", "none"):
            raise ValueError(f"motion={self.motion!r}: choose 'kalman' or 'none'")
        for name in ("reprompt_below", "lost_below", "reacquire_above", "score_weight"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r} must be within [0, 1]")


@dataclass
class _Object:
    """Everything the tracker remembers about one object."""

    object_id: int
    motion: KalmanBoxFilter | StaticBox
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
    memory: dict = field(default_factory=dict)

    @property
    def lost(self) -> bool:
        return self.lost_for > 0


class Tracker:
    """Track objects frame by frame with a segmenter and a motion model."""

    def __init__(
        self,
        segmenter: Segmenter,
        *,
        config: TrackerConfig | None = None,  # None = the defaults above
    ) -> None:
        self.segmenter = segmenter
        self.config = config or TrackerConfig()
        self._objects: dict[int, _Object] = {}
        self._pending: dict[int, list[ObjectPrompt]] = {}
        self._next_index = 0
        self.frame_size: tuple[int, int] | None = None

    # -- public API ---------------------------------------------------------------------

    @property
    def object_ids(self) -> list[int]:
        return sorted(self._objects)

    def add_prompts(self, prompts: Sequence[ObjectPrompt]) -> None:
        """Schedule prompts; each applies on its ``frame_index`` (a new object starts
        there; an existing object is corrected from there on)."""
        for p in prompts:
            if p.box is None and not p.points:
                raise ValueError(f"prompt for object {p.object_id} has neither box nor points")
            self._pending.setdefault(p.frame_index, []).append(p)

    def init(
        self, rgb: np.ndarray, prompts: Sequence[ObjectPrompt], *, frame_index: int = 0,
        time_s: float = 0.0,
    ) -> FrameResult:
        """Start tracking on ``rgb`` ((H, W, 3) uint8 RGB) with prompts for this frame."""
        self.add_prompts([_at(p, frame_index) for p in prompts])
        return self.step(rgb, frame_index=frame_index, time_s=time_s)

    def step(
        self,
        rgb: np.ndarray,
        *,
        frame_index: int | None = None,  # None = the frame after the previous step
        time_s: float | None = None,  # None = frame_index (no rate known)
        embedding: Any = None,  # a precomputed ``segmenter.encode`` result for rgb
    ) -> FrameResult:
        """Track every object into one (H, W, 3) uint8 RGB frame."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
        index = self._next_index if frame_index is None else frame_index
        self._next_index = index + 1
        t = float(index) if time_s is None else time_s
        if self.frame_size is None:
            self.frame_size = rgb.shape[:2]
        elif rgb.shape[:2] != self.frame_size:
            raise ValueError(f"frame {index} is {rgb.shape[:2]}, earlier frames {self.frame_size}")
        prompts = self._pending.pop(index, [])
        if not self._objects and not prompts:
            if self._pending and min(self._pending) > index:
                return FrameResult(index, t, [], rgb)
            raise RuntimeError(f"no objects to track on frame {index}: give a prompt first")
        if embedding is None:
            embedding = self.segmenter.encode([rgb])[0]
        results = self._track_frame(rgb, embedding, prompts, index, t)
        return FrameResult(index, t, results, rgb)

    def predict_only(self, rgb: np.ndarray, *, frame_index: int, time_s: float) -> FrameResult:
        """A frame there was no time to segment: the last masks moved by the motion model
        (state ``predicted``); the motion model advances without a measurement."""
        out = []
        for obj in self._ordered():
            box = obj.motion.predict()
            mask = np.zeros(rgb.shape[:2], bool)
            if obj.last_mask is not None and not obj.lost and obj.last_box is not None:
                mask = warp_mask(obj.last_mask, obj.last_box, box)
                obj.last_mask, obj.last_box = mask, box
            out.append(
                ObjectResult(frame_index, time_s, obj.object_id, mask, box, 0.0, "predicted")
            )
        self._next_index = frame_index + 1
        return FrameResult(frame_index, time_s, out, rgb)

    # -- one frame ----------------------------------------------------------------------

    def _track_frame(self, rgb, embedding, prompts, index, t) -> list[ObjectResult]:
        h, w = rgb.shape[:2]
        prompted = {p.object_id: p for p in prompts}
        tracked = [o for o in self._ordered() if o.object_id not in prompted]
        predicted = {o.object_id: clip_box(o.motion.predict(), w, h) for o in tracked}

        requests = [self._prompt_request(p) for p in prompted.values()]
        requests += [self._track_request(o, predicted[o.object_id], (h, w)) for o in tracked]
        candidates = self.segmenter.predict(embedding, requests) if requests else []

        chosen: dict[int, tuple[np.ndarray, float, np.ndarray | None, str]] = {}
        for p, cand in zip(prompted.values(), candidates[: len(prompted)], strict=True):
            chosen[p.object_id] = self._start(p, cand, (h, w))
        weak: list[_Object] = []
        for o, cand in zip(tracked, candidates[len(prompted):], strict=True):
            chosen[o.object_id] = self._choose(o, cand, predicted[o.object_id], "tracking")
            if self.config.reprompt and self._is_weak(o, *chosen[o.object_id][:2],
                                                      predicted[o.object_id]):
                weak.append(o)
        if weak:
            self._reprompt(embedding, weak, predicted, chosen, (h, w))

        ids = sorted(chosen)
        masks = make_disjoint([chosen[i][0] for i in ids], [chosen[i][1] for i in ids])
        results = []
        for object_id, mask in zip(ids, masks, strict=True):
            _, score, logits, state = chosen[object_id]
            obj = self._objects[object_id]
            if object_id in prompted:
                results.append(self._accept(obj, mask, score, logits, "prompted", index, t))
            else:
                results.append(self._settle(obj, mask, score, logits, state,
                                            predicted[object_id], index, t))
        return results

    def _ordered(self) -> list[_Object]:
        return [self._objects[i] for i in sorted(self._objects)]

    def _prompt_request(self, p: ObjectPrompt) -> PromptRequest:
        return PromptRequest.make(p.box, p.points, p.neg_points)

    def _track_request(self, o: _Object, box: Box, shape) -> PromptRequest:
        cfg = self.config
        if o.lost:
            return PromptRequest.make(self._search_box(o, box, shape), memory=o.memory)
        prior = None
        if cfg.use_prior and o.last_mask is not None and o.last_box is not None:
            prior = warp_mask(o.last_mask, o.last_box, box)
        logits = o.last_logits if cfg.sam_mask_input else None
        return PromptRequest(np.asarray(box, np.float32), np.zeros((0, 2), np.float32),
                             np.zeros(0, np.int32), prior_mask=prior, prior_logits=logits,
                             memory=o.memory)

    def _search_box(self, o: _Object, predicted: Box, shape) -> Box:
        """Where to look for a lost object: its last good size, grown with time, around
        the coasting centre."""
        cfg = self.config
        grow = 1 + min(cfg.search_growth * o.lost_for, cfg.max_search_growth)
        gw, gh = o.good_size if o.good_size[0] > 0 else (predicted[2] - predicted[0],
                                                          predicted[3] - predicted[1])
        cx, cy = (predicted[0] + predicted[2]) / 2, (predicted[1] + predicted[3]) / 2
        half_w, half_h = gw * grow / 2, gh * grow / 2
        return clip_box((cx - half_w, cy - half_h, cx + half_w, cy + half_h), shape[1], shape[0])

    def _start(self, p: ObjectPrompt, cand: Candidates, shape) -> tuple:
        """A user prompt: (re)start the object from the best candidate."""
        box = p.points_box()
        obj = self._objects.get(p.object_id)
        memory = {} if obj is None else obj.memory
        if p.box is not None:
            memory.clear()  # a new box: what the backend learned of the object is stale
        rel, labels = _relative_points(p, box)
        self._objects[p.object_id] = _Object(
            p.object_id, make_motion_model(self.config.motion, box), rel, labels, memory=memory
        )
        k = int(np.argmax(cand.scores))
        mask = postprocess(cand.masks[k], self.config.postprocess, expand_box(box, 0.1))
        return mask, float(cand.scores[k]), _logit(cand, k), "prompted"

    def _choose(self, o: _Object, cand: Candidates, predicted: Box, state: str) -> tuple:
        """Pick the candidate with the best blend of score and motion agreement."""
        w = self.config.score_weight
        blend = [
            w * float(s) + (1 - w) * box_iou(mask_to_box(m), predicted)
            for m, s in zip(cand.masks, cand.scores, strict=True)
        ]
        k = int(np.argmax(blend))
        expected = expand_box(predicted, 0.25)
        mask = postprocess(cand.masks[k], self.config.postprocess, expected)
        return mask, float(cand.scores[k]), _logit(cand, k), state

    def _is_jump(self, o: _Object, mask: np.ndarray, predicted: Box) -> bool:
        cfg = self.config
        area = float(mask.sum())
        if area == 0:
            return True
        # growth is a leak into the background; shrinking is usually the object going
        # behind something, which is reported (and kept out of the motion model)
        if o.good_area > 0 and area / o.good_area > cfg.max_area_change:
            return True
        return box_iou(mask_to_box(mask), predicted) < cfg.min_box_iou

    def _is_weak(self, o: _Object, mask: np.ndarray, score: float, predicted: Box) -> bool:
        return score < self.config.reprompt_below or self._is_jump(o, mask, predicted)

    def _reprompt(self, embedding, weak: list[_Object], predicted, chosen, shape) -> None:
        """Ask again with box + the user's clicks re-projected into the predicted box;
        keep the new mask when it scores better."""
        requests = [self._reprompt_request(o, predicted[o.object_id], shape) for o in weak]
        again = self.segmenter.predict(embedding, requests)
        for o, cand in zip(weak, again, strict=True):
            new = self._choose(o, cand, predicted[o.object_id], "reprompted")
            old = chosen[o.object_id]
            new_ok = not self._is_jump(o, new[0], predicted[o.object_id])
            old_ok = not self._is_jump(o, old[0], predicted[o.object_id])
            if (new_ok and not old_ok) or (new_ok == old_ok and new[1] > old[1]):
                chosen[o.object_id] = new

    def _reprompt_request(self, o: _Object, box: Box, shape) -> PromptRequest:
        h, w = shape
        if o.lost:
            box = self._search_box(o, box, shape)
        pts, labels = _project_points(o.rel_points, o.rel_labels, box, w, h)
        if not (labels == 1).any() and o.last_mask is not None and o.last_mask.any():
            # no user click: the centre of the last mask, moved with the box, stands in
            centre = _mask_centre(o.last_mask)
            rel = _to_relative(centre, o.last_box)
            more, _ = _project_points(rel[None], np.ones(1, np.int32), box, w, h)
            pts, labels = np.vstack([pts, more]), np.concatenate([labels, [1]]).astype(np.int32)
        return PromptRequest(np.asarray(box, np.float32), pts, labels, memory=o.memory)

    def _settle(self, o, mask, score, logits, state, predicted, index, t) -> ObjectResult:
        """Decide tracking / reprompted / lost for a tracked object and update it."""
        cfg = self.config
        jump = self._is_jump(o, mask, predicted)
        if o.lost:
            found = score >= cfg.reacquire_above and not _area_jump(o, mask, cfg)
            if not found:
                return self._mark_lost(o, predicted, score, index, t)
            o.lost_for = 0
            o.motion.reset(mask_to_box(mask))
            return self._accept(o, mask, score, logits, "tracking", index, t)
        if score < cfg.lost_below or jump:
            return self._mark_lost(o, predicted, score, index, t)
        o.weak_run = o.weak_run + 1 if score < cfg.reprompt_below else 0
        if o.weak_run >= cfg.lost_after:
            return self._mark_lost(o, predicted, score, index, t)
        return self._accept(o, mask, score, logits, state, index, t)

    def _accept(self, o: _Object, mask, score, logits, state, index, t) -> ObjectResult:
        box = mask_to_box(mask)
        if box is None:  # a prompt that gave nothing: keep the prompt's box
            return self._mark_lost(o, o.motion.box, score, index, t)
        area = float(mask.sum())
        ratio = area / o.good_area if o.good_area > 0 else 1.0
        steady = 1 / self.config.measure_area_change <= ratio <= self.config.measure_area_change
        if state == "prompted":
            o.motion.reset(box)
        elif steady:
            o.motion.update(box)
        if state == "prompted" or o.good_area == 0:
            o.good_area, o.good_size = area, (box[2] - box[0], box[3] - box[1])
        elif steady:
            o.good_area = 0.8 * o.good_area + 0.2 * area
            o.good_size = (0.8 * o.good_size[0] + 0.2 * (box[2] - box[0]),
                           0.8 * o.good_size[1] + 0.2 * (box[3] - box[1]))
        o.last_mask, o.last_box, o.last_logits = mask, box, logits
        return ObjectResult(index, t, o.object_id, mask, box, score, state)

    def _mark_lost(self, o: _Object, predicted: Box, score, index, t) -> ObjectResult:
        o.lost_for += 1
        o.weak_run = 0
        shape = self.frame_size or (1, 1)
        return ObjectResult(index, t, o.object_id, np.zeros(shape, bool), predicted, score, "lost")


def _at(p: ObjectPrompt, frame_index: int) -> ObjectPrompt:
    from dataclasses import replace

    return replace(p, frame_index=frame_index)


def _logit(cand: Candidates, k: int) -> np.ndarray | None:
    return None if cand.logits is None else cand.logits[k : k + 1]


def _area_jump(o: _Object, mask: np.ndarray, cfg: TrackerConfig) -> bool:
    area = float(mask.sum())
    if area == 0:
        return True
    if o.good_area <= 0:
        return False
    ratio = area / o.good_area
    return ratio > cfg.max_area_change or ratio < 1 / cfg.max_area_change


def _to_relative(xy: np.ndarray, box: Box) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([(xy[0] - x1) / max(x2 - x1, 1e-6), (xy[1] - y1) / max(y2 - y1, 1e-6)])


def _relative_points(p: ObjectPrompt, box: Box) -> tuple[np.ndarray, np.ndarray]:
    pts = [*p.points, *p.neg_points]
    labels = np.array([1] * len(p.points) + [0] * len(p.neg_points), np.int32)
    rel = np.array([_to_relative(np.asarray(q), box) for q in pts], np.float64).reshape(-1, 2)
    return rel, labels


def _project_points(rel: np.ndarray, labels: np.ndarray, box: Box, w: int, h: int):
    """Re-project box-relative points into ``box``; points that land outside the frame
    are dropped."""
    x1, y1, x2, y2 = box
    pts = np.column_stack([x1 + rel[:, 0] * (x2 - x1), y1 + rel[:, 1] * (y2 - y1)])
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    return pts[inside].astype(np.float32).reshape(-1, 2), labels[inside].astype(np.int32)


def _mask_centre(mask: np.ndarray) -> np.ndarray:
    """A point well inside the mask: the maximum of its distance transform."""
    import cv2

    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return np.array([x + 0.5, y + 0.5])
