"""The Segment Anything (SAM) backend: checkpoint loading and the :class:`SamSegmenter`.

Loading (:func:`load_sam`) reads a checkpoint with ``torch.load(weights_only=True)``,
infers the architecture from the tensor shapes (so vit_h / vit_l / vit_b and tiny test
models all load through the same path) and builds the model from
``segment_anything``'s own modules exactly as ``segment_anything.build_sam`` does.

:class:`SamSegmenter` has two paths:

* ``reference=True``: Meta's ``SamPredictor.set_image`` + ``SamPredictor.predict``, one
  call per frame and per object; bit-identical to the reference implementation.
* the fast path (default): frames are uploaded as uint8 and resized (bilinear with
  antialias), normalised and padded on the device, a whole batch goes through the
  encoder in one call, in bf16 where the hardware has native bf16, with
  the attention computed by ``scaled_dot_product_attention`` (SAM's decomposed
  relative-position term passed as an additive mask), optionally ``torch.compile``-d;
  all the objects of a frame go through the prompt encoder and mask decoder together.

Coordinates are pixels of the frame: boxes XYXY, points (x, y). Frames are RGB uint8.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything import SamPredictor
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)
from segment_anything.modeling.common import MLPBlock
from segment_anything.modeling.image_encoder import Attention, Block, get_rel_pos
from segment_anything.utils.transforms import ResizeLongestSide

from samvideo.segmenters.base import Candidates, PromptRequest

#: ``--model`` values this backend accepts.
MODEL_NAMES = ("auto", "vit_h", "vit_l", "vit_b")
#: ``--precision`` values this backend accepts.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: SAM's low-resolution mask logits are (256, 256).
LOW_RES = 256

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


# --------------------------------------------------------------------------- architecture


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


# --------------------------------------------------------------------------- loading


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint's state dict with ``torch.load(weights_only=True)`` on the CPU.

    Accepts a bare state dict or a dict holding it under ``"model"`` or ``"state_dict"``.

    Raises:
        ValueError: one line naming the file and what is wrong with it: missing, empty,
            not a PyTorch checkpoint, holding pickled code, truncated or corrupt, or holding
            no state dict.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"checkpoint {path} does not exist")
    if path.is_dir():
        raise ValueError(f"checkpoint {path} is a directory, not a checkpoint file")
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint {path} is empty (0 bytes)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for bad files
        raise ValueError(_load_error(path, exc)) from None
    state = data
    if isinstance(data, dict):
        for key in ("model", "state_dict"):
            if isinstance(data.get(key), dict):
                state = data[key]
                break
    if not isinstance(state, dict) or not state:
        raise ValueError(f"checkpoint {path} is a PyTorch file but holds no state dict")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"checkpoint {path} is not a state dict: entry {bad[0]!r} is not a tensor")
    return state


def _load_error(path: Path, exc: Exception) -> str:
    """The one-line message for a file that ``torch.load(weights_only=True)`` rejected."""
    text = str(exc)
    if "Unsupported global" in text or "not an allowed global" in text:
        return (
            f"checkpoint {path} was refused: it holds pickled code, not only tensors "
            "(torch.load weights_only=True)"
        )
    with path.open("rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04":
        if not zipfile.is_zipfile(path):
            return f"checkpoint {path} is truncated or corrupt (its zip directory is missing)"
        try:
            with zipfile.ZipFile(path) as archive:
                broken = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as zexc:
            return f"checkpoint {path} is truncated or corrupt ({zexc})"
        if broken is not None:
            return f"checkpoint {path} is truncated or corrupt (bad member {broken})"
    reason = text.splitlines()[0] if text else type(exc).__name__
    return f"checkpoint {path} is not a PyTorch checkpoint ({reason[:120]})"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; also ``"cpu"``, ``"cuda"``, ``"cuda:N"``.

    Raises:
        ValueError: an unknown name, or a CUDA device this machine does not have.
    """
    text = str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        raise ValueError(f"device {device!r} is not one of auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available here")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r} does not exist: this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)"
        )
    return torch.device("cuda", index)


def load_sam(
    checkpoint: str | Path,
    *,
    model: str = "auto",  # "auto": trust the checkpoint's own shapes (any SAM, tiny ones too)
    device: str | torch.device = "auto",  # "auto": CUDA when present, as users expect
) -> tuple[Sam, SamArch]:
    """Load a SAM checkpoint into a float32 model in eval mode on ``device``.

    Args:
        checkpoint: a ``.pth`` file: a state dict, or a dict holding it under ``"model"``
            or ``"state_dict"``.
        model: ``"auto"``, or ``"vit_h"`` / ``"vit_l"`` / ``"vit_b"`` to insist on one.
        device: see :func:`resolve_device`.

    Returns:
        ``(sam, arch)``: the ``segment_anything.modeling.Sam`` and its :class:`SamArch`.

    Raises:
        ValueError: bad file (see :func:`read_checkpoint`), not SAM, or not ``model``.
    """
    if model not in MODEL_NAMES:
        raise ValueError(f"model {model!r} is not one of {', '.join(MODEL_NAMES)}")
    target = resolve_device(device)
    state = read_checkpoint(checkpoint)
    source = f"checkpoint {checkpoint}"
    arch = infer_arch(state, source)
    if model != "auto" and arch.name != model:
        raise ValueError(f"{source} is {arch.name}, not {model}")
    with torch.device("meta"):
        sam = build_sam(arch)
    _check_keys(sam, state, source, arch)
    sam.load_state_dict(state, strict=True, assign=True)
    sam = sam.to(device=target, dtype=torch.float32)
    sam.requires_grad_(False)
    return sam.eval(), arch


