"""Mask upscaling around the object (:func:`upscale_masks`) against the full-frame
interpolation SAM's and SAM 2's predictors do (``F.interpolate``, then > 0)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samvideo.segmenters.upscale import upscale_masks

SIZES = [(480, 854), (360, 480), (1080, 1920), (720, 405), (240, 320)]


def sam_full(low: torch.Tensor, input_size, size) -> np.ndarray:
    """``Sam.postprocess_masks`` + threshold: 256 → 1024, crop, → the frame."""
    m = F.interpolate(low[None], (1024, 1024), mode="bilinear", align_corners=False)
    m = m[..., : input_size[0], : input_size[1]]
    return (F.interpolate(m, size, mode="bilinear", align_corners=False)[0] > 0).numpy()


def sam2_full(low: torch.Tensor, size) -> np.ndarray:
    """``SAM2Transforms.postprocess_masks`` + threshold: 256 → the frame."""
    return (F.interpolate(low[None], size, mode="bilinear", align_corners=False)[0] > 0).numpy()


def logits(seed: int) -> torch.Tensor:
    """(3, 256, 256) smooth logits: a blob somewhere (at an edge now and then), or noise."""
    rng = np.random.default_rng(seed)
    low = torch.full((3, 256, 256), -6.0)
    if seed % 6 == 5:
        noise = torch.from_numpy(rng.normal(0, 8, (1, 3, 256, 256))).float()
        return F.avg_pool2d(noise, 5, 1, 2)[0]
    h, w = rng.integers(2, 90, 2)
    r, c = (0, 0) if seed % 6 == 4 else rng.integers(0, 256 - 2, 2)
    blob = torch.from_numpy(rng.normal(1, 4, (1, 3, h, w))).float()
    blob = F.avg_pool2d(blob, 3, 1, 1)[0][:, : 256 - r, : 256 - c]
    low[:, r : r + blob.shape[1], c : c + blob.shape[2]] = blob
    return low


@pytest.mark.parametrize("seed", range(12))
def test_masks_equal_the_full_frame_interpolation(seed):
    low = logits(seed)
    differ = total = 0
    for size in SIZES:
        scale = 1024 / max(size)
        input_size = (int(size[0] * scale + 0.5), int(size[1] * scale + 0.5))
        for got, want in ((upscale_masks(low, [((1024, 1024), input_size), (size, size)]),
                           sam_full(low, input_size, size)),
                          (upscale_masks(low, [(size, size)]), sam2_full(low, size))):
            assert got.shape == want.shape and got.dtype == bool
            differ += int((got != want).sum())
            total += want.size
    # the same taps and weights; a value within rounding of 0 may land on the other side
    # (measured: 1 pixel in 120 frames' worth)
    assert differ <= max(2, total * 1e-7)


def test_nothing_positive_is_an_empty_mask():
    low = torch.full((1, 256, 256), -1.0)
    assert not upscale_masks(low, [((480, 854), (480, 854))]).any()


@pytest.mark.parametrize("seed", range(6))
def test_the_cpu_gathers_give_the_device_path_bits(seed):
    """The CPU's numpy gathers compute the same float32 products and sums as the torch
    gathers a GPU runs: the same values to the last bit."""
    from samvideo.segmenters.upscale import _covered, _interpolate, _interpolate_on_device

    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.normal(0, 5, (3, 60, 90)).astype(np.float32))
    for (in_h, out_h), (in_w, out_w) in (((576, 480), (1024, 854)), ((256, 1080), (256, 1920)),
                                         ((256, 405), (256, 720))):
        y0, x0 = int(rng.integers(0, in_h - 60)), int(rng.integers(0, in_w - 90))
        _, rows = _covered(in_h, out_h, y0, y0 + 60)
        _, cols = _covered(in_w, out_w, x0, x0 + 90)
        got, want = _interpolate(x, rows, cols), _interpolate_on_device(x, rows, cols)
        assert got.shape == want.shape and got.dtype == torch.float32
        assert torch.equal(got.view(torch.int32), want.view(torch.int32))
