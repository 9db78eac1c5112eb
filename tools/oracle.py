"""An oracle segmenter built from the ground truth: what an ideal promptable model would
answer, so that a run measures what the tracking policy itself loses.

For a box prompt it looks at the ground-truth pixels of that frame:

* a box that misses the object (no ground truth inside the box grown by 10 % of its
  size) gets an empty mask with score 0;
* otherwise three nested candidates: the ground truth inside the tight box, inside the
  grown box, and the ground-truth components that the grown box touches; each scored
  by its true IoU with the whole object (an ideal score).

A point-only prompt is the box of its points grown by 20 px. The oracle finds which
frame it is given by the frame's pixels (a hash of each decoded frame of the clip), so
it runs through the same :class:`samvideo.run.Run` as any model. An evaluation
instrument only: never part of the package.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from samvideo.masks import box_to_mask, clip_box, expand_box
from samvideo.metrics import VOID_LABEL, list_mask_files, read_mask
from samvideo.segmenters.base import Candidates, PromptRequest
from samvideo.video import VideoReader

POINT_PAD = 20.0  # a point-only prompt: the box of its points grown by this many pixels
GROW = 0.1  # the prompt box grown by this fraction of its size, on each side


def frame_key(rgb: np.ndarray) -> bytes:
    """A digest of an (H, W, 3) uint8 frame's pixels."""
    return hashlib.blake2b(np.ascontiguousarray(rgb).tobytes(), digest_size=16).digest()


class OracleSegmenter:
    """A :class:`~samvideo.segmenters.base.Segmenter` that answers from the ground truth
    of one clip: ``source`` (what ``samvideo track`` reads) and ``masks`` (one PNG per
    frame, DAVIS style)."""

    name = "oracle"
    #: an ideal promptable model: the object the box frames
    box_is_extent = True
    #: the score is the candidate's true IoU with the object
    scores_object = True
    #: like SAM's families, it reads the prompt box and points: not the prior mask's
    #: pixels, not the still-background cue
    reads_prior_mask = False
    reads_background = False

    def __init__(self, source: str | Path, masks: str | Path) -> None:
        files = list_mask_files(masks)
        self.truth = []
        for path in files:
            labels = read_mask(path)
            self.truth.append((labels > 0) & (labels != VOID_LABEL))
        self.index: dict[bytes, list[int]] = {}
        with VideoReader(source) as reader:
            for frame in reader:
                self.index.setdefault(frame_key(frame.rgb), []).append(frame.index)
        self._used: dict[bytes, int] = {}

    def encode(self, frames: list[np.ndarray]) -> list[int]:
        out = []
        for rgb in frames:
            key = frame_key(rgb)
            indices = self.index.get(key)
            if not indices:
                raise ValueError("oracle: a frame that is not in the clip")
            k = self._used.get(key, 0)
            self._used[key] = k + 1
            out.append(indices[min(k, len(indices) - 1)])
        return out

    def predict(self, embedding: int, requests: list[PromptRequest]) -> list[Candidates]:
        truth = self.truth[embedding] if 0 <= embedding < len(self.truth) else None
        return [self._answer(truth, r) for r in requests]

    def _answer(self, truth: np.ndarray | None, req: PromptRequest) -> Candidates:
        shape = truth.shape if truth is not None else (1, 1)
        h, w = shape
        if req.box_xyxy is not None:
            box = tuple(float(v) for v in req.box_xyxy)
        else:
            pts = req.points[req.labels == 1] if len(req.points) else req.points
            x1, y1 = pts.min(axis=0)
            x2, y2 = pts.max(axis=0) + 1
            box = (x1 - POINT_PAD, y1 - POINT_PAD, x2 + POINT_PAD, y2 + POINT_PAD)
        box = clip_box(box, w, h)
        empty = np.zeros((3, h, w), bool)
        if truth is None or not truth.any() or box[2] <= box[0] or box[3] <= box[1]:
            return Candidates(empty, np.zeros(3, np.float32))
        grown = clip_box(expand_box(box, GROW), w, h)
        inside = truth & box_to_mask(grown, shape)
        if not inside.any():
            return Candidates(empty, np.zeros(3, np.float32))
        tight = truth & box_to_mask(box, shape)
        _, labels = cv2.connectedComponents(truth.astype(np.uint8), connectivity=8)
        touched = np.unique(labels[inside])
        parts = np.isin(labels, touched[touched > 0])
        masks = np.stack([tight, inside, parts])
        scores = np.array([(m & truth).sum() / (m | truth).sum() if m.any() else 0.0
                           for m in masks], np.float32)
        return Candidates(masks, scores)
