"""GrabCut backend: OpenCV's GrabCut on a downscaled crop around the box prompt.

It needs no weights, so it is what every user without a SAM checkpoint gets. The
graph is seeded by the box (outside = background), by the previous mask moved by the
motion model (its core = sure foreground, around it = probable foreground), and by
the user's clicks. The foreground colour model learned on the object's first frame
is kept and reused, so a drifting mask cannot teach it the background's colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from samvideo.masks import box_to_mask, clip_box, expand_box, mask_to_box
from samvideo.segmenters.base import Candidates, PromptRequest

_GMM_K = 5  # OpenCV's GrabCut uses 5 Gaussian components per model


@dataclass
class GrabCutEmbedding:
    """GrabCut's "embedding" is the frame itself: (H, W, 3) uint8 RGB."""

    rgb: np.ndarray


class GrabCutSegmenter:
    """OpenCV GrabCut behind the :class:`~samvideo.segmenters.base.Segmenter` protocol."""

    name = "grabcut"

    def __init__(
        self,
        *,
        max_side: int = 160,  # crop is downscaled to this longest side: GrabCut's cost
        # grows with pixels, and 160 px keeps it near 10 ms with DAVIS-grade boundaries
        iterations: int = 2,  # graph-cut rounds; more barely change a well-seeded mask
        margin: float = 0.3,  # search area around the box, as a fraction of its size:
        # room for the object to move past the predicted box
        core_erosion: float = 0.2,  # the prior mask eroded by this fraction of its
        # size is sure foreground: survives a moderately wrong motion estimate
        point_radius: float = 0.03,  # radius of a click's seed disc, as a fraction of
        # the box's longer side
        freeze_colour: bool = True,  # cut with the first frame's foreground colours and
        # this frame's background colours, unchanged: re-learning lets a mask that
        # leaked into the background learn the background as "object"
    ) -> None:
        if max_side < 16:
            raise ValueError(f"max_side={max_side} is too small: use at least 16 pixels")
        self.max_side = max_side
        self.iterations = iterations
        self.margin = margin
        self.core_erosion = core_erosion
        self.point_radius = point_radius
        self.freeze_colour = freeze_colour

    def encode(self, frames: Sequence[np.ndarray]) -> list[GrabCutEmbedding]:
        return [GrabCutEmbedding(np.ascontiguousarray(f)) for f in frames]

    def predict(
        self, embedding: GrabCutEmbedding, requests: Sequence[PromptRequest]
    ) -> list[Candidates]:
        return [self._predict_one(embedding.rgb, r) for r in requests]

    def _predict_one(self, rgb: np.ndarray, req: PromptRequest) -> Candidates:
        h, w = rgb.shape[:2]
        box = _request_box(req, w, h)
        region = _int_box(clip_box(expand_box(box, self.margin, min_pad=8), w, h))
        x0, y0, x1, y1 = region
        scale = min(1.0, self.max_side / max(x1 - x0, y1 - y0))
        crop = rgb[y0:y1, x0:x1]
        size = (max(int(round((x1 - x0) * scale)), 2), max(int(round((y1 - y0) * scale)), 2))
        small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA) if scale < 1 else crop
        bgr = np.ascontiguousarray(small[:, :, ::-1])

        def to_crop(bx):  # frame XYXY -> crop pixels
            return ((bx[0] - x0) * scale, (bx[1] - y0) * scale,
                    (bx[2] - x0) * scale, (bx[3] - y0) * scale)

        seeds = self._seeds(bgr.shape[:2], to_crop(box), req, region, scale)
        if not (seeds == cv2.GC_FGD).any() and not (seeds == cv2.GC_PR_FGD).any():
            return _empty(h, w)
        mask_small, conf = self._cut(bgr, seeds, req.memory)
        mask = np.zeros((h, w), bool)
        if mask_small.any():
            up = cv2.resize(mask_small.astype(np.uint8), (x1 - x0, y1 - y0),
                            interpolation=cv2.INTER_LINEAR if scale < 1 else cv2.INTER_NEAREST)
            mask[y0:y1, x0:x1] = up > 0
        score = conf * _area_agreement(mask, req, box)
        return Candidates(mask[None], np.array([score], np.float32))

    def _seeds(self, shape, box, req: PromptRequest, region, scale: float) -> np.ndarray:
        ch, cw = shape
        seeds = np.full((ch, cw), cv2.GC_BGD, np.uint8)
        # inner half of the margin: probable background (the prediction may be short)
        near = box_to_mask(expand_box(box, self.margin / 2), (ch, cw))
        seeds[near] = cv2.GC_PR_BGD
        inside = box_to_mask(box, (ch, cw))
        if req.prior_mask is None:
            seeds[inside] = cv2.GC_PR_FGD  # a bare box: GrabCut's rectangle mode
        else:
            x0, y0, x1, y1 = region
            prior = req.prior_mask[y0:y1, x0:x1].astype(np.uint8)
            prior = cv2.resize(prior, (cw, ch), interpolation=cv2.INTER_NEAREST)
            seeds[inside] = cv2.GC_PR_BGD
            pbox = mask_to_box(prior > 0)
            if pbox is not None:
                side = min(pbox[2] - pbox[0], pbox[3] - pbox[1])
                grow = max(int(round(0.1 * side)), 1)
                k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
                seeds[(cv2.dilate(prior, k) > 0) & near] = cv2.GC_PR_FGD
                shrink = max(int(round(self.core_erosion * side)), 1)
                k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * shrink + 1, 2 * shrink + 1))
                seeds[cv2.erode(prior, k) > 0] = cv2.GC_FGD
        radius = max(int(round(self.point_radius * max(box[2] - box[0], box[3] - box[1]))), 1)
        for (px, py), label in zip(req.points, req.labels, strict=True):
            cx, cy = (px - region[0]) * scale, (py - region[1]) * scale
            value = cv2.GC_FGD if label == 1 else cv2.GC_BGD
            cv2.circle(seeds, (int(round(cx)), int(round(cy))), radius, int(value), -1)
        return seeds

    def _cut(self, bgr: np.ndarray, seeds: np.ndarray, memory: dict) -> tuple[np.ndarray, float]:
        """Run GrabCut; return the (h, w) bool mask and a colour confidence in [0, 1]."""
        mask = seeds.copy()
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        try:
            # iterCount=0: learn this frame's colour models from the seeds, no cut yet
            cv2.grabCut(bgr, mask, None, bgd, fgd, 0, cv2.GC_INIT_WITH_MASK)
            first_fgd = memory.get("grabcut_fgd")
            if first_fgd is not None:
                fgd = first_fgd.copy()  # the object's colours as first seen
            freeze = first_fgd is not None and self.freeze_colour
            mode = cv2.GC_EVAL_FREEZE_MODEL if freeze else cv2.GC_EVAL
            cv2.grabCut(bgr, mask, None, bgd, fgd, 1 if freeze else self.iterations, mode)
        except cv2.error:  # too few pixels of one label to fit a model
            return np.zeros(seeds.shape, bool), 0.0
        out = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
        if first_fgd is None and out.any():
            memory["grabcut_fgd"] = fgd.copy()
        model_fgd = memory.get("grabcut_fgd", fgd)
        return out, _colour_confidence(bgr, out, model_fgd, bgd)


