"""SAM 2's video steps for one object on one frame, on ``sam2``'s own modules.

:class:`Sam2Steps` wraps a ``SAM2Base`` (the SAM 2.1 segmenter's model) and runs what
``SAM2VideoPredictor`` runs per object and frame, reading its memories from a bounded
bank (:mod:`samvideo.tracker.memory_bank`) instead of the predictor's per-video dicts:

* :meth:`~Sam2Steps.condition`: the frame's lowest-resolution features cross-attend to
  the memories and object pointers through the model's ``memory_attention`` — the
  assembly of ``SAM2Base._prepare_memory_conditioned_features`` (temporal position
  encodings ``maskmem_tpos_enc``, the pointers' sine encoding through
  ``obj_ptr_tpos_proj``), fed with the memories the bank chose rather than looked up by
  frame index, which a bank that forgets cannot do;
* :meth:`~Sam2Steps.decode`: ``sam_prompt_encoder`` + ``sam_mask_decoder`` as
  ``SAM2Base._forward_sam_heads`` calls them, but returning every candidate's output
  token, so that the object pointer (:meth:`~Sam2Steps.pointer`, ``obj_ptr_proj`` and
  the no-object pointer) can be that of another candidate than SAM 2's best;
* :meth:`~Sam2Steps.encode_memory`: ``SAM2Base._encode_new_memory`` itself.

Both re-assembled pieces give bit-identical results to the originals (tested against
them, and end to end against ``SAM2VideoPredictor.propagate_in_video``). Shapes below
are for one object: C = 256 channels, an (h, w) = (S/16, S/16) feature grid for an
encoder input of S pixels (S = 1024: 64 x 64), low-res masks of (4h, 4w).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: SAM 2's logit for "no object here" (``sam2.modeling.sam2_base.NO_OBJ_SCORE``)
NO_OBJ_SCORE = -1024.0


@dataclass
class FrameFeatures:
    """One frame's features as SAM 2's video steps read them (batch of one).

    Attributes:
        top: (h*w, 1, C) float32 lowest-resolution features (``current_vision_feats[-1]``).
        pos: (h*w, 1, C) float32 their sine position encoding.
        high_res: the decoder's (1, 32, 4h, 4w) and (1, 64, 2h, 2w) float32 feature maps.
        size: (h, w).
    """

    top: torch.Tensor
    pos: torch.Tensor
    high_res: list[torch.Tensor]
    size: tuple[int, int]


@dataclass
class Decoded:
    """The mask decoder's answer for one object.

    Attributes:
        low_res: (1, K, 4h, 4w) float32 logits, all ``NO_OBJ_SCORE`` when the object score
            says the object is absent; K = 3 (multimask) or 1.
        ious: (1, K) float32 predicted IoU.
        tokens: (1, K or 1, C) the decoder's output tokens (one per candidate with
            ``use_multimask_token_for_obj_ptr``).
        object_score: (1, 1) float32 object score logit (> 0: the object is there).
    """

    low_res: torch.Tensor
    ious: torch.Tensor
    tokens: torch.Tensor
    object_score: torch.Tensor

    @property
    def present(self) -> bool:
        return bool(self.object_score.item() > 0)


class Sam2Steps:
    """SAM 2's per-object video steps on a ``SAM2Base`` in eval mode.

    Building it sets the one model attribute ``build_sam2_video_predictor`` sets over the
    image model's and which only the memory encoder reads:
    ``binarize_mask_from_pts_for_mem_enc = True`` (a mask from the user's prompts enters
    the memory as what the user saw, not as soft logits).
    """

    def __init__(self, model) -> None:
        self.model = model
        model.binarize_mask_from_pts_for_mem_enc = True
        self.device = model.device
        self._pos: dict[tuple[int, int], torch.Tensor] = {}

    @property
    def num_maskmem(self) -> int:
        """Memories SAM 2 attends to besides the prompted frames, plus one (7 in SAM 2.1)."""
        return int(self.model.num_maskmem)

    @property
    def max_pointers(self) -> int:
        """Object pointers SAM 2 attends to, at most (16 in SAM 2.1)."""
        return int(self.model.max_obj_ptrs_in_encoder)

    # -- features ----------------------------------------------------------------------

    def features(self, embedding) -> FrameFeatures:
        """A :class:`~samvideo.segmenters.sam2.Sam2Embedding`'s features, flattened as
        ``SAM2Base._prepare_backbone_features`` flattens them."""
        top = embedding.vision_features.to(self.device)
        c, h, w = top.shape
        if (h, w) not in self._pos:  # the sine encoding depends on the grid's size only
            probe = torch.zeros((1, c, h, w), device=self.device)
            pos = self.model.image_encoder.neck.position_encoding(probe)
            self._pos[(h, w)] = pos.flatten(2).permute(2, 0, 1)
        return FrameFeatures(top[None].flatten(2).permute(2, 0, 1), self._pos[(h, w)],
                             [f[None].to(self.device) for f in embedding.high_res], (h, w))

    # -- memory attention --------------------------------------------------------------

    def condition(
        self,
        frame: FrameFeatures,
        memories: list[tuple[int, torch.Tensor]],
        pointers: list[tuple[int, torch.Tensor]],
    ) -> torch.Tensor:
        """The frame's features conditioned on the memory: (1, C, h, w) float32.

        Args:
            memories: ``(t_pos, features)`` pairs in attention order: t_pos 0 for a
                prompted frame, else ``num_maskmem - t_pos`` is how far back the memory
                counts (1 = the newest); features (1, 64, h, w) bfloat16 or float32.
            pointers: ``(t_diff, pointer)`` pairs in attention order: t_diff the frames
                between the pointer's frame and this one, pointer (1, C) float32.

        With no memory at all (a prompted frame) this is SAM 2's no-memory embedding added
        to the features (``directly_add_no_mem_embed``), as on an initial prompted frame.
        """
        m = self.model
        h, w = frame.size
        c = m.hidden_dim
        if not memories and not pointers:
            if not m.directly_add_no_mem_embed:
                raise RuntimeError("this SAM 2 model attends to a no-memory token on "
                                   "prompted frames, which samvideo does not run")
            return (frame.top + m.no_mem_embed).permute(1, 2, 0).view(1, c, h, w)
        to_cat, to_cat_pos = [], []
        for t_pos, feats in memories:
            feats = feats.to(self.device)
            to_cat.append(feats.flatten(2).permute(2, 0, 1))
            # the memory encoder's sine encoding: float32, a function of the grid's size
            mem_pos = m.memory_encoder.position_encoding(feats)
            enc = mem_pos.flatten(2).permute(2, 0, 1)
            to_cat_pos.append(enc + m.maskmem_tpos_enc[m.num_maskmem - t_pos - 1])
        num_ptr_tokens = 0
        if pointers and m.use_obj_ptrs_in_encoder:
            diffs, ptrs = zip(*pointers, strict=True)
            obj_ptrs = torch.stack(ptrs, dim=0)  # (P, 1, C)
            if m.add_tpos_enc_to_obj_ptrs:
                from sam2.modeling.sam2_utils import get_1d_sine_pe

                tpos_dim = c if m.proj_tpos_enc_in_obj_ptrs else m.mem_dim
                obj_pos = torch.tensor(diffs).to(device=self.device)
                obj_pos = get_1d_sine_pe(obj_pos / (self.max_pointers - 1), dim=tpos_dim)
                obj_pos = m.obj_ptr_tpos_proj(obj_pos).unsqueeze(1).expand(-1, 1, m.mem_dim)
            else:
                obj_pos = obj_ptrs.new_zeros(len(diffs), 1, m.mem_dim)
            if m.mem_dim < c:  # a pointer becomes C / mem_dim tokens
                obj_ptrs = obj_ptrs.reshape(-1, 1, c // m.mem_dim, m.mem_dim)
                obj_ptrs = obj_ptrs.permute(0, 2, 1, 3).flatten(0, 1)
                obj_pos = obj_pos.repeat_interleave(c // m.mem_dim, dim=0)
            to_cat.append(obj_ptrs)
            to_cat_pos.append(obj_pos)
            num_ptr_tokens = obj_ptrs.shape[0]
        # SAM 2 concatenates bf16 memories with fp32 pointers: the result is fp32
        memory = torch.cat([t.float() for t in to_cat], dim=0)
        memory_pos = torch.cat(to_cat_pos, dim=0)
        out = m.memory_attention(curr=[frame.top], curr_pos=[frame.pos], memory=memory,
                                 memory_pos=memory_pos, num_obj_ptr_tokens=num_ptr_tokens)
        return out.permute(1, 2, 0).view(1, c, h, w)

    # -- the mask decoder --------------------------------------------------------------

    def decode(
        self,
        pix_feat: torch.Tensor,
        frame: FrameFeatures,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        *,
        prompted: bool,
    ) -> Decoded:
        """SAM 2's mask decoder on conditioned features.

        Args:
            points: ``(coords (1, P, 2) float32, labels (1, P) int32)`` in encoder-input
                pixels (a box is its two corners with labels 2 and 3, first), or None.
            prompted: an initial prompted frame (SAM 2's ``is_init_cond_frame``): with it,
                and without points, whether SAM 2 answers with three candidates or one
                (``SAM2Base._use_multimask``).
        """
        m = self.model
        point_inputs = None if points is None else {"point_coords": points[0],
                                                    "point_labels": points[1]}
        multimask = m._use_multimask(prompted, point_inputs)
        if points is None:  # as SAM 2: one padding point with label -1
            points = (torch.zeros(1, 1, 2, device=self.device),
                      -torch.ones(1, 1, dtype=torch.int32, device=self.device))
        sparse, dense = m.sam_prompt_encoder(points=points, boxes=None, masks=None)
        low_res, ious, tokens, object_score = m.sam_mask_decoder(
            image_embeddings=pix_feat, image_pe=m.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
            multimask_output=multimask, repeat_image=False, high_res_features=frame.high_res)
        if m.pred_obj_scores:
            low_res = torch.where((object_score > 0)[:, None, None], low_res, NO_OBJ_SCORE)
        return Decoded(low_res.float(), ious, tokens, object_score)

    def pointer(self, decoded: Decoded, k: int) -> torch.Tensor:
        """The object pointer (1, C) of candidate ``k``, with SAM 2's no-object pointer
        mixed in by the object score (``SAM2Base._forward_sam_heads``'s last step)."""
        m = self.model
        token = decoded.tokens[:, k] if decoded.tokens.size(1) > 1 else decoded.tokens[:, 0]
        ptr = m.obj_ptr_proj(token)
        if m.pred_obj_scores:
            appearing = (decoded.object_score.sigmoid() if m.soft_no_obj_ptr
                         else (decoded.object_score > 0).float())
            if m.fixed_no_obj_ptr:
                ptr = appearing * ptr
            ptr = ptr + (1 - appearing) * m.no_obj_ptr
        return ptr

    def upscale(self, low_res: torch.Tensor) -> torch.Tensor:
        """(1, K, 4h, 4w) logits → (1, K, S, S) at the encoder's input size, bilinear (what
        SAM 2 encodes into the memory)."""
        size = self.model.image_size
        return F.interpolate(low_res, size=(size, size), mode="bilinear", align_corners=False)

    # -- the memory encoder ------------------------------------------------------------

    def encode_memory(self, frame: FrameFeatures, high_res_mask: torch.Tensor,
                      object_score: torch.Tensor, *, from_prompt: bool):
        """``SAM2Base._encode_new_memory``: the memory features (1, 64, h, w), stored in
        bfloat16 as the video predictor stores them (their position encoding is a
        function of the grid's size, made again where they are read).

        Args:
            high_res_mask: (1, 1, S, S) logits of the chosen mask.
            from_prompt: the mask answers the user's (or a re-prompt's) points and box: it
                is binarized first (SAM 2's ``is_mask_from_pts``).
        """
        feats, _ = self.model._encode_new_memory(
            current_vision_feats=[frame.top], feat_sizes=[frame.size],
            pred_masks_high_res=high_res_mask, object_score_logits=object_score,
            is_mask_from_pts=from_prompt)
        return feats.to(torch.bfloat16)
