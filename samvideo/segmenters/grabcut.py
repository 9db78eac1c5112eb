"""GrabCut backend: OpenCV's GrabCut on a downscaled crop around the prompt.

It needs no weights, so it is what every user without a SAM checkpoint gets.

* A bare box (the user's first frame, or a search while the object is lost) runs
  GrabCut's rectangle mode: outside the box is background, inside is to be decided.
* With a prior (the previous mask moved by optical flow or the motion model, which the
  tracker sends on every tracked frame), the prior's core (its pixels deeper than
  ``core`` of its thickness) is sure foreground, everything further than ``reach``
  from it is sure background, and the cut decides the band in between.
* Clicks are discs of sure foreground / background.

The colour models: the foreground model learned on the object's first frame is kept in
the request's ``memory`` together with a sample of the first frame's object pixels;
later frames learn their models from this frame's seeds *plus* that sample, so the
model follows slow lighting changes but a mask that leaks into the background cannot
teach the model that the background is the object (``colour="first+frame"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from samvideo.masks import box_to_mask, clip_box, expand_box, mask_to_box
from samvideo.segmenters.base import Candidates, PromptRequest

_GMM_K = 5  # OpenCV's GrabCut uses 5 Gaussian components per model
_SEED = 1234  # GrabCut's k-means initialisation draws from OpenCV's RNG: seeded per call
# so that a frame always gives the same mask, whatever ran before (--resume relies on it)
COLOUR_MODES = ("frame", "first", "first+frame")


@dataclass
class GrabCutEmbedding:
    """GrabCut's "embedding" is the frame itself: (H, W, 3) uint8 RGB."""

    rgb: np.ndarray


