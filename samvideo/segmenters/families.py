"""The checkpoint families samvideo runs, and telling which one a file holds from its
tensors (:func:`identify`), so that ``--checkpoint F`` needs no ``--model``.

========== ========================================== ===================================
family     ``--model`` names                           the file
========== ========================================== ===================================
sam        vit_h, vit_l, vit_b                         a plain state dict, ViT encoder
                                                       (``image_encoder.blocks.N.attn.rel_pos_h``)
sam2.1     sam2.1_hiera_tiny / small / base_plus /     ``{"model": state_dict}``, Hiera
           large                                       encoder (``image_encoder.trunk.*``)
mobile_sam mobile_sam                                  a plain state dict, TinyViT encoder
                                                       (``image_encoder.layers.N``)
========== ========================================== ===================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from samvideo.checkpoints import CHECKPOINTS

if TYPE_CHECKING:
    import torch

#: each family's name for people
TITLES = {"sam": "SAM", "sam2.1": "SAM 2.1", "mobile_sam": "MobileSAM"}

#: every ``--model`` name that takes a checkpoint, and its family (the registry's: this
#: module imports no model code until a file's tensors are read, so that a GrabCut run
#: starts without loading torch)
FAMILY_OF: dict[str, str] = {name: c.family for name, c in CHECKPOINTS.items()}

#: ``--model auto`` without a checkpoint on a CPU: the fastest cached model first (a CPU
#: runs MobileSAM end to end several times faster than SAM 2.1 tiny, and that than vit_b)
CPU_ORDER = ("mobile_sam", "sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus",
             "vit_b", "sam2.1_hiera_large", "vit_l", "vit_h")
#: ...and on a GPU: the most accurate first (SAM 2.1 beats SAM of the same size and speed)
GPU_ORDER = ("sam2.1_hiera_large", "vit_h", "sam2.1_hiera_base_plus", "vit_l",
             "sam2.1_hiera_small", "vit_b", "sam2.1_hiera_tiny", "mobile_sam")


def describe_model(model: str) -> str:
    """``"vit_b (SAM)"``, ``"mobile_sam (MobileSAM)"``: a model name with its family."""
    family = FAMILY_OF.get(model)
    return f"{model} ({TITLES[family]})" if family else model


def identify(state: dict[str, torch.Tensor], source: str = "state dict") -> tuple[str, str]:
    """``(family, model)`` of a state dict, read from its keys and shapes.

    ``model`` is the ``--model`` name (``"vit_b"``, ``"sam2.1_hiera_tiny"``,
    ``"mobile_sam"``), or for a SAM of no official shape its description
    (``"custom (embed 96, depth 2, heads 2)"``).

    Raises:
        ValueError: one line: the file matches no family (naming the families), or it is
            of a family but not a model samvideo can build (e.g. SAM 2.0).
    """
    from samvideo.segmenters.mobile_sam.checkpoint import is_mobile_sam
    from samvideo.segmenters.sam.arch import infer_arch
    from samvideo.segmenters.sam2.arch import infer_sam2_arch, is_sam2

    if is_mobile_sam(state):
        return "mobile_sam", "mobile_sam"
    if is_sam2(state):
        return "sam2.1", infer_sam2_arch(state, source).name
    if any(key.startswith("image_encoder.") for key in state):  # SAM's says what it lacks
        return "sam", infer_arch(state, source).name
    first = next(iter(state), "")
    raise ValueError(
        f"{source} matches no model family samvideo knows (SAM vit_h/vit_l/vit_b, SAM 2.1 "
        f"sam2.1_hiera_*, MobileSAM mobile_sam): its tensors start with {first!r}"
    )


def check_model(model: str, found: str, source: str) -> None:
    """Raise one line naming both when ``--model`` asked for another model than the
    checkpoint holds (``model="auto"`` takes any)."""
    if model != "auto" and found != model:
        raise ValueError(f"{source} is {describe_model(found)}, not {describe_model(model)}")
