"""The tracking policy's settings (:class:`TrackerConfig`): every threshold, with the
reason for its default. Motion settings live in :mod:`samvideo.motion`'s configs, the
mask clean-up in :class:`samvideo.masks.PostProcess`; this config holds them."""

from __future__ import annotations

from dataclasses import dataclass, field

from samvideo.masks import PostProcess
from samvideo.motion import FlowConfig, KalmanConfig, StillConfig


@dataclass(frozen=True)
class TrackerConfig:
    """Every setting of the tracking policy, with the reason for its default."""

    #: ``"kalman"``, or ``"none"`` (``--no-motion``: no Kalman filter and no optical
    #: flow; the last mask and its box, unmoved, are the next prompt)
    motion: str = "kalman"
    #: the Kalman filter's noise model
    kalman: KalmanConfig = field(default_factory=KalmanConfig)
    #: optical flow carries the previous mask onto the frame (with ``motion="kalman"``):
    #: it follows articulated and erratic motion that a box filter cannot. None: off
    #: (the Kalman box moves the previous mask)
    flow: FlowConfig | None = field(default_factory=FlowConfig)
    #: prior pixels that move with the background while the object moves are background
    #: the mask took along (a wall the first box took, a fence of the object's colour,
    #: which colour alone keeps for good); the segmenter is told so. Needs ``flow``.
    #: None: off
    still: StillConfig | None = field(default_factory=StillConfig)
    #: while the flow of the object's pixels shows it growing by more than this per frame
    #: (a zoom, an object coming closer), a mask beyond ``max_area_change`` of the known
    #: size is growth, not a leak, and teaches the size model; a leak does not move the
    #: object's pixels apart
    growth_above: float = 0.01
    #: measure growth from the flow at all (``growth_above``)
    flow_scale: bool = True
    #: ask for the object's whole extent as last known (the prompt box grows to it), so
    #: that a part the mask lost behind an occluder is asked for again; the extent lets
    #: a part go at ``extent_shrink`` of the gap per frame. None: where the segmenter
    #: reads a box as the object's extent (``box_is_extent``: SAM's families; an ideal
    #: segmenter, tools/oracle.py, gains on every cross-validation fold), not for
    #: GrabCut (it lost on every fold: a wider box lets the cut take background)
    extent: bool | None = None
    #: slow: a part stays asked for while it is hidden for a second or so (a bus behind
    #: a tree); chosen by cross-validation
    extent_shrink: float = 0.05
    #: re-prompt with the user's clicks when the mask is doubtful (``--no-reprompt``)
    reprompt: bool = True
    #: a chosen mask scoring below this is doubtful: ask again with box + clicks (SAM's
    #: predicted IoU is above 0.85 on clean frames, GrabCut's colour score above 0.7)
    reprompt_below: float = 0.6
    #: below this (after re-prompting) the mask is hopeless: the object is lost at once
    #: (an empty mask beats a wrong one)
    lost_below: float = 0.3
    #: this many doubtful frames in a row make the object lost: a mask that stays
    #: doubtful for that long is usually on something else
    lost_after: int = 5
    #: a mask whose area grows by more than this factor against the last good one, or
    #: whose box overlaps the prediction less than ``min_box_iou``, is a jump (a leak
    #: into the background, or onto something else); shrinking is not: it is usually
    #: the object going behind something
    max_area_change: float = 2.0
    min_box_iou: float = 0.3
    #: mask choice = ``score_weight`` * score + (1 - ``score_weight``) * IoU of the mask's
    #: box with the prompt box: the score is the better signal, the motion breaks ties
    #: between SAM's nested candidates (SAMURAI weighs motion 0.25)
    score_weight: float = 0.75
    #: colour-histogram similarity (1 - Bhattacharyya distance, HSV) with the object
    #: (the better of the first and the recent good masks) below which a mask is
    #: hopeless: good masks score above 0.5, background pieces and occluders under 0.3
    min_appearance: float = 0.3
    #: a mask scores no better than it looks: below this colour similarity the score is
    #: scaled by similarity / ``trust_appearance``, so that a mask the segmenter is sure
    #: of but which lies on the background, or on one part of the object, is doubtful
    #: and says so; chosen by cross-validation. Only where the score is a colour fit
    #: (GrabCut); a score that judges the object (``scores_object``: SAM's predicted
    #: IoU) stands, as an object whose looks change would be doubted until lost. 0: off
    trust_appearance: float = 0.85
    #: the recent-appearance histogram follows good masks at this rate per frame (slow
    #: lighting and pose changes; 0.1 is about the last ten frames)
    appearance_rate: float = 0.1
    #: while lost, the search box (the last good size around the coasting centre) grows
    #: by this fraction of that size per lost frame, up to ``max_search_growth``: the
    #: longer the object is lost, the further it may be off the coasting path
    search_growth: float = 0.25
    max_search_growth: float = 3.0
    #: a mask whose area differs from the last good one by more than this factor does
    #: not teach the size and appearance models, and its box is corrected to the known
    #: size before it feeds the motion model: a partly hidden object's box shrinks
    #: towards the visible part and would bend the trajectory
    measure_area_change: float = 1.3
    #: a mask smaller than this fraction of the good area does not feed the motion model
    #: at all (it coasts): a sliver's box is dominated by what hides the rest
    measure_min_area: float = 0.3
    #: with optical flow, the object's centre follows the flow of its visible pixels
    #: (right even while it slides behind something), pulled by this gain per steady
    #: frame towards its mask box's centre: enough to undo the flow's drift in ten frames
    flow_box_gain: float = 0.2
    #: to re-acquire, a candidate needs this score, this colour similarity, and an area
    #: between ``reacquire_min_area`` and ``max_area_change`` times the last good one
    #: (an object coming out from behind something shows a part first)
    reacquire_above: float = 0.5
    reacquire_appearance: float = 0.5
    reacquire_min_area: float = 0.3
    #: while lost, pixels whose colour is at least this object-like (back-projection of
    #: the object and surroundings histograms) form the blobs that prompt the search
    blob_threshold: float = 0.5
    #: hand the previous mask, moved by the motion, to the segmenter as a prior
    use_prior: bool = True
    #: SAM: feed the previous frame's low-res logits as ``mask_input``. Off: the logits
    #: sit where the object was, not where it is
    sam_mask_input: bool = False
    #: clean-up of every chosen mask
    postprocess: PostProcess = field(default_factory=PostProcess)

    def __post_init__(self) -> None:
        if self.motion not in ("kalman", "none"):
            raise ValueError(f"motion={self.motion!r}: choose 'kalman' or 'none'")
        for name in ("reprompt_below", "lost_below", "reacquire_above", "score_weight",
                     "extent_shrink", "growth_above",
                     "flow_box_gain", "measure_min_area", "trust_appearance",
                     "min_appearance", "appearance_rate", "reacquire_appearance",
                     "reacquire_min_area", "blob_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r} must be within [0, 1]")
        for name in ("max_area_change", "measure_area_change"):
            if getattr(self, name) < 1.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be at least 1")
        if self.lost_after < 1:
            raise ValueError(f"lost_after={self.lost_after!r} must be at least 1")

    @property
    def uses_flow(self) -> bool:
        return self.flow is not None and self.motion == "kalman"
