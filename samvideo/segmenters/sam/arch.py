"""SAM's architecture: :class:`SamArch`, the official three, building and inferring one."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import torch
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)

#: ``--model`` values this backend accepts.
MODEL_NAMES = ("auto", "vit_h", "vit_l", "vit_b")


@dataclass(frozen=True)
class SamArch:
    """The shape of a SAM model, as ``segment_anything.build_sam._build_sam`` builds it.

    Attributes:
        embed_dim: width of the ViT image encoder (vit_b 768, vit_l 1024, vit_h 1280).
        depth: number of encoder blocks.
        num_heads: attention heads per encoder block.
        global_attn_indexes: blocks with global attention; the others use windows.
        window_size: side of the attention windows, in patches.
        img_size: side of the square, padded encoder input in pixels (1024 for SAM).
        patch_size: side of a ViT patch in pixels.
        mlp_ratio: hidden width of the encoder MLPs over ``embed_dim``.
        prompt_embed_dim: channels of the image embedding and the prompt tokens (256).
    """

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    window_size: int = 14
    img_size: int = 1024
    patch_size: int = 16
    mlp_ratio: float = 4.0
    prompt_embed_dim: int = 256

    @property
    def embedding_size(self) -> int:
        """Side of the (square) image embedding grid: 64 for SAM."""
        return self.img_size // self.patch_size

    @property
    def name(self) -> str:
        """``"vit_h"``, ``"vit_l"``, ``"vit_b"``, else ``"custom (embed E, depth D, heads H)"``."""
        for name, arch in OFFICIAL_ARCHS.items():
            if arch == self:
                return name
        return f"custom (embed {self.embed_dim}, depth {self.depth}, heads {self.num_heads})"

    def __str__(self) -> str:
        return self.name


#: The three official architectures (``segment_anything.build_sam``).
OFFICIAL_ARCHS: dict[str, SamArch] = {
    "vit_h": SamArch(1280, 32, 16, (7, 15, 23, 31)),
    "vit_l": SamArch(1024, 24, 16, (5, 11, 17, 23)),
    "vit_b": SamArch(768, 12, 12, (2, 5, 8, 11)),
}


def build_sam(arch: SamArch) -> Sam:
    """Build an (untrained, randomly initialised) SAM model of ``arch``, in eval mode, on CPU.

    The modules and their arguments are those of ``segment_anything.build_sam._build_sam``;
    only the encoder's shape comes from ``arch``. Call under ``torch.device("meta")`` to
    skip the random initialisation (the loader does).
    """
    grid = arch.embedding_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=arch.depth,
            embed_dim=arch.embed_dim,
            img_size=arch.img_size,
            mlp_ratio=arch.mlp_ratio,
            norm_layer=functools.partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=arch.num_heads,
            patch_size=arch.patch_size,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=list(arch.global_attn_indexes),
            window_size=arch.window_size,
            out_chans=arch.prompt_embed_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=arch.prompt_embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(arch.img_size, arch.img_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=2,
                embedding_dim=arch.prompt_embed_dim,
                mlp_dim=2048,
                num_heads=8,
            ),
            transformer_dim=arch.prompt_embed_dim,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    sam.eval()
    return sam


def infer_arch(state_dict: dict[str, torch.Tensor], source: str = "state dict") -> SamArch:
    """Read a SAM architecture from the tensor shapes of its state dict.

    ``embed_dim`` and ``patch_size`` come from ``image_encoder.patch_embed.proj.weight``
    (E, 3, p, p); ``img_size`` from ``image_encoder.pos_embed`` (1, S/p, S/p, E);
    ``depth`` from the ``image_encoder.blocks.N`` indices; ``num_heads`` from the
    relative-position table ``blocks.N.attn.rel_pos_h`` (2 * size - 1, head_dim); blocks
    whose table spans the whole grid (2 * S/p - 1 rows) use global attention, the others
    windows of ``(rows + 1) / 2``; ``prompt_embed_dim`` from the neck's first conv.

    Raises:
        ValueError: the state dict is not SAM's (names ``source`` and the missing key).
    """
    enc = "image_encoder."
    patch = _tensor(state_dict, enc + "patch_embed.proj.weight", source, ndim=4)
    pos = _tensor(state_dict, enc + "pos_embed", source, ndim=4)
    neck = _tensor(state_dict, enc + "neck.0.weight", source, ndim=4)
    mlp = _tensor(state_dict, enc + "blocks.0.mlp.lin1.weight", source, ndim=2)
    embed_dim, patch_size, grid = int(patch.shape[0]), int(patch.shape[-1]), int(pos.shape[1])
    depth = _depth(state_dict, source)
    rows = [
        _tensor(state_dict, f"{enc}blocks.{i}.attn.rel_pos_h", source, ndim=2).shape
        for i in range(depth)
    ]
    head_dim = int(rows[0][1])
    if head_dim == 0 or embed_dim % head_dim:
        raise ValueError(f"{source}: head size {head_dim} does not divide the width {embed_dim}")
    global_ids, window_size = _attention_layout([int(r[0]) for r in rows], grid, source)
    return SamArch(
        embed_dim=embed_dim,
        depth=depth,
        num_heads=embed_dim // head_dim,
        global_attn_indexes=global_ids,
        window_size=window_size,
        img_size=grid * patch_size,
        patch_size=patch_size,
        mlp_ratio=int(mlp.shape[0]) / embed_dim,
        prompt_embed_dim=int(neck.shape[0]),
    )


def _depth(state_dict: dict[str, Any], source: str) -> int:
    """Number of encoder blocks: the ``image_encoder.blocks.N`` indices, which must be 0..N-1."""
    pattern = re.compile(r"image_encoder\.blocks\.(\d+)\.")
    ids = {int(m.group(1)) for key in state_dict if (m := pattern.match(key))}
    depth = max(ids, default=-1) + 1
    if depth == 0 or ids != set(range(depth)):
        raise ValueError(
            f"{source} is not a SAM checkpoint: image_encoder.blocks.N are missing or not 0..N-1"
        )
    return depth


def _attention_layout(rows: list[int], grid: int, source: str) -> tuple[tuple[int, ...], int]:
    """(global block indices, window size) from each block's ``rel_pos_h`` row count.

    A table of ``2 * grid - 1`` rows spans the whole grid: global attention; the others are
    windows of ``(rows + 1) / 2`` patches, the same for every windowed block.
    """
    global_ids = tuple(i for i, r in enumerate(rows) if r == 2 * grid - 1)
    window_rows = {r for r in rows if r != 2 * grid - 1}
    if len(window_rows) > 1:
        raise ValueError(
            f"{source}: windowed blocks disagree on the window size ({sorted(window_rows)} rows)"
        )
    return global_ids, (window_rows.pop() + 1) // 2 if window_rows else 0


def _tensor(state_dict: dict[str, Any], key: str, source: str, *, ndim: int) -> torch.Tensor:
    value = state_dict.get(key)
    if value is None:
        raise ValueError(f"{source} is not a SAM checkpoint: it has no {key}")
    if not isinstance(value, torch.Tensor) or value.ndim != ndim:
        raise ValueError(f"{source} is not a SAM checkpoint: {key} is not a {ndim}-d tensor")
    return value
