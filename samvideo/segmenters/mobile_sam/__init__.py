"""The MobileSAM backend: the TinyViT image encoder distilled from SAM, with SAM's own
prompt encoder and mask decoder, all from MobileSAM's own code (the ``mobile_sam``
package), one job per module:

* :mod:`~samvideo.segmenters.mobile_sam.checkpoint`: :data:`MOBILE_SAM_ARCH`,
  :func:`is_mobile_sam` (a state dict's family, from its keys), :func:`build_mobile_sam`
  and :func:`load_mobile_sam` (a checkpoint into a model).
* :mod:`~samvideo.segmenters.mobile_sam.segmenter`: :class:`MobileSamSegmenter`, SAM's
  segmenter (:class:`~samvideo.segmenters.sam.SamSegmenter`: the same preprocessing,
  batched prompts and post-processing, since MobileSAM keeps SAM's interface) over the
  TinyViT model, with ``mobile_sam.SamPredictor`` as its reference.
"""

from __future__ import annotations

from samvideo.segmenters.mobile_sam.checkpoint import (
    MOBILE_SAM_ARCH,
    MobileSamArch,
    build_mobile_sam,
    is_mobile_sam,
    load_mobile_sam,
)
from samvideo.segmenters.mobile_sam.segmenter import MobileSamSegmenter

__all__ = [
    "MOBILE_SAM_ARCH",
    "MobileSamArch",
    "MobileSamSegmenter",
    "build_mobile_sam",
    "is_mobile_sam",
    "load_mobile_sam",
]
