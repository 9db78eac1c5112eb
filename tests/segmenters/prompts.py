"""Frames and prompt requests the SAM-family segmenter tests share (SAM, MobileSAM,
SAM 2.1): a frame with an object, every prompt shape the tracker sends, and how a user
calls a family's own predictor with one of them."""

from __future__ import annotations

import numpy as np

from samvideo.segmenters.base import PromptRequest


def make_frame(h: int = 360, w: int = 480, seed: int = 0) -> np.ndarray:
    """(h, w, 3) uint8 RGB: a noisy gradient with a red ellipse at about 55 % / 50 %."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w * 200, yy / h * 200, (xx + yy) / (h + w) * 255], -1)
    img += rng.normal(0, 12, (h, w, 3))
    inside = ((xx - 0.55 * w) / (0.18 * w)) ** 2 + ((yy - 0.5 * h) / (0.25 * h)) ** 2 < 1
    img[inside] = np.array([220, 40, 40]) + rng.normal(0, 8, (int(inside.sum()), 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def object_box(h: int = 360, w: int = 480) -> list[float]:
    """XYXY box of :func:`make_frame`'s ellipse."""
    return [0.37 * w, 0.25 * h, 0.73 * w, 0.75 * h]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def varied_requests(h: int = 360, w: int = 480, prior: np.ndarray | None = None) -> list:
    """Every prompt shape the tracker sends: box, box + clicks, clicks only, prior, single."""
    box = object_box(h, w)
    inside, outside = (0.55 * w, 0.5 * h), (0.1 * w, 0.1 * h)
    requests = [
        PromptRequest.make(box),
        PromptRequest.make(box, points=[inside], neg_points=[outside]),
        PromptRequest.make(None, points=[inside]),
        PromptRequest.make(None, points=[inside, (0.6 * w, 0.55 * h)]),
        PromptRequest.make([10, 20, 200, 150]),
        PromptRequest.make(box, multimask=False),
    ]
    if prior is not None:
        requests.append(PromptRequest.make(box, prior_logits=prior))
        requests.append(PromptRequest.make(None, prior_logits=prior))
    return requests


def predictor_outputs(predictor, request: PromptRequest):
    """A predictor's ``predict`` (``SamPredictor``, ``mobile_sam.SamPredictor``,
    ``SAM2ImagePredictor``: the same signature) for one request, as a user would call it."""
    has_points = len(request.points) > 0
    return predictor.predict(
        point_coords=request.points if has_points else None,
        point_labels=request.labels if has_points else None,
        box=request.box_xyxy,
        mask_input=request.prior_logits,
        multimask_output=request.multimask,
    )
