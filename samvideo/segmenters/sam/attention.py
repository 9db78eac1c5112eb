"""Faster attention for SAM's image encoder, patched onto the module instances.

* :func:`use_sdpa_attention`: every ``Attention`` through ``scaled_dot_product_attention``,
  SAM's decomposed relative-position term passed as an additive mask.
* :func:`use_cpu_attention`: every ``Block`` through :func:`cpu_block_forward`, GEMM tiles
  in reused buffers (:class:`_Workspace`) for eager CPU runs.

Both keep SAM's arithmetic up to float rounding; ``segment_anything`` itself is untouched.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from segment_anything.modeling import ImageEncoderViT
from segment_anything.modeling.common import MLPBlock
from segment_anything.modeling.image_encoder import Attention, Block, get_rel_pos

# --------------------------------------------------------------------------- SDPA attention

#: Largest relative-position bias chunk, in elements, per device type: global attention on
#: a 64x64 grid needs 4096^2 values per head and frame, so heads are taken a few at a time.
#: CPU: 2^26 (256 MiB in fp32, 4 heads): fewer heads a chunk is slower. CUDA: 2^30 (2 GiB
#: in bf16): big chunks keep the GPU busy and memory is plentiful there.
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
    inputs (3-d ones fall back to the slow unfused math path)."""
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
#: bf16), so that scores and probabilities stay in the caches while softmax and the two
#: GEMMs go over them.
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
    accumulator, before the one rounding to bf16): faster than ``lin1`` then ``gelu``."""
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
    ``addmm_``, then softmax and ``@ v``: these GEMM tiles beat the CPU flash kernel here.
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
    runs after unpartitioning, on the H x W tokens only: less work than SDPA with a float
    mask on the padded grid.

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
    read). A multiple of 32 (64 bytes in bf16) keeps each row on whole cache lines.
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