class GrabCutSegmenter:
    """OpenCV GrabCut behind the :class:`~samvideo.segmenters.base.Segmenter` protocol.

    Returns one candidate per request: a (1, H, W) bool mask and a score in [0, 1] (the
    mean foreground posterior of the mask's pixels under the colour models, times the
    agreement of its area with the prior's).
    """

    name = "grabcut"

    def __init__(
        self,
        *,
        max_side: int = 200,  # tracked frames: the crop is downscaled to this longest
        # side. GrabCut's cost grows with pixels; 200 px keeps a frame near 25 ms on one
        # core and loses little boundary accuracy after the upsampling
        first_max_side: int = 320,  # a bare box (first frame, search): the mask made
        # here seeds every later frame, so it gets more pixels and iterations
        iterations: int = 2,  # graph-cut rounds on tracked frames (a good prior is
        # already close: the second round mostly settles the colour models)
        first_iterations: int = 4,  # rounds in rectangle mode, which starts from nothing
        margin: float = 0.1,  # rectangle mode: the box grown by this fraction is the
        # crop; its outside is sure background (user boxes are nearly tight)
        core: float = 0.5,  # prior pixels deeper than this fraction of the prior's
        # thickness (largest inscribed radius) are sure foreground: survives a prior
        # that is off by half the object's thickness
        reach: float = 0.15,  # pixels further than this fraction of the prior's box
        # size (its mean side) from the prior are sure background: how far the mask may
        # grow in one frame beyond where flow put it
        min_reach_px: float = 6.0,  # ...but at least this many frame pixels
        point_radius: float = 0.03,  # radius of a click's seed disc, as a fraction of
        # the box's longer side
        colour: str = "first+frame",  # which colour models cut a tracked frame:
        # "frame" re-learns both from this frame's seeds, "first" keeps the first
        # frame's foreground model frozen, "first+frame" learns from this frame's seeds
        # plus a sample of the first frame's object pixels (see the module docstring)
        colour_sample: int = 1024,  # object pixels of the first frame kept for that
    ) -> None:
        if max_side < 16 or first_max_side < 16:
            raise ValueError(f"max_side={max_side}, first_max_side={first_max_side}: use at "
                             "least 16 pixels")
        if colour not in COLOUR_MODES:
            raise ValueError(f"colour={colour!r}: choose one of {', '.join(COLOUR_MODES)}")
        if iterations < 1 or first_iterations < 1:
            raise ValueError(f"iterations={iterations}, first_iterations={first_iterations}: "
                             "need at least 1")
        self.max_side = max_side
        self.first_max_side = first_max_side
        self.iterations = iterations
        self.first_iterations = first_iterations
        self.margin = margin
        self.core = core
        self.reach = reach
        self.min_reach_px = min_reach_px
        self.point_radius = point_radius
        self.colour = colour
        self.colour_sample = colour_sample

    def encode(self, frames: Sequence[np.ndarray]) -> list[GrabCutEmbedding]:
        return [GrabCutEmbedding(np.ascontiguousarray(f)) for f in frames]

    def predict(
        self, embedding: GrabCutEmbedding, requests: Sequence[PromptRequest]
    ) -> list[Candidates]:
        return [self._predict_one(embedding.rgb, r) for r in requests]

    # -- one request --------------------------------------------------------------------

    def _predict_one(self, rgb: np.ndarray, req: PromptRequest) -> Candidates:
        h, w = rgb.shape[:2]
        box = _request_box(req, w, h)
        prior = req.prior_mask if req.prior_mask is not None and req.prior_mask.any() else None
        first = "grabcut_fgd" not in req.memory  # the object's first cut: more effort
        if prior is None:
            region = clip_box(expand_box(box, self.margin, min_pad=4), w, h)
        else:
            pbox = mask_to_box(prior)
            region = clip_box(expand_box(_union(pbox, box), self.reach, min_pad=8), w, h)
        max_side = self.first_max_side if first else self.max_side
        x0, y0, x1, y1 = _int_box(region)
        scale = min(1.0, max_side / max(x1 - x0, y1 - y0))
        crop = rgb[y0:y1, x0:x1]
        size = (max(int(round((x1 - x0) * scale)), 4), max(int(round((y1 - y0) * scale)), 4))
        small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA) if scale < 1 else crop
        bgr = np.ascontiguousarray(small[:, :, ::-1])
        origin = (x0, y0)
        if prior is None:
            seeds = self._rect_seeds(bgr.shape[:2], box, origin, scale)
        else:
            seeds = self._prior_seeds(prior[y0:y1, x0:x1], bgr.shape[:2], scale)
        self._click_seeds(seeds, req, box, origin, scale)
        if not ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).any():
            return _empty(h, w)
        iterations = self.first_iterations if first else self.iterations
        cut, conf = self._cut(bgr, seeds, req.memory, iterations, first=first)
        mask = np.zeros((h, w), bool)
        if cut.any():
            if scale < 1:
                up = cv2.resize(cut.astype(np.float32), (x1 - x0, y1 - y0),
                                interpolation=cv2.INTER_LINEAR)
                mask[y0:y1, x0:x1] = up > 0.5
            else:
                mask[y0:y1, x0:x1] = cut
        score = conf * _area_agreement(mask, prior, box)
        return Candidates(mask[None], np.array([score], np.float32))

    # -- seeds --------------------------------------------------------------------------

    def _rect_seeds(self, shape, box, origin, scale: float) -> np.ndarray:
        """Rectangle mode: outside the box sure background, inside probably foreground."""
        seeds = np.full(shape, cv2.GC_BGD, np.uint8)
        seeds[box_to_mask(_to_crop(box, origin, scale), shape)] = cv2.GC_PR_FGD
        return seeds

    def _prior_seeds(self, prior_crop: np.ndarray, shape, scale: float) -> np.ndarray:
        """Prior mode: core sure foreground, the prior probable foreground, a band of
        ``reach`` around it probable background, beyond it sure background."""
        ch, cw = shape
        prior = cv2.resize(prior_crop.astype(np.uint8), (cw, ch), interpolation=cv2.INTER_NEAREST)
        seeds = np.full(shape, cv2.GC_BGD, np.uint8)
        pbox = mask_to_box(prior > 0)
        if pbox is None:
            return seeds
        side = 0.5 * ((pbox[2] - pbox[0]) + (pbox[3] - pbox[1]))
        reach = max(self.reach * side, self.min_reach_px * scale, 1.0)
        outside = cv2.distanceTransform((prior == 0).astype(np.uint8), cv2.DIST_L2, 3)
        seeds[outside <= reach] = cv2.GC_PR_BGD
        seeds[prior > 0] = cv2.GC_PR_FGD
        inside = cv2.distanceTransform(np.pad(prior, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        thickness = float(inside.max())
        if thickness >= 2:
            seeds[inside >= max(self.core * thickness, 1.0)] = cv2.GC_FGD
        return seeds

    def _click_seeds(self, seeds: np.ndarray, req: PromptRequest, box, origin, scale) -> None:
        radius = max(int(round(self.point_radius * scale * max(box[2] - box[0],
                                                                box[3] - box[1]))), 1)
        for (px, py), label in zip(req.points, req.labels, strict=True):
            cx, cy = (px - origin[0]) * scale, (py - origin[1]) * scale
            value = cv2.GC_FGD if label == 1 else cv2.GC_BGD
            cv2.circle(seeds, (int(round(cx)), int(round(cy))), radius, int(value), -1)

    # -- the cut ------------------------------------------------------------------------

    def _cut(self, bgr: np.ndarray, seeds: np.ndarray, memory: dict, iterations: int,
             *, first: bool) -> tuple[np.ndarray, float]:
        """Run GrabCut on (h, w, 3) uint8 BGR with (h, w) uint8 seed labels.

        Returns the (h, w) bool mask and a colour confidence in [0, 1].
        """
        sample = memory.get("grabcut_sample")
        use_sample = self.colour == "first+frame" and sample is not None and not first
        image, labels = (_with_sample(bgr, seeds, sample) if use_sample else (bgr, seeds.copy()))
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        first_fgd = memory.get("grabcut_fgd")
        freeze = self.colour == "first" and first_fgd is not None and not first
        cv2.setRNGSeed(_SEED)
        try:
            cv2.grabCut(image, labels, None, bgd, fgd, 0, cv2.GC_INIT_WITH_MASK)
            if freeze:
                fgd = np.array(first_fgd, np.float64).reshape(1, 65)
                cv2.grabCut(image, labels, None, bgd, fgd, 1, cv2.GC_EVAL_FREEZE_MODEL)
            else:
                cv2.grabCut(image, labels, None, bgd, fgd, iterations, cv2.GC_EVAL)
        except cv2.error:  # too few pixels of one label to fit a model
            return np.zeros(seeds.shape, bool), 0.0
        labels = labels[: seeds.shape[0]]
        out = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
        if "grabcut_fgd" not in memory and out.any():
            memory["grabcut_fgd"] = fgd.copy()
            memory["grabcut_sample"] = _sample_pixels(bgr, out, self.colour_sample)
        # the score asks whether the mask has the object's colours as first seen: a cut
        # that followed this frame's seeds onto the background scores low
        return out, _colour_confidence(bgr, out, memory.get("grabcut_fgd", fgd), bgd)


def _with_sample(bgr: np.ndarray, seeds: np.ndarray, sample: np.ndarray):
    """Append the first frame's object pixels below the crop as sure-foreground rows.

    Their colours join the foreground model; they sit under a row of sure background
    (the crop's own border rows are sure background too), so they cannot pull the cut.
    """
    h, w = seeds.shape
    n = len(sample)
    rows = -(-n // w)
    strip = np.zeros((rows, w, 3), np.uint8)
    strip.reshape(-1, 3)[:n] = sample
    if rows * w > n:  # pad by repeating the sample
        strip.reshape(-1, 3)[n:] = sample[np.arange(rows * w - n) % n]
    image = np.ascontiguousarray(np.vstack([bgr, np.zeros((1, w, 3), np.uint8), strip]))
    labels = np.vstack([seeds, np.full((1, w), cv2.GC_BGD, np.uint8),
                        np.full((rows, w), cv2.GC_FGD, np.uint8)])
    return image, labels


def _sample_pixels(bgr: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` (N, 3) uint8 BGR pixels of the mask, evenly spread."""
    px = bgr[mask]
    if len(px) > n:
        px = px[np.linspace(0, len(px) - 1, n).astype(int)]
    return np.ascontiguousarray(px, dtype=np.uint8)


def _union(a, b):
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _to_crop(box, origin, scale: float):
    """Frame XYXY -> crop pixels."""
    return ((box[0] - origin[0]) * scale, (box[1] - origin[1]) * scale,
            (box[2] - origin[0]) * scale, (box[3] - origin[1]) * scale)


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


def _gmm_likelihood(pixels: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Likelihood of (N, 3) float64 pixels under an OpenCV GrabCut GMM (1, 65) array."""
    m = np.asarray(model, np.float64).reshape(-1)
    weights, means = m[:_GMM_K], m[_GMM_K:4 * _GMM_K].reshape(_GMM_K, 3)
    covs = m[4 * _GMM_K:].reshape(_GMM_K, 3, 3) + np.eye(3) * 1e-2
    total = np.zeros(len(pixels))
    for k in np.flatnonzero(weights > 0):
        inv = np.linalg.inv(covs[k])
        d = pixels - means[k]
        maha = np.einsum("ni,ij,nj->n", d, inv, d)
        norm = np.sqrt((2 * np.pi) ** 3 * np.linalg.det(covs[k]))
        total += weights[k] * np.exp(-0.5 * maha) / norm
    return total


def _colour_confidence(bgr, mask, fgd, bgd) -> float:
    """Mean posterior P(foreground | colour) over the mask's pixels (0 for an empty mask)."""
    if not mask.any():
        return 0.0
    px = bgr[mask].astype(np.float64)
    if len(px) > 1000:  # a subsample gives the same mean at a fraction of the cost
        px = px[:: len(px) // 1000]
    lf, lb = _gmm_likelihood(px, fgd), _gmm_likelihood(px, bgd)
    post = (lf + 1e-300) / (lf + lb + 2e-300)
    return float(post.mean())


def _area_agreement(mask: np.ndarray, prior: np.ndarray | None, box) -> float:
    """How well the mask's size fits what was expected (the prior mask, else the box)."""
    area = float(mask.sum())
    if prior is not None:
        expected = float(prior.sum())
    else:
        expected = 0.5 * (box[2] - box[0]) * (box[3] - box[1])  # objects fill ~half a box
    if area == 0 or expected == 0:
        return 0.0
    ratio = min(area, expected) / max(area, expected)
    return float(min(1.0, ratio / 0.7))  # within ±30 % of the expected size is fine
