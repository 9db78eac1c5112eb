"""The per-frame tracking policy.

For every object on every frame:

1. **Predict.** The Kalman filter predicts the box; dense optical flow (DIS, on a small
   crop) carries the previous mask onto this frame pixel by pixel. The moved mask is
   the *prior*, its box the prompt box (the Kalman box when flow is off or fails).
   Prior pixels that move with the background while the object moves are background
   the mask took along (``still_below``); the segmenter is told so.
2. **Segment.** The box (plus the prior: GrabCut seeds its graph with it; SAM may use
   its previous low-res logits) prompts the segmenter; among the candidates the
   tracker picks one by a blend of the segmenter's score and agreement with the
   prompt box (:attr:`TrackerConfig.score_weight`); the mask is cleaned up
   (:class:`~samvideo.masks.PostProcess`).
3. **Judge.** A mask is *hopeless* when it is empty, scores below ``lost_below`` or
   does not look like the object (colour histogram against the first and the recent
   good masks, :func:`~samvideo.masks.histogram_similarity`); *doubtful* when it
   scores below ``reprompt_below`` or jumps (area or box) against the prediction. A
   score that is a colour fit (GrabCut's, not ``scores_object``) is first made no
   better than the mask looks (``trust_appearance``), so it says what the tracker
   believes.
   A doubtful mask makes the tracker ask again with the box and the user's clicks
   re-projected into it (``reprompted``); the better answer is kept.
4. **Decide.** Good: the mask is reported and feeds the motion and appearance models.
   Doubtful: the prior stands in for a jumping mask (state ``predicted``) or the weak
   mask is reported, neither teaches the models; ``lost_after`` doubtful frames in a
   row make the object lost. Hopeless: the object is ``lost`` at once.
5. **Lost and found.** While lost, an empty mask is reported (an empty mask beats a
   wrong one), the Kalman filter coasts and the search box widens with time. Each
   frame the search box is scanned for object-coloured blobs (histogram
   back-projection); the best blob of plausible size prompts the segmenter, and the
   object is re-acquired when the answer agrees with the last good masks in score,
   size and colour. With a segmenter that answers with the object its box frames
   (SAM's families), an answer that scores and looks right but is too small (a part
   coming back into view) is a *lead*: the next frame looks there first.

Use :class:`Tracker` directly when you bring your own frames::

    tracker = Tracker(GrabCutSegmenter())
    result = tracker.init(first_rgb, [ObjectPrompt(1, box=(10, 20, 110, 220))])
    for rgb in frames:
        result = tracker.step(rgb)

``state_dict()`` / ``load_state_dict()`` save and restore everything a tracker knows, so
a restored tracker continues exactly as the original would (``--resume``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from samvideo.masks import (
    anchor_box,
    box_iou,
    clip_box,
    colour_histogram,
    expand_box,
    histogram_similarity,
    make_disjoint,
    mask_to_box,
    postprocess,
    warp_mask,
)
from samvideo.motion import (
    Box,
    FlowWarp,
    flow_warp,
    make_motion_model,
    to_gray,
)
from samvideo.prompts import ObjectPrompt, prompt_from_json, prompt_to_json
from samvideo.results import FrameResult, ObjectResult
from samvideo.segmenters.base import Candidates, PromptRequest, Segmenter
from samvideo.tracker.config import TrackerConfig
from samvideo.tracker.geometry import (
    covered,
    edge_spans,
    follow_extent,
    held_edges,
    mask_centre,
    project_points,
    relative_points,
    ring,
    to_relative,
)
from samvideo.tracker.prompting import PromptQueue
from samvideo.tracker.search import find_blob, search_box
from samvideo.tracker.state import (
    TrackedObject,
    config_dict,
    copy_tree,
    object_dict,
    object_from_dict,
)

#: ``state_dict()["format"]``; bumped when the layout changes.
STATE_FORMAT = "samvideo.tracker/4"
#: the share of the expected box a mask's box must hold to be where it was expected
#: (:meth:`Tracker._is_jump`)
_HOLDS_EXPECTED = 0.5


@dataclass
class _Choice:
    """One object's answer on one frame, before the decision."""

    mask: np.ndarray
    score: float
    logits: np.ndarray | None
    state: str
    appearance: float = 1.0
    jump: bool = False
    entering: bool = False  # the object coming into view over a frame edge
    hist: np.ndarray | None = None  # the colour histogram of ``mask``, once computed


