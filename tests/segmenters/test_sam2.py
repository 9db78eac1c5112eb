"""The SAM 2.1 backend against Meta's own code (``sam2``, as ``rf-sam-2`` packages it).

The model is a seeded random ``sam2.1_hiera_tiny`` built by ``sam2.build_sam.build_sam2``
from the config the package ships, saved as ``{"model": state_dict}``
(``conftest.sam2_checkpoint``): the real model's shape and cost. The independent reference
loads that file with ``sam2``'s own loader (``build_sam2(config, ckpt_path)``) and runs
``SAM2ImagePredictor``.

Tolerances (measured on this project's 2-core AVX512-BF16 CPU; the bounds leave a margin):

* reference mode vs ``SAM2ImagePredictor``: identical masks, scores and logits.
* fast fp32 vs reference: masks IoU >= 0.999 (measured 1.0), logits within 1e-3
  (measured 0: the same operations).
* fast bf16 (encoder weights cast) vs reference: masks IoU >= 0.99 (measured >= 0.996).
* all objects in one decoder call (``repeat_image``) vs one call each: logits within 1e-4.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samvideo.segmenters import load_model
from samvideo.segmenters.base import PromptRequest, Segmenter
from samvideo.segmenters.device import cpu_has_native_bf16
from samvideo.segmenters.families import identify
from samvideo.segmenters.sam2 import (
    SAM2_ARCHS,
    Sam2Embedding,
    Sam2Segmenter,
    build_sam2_model,
    infer_sam2_arch,
    load_sam2,
)
from samvideo.weights import CHECKPOINTS
from tests.segmenters.prompts import iou, make_frame, object_box, predictor_outputs, varied_requests

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return make_frame()


@pytest.fixture(scope="module")
def meta(sam2_checkpoint, frame):
    """``sam2``'s own loading and ``SAM2ImagePredictor``, image set, and a prior from it."""
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    model = build_sam2(SAM2_ARCHS["sam2.1_hiera_tiny"].config, str(sam2_checkpoint),
                       device="cpu")
    predictor = SAM2ImagePredictor(model)
    predictor.set_image(frame)
    _, _, logits = predictor.predict(box=np.array(object_box(), np.float32))
    return predictor, logits[:1].astype(np.float32)


