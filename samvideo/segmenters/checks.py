"""Checks and conversions the SAM-family backends (SAM 1, MobileSAM, SAM 2.1) share:
frames and prompt requests validated the same way, scores clipped the same way."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from samvideo.segmenters.base import PromptRequest

#: SAM-family low-resolution mask logits are (256, 256) for the 1024-pixel input.
LOW_RES = 256


def clip_scores(scores: np.ndarray | torch.Tensor) -> np.ndarray:
    """Predicted IoUs as (K,) float32 clipped to [0, 1], the protocol's score range."""
    if isinstance(scores, torch.Tensor):
        scores = scores.float().cpu().numpy()
    return np.clip(scores, 0.0, 1.0).astype(np.float32)


def check_frames(frames: Sequence[np.ndarray]) -> tuple[int, int]:
    """Validate a batch of (H, W, 3) uint8 RGB frames of one size; returns their (H, W).

    Raises:
        ValueError: no frames, or one of the wrong type, shape or size (names its index).
    """
    if len(frames) == 0:
        raise ValueError("encode() needs at least one frame, got none")
    first = frames[0]
    for index, frame in enumerate(frames):
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
            kind = getattr(frame, "dtype", type(frame).__name__)
            raise ValueError(f"frame {index} must be a uint8 numpy array, got {kind}")
        if frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
            raise ValueError(f"frame {index} must be (H, W, 3) RGB, got shape {frame.shape}")
        if frame.shape != first.shape:
            raise ValueError(
                f"frame {index} is {frame.shape}, frame 0 is {first.shape}: sizes differ"
            )
    return int(first.shape[0]), int(first.shape[1])


def check_request(request: PromptRequest, index: int) -> None:
    """Validate one prompt request's fields (shapes; a prompt of some kind).

    Raises:
        ValueError: names the request index and the field.
    """
    where = f"request {index}"
    if request.box_xyxy is not None and np.shape(request.box_xyxy) != (4,):
        raise ValueError(
            f"{where}: box_xyxy must have shape (4,), got {np.shape(request.box_xyxy)}"
        )
    points = np.asarray(request.points)
    if points.size and (points.ndim != 2 or points.shape[1] != 2):
        raise ValueError(f"{where}: points must be (N, 2), got shape {points.shape}")
    if len(request.labels) != len(points):
        raise ValueError(f"{where}: {len(points)} points but {len(request.labels)} labels")
    prior = request.prior_logits
    if prior is not None and np.shape(prior) != (1, LOW_RES, LOW_RES):
        raise ValueError(f"{where}: prior_logits must be (1, 256, 256), got {np.shape(prior)}")
    if request.box_xyxy is None and not len(points) and prior is None:
        raise ValueError(f"{where}: needs a box, points or prior_logits")


def group_by(requests: Sequence[PromptRequest], key) -> dict:
    """Request indices grouped by ``key(request)``, groups and members in request order."""
    groups: dict = {}
    for index, request in enumerate(requests):
        groups.setdefault(key(request), []).append(index)
    return groups


def check_predict_inputs(embedding: object, kind: type,
                         requests: Sequence[PromptRequest]) -> None:
    """Validate ``predict``'s inputs: an embedding of the segmenter's ``kind`` and every
    request (:func:`check_request`).

    Raises:
        ValueError: names the embedding's type, or the request index and field.
    """
    if not isinstance(embedding, kind):
        raise ValueError(f"embedding must be a {kind.__name__} from encode(), "
                         f"not {type(embedding).__name__}")
    for index, request in enumerate(requests):
        check_request(request, index)


def predictor_answer(predictor, request: PromptRequest) -> tuple:
    """A family predictor's ``predict`` (``SamPredictor``, ``mobile_sam.SamPredictor``,
    ``SAM2ImagePredictor``: one signature) for one request, as a user calls it; returns
    its (masks, scores, logits)."""
    has_points = len(request.points) > 0
    return predictor.predict(
        point_coords=request.points if has_points else None,
        point_labels=request.labels if has_points else None,
        box=request.box_xyxy,
        mask_input=request.prior_logits,
        multimask_output=request.multimask,
    )
