"""The :class:`SamSegmenter` and its per-frame :class:`SamEmbedding`.

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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything import SamPredictor
from segment_anything.utils.transforms import ResizeLongestSide

from samvideo.segmenters.base import Candidates, PromptRequest
from samvideo.segmenters.checks import LOW_RES, clip_scores, predictor_answer
from samvideo.segmenters.promptable import PromptableSegmenter
from samvideo.segmenters.sam.arch import SamArch
from samvideo.segmenters.sam.attention import (
    BIAS_CHUNK_ELEMENTS,
    _Workspace,
    use_cpu_attention,
    use_sdpa_attention,
)
from samvideo.segmenters.sam.checkpoint import load_sam
from samvideo.segmenters.upscale import upscale_masks

__all__ = ["LOW_RES", "SamEmbedding", "SamSegmenter"]


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


class SamSegmenter(PromptableSegmenter):
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
        device, dtype, precision, reference, stage_seconds: as
            :class:`~samvideo.segmenters.promptable.PromptableSegmenter`.
    """

    embedding_type = SamEmbedding
    #: the checkpoint family (:data:`samvideo.segmenters.families.TITLES`)
    family = "sam"
    #: the predictor ``reference=True`` runs, unchanged
    predictor_class: type = SamPredictor

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        model: str = "auto",  # trust the checkpoint's shapes; a name makes a mismatch an error
        device: str | torch.device = "auto",  # CUDA when present: SAM is slow on a CPU
        precision: str = "auto",  # bf16 where native (faster), else fp32
        reference: bool = False,  # the fast path is what users want; tests compare the two
        compile: bool = False,  # costs a minute or more up front for little gain on a CPU
        sdpa: bool = True,  # same arithmetic, less memory traffic: no reason to turn it off
        sync_timing: bool = False,  # a CUDA sync per stage costs overlap; only benchmarks want it
        state: dict[str, torch.Tensor] | None = None,  # the file's tensors, when already read
    ) -> None:
        device_ = self._setup(device, precision, reference, sync_timing)
        self.model, self.arch = self._load(checkpoint, model, device_, state)
        self.name = self._name()
        self._resize = ResizeLongestSide(self.arch.img_size)
        self._encoder = self.model.image_encoder
        if reference:
            # Two predictors sharing the model: encode and predict may run in two threads.
            self._encode_predictor = self.predictor_class(self.model)
            self._predict_predictor = self.predictor_class(self.model)
            return
        self._speed_up_encoder(sdpa=sdpa, compile=compile)
        # the decoder's transposed convolutions (its output upscaling) take oneDNN's
        # kernel with channels-last weights: the same sums, several times faster on a CPU
        # (not for SAM 2.1: its memory tracker must match sam2's video predictor bit for bit)
        self.model.mask_decoder.output_upscaling.to(memory_format=torch.channels_last)
        # bf16 has fp32's range: cast the encoder's weights, no autocast casts at every layer.
        self._encoder_dtype = torch.bfloat16 if self.dtype == torch.bfloat16 else torch.float32
        self.model.image_encoder.to(self._encoder_dtype)
        if compile:
            self._encoder = torch.compile(self.model.image_encoder, dynamic=False)
        self._dense_pe = self.model.prompt_encoder.get_dense_pe()

    # ------------------------------------------------------------------ family hooks

    def _load(self, checkpoint: str | Path, model: str, device: torch.device,
              state: dict[str, torch.Tensor] | None) -> tuple[torch.nn.Module, SamArch]:
        """The float32 eval-mode model on ``device`` and its architecture."""
        return load_sam(checkpoint, model=model, device=device, state=state)

    def _name(self) -> str:
        return f"sam:{self.arch.name}"

    def _speed_up_encoder(self, *, sdpa: bool, compile: bool) -> None:
        """Patch the image encoder's attention for the fast path (SAM's ViT blocks)."""
        if not sdpa:
            return
        cpu = self.device.type == "cpu"
        use_sdpa_attention(
            self.model.image_encoder,
            workspace=_Workspace() if cpu and not compile else None,
            chunk_elements=BIAS_CHUNK_ELEMENTS["cpu" if cpu else "cuda"],
        )
        if cpu and not compile:  # eager CPU: GEMM attention beats the CPU flash kernel
            use_cpu_attention(self.model.image_encoder)

    # ------------------------------------------------------------------ encode

    def _embed(self, batch: torch.Tensor, size: tuple[int, int]) -> list[SamEmbedding]:
        """The encoder's (B, C, 64, 64) features of a preprocessed batch of frames of
        ``size`` (H, W), one :class:`SamEmbedding` per frame."""
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self._autocast):
            features = self._encoder(batch.to(self._encoder_dtype))
        # plain (C, H, W) order: TinyViT's is channels-last, which the decoder copies
        features = features.float().contiguous()
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
        off the reference, on few values); elsewhere in float, rounded to whole levels (at
        most one level off).

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

    def _predict_reference(self, embedding: SamEmbedding, request: PromptRequest) -> Candidates:
        predictor = self._predict_predictor
        predictor.features = embedding.features[None]
        predictor.original_size = embedding.original_size
        predictor.input_size = embedding.input_size
        predictor.is_image_set = True
        masks, scores, logits = predictor_answer(predictor, request)
        predictor.reset_image()
        return Candidates(masks, clip_scores(scores), logits.astype(np.float32))

    def _decode(self, embedding: SamEmbedding, requests: Sequence[PromptRequest]
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """All objects through the prompt encoder and the mask decoder, one decoder call
        per number of prompt tokens."""
        dense = self._dense_embeddings(requests)
        groups: dict[int, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(_token_count(request), []).append(index)
        low_res: list[torch.Tensor] = [torch.empty(0)] * len(requests)
        iou: list[torch.Tensor] = [torch.empty(0)] * len(requests)
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
        return low_res, iou

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

        The masks are ``SamPredictor``'s (``postprocess_masks`` then > 0), computed by
        :func:`upscale_masks` around each object's positive logits only.
        """
        side = self.arch.img_size
        steps = [((side, side), embedding.input_size),
                 (embedding.original_size, embedding.original_size)]
        logits = torch.cat(low_res).float().cpu().numpy()  # (sum K, 256, 256)
        out, start = [], 0
        for lr, s in zip(low_res, scores, strict=True):  # one window per object
            stop = start + lr.shape[0]
            masks = upscale_masks(lr.float(), steps, self.model.mask_threshold)
            out.append(Candidates(masks, clip_scores(s), logits[start:stop]))
            start = stop
        return out


def _token_count(request: PromptRequest) -> int:
    """Sparse prompt tokens SAM makes: points (+1 padding point without a box), 2 box corners."""
    n_points = len(request.points)
    if request.box_xyxy is not None:
        return n_points + 2
    return n_points + 1 if n_points else 0