def _request_box(req: PromptRequest, w: int, h: int) -> tuple[float, float, float, float]:
    if req.box_xyxy is not None:
        return clip_box(tuple(float(v) for v in req.box_xyxy), w, h)
    fg = req.points[req.labels == 1]
    if len(fg) == 0:
        raise ValueError("GrabCut needs a box or at least one foreground point")
    x1, y1 = fg.min(axis=0)
    x2, y2 = fg.max(axis=0)
    pad = max(x2 - x1, y2 - y1, 20) * 0.5
    return clip_box((x1 - pad, y1 - pad, x2 + pad, y2 + pad), w, h)


def _int_box(box) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    return int(np.floor(x1)), int(np.floor(y1)), int(np.ceil(x2)), int(np.ceil(y2))


def _empty(h: int, w: int) -> Candidates:
    return Candidates(np.zeros((1, h, w), bool), np.zeros(1, np.float32))


def _gmm_loglik(pixels: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Log-likelihood of (N, 3) float pixels under an OpenCV GrabCut GMM (1, 65) array."""
    m = model.reshape(-1)
    weights, means, covs = m[:_GMM_K], m[_GMM_K:4 * _GMM_K].reshape(_GMM_K, 3), m[4 * _GMM_K:]
    covs = covs.reshape(_GMM_K, 3, 3)
    total = np.zeros(len(pixels))
    for k in range(_GMM_K):
        if weights[k] <= 0:
            continue
        cov = covs[k] + np.eye(3) * 1e-2
        inv = np.linalg.inv(cov)
        d = pixels - means[k]
        maha = np.einsum("ni,ij,nj->n", d, inv, d)
        total += weights[k] * np.exp(-0.5 * maha) / np.sqrt((2 * np.pi) ** 3 * np.linalg.det(cov))
    return np.log(total + 1e-300)


def _colour_confidence(bgr, mask, fgd, bgd) -> float:
    """Mean posterior P(foreground | colour) over the mask's pixels (0 for an empty mask)."""
    if not mask.any():
        return 0.0
    px = bgr[mask].astype(np.float64)
    if len(px) > 4000:  # a subsample gives the same mean at a fraction of the cost
        px = px[:: len(px) // 4000]
    lf, lb = _gmm_loglik(px, fgd), _gmm_loglik(px, bgd)
    post = 1.0 / (1.0 + np.exp(np.clip(lb - lf, -50, 50)))
    return float(post.mean())


def _area_agreement(mask: np.ndarray, req: PromptRequest, box) -> float:
    """How well the mask's size fits what was expected (the prior mask, else the box)."""
    area = float(mask.sum())
    if req.prior_mask is not None:
        expected = float(req.prior_mask.sum())
    else:
        expected = 0.5 * (box[2] - box[0]) * (box[3] - box[1])  # objects fill ~half a box
    if area == 0 or expected == 0:
        return 0.0
    ratio = min(area, expected) / max(area, expected)
    return float(min(1.0, ratio / 0.7))  # within ±30 % of the expected size is fine