@pytest.fixture(scope="module")
def fast_fp32(sam2_checkpoint):
    return Sam2Segmenter(sam2_checkpoint, device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def requests(meta) -> list[PromptRequest]:
    return varied_requests(prior=meta[1])


@pytest.fixture(scope="module")
def expected(meta, requests):
    return [predictor_outputs(meta[0], r) for r in requests]


def test_every_official_shape_is_told_from_its_tensors():
    for name, arch in SAM2_ARCHS.items():
        state = build_sam2_model(arch).state_dict()
        assert infer_sam2_arch(state).name == name
        assert identify(state) == ("sam2.1", name)
        millions = sum(v.numel() for v in state.values()) / 1e6
        assert millions == pytest.approx(CHECKPOINTS[name].params_m, abs=0.6)  # the registry


def test_sam2_0_and_odd_shapes_get_one_line(sam2_checkpoint, tmp_path):
    state = torch.load(sam2_checkpoint, weights_only=True)["model"]
    older = {k: v for k, v in state.items() if k != "no_obj_embed_spatial"}
    with pytest.raises(ValueError, match=r"is a SAM 2.0 checkpoint \(sam2_hiera_tiny"):
        infer_sam2_arch(older, "checkpoint x.pt")
    odd = {k: v for k, v in state.items() if not k.startswith("image_encoder.trunk.blocks.11.")}
    with pytest.raises(ValueError, match=r"of no official shape \(width 96, stages \[1, 2, 7, 1\]"):
        infer_sam2_arch(odd)
    odd["image_encoder.trunk.blocks.11.norm1.weight"] = state["image_encoder.trunk.blocks.11"
                                                              ".norm1.weight"]
    path = tmp_path / "partial.pt"
    torch.save({"model": odd}, path)
    with pytest.raises(ValueError) as info:
        load_sam2(path, device="cpu")
    assert "\n" not in str(info.value) and "does not fit SAM sam2.1_hiera_tiny" in str(info.value)
    with pytest.raises(ValueError, match="is sam2.1_hiera_tiny, not sam2.1_hiera_small"):
        load_sam2(sam2_checkpoint, model="sam2.1_hiera_small", device="cpu")


def test_reference_mode_is_sam2_image_predictor_exactly(sam2_checkpoint, frame, requests,
                                                        expected):
    seg, reason = load_model("auto", checkpoint=sam2_checkpoint, device="cpu", reference=True)
    assert isinstance(seg, Sam2Segmenter) and isinstance(seg, Segmenter)
    assert seg.name == "sam2.1:hiera_tiny" and "sam2.1:hiera_tiny" in reason
    embedding = seg.encode([frame])[0]
    for request, got, (masks, scores, logits) in zip(
            requests, seg.predict(embedding, requests), expected, strict=True):
        assert np.array_equal(got.masks, masks), request
        assert np.array_equal(got.logits, logits)
        assert np.array_equal(got.scores, np.clip(scores, 0, 1).astype(np.float32))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fast_path_matches_the_reference(sam2_checkpoint, fast_fp32, frame, requests,
                                         expected, precision):
    if precision == "bf16" and not cpu_has_native_bf16():
        pytest.skip("this CPU has no native bf16: the fast path runs fp32 here")
    seg = fast_fp32 if precision == "fp32" else Sam2Segmenter(sam2_checkpoint, device="cpu",
                                                     precision=precision)
    assert seg.precision == precision and not seg.reference
    assert next(seg.model.image_encoder.parameters()).dtype == seg.dtype
    embeddings = seg.encode([frame, make_frame(seed=3)])  # a batch: the first is the frame
    emb = embeddings[0]
    assert isinstance(emb, Sam2Embedding) and emb.original_size == (360, 480)
    assert emb.image_embed.shape == (256, 64, 64) and emb.image_embed.dtype == torch.float32
    assert [f.shape for f in emb.high_res] == [(32, 256, 256), (64, 128, 128)]
    min_iou = 0.999 if precision == "fp32" else 0.99
    for request, got, (masks, scores, logits) in zip(
            requests, seg.predict(emb, requests), expected, strict=True):
        assert got.masks.shape == masks.shape and got.masks.dtype == bool
        assert got.logits.shape == (len(masks), 256, 256) and np.abs(got.logits).max() <= 32
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
        assert np.abs(alone.logits - got.logits).max() <= 1e-4, request
        assert min(iou(a, b) for a, b in zip(alone.masks, got.masks, strict=True)) >= 0.999


def test_bad_inputs_are_one_line(sam2_checkpoint, fast_fp32, frame):
    seg = fast_fp32
    assert seg.reads_background is False
    with pytest.raises(ValueError, match="Sam2Embedding"):
        seg.predict("not an embedding", [PromptRequest.make(object_box())])
    embedding = seg.encode([frame])[0]
    with pytest.raises(ValueError, match="request 0: needs a box, points or prior_logits"):
        seg.predict(embedding, [PromptRequest.make(None)])
    with pytest.raises(ValueError, match="frame 1"):
        seg.encode([frame, frame[:10]])
    with pytest.raises(ValueError, match="reference=True runs fp32"):
        Sam2Segmenter(sam2_checkpoint, device="cpu", precision="bf16", reference=True)


@cuda
@pytest.mark.parametrize("compile", [False, True])
def test_cuda_bf16_sdpa_and_compile_against_the_cpu_reference(sam2_checkpoint, frame, requests,
                                                               expected, compile):
    seg = Sam2Segmenter(sam2_checkpoint, device="cuda", precision="auto", compile=compile)
    assert seg.device.type == "cuda" and seg.precision == "bf16"
    embeddings = seg.encode([frame, frame])  # a look-ahead batch
    for got, (masks, _, _) in zip(seg.predict(embeddings[1], requests), expected, strict=True):
        assert min(iou(a, b) for a, b in zip(got.masks, masks, strict=True)) >= 0.99
