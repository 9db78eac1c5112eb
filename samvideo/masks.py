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
    xs = np.flatnonzero(mask.any(axis=0))
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


def warp_mask(mask: np.ndarray, src: Box, dst: Box) -> np.ndarray:
    """Move and scale a mask so that box ``src`` lands on box ``dst`` (nearest neighbour)."""
    sx = (dst[2] - dst[0]) / max(src[2] - src[0], 1e-6)
    sy = (dst[3] - dst[1]) / max(src[3] - src[1], 1e-6)
    m = np.array([[sx, 0, dst[0] - sx * src[0]], [0, sy, dst[1] - sy * src[1]]], np.float32)
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


def postprocess(mask: np.ndarray, params: PostProcess, expected: Box | None = None) -> np.ndarray:
    """Clean a (H, W) bool mask: fill small holes, drop small/off-target islands, smooth."""
    area = int(mask.sum())
    if area == 0:
        return mask
    out = mask
    if params.fill_holes_frac > 0:
        out = _remove_small(~out, params.fill_holes_frac * area, border_keeps=True)
        out = ~out
    if params.min_island_frac > 0 or (expected is not None and params.min_component_overlap > 0):
        out = _keep_components(out, params, expected)
    if params.smooth_radius > 0:
        k = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * params.smooth_radius + 1, 2 * params.smooth_radius + 1)
        )
        u8 = out.astype(np.uint8)
        u8 = cv2.morphologyEx(cv2.morphologyEx(u8, cv2.MORPH_OPEN, k), cv2.MORPH_CLOSE, k)
        out = u8.astype(bool)
    return out


def _remove_small(mask: np.ndarray, min_area: float, *, border_keeps: bool) -> np.ndarray:
    """Drop components of ``mask`` smaller than ``min_area`` (those touching the image
    border are kept when ``border_keeps``: the background around an object is not a hole)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask
    h, w = mask.shape
    keep = np.zeros(n, bool)
    for i in range(1, n):
        x, y, bw, bh, a = stats[i]
        touches = x == 0 or y == 0 or x + bw == w or y + bh == h
        keep[i] = a >= min_area or (border_keeps and touches)
    return keep[labels]


def _keep_components(mask: np.ndarray, params: PostProcess, expected: Box | None) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    total = areas.sum()
    keep = np.zeros(n, bool)
    for i in range(1, n):
        x, y, bw, bh, a = stats[i]
        big = a >= params.min_island_frac * total
        on_target = True
        if expected is not None and params.min_component_overlap > 0:
            comp = (float(x), float(y), float(x + bw), float(y + bh))
            on_target = _overlap_frac(comp, expected) >= params.min_component_overlap
        keep[i] = big and on_target
    if not keep.any():  # never erase the whole mask here; keep the largest component
        keep[1 + int(np.argmax(areas))] = True
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
    return [m & (owner == i + 1) for i, m in enumerate(masks)]


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