def _check_keys(sam: Sam, state: dict[str, torch.Tensor], source: str, arch: SamArch) -> None:
    """Raise one clear ValueError where ``state`` does not fit ``sam`` key for key."""
    expected = sam.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    problems = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            problems.append(f"{what}: {', '.join(keys[:3])}{more}")
    if problems:
        raise ValueError(f"{source} does not fit SAM {arch.name}: {'; '.join(problems)}")


# --------------------------------------------------------------------------- precision


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16, AMX, or Arm BF16)."""
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(torch.cpu, probe, None)
        try:
            if fn is not None and fn():
                return True
        except RuntimeError:  # pragma: no cover - probe unavailable in this build
            pass
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:  # pragma: no cover - not Linux
        return False
    flags = set(
        re.findall(r"[\w.]+", " ".join(re.findall(r"^(?:flags|Features)\s*:(.*)$", text, re.M)))
    )
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def cuda_has_native_bf16(device: torch.device) -> bool:
    """True for CUDA GPUs with bf16 tensor cores (compute capability 8.0, Ampere, and up);
    older ones only emulate bf16, slowly."""
    return torch.cuda.get_device_capability(device)[0] >= 8


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The encoder's compute dtype for ``precision`` on ``device``.

    ``"auto"`` → bf16 on GPUs and CPUs that compute it natively (:func:`cuda_has_native_bf16`,
    :func:`cpu_has_native_bf16`), else fp32. ``"fp16"`` needs CUDA.

    Raises:
        ValueError: an unknown precision, or fp16 / bf16 where the device cannot do it.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    cuda = device.type == "cuda"
    if precision == "auto":
        native = cuda_has_native_bf16(device) if cuda else cpu_has_native_bf16()
        return torch.bfloat16 if native else torch.float32
    if precision == "fp16" and not cuda:
        raise ValueError(f"precision 'fp16' needs a CUDA device, not {device}")
    if precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ValueError(f"precision 'bf16' is not supported by {device}")
    return _DTYPES[precision]


# --------------------------------------------------------------------------- SDPA attention

#: Largest relative-position bias chunk, in elements, per device type: global attention on
#: a 64x64 grid needs 4096^2 values per head and frame, so heads are taken a few at a time.
#: CPU: 2^26 (256 MiB in fp32, 4 heads; 1 head at a time halves the speed). CUDA: 2^30
#: (2 GiB in bf16): big chunks keep the GPU busy and memory is plentiful there.
BIAS_CHUNK_ELEMENTS = {"cpu": 1 << 26, "cuda": 1 << 30}


class _Workspace:
    """Reused CPU buffers, one per name: the relative-position bias, attention scores.

    Fresh allocations of hundreds of MiB are mmap-ed and page-faulted on every call on
    the CPU, which costs as much as the attention itself; reusing one buffer avoids it.
    (CUDA's caching allocator already reuses memory, so other devices get no workspace.)
    Not thread-safe: the segmenter's encode lock serialises its users.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def take(self, numel: int, dtype: torch.dtype, name: str = "bias") -> torch.Tensor:
        """A flat tensor of ``numel`` elements of ``dtype``, its storage reused across calls
        that give the same ``name`` (buffers of different names never overlap)."""
        nbytes = numel * torch.empty((), dtype=dtype).element_size()
        buffer = self._buffers.get(name)
        if buffer is None or buffer.numel() < nbytes:
            buffer = self._buffers[name] = torch.empty(nbytes, dtype=torch.uint8)
        return buffer[:nbytes].view(dtype)


def sdpa_attention_forward(
    attn: Attention,
    x: torch.Tensor,
    workspace: _Workspace | None = None,
    chunk_elements: int = BIAS_CHUNK_ELEMENTS["cpu"],
) -> torch.Tensor:
    """``Attention.forward`` of SAM's image encoder through ``scaled_dot_product_attention``.

    Same arithmetic as the original: ``softmax(q k^T * scale + rel_h + rel_w) v`` where the
    decomposed relative-position term of ``add_decomposed_rel_pos`` is built separately and
    passed as the additive ``attn_mask``, a few heads at a time.

    Args:
        attn: the ``segment_anything`` ``Attention`` module (its weights are used).
        x: (B, H, W, C) tokens (B = frames, or frames x windows).
        workspace: reusable buffer for the bias on the CPU, or None to allocate.
        chunk_elements: the most bias values built at a time (whole heads are taken).

    Returns:
        (B, H, W, C) tokens, as the original forward.
    """
    b, h, w, _ = x.shape
    heads = attn.num_heads
    qkv = attn.qkv(x).reshape(b, h * w, 3, heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.reshape(3, b * heads, h * w, -1).unbind(0)  # (B * heads, HW, head_dim)
    if not attn.use_rel_pos:
        out = _sdpa(q, k, v, None)
    else:
        out = _sdpa_with_rel_pos(attn, q, k, v, (h, w), workspace, chunk_elements)
    out = out.view(b, heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
    return attn.proj(out)


def _sdpa_with_rel_pos(
    attn: Attention,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    size: tuple[int, int],
    workspace: _Workspace | None,
    chunk_elements: int,
) -> torch.Tensor:
    """SDPA over (N, HW, D) q / k / v with SAM's decomposed relative-position bias."""
    h, w = size
    n, length, dim = q.shape
    rel_pos_h = get_rel_pos(h, h, attn.rel_pos_h)  # (h, h, D)
    rel_pos_w = get_rel_pos(w, w, attn.rel_pos_w)  # (w, w, D)
    r_q = q.reshape(n, h, w, dim)
    rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, rel_pos_h)  # (N, h, w, h)
    rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, rel_pos_w)  # (N, h, w, w)
    step = max(1, chunk_elements // (length * length))
    if step >= n and workspace is None:
        bias = (rel_h[..., :, None] + rel_w[..., None, :]).reshape(n, length, length)
        return _sdpa(q, k, v, bias)
    out = torch.empty_like(q)
    for i in range(0, n, step):
        j = min(i + step, n)
        shape = (j - i, h, w, h, w)
        buf = None
        if workspace is not None:
            buf = workspace.take(math.prod(shape), rel_h.dtype).view(shape)
        bias = torch.add(rel_h[i:j, ..., :, None], rel_w[i:j, ..., None, :], out=buf)
        out[i:j] = _sdpa(q[i:j], k[i:j], v[i:j], bias.reshape(j - i, length, length))
    return out


def _sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """SDPA over (N, L, D) tensors, passed as (1, N, L, D): CUDA's fused kernels need 4-d
    inputs (3-d ones fall back to the unfused math path: vit_b 2.6x slower on an H100)."""
    mask = None if bias is None else bias[None]
    return F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=mask)[0]


def use_sdpa_attention(
    encoder: ImageEncoderViT,
    *,
    workspace: _Workspace | None = None,  # only the CPU gains from reusing the bias buffer
    chunk_elements: int = BIAS_CHUNK_ELEMENTS["cpu"],  # see BIAS_CHUNK_ELEMENTS
) -> int:
    """Replace the ``forward`` of every ``Attention`` of ``encoder`` by the SDPA version.

    Only the module instances change (``segment_anything`` itself is untouched).
    Returns the number of modules patched.
    """
    count = 0
    for module in encoder.modules():
        if isinstance(module, Attention):
            module.forward = functools.partial(
                sdpa_attention_forward, module, workspace=workspace, chunk_elements=chunk_elements
            )
            count += 1
    return count


# --------------------------------------------------------------------------- CPU attention

#: Attention scores computed at a time by the CPU blocks, in elements: 2^21 (4 MiB in
#: bf16; scores + probabilities stay in the caches while softmax and the two GEMMs go over
#: them). Measured on a 2-core Zen 4, vit_b bf16, global block: 512 query rows per tile
#: 0.39 s, 256 rows 0.40 s, all 4096 rows (64 MiB) 0.42 s.
CPU_TILE_ELEMENTS = 1 << 21


def use_cpu_attention(encoder: ImageEncoderViT, workspace: _Workspace | None = None) -> int:
    """Replace the ``forward`` of every ``Block`` of ``encoder`` by :func:`cpu_block_forward`.

    Only blocks with relative positions change (SAM's all have them); only the module
    instances change. Returns the number of blocks patched.
    """
    workspace = workspace or _Workspace()
    count = 0
    for module in encoder.modules():
        if isinstance(module, Block) and module.attn.use_rel_pos:
            module.forward = functools.partial(cpu_block_forward, module, workspace=workspace)
            count += 1
    return count


def cpu_block_forward(
    block: Block, x: torch.Tensor, workspace: _Workspace | None = None
) -> torch.Tensor:
    """``Block.forward`` of SAM's image encoder with the CPU attention below.

    Same arithmetic as the original up to float rounding: windowed blocks go through
    :func:`window_attention`, global ones through :func:`global_attention`.

    Args:
        block: a ``segment_anything`` ``Block`` whose attention uses relative positions.
        x: (B, H, W, C) tokens.
        workspace: reusable buffers, or None to allocate.

    Returns:
        (B, H, W, C) tokens, as the original forward.
    """
    workspace = workspace or _Workspace()
    shortcut = x
    x = block.norm1(x)
    if block.window_size > 0:
        x = window_attention(block.attn, x, block.window_size, workspace)
    else:
        x = global_attention(block.attn, x, workspace)
    x = shortcut + x
    return x + _mlp(block.mlp, block.norm2(x))


def _mlp(mlp: MLPBlock, x: torch.Tensor) -> torch.Tensor:
    """``MLPBlock.forward`` of (..., C) tokens, ``lin1`` and its exact (erf) GELU in one
    oneDNN call where :func:`_fused_linear_gelu_works` (the GELU then runs on the fp32
    accumulator, before the one rounding to bf16). Measured on a 2-core Zen 4, vit_b bf16,
    4096 tokens: 48 ms against 64 ms for ``lin1`` then ``gelu``; ~0.18 s per frame."""
    act = mlp.act
    if not (isinstance(act, torch.nn.GELU) and act.approximate == "none"):
        return mlp(x)
    if not _fused_linear_gelu_works(x.dtype):
        return mlp(x)
    lin1 = mlp.lin1
    hidden = torch.ops.mkldnn._linear_pointwise(
        x.reshape(-1, x.shape[-1]), lin1.weight, lin1.bias, "gelu", [], "none"
    )
    return mlp.lin2(hidden).view(*x.shape[:-1], -1)


@functools.cache
def _fused_linear_gelu_works(dtype: torch.dtype) -> bool:
    """Whether oneDNN's fused linear + GELU (``torch.ops.mkldnn._linear_pointwise``, the op
    inductor's CPU freezing passes emit) exists here and matches ``gelu(linear(x))`` in
    ``dtype`` on a small probe (within 1e-5 in fp32, bf16's rounding in bf16)."""
    op = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if op is None or not torch.backends.mkldnn.is_available():
        return False
    generator = torch.Generator().manual_seed(0)
    x, weight, bias = (
        torch.randn(shape, generator=generator).to(dtype) for shape in ((8, 32), (16, 32), (16,))
    )
    try:
        got = op(x, weight, bias, "gelu", [], "none").float()
    except RuntimeError:  # pragma: no cover - a build without the op
        return False
    expected = F.gelu(F.linear(x.float(), weight.float(), bias.float()))
    tolerance = 1e-5 if dtype == torch.float32 else 0.02
    return got.shape == expected.shape and bool(
        torch.allclose(got, expected, atol=tolerance, rtol=tolerance)
    )


def global_attention(attn: Attention, x: torch.Tensor, workspace: _Workspace) -> torch.Tensor:
    """``Attention.forward`` over a whole (B, H, W, C) grid, a tile of query rows at a time.

    Per head and tile of ``CPU_TILE_ELEMENTS // (H * W)`` query rows: the relative-position
    term is written into a reused buffer, the scaled ``q k^T`` added onto it by one
    ``addmm_``, then softmax and ``@ v``. Measured on a 2-core Zen 4, vit_b bf16: 0.22 s
    per block against 0.38 s for SDPA with the term as its mask (the CPU flash kernel
    reaches ~160 GFLOP/s even without a mask; these GEMMs ~400, softmax is exp-bound).
    2-d ``addmm_`` and ``mm`` take q, k^T and v as views; bf16 ``baddbmm_`` would copy its
    output and k^T each call.

    Returns:
        (B, H, W, C) tokens after the output projection.
    """
    b, h, w, c = x.shape
    heads, length = attn.num_heads, h * w
    dim = c // heads
    qkv = attn.qkv(x).view(b, length, 3, heads, dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.reshape(3, b * heads, length, dim).unbind(0)  # (B * heads, HW, D) each
    rel_h, rel_w = _rel_pos_terms(attn, q, (h, w), (h, w))
    rows = max(1, CPU_TILE_ELEMENTS // length)
    scores = workspace.take(rows * length, x.dtype, "scores")
    probs = workspace.take(rows * length, x.dtype, "probs")
    tile_out = workspace.take(rows * dim, x.dtype, "out")
    out = x.new_empty(b, length, heads, dim)
    for n in range(b * heads):
        k_t = k[n].t()
        for start in range(0, length, rows):
            stop = min(start + rows, length)
            size = (stop - start) * length
            s = scores[:size].view(stop - start, h, w)
            torch.add(rel_h[n, start:stop, :, None], rel_w[n, start:stop, None, :], out=s)
            s = s.view(stop - start, length).addmm_(q[n, start:stop], k_t, alpha=attn.scale)
            p = torch.softmax(s, -1, out=probs[:size].view(stop - start, length))
            o = torch.mm(p, v[n], out=tile_out[: (stop - start) * dim].view(stop - start, dim))
            out[n // heads, start:stop, n % heads] = o
    return attn.proj(out.view(b, h, w, c))


def window_attention(
    attn: Attention, x: torch.Tensor, window: int, workspace: _Workspace
) -> torch.Tensor:
    """SAM's ``window_partition`` → ``Attention.forward`` → ``window_unpartition`` on (B, H, W, C)
    normalised tokens, the relative-position term folded into the ``q k^T`` GEMM.

    ``qkv`` runs on the H x W tokens only; the tokens that pad the grid to whole windows get
    ``qkv(0)`` = the qkv bias, as SAM's zero-padded tokens do (they are not masked: padded
    keys and values take part in the attention of the last windows). The output projection
    runs after unpartitioning, on the H x W tokens only. Measured on a 2-core Zen 4, vit_b
    bf16, 64x64 grid: 0.175 s per block against 0.23 s (qkv and proj on 4900 padded
    tokens, SDPA with a float mask: ~40 ms for 1.4 GFLOP of attention, now ~16 ms).

    Returns:
        (B, H, W, C) tokens after the output projection.
    """
    b, h, w, c = x.shape
    heads = attn.num_heads
    padded = (-(-h // window) * window, -(-w // window) * window)
    qkv = _pad_with_bias(attn.qkv(x), padded, attn.qkv.bias)  # (B, Hp, Wp, 3C)
    q, k, v = _window_operands(attn, qkv, window, workspace)  # (N, L, A), (N, L, A), (N, L, D)
    n, length, dim = v.shape
    out = x.new_empty(n, length, dim)
    chunk = max(1, CPU_TILE_ELEMENTS // (length * length))
    scores = workspace.take(chunk * length * length, x.dtype, "scores")
    probs = workspace.take(chunk * length * length, x.dtype, "probs")
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        shape, size = (stop - start, length, length), (stop - start) * length * length
        s = torch.bmm(q[start:stop], k[start:stop].transpose(1, 2), out=scores[:size].view(shape))
        p = torch.softmax(s, -1, out=probs[:size].view(shape))
        torch.bmm(p, v[start:stop], out=out[start:stop])
    hp, wp = padded
    out = out.view(b, hp // window, wp // window, heads, window, window, dim)
    out = out.permute(0, 1, 4, 2, 5, 3, 6).reshape(b, hp, wp, c)
    return attn.proj(out[:, :h, :w].contiguous())


def _pad_with_bias(
    qkv: torch.Tensor, padded: tuple[int, int], bias: torch.Tensor | None
) -> torch.Tensor:
    """(B, H, W, 3C) → (B, Hp, Wp, 3C), the new tokens set to ``bias`` (0 without one)."""
    b, h, w, channels = qkv.shape
    if padded == (h, w):
        return qkv
    grid = qkv.new_empty(b, *padded, channels)
    grid[:, :h, :w] = qkv
    fill = 0.0 if bias is None else bias
    grid[:, h:] = fill
    grid[:, :h, w:] = fill
    return grid


def _window_operands(
    attn: Attention, qkv: torch.Tensor, window: int, workspace: _Workspace
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Augmented q, k and plain v of every window and head of a (B, Hp, Wp, 3C) qkv grid.

    With N = B x windows x heads, L = window², D the head size and A = D + 2 x window
    rounded up to a multiple of 32:

    * ``q_aug`` (N, L, A) = [q, rel_h, rel_w, 0], ``rel_h`` / ``rel_w`` (L, window) being
      the decomposed relative-position terms of ``add_decomposed_rel_pos``;
    * ``k_aug`` (N, L, A) = [k x scale, one-hot of the key's row, one-hot of its column, 0];
    * ``v`` (N, L, D).

    so that ``q_aug @ k_aug^T`` = ``q k^T x scale + rel_h[:, row] + rel_w[:, column]``, SAM's
    attention logits, in one GEMM with fp32 accumulation (no (N, L, L) bias to write and
    read: a third of the window attention's time). A multiple of 32 (64 bytes in bf16):
    A = 96 measured 5 % faster than 92.
    """
    b, hp, wp, _ = qkv.shape
    heads = attn.num_heads
    dim = qkv.shape[-1] // (3 * heads)
    aug = -(-(dim + 2 * window) // 32) * 32
    windows = qkv.view(b, hp // window, window, wp // window, window, 3, heads, dim)
    windows = windows.permute(5, 0, 1, 3, 6, 2, 4, 7).flatten(1, 4)  # (3, N, win, win, D)
    n = windows.shape[1]
    cells = n * window * window
    q = workspace.take(cells * aug, qkv.dtype, "q").view(n, window, window, aug)
    k = workspace.take(cells * aug, qkv.dtype, "k").view(n, window, window, aug)
    v = workspace.take(cells * dim, qkv.dtype, "v").view(n, window, window, dim)
    q[..., :dim] = windows[0]
    k[..., :dim] = windows[1]
    k[..., :dim].mul_(attn.scale)
    v.copy_(windows[2])
    rel_h, rel_w = _rel_pos_terms(attn, q[..., :dim], (window, window), (window, window))
    rel = slice(dim, dim + window), slice(dim + window, dim + 2 * window)
    q[..., rel[0]] = rel_h.view(n, window, window, window)
    q[..., rel[1]] = rel_w.view(n, window, window, window)
    eye = torch.eye(window, dtype=qkv.dtype)
    k[..., rel[0]] = eye[:, None, :]  # key (row i, column j): one-hot of i
    k[..., rel[1]] = eye[None, :, :]  # and of j
    q[..., dim + 2 * window :] = 0
    k[..., dim + 2 * window :] = 0
    length = window * window
    return q.view(n, length, aug), k.view(n, length, aug), v.view(n, length, dim)


def _rel_pos_terms(
    attn: Attention, q: torch.Tensor, q_size: tuple[int, int], k_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``add_decomposed_rel_pos``'s two terms for (N, qh * qw, D) or (N, qh, qw, D) queries.

    Returns:
        ``rel_h`` (N, qh * qw, kh) and ``rel_w`` (N, qh * qw, kw): the logit of query
        (y, x) for key (i, j) gets ``rel_h[:, y * qw + x, i] + rel_w[:, y * qw + x, j]``.
    """
    (qh, qw), (kh, kw) = q_size, k_size
    r_q = q.reshape(q.shape[0], qh, qw, q.shape[-1])
    rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, get_rel_pos(qh, kh, attn.rel_pos_h))
    rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, get_rel_pos(qw, kw, attn.rel_pos_w))
    return rel_h.reshape(-1, qh * qw, kh), rel_w.reshape(-1, qh * qw, kw)


# --------------------------------------------------------------------------- segmenter


@dataclass(frozen=True)
class SamEmbedding:
    """What :meth:`SamSegmenter.encode` returns for one frame.

    Attributes:
        features: (C, 64, 64) float32 image embedding (C = 256), on the segmenter's device.
        original_size: (H, W) of the frame.
        input_size: (h, w) of the frame resized to longest side 1024, before padding.
    """

    features: torch.Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]


class SamSegmenter:
    """SAM behind the :class:`~samvideo.segmenters.base.Segmenter` protocol.

    Args:
        checkpoint: SAM ``.pth`` file (see :func:`load_sam`).
        model: ``"auto"`` or the architecture the checkpoint must be.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: encoder compute dtype, ``"auto"`` / ``"fp32"`` / ``"bf16"`` / ``"fp16"``
            (see :func:`resolve_precision`): bf16 casts the encoder's weights, fp16 runs it
            under autocast; the prompt encoder, the decoder and the embeddings stay fp32.
        reference: run Meta's ``SamPredictor`` unchanged (bit-identical, slower).
        compile: ``torch.compile`` the image encoder.
        sdpa: compute the encoder's attention with ``scaled_dot_product_attention``.

    Attributes:
        name: ``"sam:<arch>"``, e.g. ``"sam:vit_b"``.
        arch: the :class:`SamArch` read from the checkpoint.
        device: the torch device everything runs on.
        dtype: the encoder's compute dtype.
        precision: the same as a name: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        stage_seconds: wall seconds spent so far per stage (``preprocess``, ``encoder``,
            ``decoder``, ``postprocess``); on CUDA they are exact only with ``sync_timing``.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        model: str = "auto",  # trust the checkpoint's shapes; a name makes a mismatch an error
        device: str | torch.device = "auto",  # CUDA when present: SAM is slow on a CPU
        precision: str = "auto",  # bf16 where native (vit_b 1.6x faster on the CPU), else fp32
        reference: bool = False,  # the fast path is what users want; tests compare the two
        compile: bool = False,  # costs a minute or more up front; only +2 % on a 2-core CPU
        sdpa: bool = True,  # same arithmetic, less memory traffic: no reason to turn it off
        sync_timing: bool = False,  # a CUDA sync per stage costs overlap; only benchmarks want it
    ) -> None:
        device_ = resolve_device(device)
        if reference and precision not in ("auto", "fp32"):
            raise ValueError(f"precision {precision!r} does not apply: reference=True runs fp32")
        self.dtype = torch.float32 if reference else resolve_precision(precision, device_)
        self.precision = {v: k for k, v in _DTYPES.items()}[self.dtype]
        self.model, self.arch = load_sam(checkpoint, model=model, device=device_)
        self.device = device_
        self.reference = reference
        self.name = f"sam:{self.arch.name}"
        self.stage_seconds = dict.fromkeys(("preprocess", "encoder", "decoder", "postprocess"), 0.0)
        self._sync = sync_timing and device_.type == "cuda"
        self._encode_lock = threading.Lock()
        self._predict_lock = threading.Lock()
        self._resize = ResizeLongestSide(self.arch.img_size)
        self._encoder = self.model.image_encoder
        if reference:
            # Two predictors sharing the model: encode and predict may run in two threads.
            self._encode_predictor = SamPredictor(self.model)
            self._predict_predictor = SamPredictor(self.model)
            return
        if sdpa:
            cpu = device_.type == "cpu"
            use_sdpa_attention(
                self.model.image_encoder,
                workspace=_Workspace() if cpu and not compile else None,
                chunk_elements=BIAS_CHUNK_ELEMENTS["cpu" if cpu else "cuda"],
            )
            if cpu and not compile:  # eager CPU: GEMM attention beats the CPU flash kernel
                use_cpu_attention(self.model.image_encoder)
        # bf16 has fp32's range: the encoder's weights are cast, ~25 % faster than autocast
        # on the CPU (no casts at every layer); vit_b masks keep IoU >= 0.996 against fp32.
        self._encoder_dtype = torch.bfloat16 if self.dtype == torch.bfloat16 else torch.float32
        self.model.image_encoder.to(self._encoder_dtype)
        if compile:
            self._encoder = torch.compile(self.model.image_encoder, dynamic=False)
        self._dense_pe = self.model.prompt_encoder.get_dense_pe()

    # ------------------------------------------------------------------ encode

    def encode(self, frames: Sequence[np.ndarray]) -> list[SamEmbedding]:
        """Embed frames, all in one encoder call on the fast path.

        Args:
            frames: (H, W, 3) uint8 RGB arrays, all the same size.

        Returns:
            One :class:`SamEmbedding` per frame, in order.

        Raises:
            ValueError: no frames, or a frame of the wrong shape, dtype or size.
        """
        size = _check_frames(frames)
        with self._encode_lock, torch.inference_mode():
            if self.reference:
                return [self._encode_reference(frame) for frame in frames]
            t0 = self._clock()
            batch = self.preprocess(frames)
            t1 = self._clock()
            with torch.autocast(self.device.type, dtype=self.dtype, enabled=self._autocast):
                features = self._encoder(batch.to(self._encoder_dtype))
            features = features.float()
            t2 = self._clock()
        self.stage_seconds["preprocess"] += t1 - t0
        self.stage_seconds["encoder"] += t2 - t1
        input_size = self._resize.get_preprocess_shape(size[0], size[1], self.arch.img_size)
        return [SamEmbedding(f.clone(), size, input_size) for f in features.unbind(0)]

    @property
    def _autocast(self) -> bool:
        """fp16 runs under autocast (LayerNorm, softmax in fp32: fp16's range is narrow)."""
        return self.dtype == torch.float16

    def preprocess(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """Frames → the encoder's input, on the device.

        Uploads the (B, H, W, 3) uint8 batch, resizes it to longest side ``img_size``
        (bilinear with antialias), normalises it with SAM's pixel mean / std and pads it
        bottom-right with zeros, as ``SamPredictor.set_image`` does with PIL. On the CPU
        the resize runs on uint8 (PyTorch's PIL-compatible kernel: at most one grey level
        off the reference, on few values: none at 480x854, 0.13 % at 1100x1400); elsewhere
        in float, rounded to whole levels (at most one level off).

        Returns:
            (B, 3, img_size, img_size) float32 tensor on the segmenter's device.
        """
        h, w = frames[0].shape[:2]
        stacked = torch.from_numpy(np.stack(frames))
        if self.device.type == "cuda":
            stacked = stacked.pin_memory()
        x = stacked.to(self.device, non_blocking=True).permute(0, 3, 1, 2)  # channels-last view
        new_h, new_w = self._resize.get_preprocess_shape(h, w, self.arch.img_size)
        if (new_h, new_w) != (h, w):
            if x.device.type == "cpu":
                x = F.interpolate(x, (new_h, new_w), mode="bilinear", antialias=True)
            else:  # uint8 antialiased resize exists on the CPU only
                x = F.interpolate(x.float(), (new_h, new_w), mode="bilinear", antialias=True)
                x = x.round_().clamp_(0, 255)
        x = (x.float() - self.model.pixel_mean) / self.model.pixel_std
        size = self.arch.img_size
        return F.pad(x, (0, size - new_w, 0, size - new_h)).contiguous()

    def _encode_reference(self, frame: np.ndarray) -> SamEmbedding:
        predictor = self._encode_predictor
        predictor.set_image(frame)
        embedding = SamEmbedding(
            predictor.features[0],
            tuple(predictor.original_size),
            tuple(predictor.input_size),
        )
        predictor.reset_image()
        return embedding

    # ------------------------------------------------------------------ predict

    def predict(
        self, embedding: SamEmbedding, requests: Sequence[PromptRequest]
    ) -> list[Candidates]:
        """Candidate masks for every requested object of one frame.

        On the fast path all objects go through the prompt encoder and the mask decoder
        together (one decoder call per number of prompt tokens).

        Args:
            embedding: one of :meth:`encode`'s results.
            requests: one prompt per object; each needs a box, points or ``prior_logits``.

        Returns:
            One :class:`Candidates` per request: masks (K, H, W) bool at frame size (logits
            > 0), scores (K,) float32 (SAM's predicted IoU clipped to [0, 1]), logits
            (K, 256, 256) float32 low-res logits; K = 3 with ``multimask``, else 1.

        Raises:
            ValueError: a bad embedding or request (names the request index and field).
        """
        if not isinstance(embedding, SamEmbedding):
            raise ValueError(
                f"embedding must be a SamEmbedding from encode(), not {type(embedding).__name__}"
            )
        for index, request in enumerate(requests):
            _check_request(request, index)
        if not requests:
            return []
        with self._predict_lock, torch.inference_mode():
            if self.reference:
                return [self._predict_reference(embedding, r) for r in requests]
            return self._predict_fast(embedding, requests)

    def _predict_reference(self, embedding: SamEmbedding, request: PromptRequest) -> Candidates:
        predictor = self._predict_predictor
        predictor.features = embedding.features[None]
        predictor.original_size = embedding.original_size
        predictor.input_size = embedding.input_size
        predictor.is_image_set = True
        has_points = len(request.points) > 0
        masks, scores, logits = predictor.predict(
            point_coords=request.points if has_points else None,
            point_labels=request.labels if has_points else None,
            box=request.box_xyxy,
            mask_input=request.prior_logits,
            multimask_output=request.multimask,
        )
        predictor.reset_image()
        return Candidates(masks, _clip_scores(scores), logits.astype(np.float32))

    def _predict_fast(
        self, embedding: SamEmbedding, requests: Sequence[PromptRequest]
    ) -> list[Candidates]:
        t0 = self._clock()
        dense = self._dense_embeddings(requests)
        groups: dict[int, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(_token_count(request), []).append(index)
        low_res: list[torch.Tensor | None] = [None] * len(requests)
        iou: list[torch.Tensor | None] = [None] * len(requests)
        for indices in groups.values():
            sparse = self._sparse_embeddings(
                [requests[i] for i in indices], embedding.original_size
            )
            masks, scores = self.model.mask_decoder.predict_masks(
                image_embeddings=embedding.features[None],
                image_pe=self._dense_pe,
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense[indices],
            )
            for row, i in enumerate(indices):
                pick = slice(1, None) if requests[i].multimask else slice(0, 1)
                low_res[i], iou[i] = masks[row, pick], scores[row, pick]
        t1 = self._clock()
        out = self._postprocess(low_res, iou, embedding)
        t2 = self._clock()
        self.stage_seconds["decoder"] += t1 - t0
        self.stage_seconds["postprocess"] += t2 - t1
        return out

    def _dense_embeddings(self, requests: Sequence[PromptRequest]) -> torch.Tensor:
        """(B, C, 64, 64) dense prompt embeddings: the prior logits, or SAM's no-mask one."""
        encoder = self.model.prompt_encoder
        grid = self.arch.embedding_size
        dense = encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
            len(requests), -1, grid, grid
        )
        with_prior = [i for i, r in enumerate(requests) if r.prior_logits is not None]
        if not with_prior:
            return dense
        priors = np.stack([requests[i].prior_logits for i in with_prior]).astype(np.float32)
        masks = torch.as_tensor(priors, device=self.device)  # (P, 1, 256, 256)
        _, embedded = encoder(points=None, boxes=None, masks=masks)
        dense = dense.clone()
        dense[with_prior] = embedded
        return dense

    def _sparse_embeddings(
        self, requests: Sequence[PromptRequest], size: tuple[int, int]
    ) -> torch.Tensor:
        """(B, N, C) point / box tokens of requests that all have N tokens, in their order.

        Requests of the same composition (box or not, number of points) go through the prompt
        encoder together; the compositions are then put back in request order.
        """
        kinds: dict[tuple[bool, int], list[int]] = {}
        for row, request in enumerate(requests):
            kinds.setdefault((request.box_xyxy is not None, len(request.points)), []).append(row)
        parts: list[torch.Tensor] = [torch.empty(0)] * len(requests)
        for (has_box, n_points), rows in kinds.items():
            points = boxes = None
            if n_points:
                coords = np.stack([requests[r].points for r in rows]).astype(np.float64)
                coords = self._resize.apply_coords(coords, size)
                labels = np.stack([requests[r].labels for r in rows])
                points = (
                    torch.as_tensor(coords, dtype=torch.float, device=self.device),
                    torch.as_tensor(labels, dtype=torch.int, device=self.device),
                )
            if has_box:
                box = np.stack([requests[r].box_xyxy for r in rows]).astype(np.float64)
                box = self._resize.apply_boxes(box, size)
                boxes = torch.as_tensor(box, dtype=torch.float, device=self.device)
            if points is None and boxes is None:
                sparse = torch.empty((len(rows), 0, self.arch.prompt_embed_dim), device=self.device)
            else:
                sparse, _ = self.model.prompt_encoder(points=points, boxes=boxes, masks=None)
            for k, row in enumerate(rows):
                parts[row] = sparse[k]
        return torch.stack(parts)

    def _postprocess(
        self, low_res: list[torch.Tensor], scores: list[torch.Tensor], embedding: SamEmbedding
    ) -> list[Candidates]:
        """Per-object (K, 256, 256) logits and (K,) scores → :class:`Candidates`.

        All objects' logits are upscaled in one ``postprocess_masks`` call (it works per
        channel) and thresholded at 0, as ``SamPredictor`` does.
        """
        stacked = torch.cat(low_res)[None]  # (1, sum K, 256, 256)
        masks = self.model.postprocess_masks(stacked, embedding.input_size, embedding.original_size)
        masks = (masks[0] > self.model.mask_threshold).cpu().numpy()
        logits = stacked[0].float().cpu().numpy()
        out, start = [], 0
        for lr, s in zip(low_res, scores, strict=True):
            stop = start + lr.shape[0]
            out.append(Candidates(masks[start:stop], _clip_scores(s), logits[start:stop]))
            start = stop
        return out

    def _clock(self) -> float:
        if self._sync:
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


def _clip_scores(scores: np.ndarray | torch.Tensor) -> np.ndarray:
    """SAM's predicted IoUs as (K,) float32 clipped to [0, 1], the protocol's score range."""
    if isinstance(scores, torch.Tensor):
        scores = scores.float().cpu().numpy()
    return np.clip(scores, 0.0, 1.0).astype(np.float32)


def _token_count(request: PromptRequest) -> int:
    """Sparse prompt tokens SAM makes: points (+1 padding point without a box), 2 box corners."""
    n_points = len(request.points)
    if request.box_xyxy is not None:
        return n_points + 2
    return n_points + 1 if n_points else 0


def _check_frames(frames: Sequence[np.ndarray]) -> tuple[int, int]:
    """Validate a batch of frames; returns their (H, W)."""
    if len(frames) == 0:
        raise ValueError("encode() needs at least one frame, got none")
    first = frames[0]
    for index, frame in enumerate(frames):
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
            kind = getattr(frame, "dtype", type(frame).__name__)
            raise ValueError(f"frame {index} must be a uint8 numpy array, got {kind}")
        if frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
            raise ValueError(f"frame {index} must be (H, W, 3) RGB, got shape {frame.shape}")
        if frame.shape != first.shape:
            raise ValueError(
                f"frame {index} is {frame.shape}, frame 0 is {first.shape}: sizes differ"
            )
    return int(first.shape[0]), int(first.shape[1])


def _check_request(request: PromptRequest, index: int) -> None:
    """Validate one prompt request's fields (shapes; a prompt of some kind)."""
    where = f"request {index}"
    if request.box_xyxy is not None and np.shape(request.box_xyxy) != (4,):
        raise ValueError(
            f"{where}: box_xyxy must have shape (4,), got {np.shape(request.box_xyxy)}"
        )
    points = np.asarray(request.points)
    if points.size and (points.ndim != 2 or points.shape[1] != 2):
        raise ValueError(f"{where}: points must be (N, 2), got shape {points.shape}")
    if len(request.labels) != len(points):
        raise ValueError(f"{where}: {len(points)} points but {len(request.labels)} labels")
    prior = request.prior_logits
    if prior is not None and np.shape(prior) != (1, LOW_RES, LOW_RES):
        raise ValueError(f"{where}: prior_logits must be (1, 256, 256), got {np.shape(prior)}")
    if request.box_xyxy is None and not len(points) and prior is None:
        raise ValueError(f"{where}: needs a box, points or prior_logits")
