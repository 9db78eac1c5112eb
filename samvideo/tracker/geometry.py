"""Plain geometry the tracking policy uses: clicks relative to a box, an object's
extent, a mask's surroundings and centre. Boxes are XYXY float pixels."""

from __future__ import annotations

import cv2
import numpy as np

from samvideo.masks import Box, clip_box, expand_box
from samvideo.prompts import ObjectPrompt


def ring(mask: np.ndarray, box: Box, shape) -> np.ndarray:
    """The surroundings of a mask: its box grown by half, minus the mask dilated a little."""
    h, w = shape
    x1, y1, x2, y2 = (int(v) for v in clip_box(expand_box(box, 0.5, min_pad=8), w, h))
    ring = np.zeros(shape, bool)
    ring[y1:y2, x1:x2] = True
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return ring & ~grown


def to_relative(xy: np.ndarray, box: Box) -> np.ndarray:
    """A point (x, y) as fractions of ``box``'s width and height from its top-left corner."""
    x1, y1, x2, y2 = box
    return np.array([(xy[0] - x1) / max(x2 - x1, 1e-6), (xy[1] - y1) / max(y2 - y1, 1e-6)])


def relative_points(p: ObjectPrompt, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """The prompt's clicks relative to ``box`` ((N, 2) float64) and their labels ((N,)
    int32: 1 foreground, 0 background)."""
    pts = [*p.points, *p.neg_points]
    labels = np.array([1] * len(p.points) + [0] * len(p.neg_points), np.int32)
    rel = np.array([to_relative(np.asarray(q), box) for q in pts], np.float64).reshape(-1, 2)
    return rel, labels


def project_points(rel: np.ndarray, labels: np.ndarray, box: Box, w: int, h: int):
    """Re-project box-relative points into ``box``; points that land outside the frame
    are dropped."""
    x1, y1, x2, y2 = box
    pts = np.column_stack([x1 + rel[:, 0] * (x2 - x1), y1 + rel[:, 1] * (y2 - y1)])
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    return pts[inside].astype(np.float32).reshape(-1, 2), labels[inside].astype(np.int32)


def follow_extent(extent: Box, box: Box, shrink: float,
                  held: frozenset[str] = frozenset()) -> Box:
    """An object's extent after a mask with ``box``: each edge the mask reaches past is
    taken at once; the others move towards the mask's by ``shrink`` of the gap (a part
    gone behind something is kept a while, a part really gone is let go), except the
    ``held`` ones (:func:`held_edges`), which stay: the part beyond them is hidden."""
    def toward(edge: str, i: int) -> float:
        return extent[i] if edge in held else extent[i] + shrink * (box[i] - extent[i])

    return (min(box[0], toward("left", 0)), min(box[1], toward("top", 1)),
            max(box[2], toward("right", 2)), max(box[3], toward("bottom", 3)))


def held_edges(expected: Box, after: Box, shift: tuple[float, float], *,
               min_gap: float = 2.0) -> frozenset[str]:
    """The edges of a mask's box that something in front holds back: ``expected`` is
    where the object's own motion carried the last mask's box (the prior's box: the
    mask moved by the flow, pixel by pixel), ``after`` the new mask's box; an edge that
    lies inside the expected one by more than half the object's motion ``shift`` (dx,
    dy, frame pixels) and at least ``min_gap`` pixels is held. So is an edge the object
    moves towards past a still occluder, and one an occluder sweeps over while the
    object stands (or the camera pans)."""
    def gap(d: float) -> float:
        return max(min_gap, abs(d) / 2)

    dx, dy = shift
    held = set()
    if after[0] - expected[0] > gap(dx):
        held.add("left")
    if after[1] - expected[1] > gap(dy):
        held.add("top")
    if expected[2] - after[2] > gap(dx):
        held.add("right")
    if expected[3] - after[3] > gap(dy):
        held.add("bottom")
    return frozenset(held)


def edge_spans(box: Box, w: int, h: int) -> dict[str, tuple[float, float]]:
    """The frame edges a box touches (within a pixel) of a (h, w) frame, each with how
    far the box reaches in from it and how long it lies along it:
    ``{"left" | "top" | "right" | "bottom": (depth, length)}``."""
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    touches = {"left": (x1 <= 1, bw, bh), "top": (y1 <= 1, bh, bw),
               "right": (x2 >= w - 1, bw, bh), "bottom": (y2 >= h - 1, bh, bw)}
    return {edge: (depth, length) for edge, (hit, depth, length) in touches.items() if hit}


def covered(box: Box, by: Box) -> float:
    """The fraction of ``box``'s area inside ``by``."""
    iw = min(box[2], by[2]) - max(box[0], by[0])
    ih = min(box[3], by[3]) - max(box[1], by[1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    return max(iw, 0) * max(ih, 0) / area if area > 0 else 0.0


def mask_centre(mask: np.ndarray) -> np.ndarray:
    """A point well inside the mask: the maximum of its distance transform."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return np.array([x + 0.5, y + 0.5])
