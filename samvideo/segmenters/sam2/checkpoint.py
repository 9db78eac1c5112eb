"""Loading a SAM 2.1 checkpoint (:func:`load_sam2`) into Meta's own model.

The model is built by ``sam2.build_sam.build_sam2`` from the config that ``rf-sam-2``
ships for the architecture read from the tensors (:func:`infer_sam2_arch`), with the
image predictor's post-processing settings (``apply_postprocessing=True``, its default:
single-mask answers fall back to the most stable of the multimask ones); the state dict
(``{"model": state_dict}``, read with ``torch.load(weights_only=True)``) is then loaded
strictly, as ``sam2``'s own loader does.
"""

from __future__ import annotations

from pathlib import Path

import torch

from samvideo.segmenters.checkpoint import check_state_keys, read_checkpoint
from samvideo.segmenters.device import resolve_device
from samvideo.segmenters.sam2.arch import MODEL_NAMES, Sam2Arch, infer_sam2_arch


def build_sam2_model(arch: Sam2Arch, *, image_size: int | None = None):
    """An untrained SAM 2.1 model of ``arch`` in eval mode on the CPU, by
    ``sam2.build_sam.build_sam2`` (no checkpoint); ``image_size`` (None: the config's
    1024) overrides the side of the encoder's square input, as ``sam2``'s own
    ``++model.image_size`` override does (the tensors do not depend on it)."""
    from sam2.build_sam import build_sam2

    check_image_size(image_size)
    extra = [] if image_size is None else [f"++model.image_size={image_size}"]
    return build_sam2(arch.config, None, device="cpu", mode="eval", hydra_overrides_extra=extra)


def check_image_size(image_size: int | None) -> None:
    """ValueError unless ``image_size`` is None or a multiple of 64 from 64 up: Hiera
    halves its grid three times after a stride-4 patch embedding, and SAM 2's memory
    encoder needs the stride-16 embedding grid to be even."""
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int)
                                   or image_size < 64 or image_size % 64):
        raise ValueError(f"image_size={image_size!r}: give a multiple of 64 (1024 is SAM 2.1's)")


def load_sam2(
    checkpoint: str | Path,
    *,
    model: str = "auto",  # "auto": the architecture the tensors say
    device: str | torch.device = "auto",  # "auto": CUDA when present, as users expect
    state: dict[str, torch.Tensor] | None = None,  # the file's tensors, when already read
    image_size: int | None = None,  # None: the config's 1024 (see build_sam2_model)
):
    """Load a SAM 2.1 checkpoint into a float32 ``SAM2Base`` in eval mode on ``device``.

    Returns:
        ``(model, arch)``.

    Raises:
        ValueError: bad file (see :func:`read_checkpoint`), not SAM 2.1, another SAM 2.1
            model than ``model``, or keys that do not fit (one line naming them).
    """
    if model not in MODEL_NAMES:
        raise ValueError(f"model {model!r} is not one of {', '.join(MODEL_NAMES)}")
    target = resolve_device(device)
    state = read_checkpoint(checkpoint) if state is None else state
    source = f"checkpoint {checkpoint}"
    arch = infer_sam2_arch(state, source)
    if model != "auto" and arch.name != model:
        raise ValueError(f"{source} is {arch.name}, not {model}")
    sam = build_sam2_model(arch, image_size=image_size)
    check_state_keys(sam.state_dict(), state, source, f"SAM {arch.name}")
    sam.load_state_dict(state, strict=True)
    sam = sam.to(device=target, dtype=torch.float32)
    sam.requires_grad_(False)
    return sam.eval(), arch
