"""What the Segment Anything segmenters (SAM, MobileSAM, SAM 2.1) share: the device and
precision, the split between the reference predictor and the fast path, the locks that
let ``encode`` and ``predict`` run in two threads, and the stage clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from samvideo.allocator import keep_freed_memory
from samvideo.segmenters.base import Candidates, PromptRequest
from samvideo.segmenters.checks import check_frames, check_predict_inputs
from samvideo.segmenters.device import DTYPES, resolve_device, resolve_precision

#: the stages :attr:`PromptableSegmenter.stage_seconds` times
STAGES = ("preprocess", "encoder", "decoder", "postprocess")


class PromptableSegmenter:
    """Base of :class:`~samvideo.segmenters.sam.SamSegmenter` and
    :class:`~samvideo.segmenters.sam2.Sam2Segmenter`.

    A family sets :attr:`embedding_type` and writes the steps: ``preprocess`` (frames →
    the encoder's input batch on the device), ``_embed`` (that batch → one embedding per
    frame), ``_decode`` (all the objects of a frame through the prompt encoder and mask
    decoder: per object (K, 256, 256) low-res logits and (K,) scores), ``_postprocess``
    (those → :class:`Candidates` at frame size) and ``_encode_reference`` /
    ``_predict_reference`` (its own predictor, unchanged).

    Attributes:
        device: the torch device everything runs on.
        dtype: the encoder's compute dtype; ``precision`` the same as a name (``"fp32"``,
            ``"bf16"`` or ``"fp16"``).
        reference: whether the family's own predictor runs (bit-identical, slower).
        stage_seconds: wall seconds spent so far per stage (:data:`STAGES`); on CUDA they
            are exact only with ``sync_timing``.
        keeps_freed_memory: whether large freed blocks are reused
            (:func:`samvideo.allocator.keep_freed_memory`, on a CPU with glibc).
    """

    #: boxes, points and logits are read; GrabCut's still-background cue is not
    reads_background = False
    #: the prior mask is read as its box only
    reads_prior_mask = False
    #: a box frames the object: its whole extent is worth asking for
    box_is_extent = True
    #: the score is the model's estimate of the mask's IoU with that object
    scores_object = True
    #: the type ``encode`` returns and ``predict`` takes
    embedding_type: type

    def _setup(self, device: str | torch.device, precision: str, reference: bool,
               sync_timing: bool) -> torch.device:
        """Resolve the device and precision and set the shared state; returns the device."""
        device_ = resolve_device(device)
        if reference and precision not in ("auto", "fp32"):
            raise ValueError(f"precision {precision!r} does not apply: reference=True runs fp32")
        self.dtype = torch.float32 if reference else resolve_precision(precision, device_)
        self.precision = {v: k for k, v in DTYPES.items()}[self.dtype]
        self.device = device_
        self.reference = reference
        self.stage_seconds = dict.fromkeys(STAGES, 0.0)
        self._sync = sync_timing and device_.type == "cuda"
        self._encode_lock = threading.Lock()
        self._predict_lock = threading.Lock()
        # the encoder's activations, freed and asked for again every frame
        self.keeps_freed_memory = device_.type == "cpu" and keep_freed_memory()
        return device_

    def encode(self, frames: Sequence[np.ndarray]) -> list[Any]:
        """Embed (H, W, 3) uint8 RGB frames of one size, all in one encoder call on the
        fast path; returns one :attr:`embedding_type` per frame, in order.

        Raises:
            ValueError: no frames, or a frame of the wrong shape, dtype or size.
        """
        size = check_frames(frames)
        with self._encode_lock, torch.inference_mode():
            if self.reference:
                return [self._encode_reference(frame) for frame in frames]
            t0 = self._clock()
            batch = self.preprocess(frames)
            t1 = self._clock()
            embeddings = self._embed(batch, size)
            t2 = self._clock()
        self.stage_seconds["preprocess"] += t1 - t0
        self.stage_seconds["encoder"] += t2 - t1
        return embeddings

    def predict(self, embedding: Any, requests: Sequence[PromptRequest]) -> list[Candidates]:
        """Candidate masks for every requested object of one frame.

        Args:
            embedding: one of :meth:`encode`'s results.
            requests: one prompt per object; each needs a box, points or ``prior_logits``.

        Returns:
            One :class:`Candidates` per request: masks (K, H, W) bool at frame size (logits
            > 0), scores (K,) float32 (the predicted IoU clipped to [0, 1]), logits
            (K, 256, 256) float32 low-res logits (SAM 2.1: clamped to [-32, 32], as its
            predictor returns them); K = 3 with ``multimask``, else 1.

        Raises:
            ValueError: a bad embedding or request (names the request index and field).
        """
        check_predict_inputs(embedding, self.embedding_type, requests)
        if not requests:
            return []
        with self._predict_lock, torch.inference_mode():
            if self.reference:
                return [self._predict_reference(embedding, r) for r in requests]
            return self._predict_fast(embedding, requests)

    def _predict_fast(self, embedding: Any, requests: Sequence[PromptRequest]
                      ) -> list[Candidates]:
        t0 = self._clock()
        low_res, scores = self._decode(embedding, requests)
        t1 = self._clock()
        out = self._postprocess(low_res, scores, embedding)
        t2 = self._clock()
        self.stage_seconds["decoder"] += t1 - t0
        self.stage_seconds["postprocess"] += t2 - t1
        return out

    def _clock(self) -> float:
        if self._sync:
            torch.cuda.synchronize(self.device)
        return time.perf_counter()
