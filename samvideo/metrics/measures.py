"""The DAVIS measures of masks held in arrays: J, F and the per-sequence statistics.

The definitions are those of :mod:`samvideo.metrics`; nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

DEFAULT_BOUND_TH = 0.008
"""DAVIS boundary tolerance: a fraction of the image diagonal (values >= 1 are pixels)."""

_N_DECAY_BINS = 4

# --------------------------------------------------------------------------------------
# Per-frame measures
# --------------------------------------------------------------------------------------


def _as_mask(array: np.ndarray, what: str) -> np.ndarray:
    """Return ``array`` as an ``(H, W)`` bool mask (non-zero = True)."""
    a = np.asarray(array)
    if a.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (H, W) mask, got shape {a.shape}")
    if a.dtype == np.bool_:
        return a
    return a != 0


def _check_pair(
    pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    p = _as_mask(pred, "pred")
    g = _as_mask(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(
            f"pred and gt masks differ in shape: pred {p.shape} vs gt {g.shape} "
            "(masks are compared without resizing)"
        )
    v = None
    if void is not None:
        v = _as_mask(void, "void")
        if v.shape != g.shape:
            raise ValueError(f"void mask shape {v.shape} differs from gt shape {g.shape}")
        if not v.any():
            v = None
    return p, g, v


def jaccard(pred: np.ndarray, gt: np.ndarray, *, void: np.ndarray | None = None) -> float:
    """Region similarity J: intersection over union of two masks (DAVIS ``db_eval_iou``).

    Args:
        pred: predicted mask, ``(H, W)``, bool (any dtype: non-zero = object).
        gt: ground-truth mask, ``(H, W)``, same shape as ``pred``.
        void: optional ``(H, W)`` mask of pixels to ignore (DAVIS void label).

    Returns:
        J in ``[0, 1]``; ``1.0`` when both masks are empty (DAVIS convention).

    Raises:
        ValueError: if a mask is not 2-D or the shapes differ.
    """
    p, g, v = _check_pair(pred, gt, void)
    inter_px = p & g
    union_px = p | g
    if v is not None:
        keep = ~v
        inter_px &= keep
        union_px &= keep
    union = int(np.count_nonzero(union_px))
    if union == 0:
        return 1.0
    return float(np.count_nonzero(inter_px)) / float(union)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a mask, as DAVIS ``_seg2bmap`` computes it.

    A pixel is a boundary pixel when its value differs from its right, lower or
    lower-right neighbour (only the neighbours inside the image are compared: on the last
    row only the right one, on the last column only the lower one, never at the
    bottom-right corner). Boundaries therefore sit half a pixel towards the origin from
    the true contour, and the image border is not a boundary: a mask filling the whole
    image has none.

    Args:
        mask: ``(H, W)`` mask, bool (any dtype: non-zero = object).

    Returns:
        ``(H, W)`` bool boundary map.
    """
    seg = _as_mask(mask, "mask")
    right = np.zeros_like(seg)
    below = np.zeros_like(seg)
    diag = np.zeros_like(seg)
    right[:, :-1] = seg[:, 1:]
    below[:-1, :] = seg[1:, :]
    diag[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ right) | (seg ^ below) | (seg ^ diag)
    b[-1, :] = seg[-1, :] ^ right[-1, :]
    b[:, -1] = seg[:, -1] ^ below[:, -1]
    b[-1, -1] = False
    return b


def disk(radius: int) -> np.ndarray:
    """Disk structuring element, identical to ``skimage.morphology.disk(radius)``.

    Args:
        radius: ``r``, a whole number of pixels ``>= 0`` (``8.0`` is accepted as 8).

    Returns:
        ``(2r+1, 2r+1)`` ``uint8`` array, 1 where ``x**2 + y**2 <= r**2`` (``x, y`` the
        offsets from the centre), else 0.

    Raises:
        ValueError: if ``radius`` is negative or not whole.
    """
    r = int(radius)
    if r < 0 or r != radius:
        raise ValueError(f"disk radius must be a non-negative integer, got {radius!r}")
    coords = np.arange(-r, r + 1)
    x, y = np.meshgrid(coords, coords)
    return (x**2 + y**2 <= r**2).astype(np.uint8)


def boundary_radius(shape: Sequence[int], bound_th: float = DEFAULT_BOUND_TH) -> int:
    """Boundary tolerance in pixels, as DAVIS ``f_measure`` computes it.

    Args:
        shape: the image shape ``(H, W)``.
        bound_th: a fraction of the image diagonal when ``< 1`` (radius =
            ``ceil(bound_th * sqrt(H**2 + W**2))``), else a whole number of pixels.

    Returns:
        The dilation radius in pixels (8 for 854x480 at the default 0.008).

    Raises:
        ValueError: if ``bound_th`` is not a positive number, or is ``>= 1`` and not whole.
    """
    if not (isinstance(bound_th, (int, float, np.integer, np.floating)) and bound_th > 0):
        raise ValueError(f"bound_th must be a positive number, got {bound_th!r}")
    if bound_th >= 1:
        if float(bound_th) != int(bound_th):
            raise ValueError(f"bound_th >= 1 is a pixel radius and must be whole, got {bound_th}")
        return int(bound_th)
    h, w = (int(s) for s in shape)
    return int(np.ceil(bound_th * np.linalg.norm((h, w))))


