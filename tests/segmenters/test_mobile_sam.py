"""The MobileSAM backend against MobileSAM's own code (the ``mobile_sam`` package).

The model is a seeded random ``vit_t`` built by ``mobile_sam``'s own builder and saved as
a plain state dict (``conftest.mobile_sam_checkpoint``), so it has the real model's shape
and cost. The independent reference loads that file the way MobileSAM's README does
(``sam_model_registry["vit_t"](checkpoint=...)``, then ``.eval()``) and runs
``mobile_sam.SamPredictor``.

Tolerances (measured on this project's 2-core AVX512-BF16 CPU; the bounds leave a margin):

* reference mode vs ``mobile_sam.SamPredictor``: identical masks, scores and logits.
* fast fp32 vs reference: masks IoU >= 0.999 (measured 1.0), logits within 1e-3.
* fast bf16 (encoder weights cast, channels-last) vs reference: masks IoU >= 0.985 for
  multimask answers (measured 0.990-0.994; 0.9898 for the logits-only prompt), >= 0.975
  for the single-mask one (measured 0.979). Random weights give flat logits (half of them
  within 0.1 of the threshold), so bf16's rounding flips more pixels than a trained
  model's sharp logits would; keeping any part of TinyViT in fp32 does not change these
  figures (measured: patch embedding, stage 0, 1, 3, neck).
* all objects in one decoder call vs one call each: logits within 1e-4.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from samvideo.segmenters import load_model
from samvideo.segmenters.base import PromptRequest, Segmenter
from samvideo.segmenters.device import cpu_has_native_bf16
from samvideo.segmenters.families import identify
from samvideo.segmenters.mobile_sam import MobileSamSegmenter, is_mobile_sam, load_mobile_sam
from tests.segmenters.prompts import iou, make_frame, object_box, predictor_outputs, varied_requests

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # mobile_sam re-registers timm's TinyViT names
    from mobile_sam import SamPredictor, sam_model_registry

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return make_frame()


@pytest.fixture(scope="module")
def meta(mobile_sam_checkpoint, frame):
    """MobileSAM's own loading and predictor, image set, and a prior from it."""
    model = sam_model_registry["vit_t"](checkpoint=str(mobile_sam_checkpoint))
    model.eval()
    predictor = SamPredictor(model)
    predictor.set_image(frame)
    _, _, logits = predictor.predict(box=np.array(object_box(), np.float32))
    return predictor, logits[:1].astype(np.float32)


@pytest.fixture(scope="module")
def fast_fp32(mobile_sam_checkpoint):
    return MobileSamSegmenter(mobile_sam_checkpoint, device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def requests(meta) -> list[PromptRequest]:
    return varied_requests(prior=meta[1])


@pytest.fixture(scope="module")
def expected(meta, requests):
    return [predictor_outputs(meta[0], r) for r in requests]


def test_identified_by_its_tensors(mobile_sam_checkpoint):
    state = torch.load(mobile_sam_checkpoint, weights_only=True)
    assert is_mobile_sam(state)
    assert identify(state) == ("mobile_sam", "mobile_sam")


def test_a_file_that_does_not_fit_gets_one_line(mobile_sam_checkpoint, tmp_path):
    state = torch.load(mobile_sam_checkpoint, weights_only=True)
    state.pop("mask_decoder.iou_token.weight")
    state["image_encoder.layers.1.blocks.0.attn.qkv.weight"] = torch.zeros(3, 3)
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(ValueError) as info:
        load_mobile_sam(bad, device="cpu")
    message = str(info.value)
    assert "\n" not in message and "does not fit MobileSAM vit_t" in message
    assert "missing: mask_decoder.iou_token.weight" in message
    assert "wrong shape: image_encoder.layers.1.blocks.0.attn.qkv.weight" in message


def test_reference_mode_is_mobile_sam_predictor_exactly(mobile_sam_checkpoint, frame,
                                                        requests, expected):
    seg, reason = load_model("auto", checkpoint=mobile_sam_checkpoint, device="cpu",
                             reference=True)
    assert isinstance(seg, MobileSamSegmenter) and isinstance(seg, Segmenter)
    assert seg.name == "mobile_sam" and "mobile_sam" in reason
    embedding = seg.encode([frame])[0]
    for request, got, (masks, scores, logits) in zip(
            requests, seg.predict(embedding, requests), expected, strict=True):
        assert np.array_equal(got.masks, masks), request
        assert np.array_equal(got.logits, logits)
        assert np.array_equal(got.scores, np.clip(scores, 0, 1).astype(np.float32))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fast_path_matches_the_reference(mobile_sam_checkpoint, fast_fp32, frame, requests,
                                         expected, precision):
    if precision == "bf16" and not cpu_has_native_bf16():
        pytest.skip("this CPU has no native bf16: the fast path runs fp32 here")
    seg = fast_fp32 if precision == "fp32" else MobileSamSegmenter(
        mobile_sam_checkpoint, device="cpu", precision=precision)
    assert seg.precision == precision and not seg.reference
    assert next(seg.model.image_encoder.parameters()).dtype == seg.dtype
    embedding = seg.encode([frame])[0]
    for request, got, (masks, scores, logits) in zip(
            requests, seg.predict(embedding, requests), expected, strict=True):
        assert got.masks.shape == masks.shape and got.masks.dtype == bool
        min_iou = 0.999 if precision == "fp32" else 0.985 if request.multimask else 0.975
        assert min(iou(a, b) for a, b in zip(got.masks, masks, strict=True)) >= min_iou, request
        if precision == "fp32":
            assert np.abs(got.logits - logits).max() <= 1e-3
            assert np.abs(got.scores - np.clip(scores, 0, 1)).max() <= 1e-4


def test_all_objects_in_one_decoder_call(fast_fp32, frame, requests):
    seg = fast_fp32
    embedding = seg.encode([frame])[0]
    together = seg.predict(embedding, requests)
    for request, got in zip(requests, together, strict=True):
        alone = seg.predict(embedding, [request])[0]
        assert np.abs(alone.logits - got.logits).max() <= 1e-4
        assert min(iou(a, b) for a, b in zip(alone.masks, got.masks, strict=True)) >= 0.999


def test_it_does_not_ask_for_the_background_cue(mobile_sam_checkpoint):
    assert MobileSamSegmenter.reads_background is False


@cuda
@pytest.mark.parametrize("compile", [False, True])
def test_cuda_bf16_and_compile_against_the_cpu_reference(mobile_sam_checkpoint, frame,
                                                         requests, expected, compile):
    seg = MobileSamSegmenter(mobile_sam_checkpoint, device="cuda", precision="auto",
                             compile=compile)
    assert seg.device.type == "cuda"
    embeddings = seg.encode([frame, frame])  # a look-ahead batch
    for got, (masks, _, _) in zip(seg.predict(embeddings[1], requests), expected, strict=True):
        assert min(iou(a, b) for a, b in zip(got.masks, masks, strict=True)) >= 0.99
