"""The memory tracker's settings (:class:`MemoryConfig`, section ``memory`` of ``--set``):
every weight and threshold, with the reason for its default and where it comes from.

SAMURAI's values are those of its released configs (Yang et al. 2024, "SAMURAI: Adapting
Segment Anything Model for Zero-Shot Visual Tracking with Motion-Aware Memory",
arXiv:2411.11922; ``sam2/sam2/configs/samurai/sam2.1_hiera_*.yaml`` in
github.com/yangchris11/samurai: ``kf_score_weight 0.25``, ``stable_frames_threshold 15``,
``stable_ious_threshold 0.3``, ``memory_bank_iou_threshold 0.5``,
``memory_bank_obj_score_threshold 0.0``, ``memory_bank_kf_score_threshold 0.0``). SAM 2's
own values (how many memories, the hole filling) are those of Meta's video predictor
(``sam2.build_sam.build_sam2_video_predictor`` and the model's config).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from samvideo.motion import KalmanConfig


@dataclass(frozen=True)
class MemoryConfig:
    """Every setting of the memory tracker (``--tracker memory``, SAM 2.1 models)."""

    #: SAMURAI's motion-aware parts: the Kalman box weighs SAM 2's multimask candidates
    #: and only frames whose scores are good enter the memory (``--no-motion``: off).
    #: Off, the tracker is SAM 2's video predictor exactly: the candidate SAM 2 scores
    #: best, every frame in the memory
    motion_aware: bool = True
    #: the Kalman filter's noise model (the box tracker's filter, samvideo.motion)
    kalman: KalmanConfig = field(default_factory=KalmanConfig)
    #: candidate choice = ``motion_weight`` * IoU(candidate's box, Kalman box) +
    #: (1 - ``motion_weight``) * SAM 2's predicted IoU (SAMURAI's ``kf_score_weight``)
    motion_weight: float = 0.25
    #: the Kalman box weighs the choice only after this many frames in a row whose chosen
    #: mask scored at least ``stable_score``: a filter fed few boxes predicts badly
    #: (SAMURAI's ``stable_frames_threshold`` and ``stable_ious_threshold``); a weaker
    #: mask does not update the filter and starts the count again
    stable_frames: int = 15
    stable_score: float = 0.3
    #: a frame enters the memory when its predicted IoU is above ``memory_score``, its
    #: object score logit above ``memory_object_score`` (the object is there) and, once
    #: the Kalman box weighs the choice, the IoU of its box with the Kalman box above
    #: ``memory_motion_score`` (SAMURAI's ``memory_bank_*_threshold``): an occluded or
    #: wrong frame does not teach the memory
    memory_score: float = 0.5
    memory_object_score: float = 0.0
    memory_motion_score: float = 0.0
    #: the previous frame is attended to even when it did not enter the memory, as
    #: SAMURAI does: SAM 2 learns from it that the object just went out of sight
    keep_last: bool = True
    #: re-prompt when the object is there but the chosen mask scores below
    #: ``reprompt_below``: ask again with the Kalman box and the user's clicks re-projected
    #: into it, keep the better answer (``--no-reprompt``: off). 0.5 is the bar a frame
    #: must pass to enter the memory: a weaker mask is not trusted either way
    reprompt: bool = True
    reprompt_below: float = 0.5
    #: at most this many prompted frames per object are kept (the latest); each costs a
    #: full memory frame in every attention, and SAM 2's predictor keeps them all, which
    #: grows with every correction of a long live run
    max_prompted_frames: int = 8
    #: SAM 2's video predictor fills holes up to this many low-res pixels in its masks
    #: (``fill_hole_area=8``), where ``sam2``'s CUDA extension is built; without it the
    #: predictor skips the filling, and so does this tracker. 0: never
    fill_hole_area: int = 8

    def __post_init__(self) -> None:
        for name in ("motion_weight", "stable_score", "memory_score", "memory_motion_score",
                     "reprompt_below"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r} must be within [0, 1]")
        for name, low in (("stable_frames", 0), ("max_prompted_frames", 1),
                          ("fill_hole_area", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r} must be a whole number >= {low}")
