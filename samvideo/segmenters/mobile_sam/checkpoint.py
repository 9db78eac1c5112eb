"""MobileSAM checkpoints: telling one from its keys, and loading it into MobileSAM's own
model (``mobile_sam.build_sam.build_sam_vit_t``: TinyViT 5M + SAM's decoder).

``mobile_sam.pt`` is a plain state dict; it is read with ``torch.load(weights_only=True)``
(:func:`~samvideo.segmenters.checkpoint.read_checkpoint`), never with ``mobile_sam``'s own
unrestricted ``torch.load``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from samvideo.segmenters.checkpoint import check_state_keys, read_checkpoint
from samvideo.segmenters.device import resolve_device

#: ``--model`` values this backend accepts.
MODEL_NAMES = ("auto", "mobile_sam")

#: keys only a MobileSAM (TinyViT) state dict has
_MARKERS = ("image_encoder.patch_embed.seq.0.c.weight",
            "image_encoder.layers.0.blocks.0.conv1.c.weight")


@dataclass(frozen=True)
class MobileSamArch:
    """What the SAM-family segmenter needs to know of MobileSAM's shape (the official
    ``vit_t``: a 1024-pixel input, a 64 x 64 x 256 embedding, as SAM's).

    Attributes:
        name: ``"vit_t"``, MobileSAM's name for its TinyViT model.
        img_size: side of the square, padded encoder input in pixels.
        embedding_size: side of the image embedding grid.
        prompt_embed_dim: channels of the image embedding and the prompt tokens.
    """

    name: str = "vit_t"
    img_size: int = 1024
    embedding_size: int = 64
    prompt_embed_dim: int = 256

    def __str__(self) -> str:
        return self.name


MOBILE_SAM_ARCH = MobileSamArch()


def is_mobile_sam(state: dict[str, torch.Tensor]) -> bool:
    """Whether a state dict is MobileSAM's: its image encoder is TinyViT (a convolutional
    patch embedding, ``layers.N`` stages), not SAM's ViT or SAM 2's Hiera."""
    return all(key in state for key in _MARKERS)


def build_mobile_sam():
    """MobileSAM's model, untrained, in eval mode on the CPU, by MobileSAM's own builder
    (``mobile_sam.build_sam.build_sam_vit_t``)."""
    with warnings.catch_warnings():
        # mobile_sam registers its TinyViT variants in timm's registry, which has its own
        warnings.filterwarnings("ignore", message="Overwriting tiny_vit", category=UserWarning)
        from mobile_sam.build_sam import build_sam_vit_t
    return build_sam_vit_t()


def load_mobile_sam(
    checkpoint: str | Path,
    *,
    model: str = "auto",  # "auto" or "mobile_sam": there is one MobileSAM model
    device: str | torch.device = "auto",  # "auto": CUDA when present, as users expect
    state: dict[str, torch.Tensor] | None = None,  # the file's tensors, when already read
):
    """Load a MobileSAM checkpoint into a float32 model in eval mode on ``device``.

    Returns:
        ``(sam, arch)``: the ``mobile_sam.modeling.Sam`` and :data:`MOBILE_SAM_ARCH`.

    Raises:
        ValueError: bad file (see :func:`read_checkpoint`), not MobileSAM, or keys or
            shapes that do not fit MobileSAM's model (one line naming them).
    """
    if model not in MODEL_NAMES:
        raise ValueError(f"model {model!r} is not one of {', '.join(MODEL_NAMES)}")
    target = resolve_device(device)
    state = read_checkpoint(checkpoint) if state is None else state
    source = f"checkpoint {checkpoint}"
    if not is_mobile_sam(state):
        raise ValueError(f"{source} is not a MobileSAM checkpoint: it has no {_MARKERS[0]}")
    sam = build_mobile_sam()
    check_state_keys(sam.state_dict(), state, source, "MobileSAM vit_t")
    sam.load_state_dict(state, strict=True)
    sam = sam.to(device=target, dtype=torch.float32)
    sam.requires_grad_(False)
    # eval() again after loading: TinyViT's attention caches its bias table (``ab``) when
    # put in eval mode, and the builder did that with the random initial table
    return sam.eval(), MOBILE_SAM_ARCH

