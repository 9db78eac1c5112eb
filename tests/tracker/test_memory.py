"""The memory tracker against SAM 2's own video predictor, with random SAM 2.1 weights
built by ``sam2``'s code (``small_sam2``: hiera_tiny at a 128-pixel input).

Exactness: with the motion-aware parts and re-prompting off, samvideo's streamed tracker
and ``SAM2VideoPredictor.propagate_in_video`` (run the way a stream sees the prompts:
up to the frame before each prompt, the prompt added, on from its frame) give, for two
objects (one added on frame 6) and a correction (frame 12), on every frame:

* the same low-res logits, bit for bit (tolerance 0): the same ``sam2`` modules run the
  same operations on the same inputs, in the same shapes; the memories are stored in
  bfloat16 as the predictor stores them. Same shapes matters: the memory encoder reads
  all three candidates upscaled together, then the chosen one, as SAM 2 does, because
  the CPU's bilinear kernel rounds one channel differently from three (2.4e-7), which
  the bfloat16 memory turns into one unit in the last place, and the logits drift from
  the third frame on; a tolerance would hide such a difference, so there is none;
* the same masks at the frame's size (tolerance 0 pixels): samvideo computes the
  predictor's bilinear resize only around the object, with its own source positions and
  weights (``samvideo.segmenters.upscale``), which can only differ for a logit within
  rounding of 0.

What differs by design, and is kept out of the comparison: the predictor's frame loading
(PIL resize of JPEG files) is replaced by samvideo's preprocessing of the same frames,
so that both encoders see the same input; the predictor's hole filling needs ``sam2``'s
CUDA extension, absent here, and both skip it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from samvideo.masks import box_iou
from samvideo.prompts import ObjectPrompt
from samvideo.segmenters.sam2 import SAM2_ARCHS
from samvideo.tracker.memory import MemoryTracker, check_segmenter
from samvideo.tracker.memory_config import MemoryConfig
from tests.tracker.conftest import SMALL_SIDE

PROMPTS = [
    ObjectPrompt(1, (10.0, 10.0, 40.0, 40.0), points=((20.0, 22.0),), frame_index=0),
    ObjectPrompt(2, (80.0, 50.0, 120.0, 90.0), frame_index=6),  # a second object, later
    ObjectPrompt(1, (40.0, 28.0, 72.0, 60.0), neg_points=((90.0, 80.0),), frame_index=12),
]
SAM2_EXACT = MemoryConfig(motion_aware=False, reprompt=False)


def track(segmenter, frames, config, prompts=PROMPTS):
    """Per frame: the results and the tracker's answers (logits, masks before the
    objects' masks are made disjoint)."""
    tracker = MemoryTracker(segmenter, config=config)
    tracker.add_prompts(prompts)
    out = []
    for t, rgb in enumerate(frames):
        result = tracker.step(rgb, frame_index=t)
        out.append((result, dict(tracker.answers)))
    return out


