"""Mask utilities: boxes, IoU, clean-up, moving a mask with the motion, label maps.

Masks are (H, W) bool arrays; boxes are XYXY float pixels with x2/y2 exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]


def mask_to_box(mask: np.ndarray) -> Box | None:
    """Tight XYXY box (x2/y2 exclusive) of a (H, W) bool mask; None when empty."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask[ys[0] : ys[-1] + 1].any(axis=0))  # only the rows it is on
    return (float(xs[0]), float(ys[0]), float(xs[-1] + 1), float(ys[-1] + 1))


def box_to_mask(box: Box, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool mask of the pixels inside an XYXY box (rounded to whole pixels)."""
    h, w = shape
    x1, y1, x2, y2 = (round(v) for v in box)
    out = np.zeros((h, w), bool)
    out[max(y1, 0) : min(y2, h), max(x1, 0) : min(x2, w)] = True
    return out


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (H, W) bool masks; 1.0 when both are empty."""
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def box_iou(a: Box | None, b: Box | None) -> float:
    """IoU of two XYXY boxes; 0 when either is None."""
    if a is None or b is None:
        return 0.0
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def clip_box(box: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = box
    x1, x2 = min(max(x1, 0.0), width - 1.0), min(max(x2, 1.0), float(width))
    y1, y2 = min(max(y1, 0.0), height - 1.0), min(max(y2, 1.0), float(height))
    return (x1, y1, max(x2, x1 + 1), max(y2, y1 + 1))


def expand_box(box: Box, factor: float, min_pad: float = 0.0) -> Box:
    """Grow a box about its centre: each side moves out by ``factor`` of the box size
    (at least ``min_pad`` pixels)."""
    x1, y1, x2, y2 = box
    px = max((x2 - x1) * factor, min_pad)
    py = max((y2 - y1) * factor, min_pad)
    return (x1 - px, y1 - py, x2 + px, y2 + py)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A (H, W) bool mask resized to ``size`` (w, h) by nearest neighbour: (h, w) bool."""
    return cv2.resize(np.asarray(mask, bool).view(np.uint8), size,
                      interpolation=cv2.INTER_NEAREST) > 0


def warp_mask(mask: np.ndarray, src: Box, dst: Box) -> np.ndarray:
    """Move and scale a mask so that box ``src`` lands on box ``dst`` (nearest neighbour)."""
    sx = (dst[2] - dst[0]) / max(src[2] - src[0], 1e-6)
    sy = (dst[3] - dst[1]) / max(src[3] - src[1], 1e-6)
    # boxes are in edge coordinates (pixel i spans [i, i + 1)); OpenCV puts pixel centres
    # on integers, hence the half-pixel terms
    tx = dst[0] - sx * src[0] + 0.5 * sx - 0.5
    ty = dst[1] - sy * src[1] + 0.5 * sy - 0.5
    m = np.array([[sx, 0, tx], [0, sy, ty]], np.float32)
    h, w = mask.shape
    out = cv2.warpAffine(mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST)
    return out.astype(bool)


@dataclass(frozen=True)
class PostProcess:
    """Mask clean-up applied to every chosen mask (SAM and GrabCut alike).

    Areas are fractions of the mask's own area so one setting fits small and large
    objects.
    """

    #: holes smaller than this fraction of the mask are filled: SAM and GrabCut leave
    #: pinholes in textured objects; real holes (a handle, a gap) are larger.
    fill_holes_frac: float = 0.01
    #: islands smaller than this fraction of the mask are dropped: specks of similar
    #: colour in the background.
    min_island_frac: float = 0.02
    #: components whose box overlaps the expected box less than this are dropped (a
    #: similar-looking thing elsewhere in the search area); 0 keeps everything.
    min_component_overlap: float = 0.05
    #: radius of a morphological open+close (0 = off): smoother outlines, slower.
    smooth_radius: int = 0


def postprocess(mask: np.ndarray, params: PostProcess, expected: Box | None = None, *,
                parts: np.ndarray | None = None) -> np.ndarray:
    """Clean a (H, W) bool mask: fill small holes, drop small/off-target islands, smooth.

    ``parts`` ((H, W) bool, e.g. the previous mask moved onto this frame): an island that
    lies mostly inside it is a part the object already had (cut off by an occluder),
    not a speck: it stays whatever its size.

    The work is done on the mask's box grown by a margin (every component of the mask,
    and every hole, lies in it; a hole that reaches the margin reaches the background
    around the mask), so it costs the object's area, not the frame's; the answer is the
    same as on the whole frame.
    """
    area = np.count_nonzero(mask)
    if area == 0:
        return mask
    h, w = mask.shape
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    pad = 1 + 2 * params.smooth_radius  # a closing reaches no further out than this
    y0, y1 = max(ys[0] - pad, 0), min(ys[-1] + 1 + pad, h)
    x0, x1 = max(xs[0] - pad, 0), min(xs[-1] + 1 + pad, w)
    crop = mask[y0:y1, x0:x1]
    out = crop
    if params.fill_holes_frac > 0:
        holes = ~out
        kept = _remove_small(holes, params.fill_holes_frac * area, border_keeps=True)
        if kept is not holes:  # a hole was filled
            out = ~kept
    if params.min_island_frac > 0 or (expected is not None and params.min_component_overlap > 0):
        out = _keep_components(out, params, expected, (x0, y0),
                               None if parts is None else parts[y0:y1, x0:x1])
    if params.smooth_radius > 0:
        k = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * params.smooth_radius + 1, 2 * params.smooth_radius + 1)
        )
        u8 = out.astype(np.uint8)
        u8 = cv2.morphologyEx(cv2.morphologyEx(u8, cv2.MORPH_OPEN, k), cv2.MORPH_CLOSE, k)
        out = u8.astype(bool)
    if out is crop:
        return mask
    full = np.zeros_like(mask)
    full[y0:y1, x0:x1] = out
    return full


def _remove_small(mask: np.ndarray, min_area: float, *, border_keeps: bool) -> np.ndarray:
    """Drop components of ``mask`` smaller than ``min_area`` (those touching the image
    border are kept when ``border_keeps``: the background around an object is not a hole)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask
    h, w = mask.shape
    x, y, bw, bh, a = (stats[:, i] for i in range(5))
    keep = a >= min_area
    if border_keeps:
        keep |= (x == 0) | (y == 0) | (x + bw == w) | (y + bh == h)
    if keep[1:].all():  # nothing to drop: the mask itself, not a copy of it
        return mask
    keep[0] = False
    return keep[labels]


def _keep_components(mask: np.ndarray, params: PostProcess, expected: Box | None,
                     origin: tuple[int, int] = (0, 0), parts: np.ndarray | None = None
                     ) -> np.ndarray:
    """Keep the big components (or those mostly inside ``parts``) that overlap
    ``expected``; ``mask`` and ``parts`` are the frame's crop whose top-left corner is
    ``origin`` (x, y) in the frame's pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    total = areas.sum()
    inside = (np.bincount(labels[parts], minlength=n) if parts is not None
              else np.zeros(n, np.int64))
    keep = np.zeros(n, bool)
    for i in range(1, n):
        x, y, bw, bh, a = stats[i]
        big = a >= params.min_island_frac * total or 2 * inside[i] >= a
        on_target = True
        if expected is not None and params.min_component_overlap > 0:
            x, y = x + origin[0], y + origin[1]
            comp = (float(x), float(y), float(x + bw), float(y + bh))
            on_target = _overlap_frac(comp, expected) >= params.min_component_overlap
        keep[i] = big and on_target
    if not keep.any():  # never erase the whole mask here; keep the largest component
        keep[1 + int(np.argmax(areas))] = True
    if keep[1:].all():
        return mask
    return keep[labels]


def _overlap_frac(box: Box, ref: Box) -> float:
    """Fraction of ``box``'s area inside ``ref``."""
    iw = min(box[2], ref[2]) - max(box[0], ref[0])
    ih = min(box[3], ref[3]) - max(box[1], ref[1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    return 0.0 if iw <= 0 or ih <= 0 or area <= 0 else iw * ih / area


def label_map(
    masks: Sequence[tuple[int, np.ndarray]], shape: tuple[int, int], scores: Sequence[float] = ()
) -> np.ndarray:
    """Combine masks into an (H, W) uint8 label map (0 = background, else object id).

    Overlaps go to the higher score (when ``scores`` are given), else to the later mask.
    """
    out = np.zeros(shape, np.uint8)
    order = range(len(masks))
    if scores:
        order = sorted(order, key=lambda i: scores[i])
    for i in order:
        object_id, mask = masks[i]
        out[mask] = object_id
    return out


def make_disjoint(masks: Sequence[np.ndarray], scores: Sequence[float]) -> list[np.ndarray]:
    """Where masks overlap, each pixel goes to the mask with the higher score."""
    if len(masks) < 2:
        return list(masks)
    shape = masks[0].shape
    owner = label_map([(i + 1, m) for i, m in enumerate(masks)], shape, scores)
    out = [m & (owner == i + 1) for i, m in enumerate(masks)]
    # a mask that lost nothing is handed back itself (what was computed of it holds)
    return [m if np.array_equal(m, o) else o for m, o in zip(masks, out, strict=True)]


def davis_palette() -> list[int]:
    """The DAVIS / PASCAL VOC colour palette as a flat list of 768 ints (index 0 black)."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


# -- appearance -------------------------------------------------------------------------

#: bins of the appearance histogram over (hue, saturation, value): hue carries the
#: colour, the coarse saturation / value bins keep grey and dark objects apart.
HIST_BINS = (16, 4, 4)
_HIST_RANGES = [0, 180, 0, 256, 0, 256]


def colour_histogram(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Normalised HSV histogram (``HIST_BINS``, float32, sums to 1) of the pixels of a
    (H, W, 3) uint8 RGB frame under a (H, W) bool mask; None when the mask is empty."""
    box = mask_to_box(mask)
    if box is None:
        return None
    x1, y1, x2, y2 = (int(v) for v in box)
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[y1:y2, x1:x2]), cv2.COLOR_RGB2HSV)
    sel = mask[y1:y2, x1:x2].astype(np.uint8)
    hist = cv2.calcHist([hsv], [0, 1, 2], sel, list(HIST_BINS), _HIST_RANGES)
    total = float(hist.sum())
    return (hist / total).astype(np.float32) if total > 0 else None


def histogram_similarity(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """1 - Bhattacharyya distance of two normalised histograms: 1 identical, 0 disjoint;
    0 when either is None."""
    if a is None or b is None:
        return 0.0
    d = cv2.compareHist(np.asarray(a, np.float32), np.asarray(b, np.float32),
                        cv2.HISTCMP_BHATTACHARYYA)
    return float(min(max(1.0 - d, 0.0), 1.0))


def back_project(rgb: np.ndarray, region: Box, obj_hist: np.ndarray,
                 bg_hist: np.ndarray | None) -> tuple[np.ndarray, tuple[int, int]]:
    """How object-like each pixel of ``region`` is, by colour.

    Returns ``(map, (x0, y0))``: ``map`` is (h, w) float32 in [0, 1], the pixel's bin
    in ``obj_hist / (obj_hist + bg_hist)`` (0.5 where neither histogram has mass; the
    object histogram alone when ``bg_hist`` is None), for the integer crop of ``region``
    whose top-left corner in the frame is ``(x0, y0)``.
    """
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = (int(np.floor(region[0])), int(np.floor(region[1])),
                      int(np.ceil(region[2])), int(np.ceil(region[3])))
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if x2 <= x1 or y2 <= y1:
        return np.zeros((0, 0), np.float32), (x1, y1)
    obj = np.asarray(obj_hist, np.float32)
    if bg_hist is None:
        ratio = obj / max(float(obj.max()), 1e-12)
    else:
        bg = np.asarray(bg_hist, np.float32)
        ratio = np.where(obj + bg > 0, obj / np.maximum(obj + bg, 1e-12), 0.5)
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[y1:y2, x1:x2]), cv2.COLOR_RGB2HSV)
    # a lookup by bin index (cv2.calcBackProject returns zeros for 3-D float histograms
    # in OpenCV 5.0, and truncates to the image depth anyway)
    return ratio.astype(np.float32)[_bin_index(hsv)], (x1, y1)


