"""The SAM 2.1 backend (image models), through Meta's own ``sam2`` code as Roboflow
packages it (``rf-sam-2``, configs included), one job per module:

* :mod:`~samvideo.segmenters.sam2.arch`: :class:`Sam2Arch`, :data:`SAM2_ARCHS` (tiny,
  small, base_plus, large) and :func:`infer_sam2_arch` (which one, from the tensors).
* :mod:`~samvideo.segmenters.sam2.checkpoint`: :func:`load_sam2`, a checkpoint into
  ``sam2``'s ``SAM2Base`` built from its shipped config.
* :mod:`~samvideo.segmenters.sam2.segmenter`: :class:`Sam2Segmenter` and
  :class:`Sam2Embedding`; ``reference=True`` is ``SAM2ImagePredictor`` exactly.
"""

from __future__ import annotations

from samvideo.segmenters.sam2.arch import (
    MODEL_NAMES,
    SAM2_ARCHS,
    Sam2Arch,
    infer_sam2_arch,
    is_sam2,
)
from samvideo.segmenters.sam2.checkpoint import build_sam2_model, load_sam2
from samvideo.segmenters.sam2.segmenter import Sam2Embedding, Sam2Segmenter

__all__ = [
    "MODEL_NAMES",
    "SAM2_ARCHS",
    "Sam2Arch",
    "Sam2Embedding",
    "Sam2Segmenter",
    "build_sam2_model",
    "infer_sam2_arch",
    "is_sam2",
    "load_sam2",
]
