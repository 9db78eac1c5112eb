"""The GrabCut segmenter (see :mod:`samvideo.segmenters.grabcut`)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from samvideo.masks import (
    box_iou,
    box_to_mask,
    clip_box,
    expand_box,
    guided_filter,
    mask_to_box,
    resize_mask,
)
from samvideo.segmenters.base import Candidates, PromptRequest
from samvideo.segmenters.grabcut.config import MIN_MODEL_PIXELS, GrabCutConfig, GrabCutEmbedding
from samvideo.segmenters.grabcut.gmm import colour_confidence, fit_gmm, posterior
from samvideo.segmenters.grabcut.graphcut import GraphCut, frozen_cut

_BACKGROUND_SAMPLE = 4096  # background pixels a tracked frame's model is fitted to


class GrabCutSegmenter:
    """OpenCV GrabCut behind the :class:`~samvideo.segmenters.base.Segmenter` protocol.

    Returns one candidate per request: a (1, H, W) bool mask and a score in [0, 1]: the
    mean foreground posterior of the mask's pixels (first-frame object colours against
    this frame's background colours), times the agreement of its area with the prior's
    (or, for a bare box, with half the box).
    """

    name = "grabcut"
    #: the still-background cue becomes sure background
    reads_background = True
    #: the prior mask's pixels seed the cut
    reads_prior_mask = True
    #: a box is where the object may be: a looser one lets the cut take background
    box_is_extent = False
    #: the score is a colour fit: the tracker has the mask's looks vouch for it
    scores_object = False

    def __init__(self, config: GrabCutConfig | None = None) -> None:
        self.config = config or GrabCutConfig()

    def encode(self, frames: Sequence[np.ndarray]) -> list[GrabCutEmbedding]:
        return [GrabCutEmbedding(np.ascontiguousarray(f)) for f in frames]

    def predict(
        self, embedding: GrabCutEmbedding, requests: Sequence[PromptRequest]
    ) -> list[Candidates]:
        return [self._predict_one(embedding.rgb, r) for r in requests]

    # -- one request --------------------------------------------------------------------

    def _predict_one(self, rgb: np.ndarray, req: PromptRequest) -> Candidates:
        h, w = rgb.shape[:2]
        box = _request_box(req, w, h) if req.box_xyxy is not None else self._extent(rgb, req)
        prior = req.prior_mask if req.prior_mask is not None and req.prior_mask.any() else None
        first = "grabcut_fgd" not in req.memory  # the object's first cut: more effort
        cfg = self.config
        if prior is not None:
            mask, conf = self._segment(rgb, req, box, prior, cfg.reach, cfg.max_side,
                                       cfg.iterations, req.memory)
        elif not first:
            mask, conf = self._segment(rgb, req, box, None, cfg.margin, cfg.max_side,
                                       cfg.iterations, req.memory)
        else:
            mask, conf = self._first_cut(rgb, req, box)
        score = conf * _area_agreement(mask, prior, box)
        return Candidates(mask[None], np.array([score], np.float32))

    def _extent(self, rgb: np.ndarray, req: PromptRequest) -> tuple[float, float, float, float]:
        """The box of the object a click (or clicks, without a box) is on, from
        rectangle-mode cuts in growing squares around the clicks (``extent_scales`` of
        the frame's shorter side, each centred on what the last one found). A square
        inside the object cuts little more than the clicks (its surroundings have the
        object's colours), one the object overflows cuts up to its edge, one that holds
        it cuts it out: of the cuts around the clicks that are substantial
        (``extent_min_fill`` of the square) and stay clear of the square's edges, the one
        whose colours are the most clearly the object's wins (the colour confidence
        GrabCut scores with: a cut that took background along scores lower), and its
        box, grown by ``margin``, is the box."""
        h, w = rgb.shape[:2]
        fg = req.points[req.labels == 1]
        if len(fg) == 0:
            raise ValueError("GrabCut needs a box or at least one foreground point")
        (x1, y1), (x2, y2) = fg.min(axis=0), fg.max(axis=0)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        found, best = _request_box(req, w, h), -1.0  # the clicks' own box: nothing found
        for scale in self.config.extent_scales:
            half = max(scale * min(h, w), x2 - x1, y2 - y1) / 2
            square = clip_box((cx - half, cy - half, cx + half, cy + half), w, h)
            mask, conf = self._segment(rgb, req, square, None, self.config.extent_margin,
                                       self.config.extent_max_side, 2, {})
            part = _part_at(mask, fg)
            side = max(square[2] - square[0], square[3] - square[1])
            if part is None or part.sum() < self.config.extent_min_fill * side * side:
                continue  # the square lies inside the object: its surroundings look alike
            box = mask_to_box(part)
            if _reaches_edge(part, square, (w, h), self.config.extent_edge):
                cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2  # grow around it
                if best < 0:
                    found = box
            elif conf > best:
                found, best = box, conf
        return clip_box(expand_box(found, self.config.margin), w, h)

    def _first_cut(self, rgb: np.ndarray, req: PromptRequest, box) -> tuple[np.ndarray, float]:
        """Rectangle mode on the object's first frame. A user's box is nearly tight, so a
        mask whose own box fills less than ``min_box_fit`` of it (IoU) missed the object
        (a background model from a thin margin can explain most of it); then the cut is
        tried again with a wider margin and more pixels, and the better fit is kept."""
        best = None
        for margin, side in ((self.config.margin, self.config.first_max_side),
                             (self.config.retry_margin, int(self.config.first_max_side * 1.25))):
            memory: dict = {}
            mask, conf = self._segment(rgb, req, box, None, margin, side,
                                       self.config.first_iterations, memory)
            fit = box_iou(mask_to_box(mask), box) if mask.any() else 0.0
            if best is None or fit * conf > best[0]:
                best = (fit * conf, mask, conf, memory)
            if fit >= self.config.min_box_fit:
                break
        _, mask, conf, memory = best
        req.memory.update(memory)
        return mask, conf

    def _segment(self, rgb, req: PromptRequest, box, prior, margin: float, max_side: int,
                 iterations: int, memory: dict) -> tuple[np.ndarray, float]:
        """One GrabCut on a crop: the (H, W) bool mask and the colour confidence."""
        h, w = rgb.shape[:2]
        if prior is None:
            region = clip_box(expand_box(box, margin, min_pad=4), w, h)
        else:
            region = clip_box(expand_box(_union(mask_to_box(prior), box), margin, min_pad=8),
                              w, h)
        x0, y0, x1, y1 = _int_box(region)
        scale = min(1.0, max_side / max(x1 - x0, y1 - y0))
        crop = rgb[y0:y1, x0:x1]
        size = (max(int(round((x1 - x0) * scale)), 4), max(int(round((y1 - y0) * scale)), 4))
        small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA) if scale < 1 else crop
        bgr = np.ascontiguousarray(small[:, :, ::-1])
        origin = (x0, y0)
        near = None  # prior mode: the sure background next to the band (``regrow``)
        if prior is None:
            seeds = self._rect_seeds(bgr.shape[:2], box, origin, scale)
        else:
            seeds, near = self._prior_seeds(prior[y0:y1, x0:x1], bgr.shape[:2], scale)
            if near is not None and self.config.regrow_in_box:
                # the request's box is the object's whole extent: a part the prior lost
                # (behind an occluder) may come back anywhere in it, not only next to it
                near |= (seeds == cv2.GC_BGD) & box_to_mask(_to_crop(box, origin, scale),
                                                            seeds.shape)
        if req.background is not None:
            self._background_seeds(seeds, req.background[y0:y1, x0:x1], near)
        self._click_seeds(seeds, req, box, origin, scale, near)
        mask = np.zeros((h, w), bool)
        if not _is_foreground(seeds).any():
            return mask, 0.0
        first = "grabcut_fgd" not in memory
        tight = None
        if first and prior is None and req.box_xyxy is not None and self.config.tight_box >= 0:
            tight = _int_box(_to_crop(box, origin, scale))
        cut, conf = self._cut(bgr, seeds, memory, iterations, first=first, tight=tight,
                              near=near)
        if cut.any():
            if scale < 1:
                mask[y0:y1, x0:x1] = self._upsample(cut, crop, scale)
            else:
                mask[y0:y1, x0:x1] = cut
        return mask, conf

    def _upsample(self, cut: np.ndarray, crop: np.ndarray, scale: float) -> np.ndarray:
        """The crop-resolution (h, w) bool cut at frame resolution ((H', W') of ``crop``,
        (H', W', 3) uint8 RGB): bilinear, then (``edge_radius`` > 0) snapped to the
        frame's edges by a guided filter over a band of the upsampling's width."""
        size = (crop.shape[1], crop.shape[0])
        soft = cv2.resize(cut.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        if self.config.edge_radius <= 0:
            return soft > 0.5
        radius = max(int(round(self.config.edge_radius / scale)), 1)
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        return guided_filter(gray, soft, radius, self.config.edge_eps) > 0.5

    # -- seeds --------------------------------------------------------------------------

    def _rect_seeds(self, shape, box, origin, scale: float) -> np.ndarray:
        """Rectangle mode: outside the box sure background, inside probably foreground."""
        seeds = np.full(shape, cv2.GC_BGD, np.uint8)
        seeds[box_to_mask(_to_crop(box, origin, scale), shape)] = cv2.GC_PR_FGD
        return seeds

    def _prior_seeds(self, prior_crop: np.ndarray, shape,
                     scale: float) -> tuple[np.ndarray, np.ndarray | None]:
        """Prior mode: deeper than ``band`` inside the prior sure foreground, the rest of
        the prior probable foreground, up to ``reach`` outside it probable background,
        beyond that sure background. Returns the (h, w) uint8 GrabCut labels and the
        (h, w) bool sure background within ``regrow`` of the prior (None when off)."""
        ch, cw = shape
        prior = resize_mask(prior_crop, (cw, ch)).view(np.uint8)
        seeds = np.full(shape, cv2.GC_BGD, np.uint8)
        pbox = mask_to_box(prior > 0)
        if pbox is None:
            return seeds, None
        side = 0.5 * ((pbox[2] - pbox[0]) + (pbox[3] - pbox[1]))
        reach = max(self.config.reach * side, self.config.min_reach_px * scale, 1.0)
        outside = cv2.distanceTransform((prior == 0).astype(np.uint8), cv2.DIST_L2, 3)
        seeds[outside <= reach] = cv2.GC_PR_BGD
        seeds[prior > 0] = cv2.GC_PR_FGD
        inside = cv2.distanceTransform(np.pad(prior, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        seeds[inside > max(self.config.band * side, 1.0)] = cv2.GC_FGD
        if self.config.regrow <= 0:
            return seeds, None
        return seeds, (seeds == cv2.GC_BGD) & (outside <= max(self.config.regrow * side, 1.0))

    def _background_seeds(self, seeds: np.ndarray, background_crop: np.ndarray,
                          near: np.ndarray | None) -> None:
        """The request's known background (the crop's part, frame resolution) becomes
        sure background in ``seeds`` and leaves ``near`` (if any), in place."""
        known = resize_mask(background_crop, seeds.shape[::-1])
        seeds[known] = cv2.GC_BGD
        if near is not None:
            near &= ~known

    def _click_seeds(self, seeds: np.ndarray, req: PromptRequest, box, origin, scale,
                     near: np.ndarray | None = None) -> None:
        """Draw the clicks as discs of sure foreground / background into ``seeds``; the
        discs leave ``near`` (a click's label is the user's word: ``regrow`` never frees
        it)."""
        radius = max(int(round(self.config.point_radius * scale * max(box[2] - box[0],
                                                                box[3] - box[1]))), 1)
        for (px, py), label in zip(req.points, req.labels, strict=True):
            cx, cy = (px - origin[0]) * scale, (py - origin[1]) * scale
            value = cv2.GC_FGD if label == 1 else cv2.GC_BGD
            centre = (int(round(cx)), int(round(cy)))
            cv2.circle(seeds, centre, radius, int(value), -1)
            if near is not None:
                cv2.circle(near.view(np.uint8), centre, radius, 0, -1)  # in place

    # -- the cut ------------------------------------------------------------------------

    def _cut(self, bgr: np.ndarray, seeds: np.ndarray, memory: dict, iterations: int,
             *, first: bool, tight=None, near=None) -> tuple[np.ndarray, float]:
        """Run GrabCut on (h, w, 3) uint8 BGR with (h, w) uint8 seed labels; ``tight``
        is the user's box in crop pixels (x0, y0, x1, y1) when it may be taken as tight
        (:meth:`_pin`), ``near`` the (h, w) bool sure background that object-coloured
        pixels may be freed from (:meth:`_regrow`).

        Returns the (h, w) bool mask and a colour confidence in [0, 1].
        """
        sample = memory.get("grabcut_sample")
        use_sample = self.config.colour == "first+frame" and sample is not None and not first
        strips = [(sample, cv2.GC_FGD)] if use_sample else []
        image, labels = _with_strips(bgr, seeds, strips)
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        first_fgd = memory.get("grabcut_fgd")
        frozen = (self.config.colour in ("first", "first+core") and first_fgd is not None
                  and not first)
        try:
            if frozen:
                fgd, bgd = self._tracked_models(image, labels, first_fgd, sample,
                                                memory.get("grabcut_bgd"))
                memory["grabcut_bgd"] = bgd.copy()
                if near is not None:
                    self._regrow(image, labels, near, fgd, bgd)
                frozen_cut(image, labels, fgd, bgd)
            else:
                fgd, bgd = _init_models(image, labels)
                graph = GraphCut(image, labels)
                graph.iterate(labels, bgd, fgd, iterations)
                if tight is not None:
                    self._pin(graph, labels, bgd, fgd, tight)
        except cv2.error:  # too few pixels of one label to fit a model
            return np.zeros(seeds.shape, bool), 0.0
        labels = labels[: seeds.shape[0]]
        out = _is_foreground(labels)
        if "grabcut_fgd" not in memory and out.any():
            memory["grabcut_fgd"] = fgd.copy()
            memory["grabcut_bgd"] = bgd.copy()
            memory["grabcut_sample"] = _sample_pixels(bgr, out, self.config.colour_sample)
        # the score asks whether the mask has the object's colours as first seen: a cut
        # that followed this frame's seeds onto the background scores low
        return out, colour_confidence(bgr, out, memory.get("grabcut_fgd", fgd), bgd)

    def _regrow(self, image, labels, near, fgd, bgd) -> None:
        """``regrow``: pixels of ``near`` (sure background next to the band) whose
        colour posterior is at least ``regrow_above`` become probable background, for
        the cut to decide. ``labels`` is updated in place."""
        near = near & (labels[: near.shape[0]] == cv2.GC_BGD)
        if not near.any():
            return
        rows, cols = np.nonzero(near)
        objectlike = posterior(image[rows, cols], fgd, bgd) >= self.config.regrow_above
        labels[rows[objectlike], cols[objectlike]] = cv2.GC_PR_BGD

    def _pin(self, graph: GraphCut, labels, bgd, fgd, tight) -> None:
        """The tight-box prior (``tight_box``): while rows or columns of the box
        (``tight``, crop pixels) hold no foreground, pin each one's most object-like pixel
        (colour posterior) as sure foreground and cut again, re-learning the models
        (``graph``: the cut's graph, which the pins' cuts start from). ``labels`` and the
        two models are updated in place."""
        image = graph.image
        x0, y0, x1, y1 = tight
        h, w = labels.shape
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        dx, dy = int(self.config.tight_box * (x1 - x0)), int(self.config.tight_box * (y1 - y0))
        for _ in range(self.config.pin_rounds):
            inside = _is_foreground(labels[y0:y1, x0:x1])
            rows = np.flatnonzero(~inside.any(axis=1)[dy: y1 - y0 - dy]) + dy
            cols = np.flatnonzero(~inside.any(axis=0)[dx: x1 - x0 - dx]) + dx
            if len(rows) + len(cols) == 0:
                return
            crossed = 1 - 0.5 * (len(rows) / (y1 - y0) + len(cols) / (x1 - x0))
            if crossed < self.config.pin_min_cover:
                return
            post = posterior(image[y0:y1, x0:x1].reshape(-1, 3), fgd, bgd)
            post = post.reshape(y1 - y0, x1 - x0)
            pins = np.zeros(labels.shape, bool)
            pins[y0 + rows, x0 + post[rows].argmax(axis=1)] = True
            pins[y0 + post[:, cols].argmax(axis=0), x0 + cols] = True
            moved = (pins & ~graph.free & (labels != cv2.GC_FGD)).any()
            labels[pins] = cv2.GC_FGD
            if moved:  # a pin on sure background (a click): the graph changes
                graph = GraphCut(image, labels)
            graph.iterate(labels, bgd, fgd, 2)

    def _tracked_models(self, image, labels, first_fgd, sample,
                        last_bgd=None) -> tuple[np.ndarray, np.ndarray]:
        """The (1, 65) float64 foreground and background GMMs of a tracked frame
        (``colour`` "first" or "first+core"; ``labels`` are this frame's seeds, and
        doubtful sure-foreground seeds are freed in place, :meth:`_doubt_seeds`).

        Background: this frame's sure background only. The band around the prior is
        the cut's to decide: a prior that lags the object leaves object pixels there,
        which would teach the background model the object's colours and make the mask
        shrink frame after frame. Foreground: the first frame's model, frozen ("first"),
        or re-fitted to the first frame's object pixels plus ``core_sample`` of this
        frame's sure-foreground pixels ("first+core"): the object as first seen, and as
        it looks now in the prior's core, which flow put on the object (seeds the first
        frame's model doubts are left out: an occluder).

        The fits start from ``last_bgd`` (the background model of this object's last
        request, kept in its ``memory``) and from the first frame's object model, so
        that components keep their meaning from frame to frame rather than being found
        afresh each time.
        """
        fgd = np.array(first_fgd, np.float64).reshape(1, 65)
        back = _sample_pixels(image, labels == cv2.GC_BGD, _BACKGROUND_SAMPLE)
        enough = sample is not None and len(back) >= MIN_MODEL_PIXELS
        # too little sure background (or no first-frame pixels): the band joins it
        bgd = fit_gmm(back if enough else image[~_is_foreground(labels)], last_bgd)
        self._doubt_seeds(image, labels, fgd, bgd)
        if self.config.colour == "first+core" and enough:
            core = _sample_pixels(image, labels == cv2.GC_FGD, self.config.core_sample)
            if len(core) >= MIN_MODEL_PIXELS:
                fgd = fit_gmm(np.vstack([sample, core]), first_fgd)
        return fgd, bgd

    def _doubt_seeds(self, image, labels, fgd, bgd) -> None:
        """Sure-foreground seeds whose colour the first frame's object model explains
        worse than ``doubt_below`` (posterior against this frame's background model)
        become probable foreground, free for the cut: the part of a prior that flow
        dragged onto an occluder."""
        if self.config.doubt_below <= 0:
            return
        sure = labels == cv2.GC_FGD
        if not sure.any():
            return
        doubtful = np.zeros_like(sure)
        doubtful[sure] = posterior(image[sure], fgd, bgd) < self.config.doubt_below
        labels[doubtful] = cv2.GC_PR_FGD


def _is_foreground(labels: np.ndarray) -> np.ndarray:
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def _init_models(image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What ``cv2.grabCut(..., GC_INIT_WITH_MASK)`` fits, without its random k-means:
    the (1, 65) foreground and background GMMs of the (h, w, 3) uint8 BGR ``image``
    under its (h, w) GrabCut ``labels`` (sure or probable)."""
    fg = _is_foreground(labels)
    return fit_gmm(image[fg]), fit_gmm(image[~fg])


def _with_strips(bgr: np.ndarray, seeds: np.ndarray, strips):
    """Append pixel samples below the crop as rows of fixed labels.

    ``strips`` is a list of ((N, 3) uint8 BGR pixels, GrabCut label). Their colours join
    the colour models; they sit under a row of sure background (the crop's own border
    rows are sure background too in prior mode), so they barely touch the cut. Returns
    the (h', w, 3) image and (h', w) labels.
    """
    h, w = seeds.shape
    images, labels = [bgr], [seeds]
    if strips:
        images.append(np.zeros((1, w, 3), np.uint8))
        labels.append(np.full((1, w), cv2.GC_BGD, np.uint8))
    for pixels, label in strips:
        strip = _as_rows(pixels, w)
        images.append(strip)
        labels.append(np.full(strip.shape[:2], label, np.uint8))
    return np.ascontiguousarray(np.vstack(images)), np.vstack(labels)


def _as_rows(pixels: np.ndarray, width: int) -> np.ndarray:
    """(N, 3) pixels (N > 0) as a (ceil(N / width), width, 3) image, repeated to fill
    the last row."""
    rows = -(-len(pixels) // width)
    return pixels[np.arange(rows * width) % len(pixels)].reshape(rows, width, 3)


def _sample_pixels(bgr: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` (N, 3) uint8 BGR pixels of the mask, evenly spread."""
    at = np.flatnonzero(mask)  # gathering only the chosen pixels: the same, cheaper
    if len(at) > n:
        at = at[np.linspace(0, len(at) - 1, n).astype(int)]
    return np.ascontiguousarray(bgr.reshape(-1, 3)[at], dtype=np.uint8)


def _union(a, b):
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _to_crop(box, origin, scale: float):
    """Frame XYXY -> crop pixels."""
    return ((box[0] - origin[0]) * scale, (box[1] - origin[1]) * scale,
            (box[2] - origin[0]) * scale, (box[3] - origin[1]) * scale)


def _part_at(mask: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """The connected parts of an (H, W) bool mask under the (N, 2) clicks, or None."""
    if not mask.any():
        return None
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    h, w = mask.shape
    hit = {int(labels[min(int(y), h - 1), min(int(x), w - 1)]) for x, y in points} - {0}
    return np.isin(labels, list(hit)) if hit else None


def _reaches_edge(part: np.ndarray, square, size: tuple[int, int], edge: float) -> bool:
    """Whether ``part`` comes within ``edge`` of the square's side of one of its edges
    that is not the frame's (the object goes on past it)."""
    x1, y1, x2, y2 = square
    w, h = size
    pad = max(edge * max(x2 - x1, y2 - y1), 1.0)
    bx1, by1, bx2, by2 = mask_to_box(part)
    return ((x1 > 0 and bx1 <= x1 + pad) or (y1 > 0 and by1 <= y1 + pad)
            or (x2 < w and bx2 >= x2 - pad) or (y2 < h and by2 >= y2 - pad))


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