def predictor_run(checkpoint, segmenter, frames, tmp_path, prompts=PROMPTS):
    """``SAM2VideoPredictor`` built by ``sam2`` from the same file, the prompts added on
    their frames between propagations; returns ``{frame: {object id: (logits, mask)}}``."""
    from PIL import Image
    from sam2.build_sam import build_sam2_video_predictor

    predictor = build_sam2_video_predictor(
        SAM2_ARCHS["sam2.1_hiera_tiny"].config, str(checkpoint), device="cpu",
        hydra_overrides_extra=[f"++model.image_size={SMALL_SIDE}"])
    folder = tmp_path / "jpeg"
    folder.mkdir()
    for t, rgb in enumerate(frames):
        Image.fromarray(rgb).save(folder / f"{t:05d}.jpg")
    with warnings.catch_warnings():  # the hole filling's, where sam2's extension is absent
        warnings.simplefilter("ignore", UserWarning)
        state = predictor.init_state(str(folder))
        state["images"] = segmenter.preprocess(frames)  # the same encoder input
        state["cached_features"] = {}
        masks: dict[int, dict[int, np.ndarray]] = {}
        starts = sorted({p.frame_index for p in prompts})
        for i, start in enumerate(starts):
            for p in (p for p in prompts if p.frame_index == start):
                points = [*p.points, *p.neg_points]
                labels = [1] * len(p.points) + [0] * len(p.neg_points)
                predictor.add_new_points_or_box(
                    state, start, p.object_id, box=np.array(p.box, np.float32),
                    points=np.array(points, np.float32) if points else None,
                    labels=np.array(labels, np.int32) if points else None)
            stop = starts[i + 1] if i + 1 < len(starts) else len(frames)
            for t, ids, video_masks in predictor.propagate_in_video(
                    state, start_frame_idx=start, max_frame_num_to_track=stop - 1 - start):
                masks[t] = {i: (video_masks[j, 0] > 0).numpy() for j, i in enumerate(ids)}
    out: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    for t, by_id in masks.items():
        out[t] = {}
        for object_id, mask in by_id.items():
            store = state["output_dict_per_obj"][state["obj_id_to_idx"][object_id]]
            entry = store["cond_frame_outputs"].get(t) or store["non_cond_frame_outputs"].get(t)
            if entry is not None:  # the object exists on this frame
                out[t][object_id] = (entry["pred_masks"][0, 0].numpy(), mask)
    return out


def test_masks_equal_sam2_video_predictor_without_the_motion_aware_parts(
        sam2_checkpoint, small_sam2, clip, tmp_path):
    ours = track(small_sam2, clip, SAM2_EXACT)
    theirs = predictor_run(sam2_checkpoint, small_sam2, clip, tmp_path)
    assert sorted(theirs) == list(range(len(clip)))
    for t, (result, answers) in enumerate(ours):
        assert sorted(answers) == sorted(theirs[t]), t
        for object_id, (logits, mask) in theirs[t].items():
            answer = answers[object_id]
            assert np.array_equal(answer.logits, logits), (t, object_id)
            assert np.array_equal(answer.mask, mask), (t, object_id)
        for o in result.objects:
            prompted = (o.object_id, t) in {(p.object_id, p.frame_index) for p in PROMPTS}
            present = answers[o.object_id].mask.any()
            assert o.state == ("prompted" if prompted and present else
                               "tracking" if present else "lost"), (t, o)


def test_the_kalman_weighing_runs_on_the_real_model(small_sam2, clip):
    """With SAMURAI's parts on (short stable run), every frame after it the choice is the
    argmax of the blend computed from the answer's own candidates (checked here)."""
    config = MemoryConfig(stable_frames=2, reprompt=False)
    weighed = 0
    for t, (_, answers) in enumerate(track(small_sam2, clip, config, PROMPTS[:1])):
        a = answers[1]
        if a.motion_score is None:
            continue
        weighed += 1
        fit = [box_iou(b, a.motion_box) for b in a.boxes]
        blend = [config.motion_weight * f + (1 - config.motion_weight) * float(s)
                 for f, s in zip(fit, a.scores, strict=True)]
        assert a.chosen == int(np.argmax(blend)), t
        assert a.motion_score == pytest.approx(fit[a.chosen])
        assert a.admitted == (a.scores[a.chosen] > config.memory_score and a.object_score > 0
                              and a.motion_score > 0)
    assert weighed >= len(clip) - 3


def test_only_sam2_segmenters_on_their_fast_path(sam2_checkpoint, tiny_sam_checkpoint):
    from samvideo.segmenters import GrabCutSegmenter, load_model

    with pytest.raises(ValueError, match="needs a SAM 2.1 model .*grabcut has no video memory"):
        check_segmenter(GrabCutSegmenter())
    sam, _ = load_model("auto", checkpoint=tiny_sam_checkpoint, device="cpu")
    with pytest.raises(ValueError, match="needs a SAM 2.1 model"):
        MemoryTracker(sam)
    reference, _ = load_model("auto", checkpoint=sam2_checkpoint, device="cpu", reference=True)
    with pytest.raises(ValueError, match="--reference"):
        MemoryTracker(reference)
