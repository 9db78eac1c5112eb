"""The memory tracker (``--tracker memory``): SAM 2.1's video memory, streamed, with
SAMURAI's motion-aware choice and samvideo's re-prompting.

For every object on every segmented frame:

1. **Condition.** The frame's features cross-attend to the object's bounded memory (its
   prompted frames, its last good frames, its recent object pointers:
   :class:`~samvideo.tracker.memory_bank.MemoryBank`) through SAM 2's memory attention.
2. **Decode.** SAM 2's mask decoder gives three candidates with predicted IoUs and an
   object score. The Kalman box (:class:`~samvideo.motion.KalmanBoxFilter`) predicts
   where the object is; once it has seen ``stable_frames`` good masks in a row, the
   choice is ``motion_weight`` * IoU(candidate's box, Kalman box) + the rest * SAM 2's
   score (SAMURAI), else SAM 2's best.
3. **Judge.** An object score <= 0 is SAM 2 saying the object is hidden: the object is
   ``lost`` (no mask; the Kalman box coasts) until the score is positive again. A present
   object whose mask scores below ``reprompt_below`` is asked again with the Kalman box
   and the user's clicks re-projected into it (``reprompted``); the better answer stays.
4. **Remember.** The chosen mask goes through SAM 2's memory encoder; the frame enters
   the memory when its mask, object and motion scores are good (SAMURAI), or always
   (``motion_aware=False``: SAM 2's video predictor exactly).

Prompts (a new object, or a correction of one) start a prompted frame: SAM 2 segments
it without memory, as on its first frame, and it stays in the object's memory. Several
objects share the frame's one encoder pass; each has its own memory, as in SAM 2.

The interface is the box tracker's (:class:`~samvideo.tracker.box.Tracker`): ``add_prompts``,
``init``, ``step``, ``predict_only``, ``object_ids``, ``state_dict`` /
``load_state_dict``; a restored tracker continues exactly as the original would.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from samvideo.masks import Box, box_iou, clip_box, make_disjoint, mask_to_box, warp_mask
from samvideo.motion import KalmanBoxFilter
from samvideo.prompts import ObjectPrompt, prompt_from_json, prompt_to_json
from samvideo.results import FrameResult, ObjectResult
from samvideo.segmenters.upscale import upscale_masks
from samvideo.tracker.geometry import mask_centre, project_points, relative_points, to_relative
from samvideo.tracker.memory_bank import Memory, MemoryBank
from samvideo.tracker.memory_config import MemoryConfig
from samvideo.tracker.prompting import PromptQueue
from samvideo.tracker.sam2_steps import FrameFeatures, Sam2Steps
from samvideo.tracker.state import copy_tree

#: ``state_dict()["format"]``; bumped when the layout changes.
STATE_FORMAT = "samvideo.memory/1"

#: whether ``sam2``'s CUDA extension (its connected components, for hole filling) is built
_HAS_SAM2_EXTENSION = importlib.util.find_spec("sam2._C") is not None


@dataclass
class Answer:
    """What SAM 2 answered for one object on one frame (:attr:`MemoryTracker.answers`).

    Attributes:
        scores: (K,) float32 predicted IoU of each candidate.
        boxes: each candidate's box (XYXY frame pixels; None when empty).
        best: the candidate SAM 2 scores best; chosen: the one taken.
        motion_box: the Kalman prediction (XYXY), None on a prompted frame.
        motion_score: IoU of the chosen box with ``motion_box`` when it weighed the choice.
        object_score: SAM 2's object score logit (> 0: present).
        logits: (4h, 4w) float32 low-res logits of the chosen mask, as SAM 2 outputs them.
        mask: (H, W) bool, the chosen mask before the objects' masks are made disjoint.
        admitted: the frame entered the object's memory; reprompted: the answer is the
            re-prompt's.
    """

    scores: np.ndarray
    boxes: list[Box | None]
    best: int
    chosen: int
    motion_box: Box | None
    motion_score: float | None
    object_score: float
    logits: np.ndarray
    mask: np.ndarray
    admitted: bool = True
    reprompted: bool = False


@dataclass
class MemoryObject:
    """Everything the memory tracker knows of one object."""

    object_id: int
    bank: MemoryBank
    motion: KalmanBoxFilter
    #: good masks in a row (SAMURAI's stable frames): the Kalman box weighs the choice
    #: once there are ``stable_frames``
    stable: int = 0
    #: the user's clicks relative to the user's box: (u, v) in box units, labels 1 / 0
    rel_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    rel_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    last_mask: np.ndarray | None = None
    last_box: Box | None = None
    lost: bool = False


class MemoryTracker(PromptQueue):
    """Track objects frame by frame with SAM 2.1's memory (see the module docstring).

    Args:
        segmenter: a :class:`~samvideo.segmenters.sam2.Sam2Segmenter` on its fast path
            (its embeddings carry the features SAM 2's memory reads).
        config: the settings (None: :class:`MemoryConfig`'s defaults).
        steps: SAM 2's video steps (None: :class:`Sam2Steps` on the segmenter's model).
    """

    def __init__(
        self,
        segmenter: Any,
        *,
        config: MemoryConfig | None = None,  # None: SAMURAI's and SAM 2's published values
        steps: Any = None,  # None: SAM 2's steps on the segmenter's model (tests script them)
    ) -> None:
        self.segmenter = segmenter
        self.config = config or MemoryConfig()
        if steps is None:
            check_segmenter(segmenter)
            steps = Sam2Steps(segmenter.model)
        self.steps = steps
        self._objects: dict[int, MemoryObject] = {}
        self._pending: dict[int, list[ObjectPrompt]] = {}
        self._next_index = 0
        self._step = 0  # segmented frames so far: SAM 2's time
        self.frame_size: tuple[int, int] | None = None
        #: object id -> :class:`Answer` of the last segmented frame (inspection, tests)
        self.answers: dict[int, Answer] = {}

    # -- public API (the box tracker's) -------------------------------------------------

    def step(self, rgb: np.ndarray, *, frame_index: int | None = None,
             time_s: float | None = None, embedding: Any = None) -> FrameResult:
        """Track every object into one (H, W, 3) uint8 RGB frame (``embedding``: the
        segmenter's ``encode`` result for it, when already computed)."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
        index = self._next_index if frame_index is None else frame_index
        t = float(index) if time_s is None else time_s
        if self.frame_size is None:
            self.frame_size = rgb.shape[:2]
        elif rgb.shape[:2] != self.frame_size:
            raise ValueError(f"frame {index} is {rgb.shape[:2]}, earlier frames {self.frame_size}")
        prompts = {p.object_id: p for p in self._pending.pop(index, [])}  # the last one wins
        if not self._objects and not prompts:
            if self._pending and min(self._pending) > index:
                self._next_index = index + 1
                return FrameResult(index, t, [], rgb)
            raise RuntimeError(f"no objects to track on frame {index}: give a prompt first")
        self._next_index = index + 1
        if embedding is None:
            embedding = self.segmenter.encode([rgb])[0]
        with torch.inference_mode():
            frame = self.steps.features(embedding)
            answers: dict[int, tuple[Answer, str]] = {}
            for object_id in sorted({*self._objects, *prompts}):
                if object_id in prompts:
                    answers[object_id] = self._prompted(prompts[object_id], frame)
                else:
                    answers[object_id] = self._tracked(self._objects[object_id], frame)
        self._step += 1
        self.answers = {i: a for i, (a, _) in answers.items()}
        return FrameResult(index, t, self._results(answers, index, t), rgb)

    def predict_only(self, rgb: np.ndarray, *, frame_index: int, time_s: float) -> FrameResult:
        """A frame there was no time to segment: the last masks moved with the Kalman box
        (state ``predicted``); the memory does not change and SAM 2's time stays."""
        out = []
        for o in self._ordered():
            box = o.motion.predict()
            mask = np.zeros(rgb.shape[:2], bool)
            if o.last_mask is not None and not o.lost and o.last_box is not None:
                mask = warp_mask(o.last_mask, o.last_box, box)
                o.last_mask, o.last_box = mask, box
            out.append(ObjectResult(frame_index, time_s, o.object_id, mask, box, 0.0,
                                    "predicted"))
        self._next_index = frame_index + 1
        return FrameResult(frame_index, time_s, out, rgb)

    # -- one object ---------------------------------------------------------------------

    def _prompted(self, p: ObjectPrompt, frame: FrameFeatures) -> tuple[Answer, str]:
        """A user prompt: SAM 2 segments the frame without memory (as its initial
        prompted frames), the answer becomes a prompted frame of the object's memory."""
        points = np.array([*p.points, *p.neg_points], np.float32).reshape(-1, 2)
        labels = np.array([1] * len(p.points) + [0] * len(p.neg_points), np.int32)
        if p.box is not None:  # SAM 2's box: two corners labelled 2 and 3, first
            points = np.vstack([np.asarray(p.box, np.float32).reshape(2, 2), points])
            labels = np.concatenate([[2, 3], labels]).astype(np.int32)
        pix = self.steps.condition(frame, [], [])
        decoded = self.steps.decode(pix, frame, self._points(points, labels), prompted=True)
        k = int(torch.argmax(decoded.ious[0]))
        logits = self._fill_holes(decoded.low_res[:, k:k + 1])
        features = self.steps.encode_memory(frame, self.steps.upscale(logits),
                                            decoded.object_score, from_prompt=True)
        memory = Memory(self._step, features, self.steps.pointer(decoded, k))
        obj = self._objects.get(p.object_id)
        box = p.points_box()
        rel, rel_labels = relative_points(p, box)
        masks = self._masks(decoded.low_res)
        if obj is None:  # a new object; a correction keeps the object's memory, as SAM 2
            cfg = self.config
            bank = MemoryBank(num_maskmem=self.steps.num_maskmem,
                              max_pointers=self.steps.max_pointers,
                              max_prompted=cfg.max_prompted_frames, select=cfg.motion_aware,
                              keep_last=cfg.keep_last)
            obj = self._objects[p.object_id] = MemoryObject(
                p.object_id, bank, KalmanBoxFilter(box, self.config.kalman))
        obj.bank.add_prompted(memory)
        obj.rel_points, obj.rel_labels = rel, rel_labels
        mask = self._masks(logits)[0]
        mask_box = mask_to_box(mask)
        obj.motion.reset(mask_box if mask_box is not None else box)
        obj.stable = 1 if mask_box is not None else 0
        scores = decoded.ious[0].float().cpu().numpy()
        answer = Answer(scores, [mask_to_box(m) for m in masks], k, k, None, None,
                        float(decoded.object_score), logits[0, 0].cpu().numpy(), mask)
        return answer, "prompted"

    def _tracked(self, o: MemoryObject, frame: FrameFeatures) -> tuple[Answer, str]:
        """A tracked object: condition on its memory, choose, judge, remember."""
        cfg, steps = self.config, self.steps
        h, w = self.frame_size
        predicted = clip_box(o.motion.predict(), w, h)
        memories = o.bank.memories(self._step, max_cond=self._max_cond())
        pix = steps.condition(frame, memories, o.bank.pointer_list(self._step))
        decoded = steps.decode(pix, frame, None, prompted=False)
        scores = decoded.ious[0].float().cpu().numpy()
        masks = self._masks(decoded.low_res)
        boxes = [mask_to_box(m) for m in masks]
        best = int(np.argmax(scores))
        weigh = cfg.motion_aware and o.stable >= cfg.stable_frames
        chosen, motion_score = best, None
        if weigh:
            fit = [box_iou(b, predicted) for b in boxes]
            blend = [cfg.motion_weight * f + (1 - cfg.motion_weight) * float(s)
                     for f, s in zip(fit, scores, strict=True)]
            chosen = int(np.argmax(blend))
            motion_score = fit[chosen]
        source, k, reprompted = decoded, chosen, False
        if cfg.reprompt and decoded.present and scores[chosen] < cfg.reprompt_below:
            again = steps.decode(pix, frame, self._reprompt_points(o, predicted),
                                 prompted=False)
            k2 = int(torch.argmax(again.ious[0]))
            if again.present and float(again.ious[0, k2]) > float(scores[chosen]):
                source, k, reprompted = again, k2, True
                scores = again.ious[0].float().cpu().numpy()
                boxes = [mask_to_box(m) for m in self._masks(again.low_res)]
                best = k2
        chosen_logits = source.low_res[:, k:k + 1]
        score, object_score = float(scores[k]), float(source.object_score)
        admitted = not cfg.motion_aware or (
            score > cfg.memory_score and object_score > cfg.memory_object_score
            and (motion_score is None or motion_score > cfg.memory_motion_score))
        features = None
        if admitted or cfg.keep_last:  # else only the frame's pointer is attended to
            # all candidates upscaled, then the chosen one taken, as SAM 2 does: the
            # bilinear kernel's rounding depends on the number of channels
            high_res = steps.upscale(source.low_res)[:, k:k + 1]
            features = steps.encode_memory(frame, high_res,
                                           source.object_score, from_prompt=reprompted)
        o.bank.add(self._step, steps.pointer(source, k), features, admitted)
        logits = self._fill_holes(chosen_logits)
        mask = self._masks(logits)[0]
        box = mask_to_box(mask)
        present = object_score > 0 and box is not None
        if present and score >= cfg.stable_score:
            o.motion.update(box)
            o.stable += 1
        else:
            o.stable = 0  # a weak or hidden frame: the filter coasts, the count restarts
        answer = Answer(scores, boxes, best, k, predicted, motion_score, object_score,
                        logits[0, 0].cpu().numpy(), mask, admitted, reprompted)
        if not present:
            return answer, "lost"
        return answer, "reprompted" if reprompted else "tracking"

    def _reprompt_points(self, o: MemoryObject, box: Box):
        """The Kalman box as SAM 2's two corner points, and the user's clicks re-projected
        into it (the centre of the last mask, moved with the box, when the user gave no
        foreground click), as the box tracker re-prompts."""
        h, w = self.frame_size
        pts, labels = project_points(o.rel_points, o.rel_labels, box, w, h)
        if not (labels == 1).any() and o.last_mask is not None and o.last_box is not None:
            rel = to_relative(mask_centre(o.last_mask), o.last_box)
            more, _ = project_points(rel[None], np.ones(1, np.int32), box, w, h)
            pts = np.vstack([pts, more])
            labels = np.concatenate([labels, np.ones(len(more), np.int32)])
        corners = np.asarray(box, np.float32).reshape(2, 2)
        return self._points(np.vstack([corners, pts]).astype(np.float32),
                            np.concatenate([[2, 3], labels]).astype(np.int32))

    # -- helpers ------------------------------------------------------------------------

    def _points(self, points: np.ndarray, labels: np.ndarray):
        """Frame-pixel points → SAM 2's point inputs: (1, P, 2) float32 in encoder-input
        pixels, (1, P) int32, scaled as ``SAM2VideoPredictor.add_new_points_or_box`` does."""
        h, w = self.frame_size
        device = self.steps.device
        xy = torch.as_tensor(points, dtype=torch.float32)[None] / torch.tensor([w, h])
        xy = (xy * self.steps.model.image_size).to(device)
        return xy, torch.as_tensor(labels, dtype=torch.int32)[None].to(device)

    def _masks(self, low_res: torch.Tensor) -> np.ndarray:
        """(1, K, 4h, 4w) logits → (K, H, W) bool frame masks: bilinear to the frame's
        size, > 0 (as the video predictor resizes its masks), around the object only."""
        size = tuple(self.frame_size)
        return upscale_masks(low_res[0], [(size, size)])

    def _fill_holes(self, logits: torch.Tensor) -> torch.Tensor:
        """SAM 2's hole filling of its output masks (only where ``sam2``'s extension is
        built, as in the video predictor, which skips it otherwise)."""
        area = self.config.fill_hole_area
        if area <= 0 or not _HAS_SAM2_EXTENSION:
            return logits
        from sam2.utils.misc import fill_holes_in_mask_scores

        return fill_holes_in_mask_scores(logits, area)

    def _max_cond(self) -> int:
        return int(getattr(self.steps.model, "max_cond_frames_in_attn", -1))

    def _ordered(self) -> list[MemoryObject]:
        return [self._objects[i] for i in sorted(self._objects)]

    def _results(self, answers: dict[int, tuple[Answer, str]], index: int,
                 t: float) -> list[ObjectResult]:
        """Masks made disjoint (the higher score keeps a pixel), states and boxes; the
        objects remember their last mask (for predicted frames and re-prompts)."""
        ids = sorted(answers)
        scores = [float(np.clip(answers[i][0].scores[answers[i][0].chosen], 0, 1)) for i in ids]
        raw = [answers[i][0].mask if answers[i][1] != "lost" else
               np.zeros(self.frame_size, bool) for i in ids]
        out = []
        for object_id, mask, score in zip(ids, make_disjoint(raw, scores), scores, strict=True):
            o, state = self._objects[object_id], answers[object_id][1]
            box = mask_to_box(mask)
            o.lost = state == "lost" or box is None
            if o.lost:
                state, mask = "lost", np.zeros(self.frame_size, bool)
                box = clip_box(o.motion.box, self.frame_size[1], self.frame_size[0])
            else:
                o.last_mask, o.last_box = mask, box
            out.append(ObjectResult(index, t, object_id, mask, box, score, state))
        return out

    # -- saving and restoring -----------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this tracker is: dicts, lists, JSON
        scalars and numpy arrays (memory features as float32, exactly their bfloat16
        values; Kalman matrices float64; last masks (H, W) bool), which
        :mod:`samvideo.resume` saves as JSON + NPZ without pickle."""
        return {
            "format": STATE_FORMAT,
            "config": copy_tree(asdict(self.config)),
            "next_index": self._next_index,
            "step": self._step,
            "frame_size": None if self.frame_size is None else list(self.frame_size),
            "pending": [prompt_to_json(p) for i in sorted(self._pending)
                        for p in self._pending[i]],
            "objects": [{
                "object_id": o.object_id, "bank": o.bank.state_dict(),
                "motion": copy_tree(o.motion.state_dict()), "stable": o.stable,
                "rel_points": o.rel_points.copy(), "rel_labels": o.rel_labels.copy(),
                "last_mask": copy_tree(o.last_mask),
                "last_box": None if o.last_box is None else [float(v) for v in o.last_box],
                "lost": o.lost,
            } for o in self._ordered()],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`. ValueError when the format is another tracker's or
        the saved tracker had another configuration."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"tracker state format {state.get('format')!r} is not "
                             f"{STATE_FORMAT!r} (the memory tracker's)")
        mine = copy_tree(asdict(self.config))
        if state["config"] != mine:
            diff = sorted(k for k in mine if state["config"].get(k) != mine[k])
            raise ValueError("tracker state was saved with another configuration (differs "
                             f"in {', '.join(diff) or 'fields'})")
        self._next_index, self._step = int(state["next_index"]), int(state["step"])
        size = state["frame_size"]
        self.frame_size = None if size is None else (int(size[0]), int(size[1]))
        self._pending = {}
        self.add_prompts([prompt_from_json(d, "saved prompt") for d in state["pending"]])
        cfg, self._objects = self.config, {}
        for d in state["objects"]:
            bank = MemoryBank(num_maskmem=self.steps.num_maskmem,
                              max_pointers=self.steps.max_pointers,
                              max_prompted=cfg.max_prompted_frames, select=cfg.motion_aware,
                              keep_last=cfg.keep_last)
            bank.load_state_dict(d["bank"], self.steps.device)
            box = d["last_box"]
            o = MemoryObject(int(d["object_id"]), bank,
                             KalmanBoxFilter.from_state_dict(copy_tree(d["motion"])),
                             int(d["stable"]), np.array(d["rel_points"], np.float64),
                             np.array(d["rel_labels"], np.int32), copy_tree(d["last_mask"]),
                             None if box is None else tuple(float(v) for v in box),
                             bool(d["lost"]))
            self._objects[o.object_id] = o


def check_segmenter(segmenter: Any) -> None:
    """ValueError (one line) unless ``segmenter`` can run the memory tracker: a SAM 2.1
    segmenter on its fast path."""
    from samvideo.segmenters.sam2 import Sam2Segmenter

    name = getattr(segmenter, "name", type(segmenter).__name__)
    if not isinstance(segmenter, Sam2Segmenter):
        raise ValueError(f"--tracker memory needs a SAM 2.1 model (--model sam2.1_hiera_* or "
                         f"a SAM 2.1 --checkpoint): {name} has no video memory; use "
                         "--tracker box")
    if segmenter.reference:
        raise ValueError("--tracker memory runs SAM 2.1's fast path: --reference "
                         "(SAM2ImagePredictor) keeps no memory features")
