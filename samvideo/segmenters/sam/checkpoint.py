"""Loading a SAM checkpoint (:func:`load_sam`).

The state dict is read with ``torch.load(weights_only=True)`` (:func:`read_checkpoint`),
the architecture inferred from the tensor shapes (so vit_h / vit_l / vit_b and tiny test
models all load through the same path) and the model built from ``segment_anything``'s own
modules exactly as ``segment_anything.build_sam`` does.
"""

from __future__ import annotations

from pathlib import Path

import torch
from segment_anything.modeling import Sam

from samvideo.segmenters.checkpoint import check_state_keys, read_checkpoint
from samvideo.segmenters.device import resolve_device
from samvideo.segmenters.sam.arch import MODEL_NAMES, SamArch, build_sam, infer_arch


def load_sam(
    checkpoint: str | Path,
    *,
    model: str = "auto",  # "auto": trust the checkpoint's own shapes (any SAM, tiny ones too)
    device: str | torch.device = "auto",  # "auto": CUDA when present, as users expect
    state: dict[str, torch.Tensor] | None = None,  # the file's tensors, when already read
) -> tuple[Sam, SamArch]:
    """Load a SAM checkpoint into a float32 model in eval mode on ``device``.

    Args:
        checkpoint: a ``.pth`` file: a state dict, or a dict holding it under ``"model"``
            or ``"state_dict"``.
        model: ``"auto"``, or ``"vit_h"`` / ``"vit_l"`` / ``"vit_b"`` to insist on one.
        device: see :func:`resolve_device`.
        state: ``checkpoint``'s state dict when the caller has read it already (the
            registry reads a file once to tell its family); ``checkpoint`` then only
            names it in messages.

    Returns:
        ``(sam, arch)``: the ``segment_anything.modeling.Sam`` and its :class:`SamArch`.

    Raises:
        ValueError: bad file (see :func:`read_checkpoint`), not SAM, or not ``model``.
    """
    if model not in MODEL_NAMES:
        raise ValueError(f"model {model!r} is not one of {', '.join(MODEL_NAMES)}")
    target = resolve_device(device)
    state = read_checkpoint(checkpoint) if state is None else state
    source = f"checkpoint {checkpoint}"
    arch = infer_arch(state, source)
    if model != "auto" and arch.name != model:
        raise ValueError(f"{source} is {arch.name}, not {model}")
    with torch.device("meta"):
        sam = build_sam(arch)
    check_state_keys(sam.state_dict(), state, source, f"SAM {arch.name}")
    sam.load_state_dict(state, strict=True, assign=True)
    sam = sam.to(device=target, dtype=torch.float32)
    sam.requires_grad_(False)
    return sam.eval(), arch

