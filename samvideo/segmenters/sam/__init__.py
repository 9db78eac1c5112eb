"""The Segment Anything (SAM) backend, one job per module:

* :mod:`~samvideo.segmenters.sam.arch`: :class:`SamArch`, :data:`OFFICIAL_ARCHS`,
  :func:`build_sam` and :func:`infer_arch` (the architecture read from tensor shapes).
* :mod:`~samvideo.segmenters.sam.checkpoint`: :func:`load_sam`, a checkpoint into a model.
* :mod:`~samvideo.segmenters.sam.attention`: the SDPA attention patch and the CPU
  attention kernels of the image encoder.
* :mod:`~samvideo.segmenters.sam.segmenter`: :class:`SamSegmenter` and :class:`SamEmbedding`.

Shared with the other torch backends: :mod:`samvideo.segmenters.device` (device and
precision) and :mod:`samvideo.segmenters.checkpoint` (:func:`read_checkpoint`).

The names below are re-exported; a test that monkeypatches one must patch the submodule
whose code reads it (e.g. ``sam.attention.CPU_TILE_ELEMENTS``).
"""

from __future__ import annotations

from samvideo.segmenters.checkpoint import read_checkpoint
from samvideo.segmenters.device import (
    PRECISIONS,
    cpu_has_native_bf16,
    cuda_has_native_bf16,
    resolve_device,
    resolve_precision,
)
from samvideo.segmenters.sam.arch import (
    MODEL_NAMES,
    OFFICIAL_ARCHS,
    SamArch,
    build_sam,
    infer_arch,
)
from samvideo.segmenters.sam.attention import (
    cpu_block_forward,
    global_attention,
    sdpa_attention_forward,
    use_cpu_attention,
    use_sdpa_attention,
    window_attention,
)
from samvideo.segmenters.sam.checkpoint import load_sam
from samvideo.segmenters.sam.segmenter import LOW_RES, SamEmbedding, SamSegmenter

__all__ = [
    "LOW_RES",
    "MODEL_NAMES",
    "OFFICIAL_ARCHS",
    "PRECISIONS",
    "SamArch",
    "SamEmbedding",
    "SamSegmenter",
    "build_sam",
    "cpu_block_forward",
    "cpu_has_native_bf16",
    "cuda_has_native_bf16",
    "global_attention",
    "infer_arch",
    "load_sam",
    "read_checkpoint",
    "resolve_device",
    "resolve_precision",
    "sdpa_attention_forward",
    "use_cpu_attention",
    "use_sdpa_attention",
    "window_attention",
]
