"""Low-res mask logits to frame-size masks, computed only where a mask can be.

SAM's masks are ``bilinear(low-res logits) > 0`` at the frame's size (SAM and MobileSAM:
256 → 1024, crop to the resized frame, → frame size; SAM 2.1: 256 → frame size). A
bilinear value is a convex combination of its two-by-two source pixels, so it can only be
positive next to a positive source pixel: outside the box of the positive low-res logits
(grown by a few pixels) every mask pixel is False. :func:`upscale_masks` computes the
interpolations inside that window only, with ``torch.nn.functional.interpolate``'s own
source indices and weights (bilinear, ``align_corners=False``), so the masks are those of
the full-size interpolation (up to the last bit of a value within rounding of the
threshold) at the cost of the object's area, not the frame's.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

#: low-res pixels of margin around the positive ones (each interpolation step reaches
#: one source pixel further; one more keeps clear of the window's edge)
_MARGIN = 3


def _taps(in_size: int, out_size: int, dst: np.ndarray) -> tuple[np.ndarray, ...]:
    """Source indices and weights of output indices ``dst`` of a linear interpolation from
    ``in_size`` to ``out_size`` samples, as PyTorch computes them (float32, align_corners
    False): ``src = scale * (dst + 0.5) - 0.5`` clamped at 0, ``i0 = floor(src)``,
    ``i1 = i0 + 1`` but not past the end, weights ``1 - (src - i0)`` and ``src - i0``."""
    f32 = np.float32
    scale = f32(in_size) / f32(out_size)
    src = np.maximum(scale * (dst.astype(f32) + f32(0.5)) - f32(0.5), f32(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = i0 + (i0 < in_size - 1)
    l1 = np.clip(src - i0.astype(f32), f32(0), f32(1)).astype(f32)
    return i0, i1, (f32(1) - l1).astype(f32), l1


@functools.lru_cache(maxsize=32)
def _all_taps(in_size: int, out_size: int) -> tuple[np.ndarray, ...]:
    """:func:`_taps` of every output index (the same few sizes come back every frame)."""
    taps = _taps(in_size, out_size, np.arange(out_size))
    for a in taps:
        a.flags.writeable = False
    return taps


def _covered(in_size: int, out_size: int, lo: int, hi: int) -> tuple[np.ndarray, tuple]:
    """The output indices whose two taps lie in source span [lo, hi), and their taps."""
    i0, i1, w0, w1 = _all_taps(in_size, out_size)
    keep = np.flatnonzero((i0 >= lo) & (i1 < hi))
    return keep, (i0[keep] - lo, i1[keep] - lo, w0[keep], w1[keep])


def _interpolate(x: torch.Tensor, rows: tuple, cols: tuple) -> torch.Tensor:
    """(K, h, w) → (K, len(rows), len(cols)): the bilinear values at the given taps, in
    PyTorch's order (along the width first, then the height)."""
    if x.device.type != "cpu":
        return _interpolate_on_device(x, rows, cols)
    # numpy gathers along the last axis several times faster than index_select; the
    # same float32 products and sums, so the same bits. Along the width once per source
    # row: each output row then takes two of those rows.
    a = x.numpy()
    r0, r1, rw0, rw1 = rows
    c0, c1, cw0, cw1 = cols
    across = np.take(a, c0, axis=2) * cw0 + np.take(a, c1, axis=2) * cw1
    out = np.take(across, r0, axis=1) * rw0[:, None] + np.take(across, r1, axis=1) * rw1[:, None]
    return torch.from_numpy(out)


def _interpolate_on_device(x: torch.Tensor, rows: tuple, cols: tuple) -> torch.Tensor:
    """:func:`_interpolate` with torch's gathers, where ``x`` lives (a GPU)."""
    device = x.device
    r0, r1, rw0, rw1 = (torch.as_tensor(a, device=device) for a in rows)
    c0, c1, cw0, cw1 = (torch.as_tensor(a, device=device) for a in cols)

    def along_width(band: torch.Tensor) -> torch.Tensor:
        return band.index_select(2, c0) * cw0 + band.index_select(2, c1) * cw1

    top, bottom = along_width(x.index_select(1, r0)), along_width(x.index_select(1, r1))
    return top * rw0[:, None] + bottom * rw1[:, None]