def _bin_index(hsv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histogram bin of every pixel of an (h, w, 3) uint8 OpenCV HSV image."""
    hb, sb, vb = HIST_BINS
    h = np.minimum(hsv[..., 0].astype(np.int32) * hb // 180, hb - 1)
    return h, hsv[..., 1].astype(np.int32) * sb // 256, hsv[..., 2].astype(np.int32) * vb // 256


def anchor_box(measured: Box, reference: Box, size: tuple[float, float],
               shrink: float = 0.85) -> Box:
    """Correct a box that is short on one side (the object partly hidden or cut).

    Along each axis where ``measured`` is shorter than ``shrink`` times ``size`` (the
    object's known width, height), the measured edge closer to the same edge of
    ``reference`` (the predicted box) is trusted and the box is extended from it to the
    full size; the other axes are kept. So the centre of an object sliding behind an
    edge keeps moving with the visible edge instead of stalling.
    """
    out = list(measured)
    for lo, hi, full in ((0, 2, size[0]), (1, 3, size[1])):
        if measured[hi] - measured[lo] >= shrink * full:
            continue
        if abs(measured[lo] - reference[lo]) <= abs(measured[hi] - reference[hi]):
            out[hi] = measured[lo] + full
        else:
            out[lo] = measured[hi] - full
    return (out[0], out[1], out[2], out[3])


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` (h, w) float32 guided by ``guide`` (h, w)
    float32 in [0, 1] (He et al., "Guided Image Filtering"): the output follows the
    guide's edges. Used to carry a low-resolution soft mask to full resolution so that
    its boundary snaps to the image's edges. Returns (h, w) float32."""
    k = (2 * radius + 1, 2 * radius + 1)

    def box(a):
        return cv2.boxFilter(a, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(src)
    var_i = box(guide * guide) - mean_i * mean_i
    cov_ip = box(guide * src) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)