@dataclass
class _Plan:
    """What the tracker expects of a tracked object on this frame."""

    predicted: Box  # the Kalman prediction (coasting centre while lost)
    box: Box  # the prompt box: the prior's box, else the prediction, else a search box
    prior: np.ndarray | None  # the previous mask moved onto this frame, or a found blob
    flow: FlowWarp | None = None  # the optical flow that moved the prior
    background: np.ndarray | None = None  # the prior's part that moves with the background
    expected: Box | None = None  # where the mask should be (the prior's box): the jump test
    shift: tuple[float, float] | None = None  # the prior's flow displacement (extent only)

    @functools.cached_property
    def scale(self) -> float | None:
        """How much the prior's pixels spread out (:meth:`FlowWarp.growth`), or None;
        measured when first asked (only a mask far bigger than the last one asks)."""
        return None if self.flow is None or self.prior is None else self.flow.growth(self.prior)


class Tracker(PromptQueue):
    """Track objects frame by frame with a segmenter and a motion model."""

    def __init__(
        self,
        segmenter: Segmenter,
        *,
        config: TrackerConfig | None = None,  # None = the defaults above
    ) -> None:
        self.segmenter = segmenter
        self.config = config or TrackerConfig()
        self._objects: dict[int, TrackedObject] = {}
        self._pending: dict[int, list[ObjectPrompt]] = {}
        self._next_index = 0
        self._prev_gray: np.ndarray | None = None
        self._prev_rgb: np.ndarray | None = None  # the previous frame (match_shift)
        self.frame_size: tuple[int, int] | None = None
        # the still-background cue only for backends that read it (SAM's ignore it)
        self._reads_background = getattr(segmenter, "reads_background", True)
        # the object the box frames is what the segmenter answers (SAM's families): a
        # small answer while lost is a part of it (a lead); GrabCut's may be a patch of
        # its colours
        self._frames_object = getattr(segmenter, "box_is_extent", False)
        self._extent = self._frames_object if self.config.extent is None else self.config.extent
        self._trust = 0.0 if getattr(segmenter, "scores_object", False) else (
            self.config.trust_appearance)
        # a backend that reads only the prior's box is given it from a coarser, unrefined flow
        flow = self.config.flow
        box_only = not getattr(segmenter, "reads_prior_mask", True)
        self._flow = (replace(flow, max_side=flow.box_max_side, refine=flow.box_refine)
                      if flow is not None and box_only else flow)

    # -- public API ---------------------------------------------------------------------

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
        t = float(index) if time_s is None else time_s
        if self.frame_size is None:
            self.frame_size = rgb.shape[:2]
        elif rgb.shape[:2] != self.frame_size:
            raise ValueError(f"frame {index} is {rgb.shape[:2]}, earlier frames {self.frame_size}")
        prompts = self._pending.pop(index, [])
        if not self._objects and not prompts:
            if self._pending and min(self._pending) > index:
                self._next_index = index + 1
                return FrameResult(index, t, [], rgb)
            raise RuntimeError(f"no objects to track on frame {index}: give a prompt first")
        self._next_index = index + 1
        if embedding is None:
            embedding = self.segmenter.encode([rgb])[0]
        gray = to_gray(rgb) if self.config.uses_flow else None
        results = self._track_frame(rgb, gray, embedding, prompts, index, t)
        self._prev_gray = gray
        self._prev_rgb = rgb if gray is not None else None
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
            obj.full_box = box  # the whole object moves with the prediction too
            obj.lead = None  # a lead is where to look on the very next frame only
            out.append(
                ObjectResult(frame_index, time_s, obj.object_id, mask, box, 0.0, "predicted")
            )
        self._next_index = frame_index + 1
        self._prev_gray = to_gray(rgb) if self.config.uses_flow else None
        self._prev_rgb = rgb if self.config.uses_flow else None
        return FrameResult(frame_index, time_s, out, rgb)

    # -- one frame ----------------------------------------------------------------------

    def _track_frame(self, rgb, gray, embedding, prompts, index, t) -> list[ObjectResult]:
        h, w = rgb.shape[:2]
        prompted = {p.object_id: p for p in prompts}
        tracked = [o for o in self._ordered() if o.object_id not in prompted]
        plans = {o.object_id: self._plan(o, rgb, gray, (h, w)) for o in tracked}

        # a prompt's request carries the memory the object keeps from then on, so that
        # what the backend learns on the prompted frame (GrabCut's first-frame colour
        # model) is kept; a new box starts it empty (what was learned of the object is stale)
        memories = {i: self._prompt_memory(p) for i, p in prompted.items()}
        requests = [PromptRequest.make(p.box, p.points, p.neg_points, memory=memories[i])
                    for i, p in prompted.items()]
        requests += [self._track_request(o, plans[o.object_id]) for o in tracked]
        candidates = self.segmenter.predict(embedding, requests) if requests else []

        chosen: dict[int, _Choice] = {}
        for p, cand in zip(prompted.values(), candidates[: len(prompted)], strict=True):
            chosen[p.object_id] = self._start(p, cand, memories[p.object_id])
        weak: list[TrackedObject] = []
        for o, cand in zip(tracked, candidates[len(prompted):], strict=True):
            plan = plans[o.object_id]
            choice = self._judge(o, rgb, self._choose(cand, plan, "tracking"), plan)
            chosen[o.object_id] = choice
            if self.config.reprompt and (self._doubtful(choice) or self._hopeless(choice)):
                weak.append(o)
        if weak:
            self._reprompt(embedding, rgb, weak, plans, chosen, (h, w))

        ids = sorted(chosen)
        masks = make_disjoint([chosen[i].mask for i in ids], [chosen[i].score for i in ids])
        results = []
        for object_id, mask in zip(ids, masks, strict=True):
            obj = self._objects[object_id]
            choice = chosen[object_id]
            if mask is not choice.mask:
                choice = replace(choice, mask=mask, hist=None)
            if object_id in prompted:
                results.append(self._accept_prompt(obj, rgb, choice, index, t))
            else:
                results.append(self._settle(obj, rgb, choice, plans[object_id], index, t))
        return results

    def _ordered(self) -> list[TrackedObject]:
        return [self._objects[i] for i in sorted(self._objects)]

    # -- planning -----------------------------------------------------------------------

    def _plan(self, o: TrackedObject, rgb: np.ndarray, gray, shape) -> _Plan:
        """Predict the box; move the previous mask onto this frame (or, while lost,
        look for object-coloured blobs in the widening search box)."""
        h, w = shape
        predicted = clip_box(o.motion.predict(), w, h)
        if o.lost and o.lead is not None:
            return self._follow_lead(o, rgb, gray, predicted, shape)
        if o.lost:
            search = search_box(o, predicted, shape, self.config)
            blob = find_blob(o, rgb, search, self.config)
            if blob is None:
                return _Plan(predicted, search, None)
            return _Plan(predicted, clip_box(expand_box(mask_to_box(blob), 0.1), w, h), blob)
        prior, flow = None, None
        if self.config.use_prior and o.last_mask is not None and o.last_box is not None:
            prior, flow = self._moved_prior(o, rgb, gray, predicted)
        pbox = mask_to_box(prior) if prior is not None else None
        box = expected = predicted if pbox is None or self.config.motion == "none" else pbox
        shift = None
        if flow is not None and pbox is not None and o.extent is not None:
            shift = flow.displacement(prior)
            box = self._with_extent(o, pbox, shift, shape)
        still = None
        if flow is not None and self.config.still is not None and self._reads_background:
            still = flow.still_part(o.last_mask, self.config.still)
        return _Plan(predicted, box, prior, flow, still, expected, shift)

    def _follow_lead(self, o: TrackedObject, rgb: np.ndarray, gray, predicted: Box,
                     shape) -> _Plan:
        """A lost object's plan from its lead (a part of it seen on the last frame): the
        lead moved by the flow is the prior; the prompt box takes it and the object's
        known size around it, for the rest that comes into view."""
        h, w = shape
        lead, o.lead = o.lead, None
        moved = self._flow_moved(lead, rgb, gray)
        prior = lead if moved is None else moved.mask
        pbox = mask_to_box(prior)
        cx, cy = (pbox[0] + pbox[2]) / 2, (pbox[1] + pbox[3]) / 2
        gw, gh = o.good_size
        box = (min(pbox[0], cx - gw / 2), min(pbox[1], cy - gh / 2),
               max(pbox[2], cx + gw / 2), max(pbox[3], cy + gh / 2))
        return _Plan(predicted, clip_box(box, w, h), prior)

    def _with_extent(self, o: TrackedObject, pbox: Box, shift: tuple[float, float] | None,
                     shape) -> Box:
        """The prompt box: the moved prior's box, grown to the object's whole extent as
        last known (moved by ``shift``, the prior's flow displacement) when the two agree
        on where the object is, so that parts the last mask lost behind an occluder are
        asked for again."""
        if shift is None:
            return pbox
        e = o.extent
        moved = (e[0] + shift[0], e[1] + shift[1], e[2] + shift[0], e[3] + shift[1])
        if box_iou(moved, pbox) < self.config.min_box_iou:
            return pbox
        union = (min(moved[0], pbox[0]), min(moved[1], pbox[1]), max(moved[2], pbox[2]),
                 max(moved[3], pbox[3]))
        return clip_box(union, shape[1], shape[0])

    def _moved_prior(self, o: TrackedObject, rgb: np.ndarray, gray, predicted: Box):
        """The previous mask moved onto this frame, and the flow that moved it (or None):
        by optical flow when on (and the previous frame is known), else by the Kalman
        box, or unmoved without motion."""
        if self.config.motion == "none":
            return o.last_mask, None
        moved = self._flow_moved(o.last_mask, rgb, gray)
        if moved is not None:
            return moved.mask, moved
        return warp_mask(o.last_mask, o.last_box, predicted), None

    def _flow_moved(self, mask: np.ndarray, rgb: np.ndarray, gray) -> FlowWarp | None:
        """A mask of the previous frame moved onto this one by optical flow, or None
        (flow off, no previous frame, or nothing left of the mask)."""
        if not self.config.uses_flow or self._prev_gray is None or gray is None:
            return None
        moved = flow_warp(self._prev_gray, gray, mask, self._flow, prev_rgb=self._prev_rgb,
                          rgb=rgb)
        return moved if moved is not None and moved.mask.any() else None

    def _track_request(self, o: TrackedObject, plan: _Plan) -> PromptRequest:
        logits = None if o.lost or not self.config.sam_mask_input else o.last_logits
        return PromptRequest(np.asarray(plan.box, np.float32), np.zeros((0, 2), np.float32),
                             np.zeros(0, np.int32), prior_mask=plan.prior, prior_logits=logits,
                             memory=o.memory, background=plan.background)

    # -- choosing and judging -----------------------------------------------------------

    def _prompt_memory(self, p: ObjectPrompt) -> dict:
        """The backend memory of a prompted object: its own for clicks on a tracked
        object, a new one for a new object or a new box."""
        obj = self._objects.get(p.object_id)
        return {} if obj is None or p.box is not None else obj.memory

    def _start(self, p: ObjectPrompt, cand: Candidates, memory: dict) -> _Choice:
        """A user prompt: (re)start the object from the best candidate (clicks without a
        box: the candidate's box stands for the box the user did not draw)."""
        k = int(np.argmax(cand.scores))
        box = p.box if p.box is not None else (mask_to_box(cand.masks[k]) or p.points_box())
        rel, labels = relative_points(p, box)
        self._objects[p.object_id] = TrackedObject(
            p.object_id, make_motion_model(self.config.motion, box, self.config.kalman), rel,
            labels, memory=memory
        )
        mask = postprocess(cand.masks[k], self.config.postprocess, expand_box(box, 0.1))
        return _Choice(mask, float(cand.scores[k]), _logit(cand, k), "prompted")

    def _choose(self, cand: Candidates, plan: _Plan, state: str) -> _Choice:
        """Pick the candidate with the best blend of score and agreement with the prompt
        box; its islands that the prior holds are parts of the object, kept."""
        box, w = plan.box, self.config.score_weight
        blend = [
            w * float(s) + (1 - w) * box_iou(mask_to_box(m), box)
            for m, s in zip(cand.masks, cand.scores, strict=True)
        ]
        k = int(np.argmax(blend))
        mask = postprocess(cand.masks[k], self.config.postprocess, expand_box(box, 0.25),
                           parts=plan.prior)
        return _Choice(mask, float(cand.scores[k]), _logit(cand, k), state)

    def _judge(self, o: TrackedObject, rgb: np.ndarray, c: _Choice, plan: _Plan) -> _Choice:
        """Fill in the choice's appearance similarity and whether it jumps; a score that
        does not judge the object becomes no better than its looks (``trust_appearance``)."""
        if o.hist_first is not None:
            c.hist = colour_histogram(rgb, c.mask)
            c.appearance = max(histogram_similarity(c.hist, o.hist_first),
                               histogram_similarity(c.hist, o.hist_recent))
        c.entering = self._entering(o, c.mask, plan)
        c.jump = not c.entering and self._is_jump(o, c.mask, plan)
        if self._trust > 0 and not c.entering:  # an entering part's looks are a part's
            c.score *= min(1.0, c.appearance / self._trust)
        return c

    def _entering(self, o: TrackedObject, mask: np.ndarray, plan: _Plan) -> bool:
        """Whether ``mask`` is the object coming into view over a frame edge: the last
        mask lay along that edge as a strip (reaching in less far than it lay along it:
        a part of the object) and this one reaches further in, over the expected box.
        The known size and looks are a part's then: they are not held against it."""
        box = mask_to_box(mask)
        if box is None or o.last_box is None:
            return False
        h, w = mask.shape
        before, now = edge_spans(o.last_box, w, h), edge_spans(box, w, h)
        grows_in = any(edge in now and depth < length and now[edge][0] > depth
                       for edge, (depth, length) in before.items())
        return grows_in and covered(plan.expected or plan.box, box) >= 0.5

    def _is_jump(self, o: TrackedObject, mask: np.ndarray, plan: _Plan) -> bool:
        """A mask far bigger than the object's known size (unless the object's pixels
        show it growing: a zoom, not a leak), or away from where it was expected. With a
        segmenter that answers with the object its box frames, a mask whose box holds
        most of the expected box is where it was expected: the expected box (the moved
        prior's) was a part of the object, or the motion put it a little off."""
        area = float(np.count_nonzero(mask))
        if area == 0:
            return True
        if (o.good_area > 0 and area / o.good_area > self.config.max_area_change
                and not self._growing(plan)):
            return True
        box, expected = mask_to_box(mask), plan.expected or plan.box
        if self._frames_object and covered(expected, box) >= _HOLDS_EXPECTED:
            return False
        return box_iou(box, expected) < self.config.min_box_iou

    def _growing(self, plan: _Plan) -> bool:
        """Whether the flow of the object's pixels shows it growing (a zoom, an object
        coming closer), which a mask that leaks into the background does not show."""
        if not self.config.flow_scale:
            return False
        return plan.scale is not None and plan.scale > 1 + self.config.growth_above

    def _hopeless(self, c: _Choice) -> bool:
        cfg = self.config
        return (not c.mask.any() or c.score < cfg.lost_below
                or (c.appearance < cfg.min_appearance and not c.entering))

    def _doubtful(self, c: _Choice) -> bool:
        return c.score < self.config.reprompt_below or c.jump

    def _rank(self, c: _Choice) -> tuple:
        """Order answers: not hopeless, then not doubtful, then score x appearance."""
        return (not self._hopeless(c), not self._doubtful(c), c.score * c.appearance)

    def _reprompt(self, embedding, rgb, weak: list[TrackedObject], plans, chosen, shape) -> None:
        """Ask again with box + the user's clicks re-projected into the box; keep the
        new answer when it ranks better."""
        requests = [self._reprompt_request(o, plans[o.object_id], shape) for o in weak]
        again = self.segmenter.predict(embedding, requests)
        for o, cand in zip(weak, again, strict=True):
            plan = plans[o.object_id]
            new = self._judge(o, rgb, self._choose(cand, plan, "reprompted"), plan)
            if self._rank(new) > self._rank(chosen[o.object_id]):
                chosen[o.object_id] = new

    def _reprompt_request(self, o: TrackedObject, plan: _Plan, shape) -> PromptRequest:
        h, w = shape
        box = plan.box
        pts, labels = project_points(o.rel_points, o.rel_labels, box, w, h)
        if not (labels == 1).any() and o.last_mask is not None and o.last_mask.any():
            # no user click: the centre of the last mask, moved with the box, stands in
            rel = to_relative(mask_centre(o.last_mask), o.last_box)
            more, _ = project_points(rel[None], np.ones(1, np.int32), box, w, h)
            pts, labels = np.vstack([pts, more]), np.concatenate([labels, [1]]).astype(np.int32)
        return PromptRequest(np.asarray(box, np.float32), pts, labels, memory=o.memory,
                             background=plan.background)

    # -- deciding -----------------------------------------------------------------------

    def _settle(self, o: TrackedObject, rgb, c: _Choice, plan: _Plan, index, t) -> ObjectResult:
        """Decide tracking / reprompted / predicted / lost for a tracked object."""
        cfg = self.config
        if o.lost:
            if not self._reacquired(o, c):
                o.lead = c.mask if self._leads(o, c) else None
                return self._mark_lost(o, plan.predicted, c.score, index, t)
            o.lost_for = 0
            return self._accept(o, rgb, c, plan, index, t, teach=False)
        if self._hopeless(c):
            return self._mark_lost(o, plan.predicted, c.score, index, t)
        if not self._doubtful(c):
            o.weak_run = 0
            return self._accept(o, rgb, c, plan, index, t, teach=True)
        o.weak_run += 1
        if o.weak_run >= cfg.lost_after:
            return self._mark_lost(o, plan.predicted, c.score, index, t)
        if c.jump and plan.prior is not None and plan.prior.any():
            # the answer leaked or jumped: the moved previous mask stands in for it
            held = _Choice(plan.prior, c.score, o.last_logits, "predicted", c.appearance)
            return self._accept(o, rgb, held, plan, index, t, teach=False)
        return self._accept(o, rgb, c, plan, index, t, teach=False)

    def _reacquired(self, o: TrackedObject, c: _Choice) -> bool:
        cfg = self.config
        area = float(np.count_nonzero(c.mask))
        if area == 0 or c.score < cfg.reacquire_above or c.appearance < cfg.reacquire_appearance:
            return False
        ratio = area / o.good_area if o.good_area > 0 else 1.0
        return cfg.reacquire_min_area <= ratio <= cfg.max_area_change

    def _leads(self, o: TrackedObject, c: _Choice) -> bool:
        """Whether a lost object's answer is a lead: the segmenter answers with the object
        its box frames, and this answer scores and looks like the object (as
        re-acquisition asks) but is too small to be all of it."""
        cfg = self.config
        area = float(np.count_nonzero(c.mask))
        return (self._frames_object and 0 < area < cfg.reacquire_min_area * o.good_area
                and c.score >= cfg.reacquire_above and c.appearance >= cfg.reacquire_appearance)

    def _accept_prompt(self, o: TrackedObject, rgb, c: _Choice, index, t) -> ObjectResult:
        """The mask of a user prompt: restart the motion, size and appearance models."""
        box = mask_to_box(c.mask)
        if box is None:  # a prompt that gave nothing: keep the prompt's box, lost
            return self._mark_lost(o, o.motion.box, c.score, index, t)
        o.motion.reset(box)
        o.full_box = box
        o.extent = box if self._extent else None
        o.good_area = float(np.count_nonzero(c.mask))
        o.good_size = (box[2] - box[0], box[3] - box[1])
        o.hist_first = o.hist_recent = colour_histogram(rgb, c.mask)
        around = ring(c.mask, box, rgb.shape[:2])
        o.hist_around = colour_histogram(rgb, around) if around.any() else None
        o.lost_for = o.weak_run = 0
        o.lead = None
        o.last_mask, o.last_box, o.last_logits = c.mask, box, c.logits
        return ObjectResult(index, t, o.object_id, c.mask, box, c.score, c.state)

    def _accept(self, o: TrackedObject, rgb, c: _Choice, plan: _Plan, index, t, *,
                teach: bool) -> ObjectResult:
        """Report a mask; feed the motion model (its box corrected when the mask is much
        smaller than the object, e.g. partly hidden); let a steady good mask teach the
        size and appearance models."""
        cfg = self.config
        box = mask_to_box(c.mask)
        if box is None:
            return self._mark_lost(o, plan.predicted, c.score, index, t)
        area = float(np.count_nonzero(c.mask))
        ratio = area / o.good_area if o.good_area > 0 else 1.0
        steady = 1 / cfg.measure_area_change <= ratio <= cfg.measure_area_change
        steady = steady or (ratio > 1 and self._growing(plan)) or c.entering
        if c.state != "predicted" and ratio >= cfg.measure_min_area:
            o.full_box = self._full_box(o, c.mask, box, steady, plan)
            o.motion.update(o.full_box)
        if self._extent and c.state != "predicted":
            self._follow_extent(o, box, plan)
        if teach and (steady or c.entering):
            # judged on this very mask unless making the masks disjoint changed it
            hist = c.hist if c.hist is not None else colour_histogram(rgb, c.mask)
            if c.entering:  # more of the object shows: it is at least this big, and looks
                # like this now (its first looks were a part's, or from before it left)
                o.good_area = max(o.good_area, area)
                o.good_size = (max(o.good_size[0], box[2] - box[0]),
                               max(o.good_size[1], box[3] - box[1]))
                if hist is not None:
                    o.hist_recent = hist
            else:
                r = cfg.appearance_rate
                o.good_area = 0.8 * o.good_area + 0.2 * area
                o.good_size = (0.8 * o.good_size[0] + 0.2 * (box[2] - box[0]),
                               0.8 * o.good_size[1] + 0.2 * (box[3] - box[1]))
                if hist is not None and o.hist_recent is not None:
                    o.hist_recent = ((1 - r) * o.hist_recent + r * hist).astype(np.float32)
        o.last_mask, o.last_box, o.last_logits = c.mask, box, c.logits
        return ObjectResult(index, t, o.object_id, c.mask, box, c.score, c.state)

    def _follow_extent(self, o: TrackedObject, box: Box, plan: _Plan) -> None:
        """The object's extent after a mask with ``box``: carried from the prompt box
        (which holds the moved extent), or the mask's box after re-acquisition."""
        if o.extent is None or plan.flow is None:
            o.extent = follow_extent(box, box, self.config.extent_shrink)
            return
        held = (held_edges(plan.expected, box, plan.shift)
                if plan.shift is not None and plan.expected is not None else frozenset())
        o.extent = follow_extent(plan.box, box, self.config.extent_shrink, held)

    def _full_box(self, o: TrackedObject, mask: np.ndarray, box: Box, steady: bool,
                  plan: _Plan) -> Box:
        """The whole object's box, which feeds the motion model.

        With optical flow: the last whole box moved by the flow of the mask's (visible)
        pixels, pulled by ``flow_box_gain`` towards the mask's box when the mask is
        steady (which corrects the drift of integrated flow), with the mask's size when
        steady, else the last whole size. Without flow: the mask's box when steady, else
        the partial box extended from its edge that agrees with the prediction.
        """
        shift = plan.flow.displacement(mask) if plan.flow is not None else None
        if shift is None or o.full_box is None:
            return box if steady else anchor_box(box, plan.predicted, o.good_size)
        fb, k = o.full_box, self.config.flow_box_gain
        cx, cy = (fb[0] + fb[2]) / 2 + shift[0], (fb[1] + fb[3]) / 2 + shift[1]
        w, h = fb[2] - fb[0], fb[3] - fb[1]
        if steady:
            cx += k * ((box[0] + box[2]) / 2 - cx)
            cy += k * ((box[1] + box[3]) / 2 - cy)
            w, h = box[2] - box[0], box[3] - box[1]
        return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)

    def _mark_lost(self, o: TrackedObject, predicted: Box, score, index, t) -> ObjectResult:
        o.lost_for += 1
        o.weak_run = 0
        shape = self.frame_size or (1, 1)
        return ObjectResult(index, t, o.object_id, np.zeros(shape, bool), predicted, score, "lost")

    # -- saving and restoring -----------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue tracking exactly where this tracker is.

        A tree of dicts and lists whose leaves are JSON scalars (str, int, float, bool,
        None) or numpy arrays (masks (H, W) bool, histograms float32, Kalman matrices
        float64, the previous frame's luma (H, W) uint8, whatever the segmenter keeps in
        an object's ``memory``). Arrays are copies. ``format`` is :data:`STATE_FORMAT`;
        ``pending`` holds prompts in the prompts-file form. Restore it with
        :meth:`load_state_dict` into a tracker built with the same segmenter and config.
        """
        return {
            "format": STATE_FORMAT,
            "config": config_dict(self.config),
            "next_index": self._next_index,
            "frame_size": None if self.frame_size is None else list(self.frame_size),
            "prev_gray": copy_tree(self._prev_gray),
            "prev_rgb": copy_tree(self._prev_rgb),
            "pending": [prompt_to_json(p) for i in sorted(self._pending)
                        for p in self._pending[i]],
            "objects": [object_dict(o) for o in self._ordered()],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved (its arrays are copied, not shared).

        Raises ValueError when the format is unknown or the saved tracker had another
        configuration.
        """
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"tracker state format {state.get('format')!r} is not "
                             f"{STATE_FORMAT!r}")
        saved = state["config"]
        if saved != config_dict(self.config):
            diff = sorted(k for k in saved if saved[k] != config_dict(self.config).get(k))
            raise ValueError(f"tracker state was saved with another configuration "
                             f"(differs in {', '.join(diff) or 'fields'})")
        self._next_index = int(state["next_index"])
        size = state["frame_size"]
        self.frame_size = None if size is None else (int(size[0]), int(size[1]))
        self._prev_gray = copy_tree(state["prev_gray"])
        self._prev_rgb = copy_tree(state["prev_rgb"])
        self._pending = {}
        self.add_prompts([prompt_from_json(d, "saved prompt") for d in state["pending"]])
        self._objects = {int(d["object_id"]): object_from_dict(d) for d in state["objects"]}


def _logit(cand: Candidates, k: int) -> np.ndarray | None:
    return None if cand.logits is None else cand.logits[k : k + 1]