def _window(positive: torch.Tensor | np.ndarray) -> tuple[int, int, int, int] | None:
    """(row0, row1, col0, col1) of the positive pixels of (K, h, w), grown by ``_MARGIN``."""
    if isinstance(positive, np.ndarray):
        anywhere = positive.any(axis=0)
        rows = np.flatnonzero(anywhere.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(anywhere.any(axis=0))
    else:
        rows = torch.nonzero(positive.any(dim=(0, 2))).flatten()
        if rows.numel() == 0:
            return None
        cols = torch.nonzero(positive.any(dim=(0, 1))).flatten()
    h, w = positive.shape[1:]
    return (max(int(rows[0]) - _MARGIN, 0), min(int(rows[-1]) + 1 + _MARGIN, h),
            max(int(cols[0]) - _MARGIN, 0), min(int(cols[-1]) + 1 + _MARGIN, w))


def upscale_masks(low_res: torch.Tensor, steps: list[tuple[tuple[int, int], tuple[int, int]]],
                  threshold: float = 0.0) -> np.ndarray:
    """``low_res`` (K, h, w) float logits of one object → (K, H, W) bool masks,
    ``> threshold`` after the bilinear interpolations ``steps`` (each ``(size, crop)``:
    interpolate to ``size`` (rows, columns), then keep its top-left ``crop``; the last
    crop is the frame's size), computed only in the window around the positive logits.

    SAM / MobileSAM: ``[((1024, 1024), input_size), (original_size, original_size)]``;
    SAM 2.1: ``[(original_size, original_size)]``. A step that scales by a whole factor
    runs ``F.interpolate`` itself on the window (its source positions are then the
    full-size ones shifted by whole pixels); the others gather the window's taps.
    """
    out_h, out_w = steps[-1][1]
    masks = np.zeros((low_res.shape[0], out_h, out_w), bool)
    on_cpu = low_res.device.type == "cpu" and low_res.dtype == torch.float32
    window = _window(low_res.numpy() > threshold if on_cpu else low_res > threshold)
    if window is None:
        return masks
    y0, y1, x0, x1 = window
    x = low_res[:, y0:y1, x0:x1].float()
    in_h, in_w = low_res.shape[1:]
    for size, crop in steps:
        if size[0] % in_h == 0 and size[1] % in_w == 0:
            x, (y0, y1, x0, x1) = _whole_factor(x, (in_h, in_w), size, (y0, y1, x0, x1))
        else:
            rows, row_taps = _covered(in_h, size[0], y0, y1)
            cols, col_taps = _covered(in_w, size[1], x0, x1)
            if not len(rows) or not len(cols):
                return masks
            x = _interpolate(x, row_taps, col_taps)
            y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        # the crop: only what lies above and left of it stays
        x = x[:, : max(min(y1, crop[0]) - y0, 0), : max(min(x1, crop[1]) - x0, 0)]
        y1, x1 = y0 + x.shape[1], x0 + x.shape[2]
        if x.numel() == 0:
            return masks
        in_h, in_w = crop
    masks[:, y0:y1, x0:x1] = (x > threshold).cpu().numpy()
    return masks


def _whole_factor(x: torch.Tensor, full: tuple[int, int], size: tuple[int, int],
                  window: tuple[int, int, int, int]) -> tuple[torch.Tensor, tuple]:
    """``F.interpolate`` of a window (rows y0:y1, columns x0:x1 of a ``full``-size array)
    by the whole factors ``size / full``; returns the output rows and columns whose
    values equal the full-size interpolation's (the window's first and last two rows and
    columns of output clamp at its edge, unless it is the array's edge), and where."""
    y0, y1, x0, x1 = window
    fy, fx = size[0] // full[0], size[1] // full[1]
    up = F.interpolate(x[None], scale_factor=None, size=(x.shape[1] * fy, x.shape[2] * fx),
                       mode="bilinear", align_corners=False)[0]
    top = 0 if y0 == 0 else fy
    bottom = up.shape[1] if y1 == full[0] else up.shape[1] - fy
    left = 0 if x0 == 0 else fx
    right = up.shape[2] if x1 == full[1] else up.shape[2] - fx
    return up[:, top:bottom, left:right], (y0 * fy + top, y0 * fy + bottom,
                                           x0 * fx + left, x0 * fx + right)


def _crop(index: np.ndarray, taps: tuple, limit: int) -> tuple[np.ndarray, tuple]:
    """Keep the output indices below ``limit`` (the crop after an interpolation step)."""
    keep = index < limit
    return index[keep], tuple(t[keep] for t in taps)
