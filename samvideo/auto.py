"""``--auto``: seed the objects to track from SAM's "segment everything" on the first frame.

SAM's :class:`~segment_anything.SamAutomaticMaskGenerator` prompts the model with a
grid of points and returns every mask it finds. Most are not objects anyone wants to
track: pieces of the background, the floor or the sky as one big blob, parts of an
object next to the whole. Hence the filters ("beware the blob"), each a named field of
:class:`AutoConfig`:

* predicted IoU and stability score: SAM's own confidence that a mask is clean;
* minimum area: specks and texture fragments;
* maximum area, and masks touching three or more sides of the frame: the background;
* non-maximum suppression (boxes); then, largest first, masks mostly inside a kept
  mask (parts of an object already taken: the whole wins over its parts);
* at most ``max_objects``, the largest first.

Only the SAM backend can do this; GrabCut has no notion of "an object".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from samvideo.prompts import ObjectPrompt


@dataclass(frozen=True)
class AutoConfig:
    """Settings of the first-frame object search, with the reason for each default."""

    #: grid of prompt points per image side: SAM's default 32 finds smaller things but
    #: costs 4x the decoder calls of 16, which finds every object worth tracking
    points_per_side: int = 16
    #: keep masks whose predicted IoU is at least this (SAM's default 0.88)
    pred_iou_thresh: float = 0.88
    #: keep masks whose stability score (IoU of the mask at two logit thresholds) is at
    #: least this (SAM's default 0.95): unstable masks are vague regions, not objects
    stability_score_thresh: float = 0.92
    #: boxes overlapping a better one by more than this IoU are the same thing
    box_nms_thresh: float = 0.7
    #: masks smaller than this fraction of the frame are specks (0.1 %: 16x16 pixels at
    #: 480p, about the smallest object a box can be drawn around)
    min_area_frac: float = 0.001
    #: masks larger than this fraction of the frame are backgrounds, not objects
    max_area_frac: float = 0.4
    #: masks touching at least this many sides of the frame are background (floor, sky)
    max_border_sides: int = 3
    #: a mask with more than this fraction of its pixels inside a kept mask is a part of
    #: that object (a wheel of a car already taken)
    max_contained: float = 0.8
    #: track at most this many objects (``--max-objects``), the largest: the most
    #: prominent things in the picture
    max_objects: int = 10

    def __post_init__(self) -> None:
        for name in ("pred_iou_thresh", "stability_score_thresh", "box_nms_thresh",
                     "min_area_frac", "max_area_frac", "max_contained"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r} must be within [0, 1]")
        if self.max_objects < 1:
            raise ValueError(f"max_objects={self.max_objects!r} must be at least 1")
        if self.points_per_side < 1:
            raise ValueError(f"points_per_side={self.points_per_side!r} must be at least 1")


def sam_model(segmenter: Any):
    """The ``segment_anything``-style model behind a segmenter (SAM, or MobileSAM, which
    keeps SAM's interface), or ValueError naming the backend (``--auto`` needs one)."""
    model = getattr(segmenter, "model", None)
    if model is None or not hasattr(model, "prompt_encoder"):
        name = getattr(segmenter, "name", type(segmenter).__name__)
        raise ValueError(f"--auto needs a SAM or MobileSAM model (--model vit_b|vit_l|vit_h|"
                         f"mobile_sam or --checkpoint PATH); the {name!r} backend cannot segment "
                         "everything: give the objects with --box / --point / --prompts instead")
    return model


def auto_prompts(segmenter: Any, rgb: np.ndarray, config: AutoConfig | None = None, *,
                 progress: Callable[[int, int], Any] | None = None) -> list[ObjectPrompt]:
    """Objects to track on one (H, W, 3) uint8 RGB frame, as first-frame prompts.

    Each prompt has the mask's tight box (XYXY pixels, x2/y2 exclusive) and the grid
    point that found it as a foreground click; ids are 1..N, largest first.
    ``progress(done, total)`` is called as the work goes: step 1 is encoding the frame,
    the others are SAM's batches of grid points (it can take a minute on a CPU).
    Raises ValueError when ``segmenter`` is not SAM.
    """
    from segment_anything import SamAutomaticMaskGenerator

    cfg = config or AutoConfig()
    model = sam_model(segmenter)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"frame must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    import torch

    generator = SamAutomaticMaskGenerator(
        _float32(model), points_per_side=cfg.points_per_side, pred_iou_thresh=cfg.pred_iou_thresh,
        stability_score_thresh=cfg.stability_score_thresh, box_nms_thresh=cfg.box_nms_thresh,
        output_mode="binary_mask")
    if progress is not None:
        _report(generator, progress)
    with torch.inference_mode():
        records = generator.generate(rgb)
    return prompts_from_masks(filter_masks(records, rgb.shape[:2], cfg))


def _report(generator: Any, progress: Callable[[int, int], Any]) -> None:
    """Make ``generator`` call ``progress(done, total)`` after encoding the frame and after
    each batch of grid points (one crop: ``crop_n_layers`` is 0)."""
    points = generator.point_grids[0].shape[0]
    total = 1 + -(-points // generator.points_per_batch)
    done = [0]
    set_image, process_batch = generator.predictor.set_image, generator._process_batch

    def step(result: Any) -> Any:
        done[0] += 1
        progress(min(done[0], total), total)
        return result

    generator.predictor.set_image = lambda *a, **k: step(set_image(*a, **k))
    generator._process_batch = lambda *a, **k: step(process_batch(*a, **k))
    progress(0, total)


def _float32(model):
    """The model itself when its weights are float32, else a float32 copy for this one
    call (the SAM backend may hold bf16 / fp16 weights; the generator feeds float32)."""
    import copy

    import torch

    if next(model.parameters()).dtype == torch.float32:
        return model
    return copy.deepcopy(model).float()


def filter_masks(records: Sequence[dict], shape: tuple[int, int],
                 config: AutoConfig | None = None) -> list[dict]:
    """Keep the generator's records (``segmentation`` (H, W) bool, ``predicted_iou``,
    ``stability_score``, ``point_coords``) that look like trackable objects, largest
    first, at most ``max_objects``."""
    cfg = config or AutoConfig()
    h, w = shape
    ranked = sorted(records, key=lambda r: -int(np.count_nonzero(r["segmentation"])))
    kept: list[dict] = []
    for r in ranked:
        mask = np.asarray(r["segmentation"], bool)
        if not _plausible(r, mask, h, w, cfg):
            continue
        if any(_contained(mask, k["segmentation"]) > cfg.max_contained for k in kept):
            continue
        kept.append({**r, "segmentation": mask})
        if len(kept) == cfg.max_objects:
            break
    return kept


def _plausible(r: dict, mask: np.ndarray, h: int, w: int, cfg: AutoConfig) -> bool:
    if r["predicted_iou"] < cfg.pred_iou_thresh:
        return False
    if r["stability_score"] < cfg.stability_score_thresh:
        return False
    area = int(mask.sum())
    if not cfg.min_area_frac * h * w <= area <= cfg.max_area_frac * h * w:
        return False
    sides = sum(int(edge.any()) for edge in (mask[0], mask[-1], mask[:, 0], mask[:, -1]))
    return sides < cfg.max_border_sides


def _contained(mask: np.ndarray, other: np.ndarray) -> float:
    """Fraction of ``mask``'s pixels inside ``other``, or of ``other``'s inside ``mask``
    (a whole found after its part), whichever is larger."""
    inter = float(np.count_nonzero(mask & other))
    return inter / max(min(int(mask.sum()), int(other.sum())), 1)


def prompts_from_masks(records: Sequence[dict]) -> list[ObjectPrompt]:
    """One first-frame :class:`ObjectPrompt` per record: the mask's tight box and, when the
    record has one inside the mask, its grid point as a foreground click."""
    from samvideo.masks import mask_to_box

    prompts = []
    for r in records:
        mask = r["segmentation"]
        box = mask_to_box(mask)
        if box is None:
            continue
        points: tuple = ()
        for x, y in r.get("point_coords") or ():
            xi, yi = int(x), int(y)
            if 0 <= yi < mask.shape[0] and 0 <= xi < mask.shape[1] and mask[yi, xi]:
                points = ((float(x), float(y)),)
                break
        prompts.append(ObjectPrompt(len(prompts) + 1, box, points))
    return prompts