def boundary_f(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    bound_th: float = DEFAULT_BOUND_TH,
    void: np.ndarray | None = None,
) -> float:
    """Contour accuracy F: boundary F-measure of two masks (DAVIS ``f_measure``).

    Both masks' boundary maps (:func:`boundary_map`) are dilated by a disk of radius
    :func:`boundary_radius`; precision is the fraction of predicted boundary pixels that
    fall on the dilated ground-truth boundary, recall the fraction of ground-truth
    boundary pixels on the dilated predicted boundary, F = 2PR / (P + R).

    Args:
        pred: predicted mask, ``(H, W)``, bool (any dtype: non-zero = object).
        gt: ground-truth mask, ``(H, W)``, same shape as ``pred``.
        bound_th: boundary tolerance, a fraction of the image diagonal (``< 1``) or a
            whole number of pixels (``>= 1``). DAVIS uses 0.008.
        void: optional ``(H, W)`` mask of pixels removed from both masks first.

    Returns:
        F in ``[0, 1]``: ``1.0`` when neither mask has a boundary, ``0.0`` when exactly
        one of them has none.

    Raises:
        ValueError: if a mask is not 2-D, the shapes differ or ``bound_th`` is invalid.
    """
    p, g, v = _check_pair(pred, gt, void)
    radius = boundary_radius(p.shape, bound_th)
    if v is not None:
        keep = ~v
        p = p & keep
        g = g & keep

    # Everything happens inside the bounding box of the two masks, grown by the radius
    # plus one pixel: outside it both boundary maps are empty, so cropping is exact.
    rows = np.flatnonzero(np.any(p, axis=1) | np.any(g, axis=1))
    if rows.size == 0:
        return 1.0  # both masks empty: no boundary on either side
    cols = np.flatnonzero(np.any(p, axis=0) | np.any(g, axis=0))
    h, w = p.shape
    pad = radius + 1
    y0, y1 = max(int(rows[0]) - pad, 0), min(int(rows[-1]) + pad + 1, h)
    x0, x1 = max(int(cols[0]) - pad, 0), min(int(cols[-1]) + pad + 1, w)
    fg_boundary = boundary_map(p[y0:y1, x0:x1])
    gt_boundary = boundary_map(g[y0:y1, x0:x1])

    n_fg = int(np.count_nonzero(fg_boundary))
    n_gt = int(np.count_nonzero(gt_boundary))
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0  # precision or recall is 0, the other is 1

    kernel = disk(radius)
    fg_dil = cv2.dilate(fg_boundary.view(np.uint8), kernel).view(np.bool_)
    gt_dil = cv2.dilate(gt_boundary.view(np.uint8), kernel).view(np.bool_)
    precision = np.count_nonzero(fg_boundary & gt_dil) / float(n_fg)
    recall = np.count_nonzero(gt_boundary & fg_dil) / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return float(2.0 * precision * recall / (precision + recall))


# --------------------------------------------------------------------------------------
# Per-sequence statistics
# --------------------------------------------------------------------------------------


def sequence_statistics(values: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """Mean, recall and decay of per-frame scores (DAVIS ``db_statistics``).

    Args:
        values: per-frame J or F scores of the evaluated frames (first and last frame of
            the sequence already left out), in frame order.

    Returns:
        ``(mean, recall, decay)``: the mean; the fraction of frames scoring more than
        0.5; and the mean of the first temporal bin minus the mean of the last one. The
        four bins are DAVIS's: with ``n`` values the edges are
        ``e = round(linspace(1, n, 5)) - 1`` and bin ``i`` is ``values[e[i] : e[i+1] + 1]``
        (neighbouring bins share their edge frame).

    Raises:
        ValueError: if ``values`` is empty.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise ValueError("no per-frame values to summarise (0 frames)")
    mean = float(np.mean(v))
    recall = float(np.mean(v > 0.5))
    # The 1e-10 mimics MATLAB's round-half-up, as the DAVIS code does.
    edges = (np.round(np.linspace(1, v.size, _N_DECAY_BINS + 1) + 1e-10) - 1).astype(np.int64)
    bins = [v[edges[i] : edges[i + 1] + 1] for i in range(_N_DECAY_BINS)]
    decay = float(np.mean(bins[0]) - np.mean(bins[-1]))
    return mean, recall, decay
