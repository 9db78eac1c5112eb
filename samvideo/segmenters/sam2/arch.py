"""SAM 2.1's four image models: :class:`Sam2Arch`, :data:`SAM2_ARCHS`, and telling which
one a state dict holds from its tensors (:func:`infer_sam2_arch`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

#: ``--model`` values this backend accepts.
MODEL_NAMES = ("auto", "sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus",
               "sam2.1_hiera_large")

_TRUNK = "image_encoder.trunk."
#: keys SAM 2.1 state dicts have and SAM 2.0 ones lack (the 2.1 configs'
#: ``no_obj_embed_spatial`` and ``proj_tpos_enc_in_obj_ptrs``)
_SAM21_KEYS = ("no_obj_embed_spatial", "obj_ptr_tpos_proj.weight")


@dataclass(frozen=True)
class Sam2Arch:
    """One SAM 2.1 model: its Hiera trunk's shape and the config ``rf-sam-2`` ships for it.

    Attributes:
        name: the ``--model`` name, e.g. ``"sam2.1_hiera_tiny"``.
        config: the Hydra config in the ``sam2`` package (``configs/sam2.1/...yaml``).
        embed_dim: width of the trunk's first stage.
        stages: blocks per trunk stage.
        img_size: side of the square encoder input in pixels (1024).
        embedding_size: side of the image embedding grid (64).
        prompt_embed_dim: channels of the image embedding and prompt tokens (256).
    """

    name: str
    config: str
    embed_dim: int
    stages: tuple[int, ...]
    img_size: int = 1024
    embedding_size: int = 64
    prompt_embed_dim: int = 256

    def __str__(self) -> str:
        return self.name


#: The four official SAM 2.1 image models (the configs of ``sam2/configs/sam2.1``).
SAM2_ARCHS: dict[str, Sam2Arch] = {
    a.name: a
    for a in (
        Sam2Arch("sam2.1_hiera_tiny", "configs/sam2.1/sam2.1_hiera_t.yaml", 96, (1, 2, 7, 2)),
        Sam2Arch("sam2.1_hiera_small", "configs/sam2.1/sam2.1_hiera_s.yaml", 96, (1, 2, 11, 2)),
        Sam2Arch("sam2.1_hiera_base_plus", "configs/sam2.1/sam2.1_hiera_b+.yaml", 112,
                 (2, 3, 16, 3)),
        Sam2Arch("sam2.1_hiera_large", "configs/sam2.1/sam2.1_hiera_l.yaml", 144, (2, 6, 36, 4)),
    )
}


def is_sam2(state: dict[str, torch.Tensor]) -> bool:
    """Whether a state dict is SAM 2's (2.0 or 2.1): its image encoder has a Hiera trunk."""
    return _TRUNK + "patch_embed.proj.weight" in state


def infer_sam2_arch(state: dict[str, torch.Tensor], source: str = "state dict") -> Sam2Arch:
    """Which SAM 2.1 model a state dict holds, from its tensors.

    The trunk's width is the patch embedding's output channels
    (``image_encoder.trunk.patch_embed.proj.weight``, (E, 3, 7, 7)); its stages are the
    runs of ``trunk.blocks.N``, a new one starting at each block that changes the width
    (it has a ``proj``). Hiera's head counts and global-attention blocks leave no trace
    in the tensors, so only the four official shapes are known.

    Raises:
        ValueError: not SAM 2, a SAM 2.0 file, or a Hiera of no official shape.
    """
    if not is_sam2(state):
        raise ValueError(f"{source} is not a SAM 2 checkpoint: it has no "
                         f"{_TRUNK}patch_embed.proj.weight")
    embed_dim = int(state[_TRUNK + "patch_embed.proj.weight"].shape[0])
    pattern = re.compile(re.escape(_TRUNK) + r"blocks\.(\d+)\.")
    ids = sorted({int(m.group(1)) for key in state if (m := pattern.match(key))})
    if not ids or ids != list(range(len(ids))):
        raise ValueError(f"{source}: {_TRUNK}blocks.N are missing or not 0..N-1")
    stages, run = [], 0
    for i in ids:
        if run and f"{_TRUNK}blocks.{i}.proj.weight" in state:
            stages.append(run)
            run = 0
        run += 1
    stages.append(run)
    missing = [k for k in _SAM21_KEYS if k not in state]
    for arch in SAM2_ARCHS.values():
        if (arch.embed_dim, arch.stages) == (embed_dim, tuple(stages)):
            if missing:
                raise ValueError(
                    f"{source} is a SAM 2.0 checkpoint ({arch.name.replace('sam2.1', 'sam2')},"
                    f" no {missing[0]}): samvideo runs SAM 2.1 (sam2.1_hiera_*)"
                )
            return arch
    raise ValueError(
        f"{source} is a SAM 2 checkpoint of no official shape (width {embed_dim}, stages "
        f"{stages}): samvideo knows {', '.join(SAM2_ARCHS)}"
    )
