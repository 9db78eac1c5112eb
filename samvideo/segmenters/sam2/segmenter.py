"""The :class:`Sam2Segmenter` (SAM 2.1 image models) and its per-frame :class:`Sam2Embedding`.

Two paths, as for SAM 1:

* ``reference=True``: Meta's ``SAM2ImagePredictor.set_image`` + ``predict``, one call per
  frame and per object; bit-identical to it.
* the fast path (default): frames uploaded as uint8, resized (bilinear with antialias, as
  torchvision's ``Resize`` in the predictor does) and normalised on the device, a whole
  batch through the Hiera encoder in one call (bf16 weights where the hardware has
  native bf16), optionally ``torch.compile``-d; the objects of a frame go through the
  prompt encoder and mask decoder together (``repeat_image``, as the predictor does for
  several boxes).

Prompts are SAM 1's: a box (XYXY frame pixels), points (x, y) with labels, and the
previous frame's (1, 256, 256) low-res logits as ``mask_input``. Frames are RGB uint8.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from samvideo.segmenters.base import Candidates, PromptRequest
from samvideo.segmenters.checks import clip_scores, group_by, predictor_answer
from samvideo.segmenters.promptable import PromptableSegmenter
from samvideo.segmenters.sam2.checkpoint import load_sam2
from samvideo.segmenters.upscale import upscale_masks

#: SAM 2's image predictor clamps the low-res logits it returns to this range
_LOGIT_CLAMP = 32.0
#: ImageNet mean and std, as ``SAM2Transforms`` normalises
_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Sam2Embedding:
    """What :meth:`Sam2Segmenter.encode` returns for one frame.

    Attributes:
        image_embed: (256, 64, 64) float32, the lowest-resolution features with SAM 2's
            ``no_mem_embed`` added (as the image predictor does).
        high_res: the two higher-resolution feature maps the mask decoder also reads,
            (32, 256, 256) and (64, 128, 128) float32 (already through its ``conv_s0`` /
            ``conv_s1``).
        original_size: (H, W) of the frame.
        vision_features: (256, 64, 64) float32, the lowest-resolution features as the
            encoder gave them (no ``no_mem_embed``): what SAM 2's memory attention and
            memory encoder read (``current_vision_feats[-1]`` in ``SAM2Base``); None on
            the reference path, whose predictor does not keep them.

    The grids are those of a 1024-pixel input; an ``image_size`` of S gives S / 16 (and
    S / 4, S / 8 for the high-resolution maps).
    """

    image_embed: torch.Tensor
    high_res: tuple[torch.Tensor, torch.Tensor]
    original_size: tuple[int, int]
    vision_features: torch.Tensor | None = None


class Sam2Segmenter(PromptableSegmenter):
    """SAM 2.1 (image mode) behind the :class:`~samvideo.segmenters.base.Segmenter` protocol.

    Args:
        checkpoint: a SAM 2.1 ``.pt`` file, ``{"model": state_dict}`` (:func:`load_sam2`).
        model: ``"auto"`` or the ``sam2.1_hiera_*`` name the checkpoint must be.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: the encoder's compute dtype (``"auto"``: bf16 where native); bf16 casts
            its weights, fp16 runs it under autocast; decoder and embeddings stay fp32.
        reference: run Meta's ``SAM2ImagePredictor`` unchanged (bit-identical, slower).
        compile: ``torch.compile`` the image encoder (static shapes: one size of frame).
        image_size: side of the encoder's square input (None: the config's 1024); smaller
            is faster and coarser (tests and benchmarks run small random models with it).

    Attributes:
        name: ``"sam2.1:hiera_tiny"`` and so on.
        arch: the :class:`~samvideo.segmenters.sam2.arch.Sam2Arch` read from the tensors.
        device, dtype, precision, reference, stage_seconds: as
            :class:`~samvideo.segmenters.promptable.PromptableSegmenter`.
    """

    embedding_type = Sam2Embedding
    #: the checkpoint family (:data:`samvideo.segmenters.families.TITLES`)
    family = "sam2.1"

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        model: str = "auto",  # trust the tensors; a name makes a mismatch an error
        device: str | torch.device = "auto",  # CUDA when present: SAM 2 is slow on a CPU
        precision: str = "auto",  # bf16 where native (faster), else fp32
        reference: bool = False,  # the fast path is what users want; tests compare the two
        compile: bool = False,  # costs minutes up front for little gain on a CPU
        sync_timing: bool = False,  # a CUDA sync per stage costs overlap; only benchmarks want it
        state: dict[str, torch.Tensor] | None = None,  # the file's tensors, when already read
        image_size: int | None = None,  # None: 1024, what SAM 2.1 was trained at
    ) -> None:
        if reference and image_size not in (None, 1024):
            # SAM2ImagePredictor's feature sizes are those of a 1024-pixel input
            raise ValueError(f"image_size={image_size!r} does not apply: reference=True "
                             "runs SAM2ImagePredictor at 1024")
        device_ = self._setup(device, precision, reference, sync_timing)
        self.model, self.arch = load_sam2(checkpoint, model=model, device=device_, state=state,
                                          image_size=image_size)
        self.image_size = int(self.model.image_size)
        self.name = "sam2.1:" + self.arch.name.removeprefix("sam2.1_")
        if reference:
            from sam2.sam2_image_predictor import SAM2ImagePredictor

            # Two predictors sharing the model: encode and predict may run in two threads.
            self._encode_predictor = SAM2ImagePredictor(self.model)
            self._predict_predictor = SAM2ImagePredictor(self.model)
            return
        self._encoder_dtype = torch.bfloat16 if self.dtype == torch.bfloat16 else torch.float32
        self.model.image_encoder.to(self._encoder_dtype)
        self._encoder = self.model.image_encoder
        if compile:
            self._encoder = torch.compile(self.model.image_encoder, dynamic=False)
        self._mean = torch.tensor(_MEAN, device=device_).view(1, 3, 1, 1)
        self._std = torch.tensor(_STD, device=device_).view(1, 3, 1, 1)
        self._dense_pe = self.model.sam_prompt_encoder.get_dense_pe()

    # ------------------------------------------------------------------ encode

    def _embed(self, batch: torch.Tensor, size: tuple[int, int]) -> list[Sam2Embedding]:
        """The Hiera encoder's features of a preprocessed batch of frames of ``size``
        (H, W), one :class:`Sam2Embedding` per frame."""
        with torch.autocast(self.device.type, dtype=self.dtype,
                            enabled=self.dtype == torch.float16):
            out = self._encoder(batch.to(self._encoder_dtype))
        fpn = [f.float() for f in out["backbone_fpn"]]
        decoder = self.model.sam_mask_decoder
        s0, s1 = decoder.conv_s0(fpn[0]), decoder.conv_s1(fpn[1])
        # what the predictor's flatten / add / unflatten of the last level comes to
        embed = fpn[-1] + self.model.no_mem_embed.view(1, -1, 1, 1)
        return [Sam2Embedding(embed[i].clone(), (s0[i].clone(), s1[i].clone()), size,
                              fpn[-1][i].clone()) for i in range(len(batch))]

    def preprocess(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """Frames → the encoder's input on the device: (B, 3, S, S) float32 (S: 1024 unless
        ``image_size`` says otherwise), the frames scaled to [0, 1], resized (bilinear,
        antialias, aspect not kept) and normalised with ImageNet's mean / std, as
        ``SAM2Transforms`` does."""
        stacked = torch.from_numpy(np.stack(frames))
        if self.device.type == "cuda":
            stacked = stacked.pin_memory()
        x = stacked.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
        side = self.image_size
        x = F.interpolate(x.contiguous(), (side, side), mode="bilinear", align_corners=False,
                          antialias=True)
        return ((x - self._mean) / self._std).contiguous()

    def _encode_reference(self, frame: np.ndarray) -> Sam2Embedding:
        predictor = self._encode_predictor
        predictor.set_image(frame)
        features = predictor._features
        embedding = Sam2Embedding(features["image_embed"][0],
                                  tuple(f[0] for f in features["high_res_feats"]),
                                  tuple(predictor._orig_hw[0]))
        predictor.reset_predictor()
        return embedding

    # ------------------------------------------------------------------ predict

    def _predict_reference(self, embedding: Sam2Embedding, request: PromptRequest) -> Candidates:
        predictor = self._predict_predictor
        predictor._features = {"image_embed": embedding.image_embed[None],
                               "high_res_feats": [f[None] for f in embedding.high_res]}
        predictor._orig_hw = [embedding.original_size]
        predictor._is_image_set = True
        masks, scores, logits = predictor_answer(predictor, request)
        predictor.reset_predictor()
        return Candidates(masks.astype(bool), clip_scores(scores), logits.astype(np.float32))

    def _decode(self, embedding: Sam2Embedding, requests: Sequence[PromptRequest]
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Requests of one composition (box or not, number of points, multimask) go through
        the prompt encoder and the mask decoder together."""
        dense = self._dense_embeddings(requests)
        low_res: list[torch.Tensor] = [torch.empty(0)] * len(requests)
        iou: list[torch.Tensor] = [torch.empty(0)] * len(requests)
        kinds = group_by(requests, lambda r: (r.box_xyxy is not None, len(r.points), r.multimask))
        for (_, _, multimask), rows in kinds.items():
            sparse = self._sparse_embeddings([requests[i] for i in rows], embedding.original_size)
            masks, scores, _, _ = self.model.sam_mask_decoder(
                image_embeddings=embedding.image_embed[None],
                image_pe=self._dense_pe,
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense[rows],
                multimask_output=multimask,
                repeat_image=len(rows) > 1,
                high_res_features=[f[None] for f in embedding.high_res],
            )
            for k, i in enumerate(rows):
                low_res[i], iou[i] = masks[k], scores[k]
        return low_res, iou

    def _postprocess(self, low_res: list[torch.Tensor], scores: list[torch.Tensor],
                     embedding: Sam2Embedding) -> list[Candidates]:
        """Per-object (K, 256, 256) logits and (K,) scores → :class:`Candidates`: the
        predictor's F.interpolate to the frame's size, then > 0, around each object."""
        size = embedding.original_size
        logits = torch.cat(low_res).float().clamp(-_LOGIT_CLAMP, _LOGIT_CLAMP).cpu().numpy()
        out, start = [], 0
        for lr, s in zip(low_res, scores, strict=True):  # one window per object
            stop = start + lr.shape[0]
            masks = upscale_masks(lr.float(), [(size, size)])
            out.append(Candidates(masks, clip_scores(s), logits[start:stop]))
            start = stop
        return out

    def _dense_embeddings(self, requests: Sequence[PromptRequest]) -> torch.Tensor:
        """(B, 256, 64, 64): the prior logits through the mask downscaler, else no-mask."""
        encoder = self.model.sam_prompt_encoder
        grid = self.image_size // 16  # SAM 2's backbone stride
        dense = encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
            len(requests), -1, grid, grid)
        with_prior = [i for i, r in enumerate(requests) if r.prior_logits is not None]
        if not with_prior:
            return dense
        priors = np.stack([requests[i].prior_logits for i in with_prior]).astype(np.float32)
        dense = dense.clone()
        dense[with_prior] = encoder._embed_masks(torch.as_tensor(priors, device=self.device))
        return dense

    def _sparse_embeddings(self, requests: Sequence[PromptRequest],
                           size: tuple[int, int]) -> torch.Tensor:
        """(B, N, 256) tokens of requests of one composition: as the predictor does, the
        box becomes two corner points (labels 2, 3) ahead of the clicks, coordinates are
        scaled to the 1024-pixel input, and the prompt encoder pads one point."""
        h, w = size
        side = self.image_size
        coords, labels = [], []
        if requests[0].box_xyxy is not None:
            boxes = np.stack([r.box_xyxy for r in requests]).astype(np.float32).reshape(-1, 2, 2)
            coords.append(torch.as_tensor(boxes, device=self.device))
            labels.append(torch.tensor([[2, 3]], dtype=torch.int, device=self.device)
                          .repeat(len(requests), 1))
        if len(requests[0].points):
            points = np.stack([r.points for r in requests]).astype(np.float32)
            coords.append(torch.as_tensor(points, device=self.device))
            labels.append(torch.as_tensor(np.stack([r.labels for r in requests]),
                                          dtype=torch.int, device=self.device))
        if not coords:  # logits only
            return torch.empty((len(requests), 0, self.arch.prompt_embed_dim),
                               device=self.device)
        xy = torch.cat(coords, 1)
        # as the predictor: divided by the frame size, then multiplied by the input size
        xy[..., 0] /= w
        xy[..., 1] /= h
        xy = xy * side
        sparse, _ = self.model.sam_prompt_encoder(points=(xy, torch.cat(labels, 1)), boxes=None,
                                                  masks=None)
        return sparse
