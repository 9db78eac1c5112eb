"""The :class:`MobileSamSegmenter`: SAM's segmenter over MobileSAM's model.

MobileSAM keeps SAM's interface (the same ``Sam`` wrapper, prompt encoder, mask decoder,
1024-pixel input and 64 x 64 embedding); only the image encoder differs (TinyViT). So the
segmenter is :class:`~samvideo.segmenters.sam.SamSegmenter` with three hooks changed:
the model is loaded by :func:`load_mobile_sam`, the reference is ``mobile_sam``'s own
``SamPredictor``, and the fast path keeps TinyViT's weights channels-last (SAM's ViT
attention patches do not apply to TinyViT) and casts them to bf16 where native.
"""

from __future__ import annotations

from pathlib import Path

import torch

from samvideo.segmenters.mobile_sam.checkpoint import MobileSamArch, load_mobile_sam
from samvideo.segmenters.sam.segmenter import SamSegmenter


def _mobile_sam_predictor():
    from mobile_sam import SamPredictor  # imported after build_mobile_sam's warning filter

    return SamPredictor


class MobileSamSegmenter(SamSegmenter):
    """MobileSAM behind the :class:`~samvideo.segmenters.base.Segmenter` protocol.

    Arguments, attributes and both paths are :class:`SamSegmenter`'s: ``reference=True``
    runs ``mobile_sam.SamPredictor`` unchanged (bit-identical to it); the fast path
    preprocesses on the device, encodes batches with TinyViT (bf16 weights where the
    hardware has native bf16) and decodes all objects of a frame together.
    ``name`` is ``"mobile_sam"``.
    """

    family = "mobile_sam"

    def __init__(self, checkpoint: str | Path, **options) -> None:
        self.predictor_class = _mobile_sam_predictor()
        super().__init__(checkpoint, **options)

    def _load(self, checkpoint, model, device, state) -> tuple[torch.nn.Module, MobileSamArch]:
        return load_mobile_sam(checkpoint, model=model, device=device, state=state)

    def _name(self) -> str:
        return "mobile_sam"

    def _speed_up_encoder(self, *, sdpa: bool, compile: bool) -> None:
        """TinyViT's weights in channels-last order: oneDNN's fastest convolutions. Its
        attention is windowed and small: left as it is. (Folding its batch norms into the
        convolutions, MobileSAM's ``Conv2d_BN.fuse``, gains little more and costs bf16
        accuracy: the folded weights round once more.)"""
        self.model.image_encoder.to(memory_format=torch.channels_last)
