"""The one interface every segmenter backend offers.

A segmenter works in two steps, mirroring SAM: ``encode`` turns frames into
embeddings and never depends on prompts (so frames can be encoded ahead, in
batches), and ``predict`` turns one embedding plus one prompt per object into
candidate masks with scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass
class PromptRequest:
    """What the tracker asks the segmenter for one object on one frame.

    Attributes:
        box_xyxy: (4,) float XYXY pixels of the frame (x2, y2 exclusive), or None.
        points: (N, 2) float32 (x, y) pixels; may be empty.
        labels: (N,) int32, 1 = foreground click, 0 = background click.
        prior_mask: (H, W) bool, the previous mask moved to where the motion model
            expects it, or None. GrabCut seeds its graph with it; SAM may ignore it.
        prior_logits: SAM's (1, 256, 256) float32 low-res logits of the previous
            frame's chosen mask, or None; only SAM uses it (as ``mask_input``).
        multimask: ask for several candidates (SAM: 3) rather than one.
        background: (H, W) bool pixels known not to be the object, or None: the part of
            the prior that moves with the background while the object moves
            (:meth:`~samvideo.motion.FlowWarp.still_part`). GrabCut makes them sure
            background; the SAM family ignores them, and says so
            (:attr:`Segmenter.reads_background`), so the tracker leaves it None for them.
        memory: per-object scratch space the tracker keeps between frames and hands
            back on every request; a backend may keep object state in it (GrabCut keeps
            the first frame's colour model and the last background model there).
            Starts empty.
    """

    box_xyxy: np.ndarray | None
    points: np.ndarray
    labels: np.ndarray
    prior_mask: np.ndarray | None = None
    prior_logits: np.ndarray | None = None
    multimask: bool = True
    memory: dict = field(default_factory=dict)
    background: np.ndarray | None = None

    @classmethod
    def make(
        cls,
        box: Sequence[float] | None,
        points: Sequence[Sequence[float]] = (),
        neg_points: Sequence[Sequence[float]] = (),
        **kwargs: Any,
    ) -> PromptRequest:
        pts = np.array([*points, *neg_points], dtype=np.float32).reshape(-1, 2)
        labels = np.array([1] * len(points) + [0] * len(neg_points), dtype=np.int32)
        box_arr = None if box is None else np.asarray(box, dtype=np.float32).reshape(4)
        return cls(box_arr, pts, labels, **kwargs)


@dataclass
class Candidates:
    """Candidate masks for one object on one frame, best guess first is not implied.

    Attributes:
        masks: (K, H, W) bool, K >= 1 candidates at frame resolution.
        scores: (K,) float32 in [0, 1]; SAM: predicted IoU; GrabCut: its own score.
        logits: (K, 256, 256) float32 SAM low-res logits (to feed back as a prior), or None.
    """

    masks: np.ndarray
    scores: np.ndarray
    logits: np.ndarray | None = None


@runtime_checkable
class Segmenter(Protocol):
    """A segmentation backend (SAM, GrabCut, or a test double)."""

    #: Short name written to run.json, e.g. ``"sam:vit_b"`` or ``"grabcut"``.
    name: str

    #: Whether :meth:`predict` reads :attr:`PromptRequest.background` (the still-background
    #: cue, which costs the tracker a homography fit per object and frame): GrabCut does,
    #: the SAM family does not. A backend that does not say is given it.
    reads_background: bool

    #: Whether :meth:`predict` reads :attr:`PromptRequest.prior_mask` pixel by pixel
    #: (GrabCut seeds its cut with it), rather than only the prompt box made from it (the
    #: SAM family): for the latter the tracker moves the prior with a coarser flow
    #: (:attr:`~samvideo.motion.FlowConfig.box_max_side`). A backend that does not say
    #: reads it.
    reads_prior_mask: bool

    #: Whether a box prompt is read as the object's extent (the SAM family segments the
    #: object the box frames), rather than as where the object may be (GrabCut: all
    #: outside is background, inside is the cut's to decide, so a looser box lets
    #: background in). A backend that does not say reads it GrabCut's way.
    box_is_extent: bool

    #: Whether a candidate's score estimates how well it covers the object the box frames
    #: (the SAM family's predicted IoU), rather than how well its colours fit (GrabCut's);
    #: where it does not, the tracker has the mask's looks vouch for the score
    #: (:attr:`~samvideo.tracker.TrackerConfig.trust_appearance`). A backend that does not
    #: say is judged by its looks.
    scores_object: bool

    def encode(self, frames: Sequence[np.ndarray]) -> list[Any]:
        """Embed frames; ``frames`` are (H, W, 3) uint8 RGB, all the same size.

        Returns one opaque embedding per frame, to be passed to :meth:`predict`.
        """
        ...

    def predict(self, embedding: Any, requests: Sequence[PromptRequest]) -> list[Candidates]:
        """Segment every requested object of one frame in one call."""
        ...
