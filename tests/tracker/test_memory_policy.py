"""The memory tracker's policy on the real SAM 2.1 path, with the mask decoder's scores
scripted: SAM 2's steps (memory attention, decoder, pointers, memory encoder) all run on
the random ``small_sam2`` model, and :class:`ScriptedSteps` then replaces the decoder's
candidates, predicted IoUs and object score with those of a scene the test controls (a
random model's answers carry no meaning to test a policy with).

The scene, on the 96 x 128 ``clip``: candidate 0 follows the square (the object),
candidate 1 is a fixed distractor in the top-right corner, candidate 2 a sliver (their
boxes come back within the 4 x 3-pixel cells of the 32 x 32 low-res grid: IoU > 0.8).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samvideo.masks import box_iou, box_to_mask
from samvideo.prompts import ObjectPrompt
from samvideo.resume import load_state, save_state
from samvideo.tracker.memory import MemoryTracker
from samvideo.tracker.memory_config import MemoryConfig
from samvideo.tracker.sam2_steps import NO_OBJ_SCORE, Decoded, Sam2Steps
from tests.helpers import square_box

SQUARE = {"start": (10.0, 10.0), "velocity": (3.0, 1.5), "size": 30.0}  # conftest's clip
SIZE = (96, 128)
DISTRACTOR = (96.0, 6.0, 124.0, 27.0)
SLIVER = (0.0, 90.0, 20.0, 96.0)
PROMPT = ObjectPrompt(1, square_box(0, **SQUARE), frame_index=0)


def low_res_mask(box, grid: tuple[int, int]) -> torch.Tensor:
    """(gh, gw) logits (+10 inside, -10 outside) of a frame box on the low-res grid
    (the grid spans the frame, stretched as SAM 2's output is)."""
    gh, gw = grid
    x1, y1, x2, y2 = box
    scaled = (x1 * gw / SIZE[1], y1 * gh / SIZE[0], x2 * gw / SIZE[1], y2 * gh / SIZE[0])
    inside = torch.from_numpy(box_to_mask(scaled, grid))
    return torch.where(inside, 10.0, -10.0)


class ScriptedSteps(Sam2Steps):
    """SAM 2's real steps; the decoder's answer is replaced by ``script(step, points)``
    -> (IoUs of object / distractor / sliver, object score logit). ``calls`` records
    (step, prompted, points labels) of every decode."""

    def __init__(self, model, script) -> None:
        super().__init__(model)
        self.script, self.step, self.calls = script, 0, []

    def decode(self, pix_feat, frame, points, *, prompted: bool) -> Decoded:
        real = super().decode(pix_feat, frame, points, prompted=prompted)
        labels = None if points is None else points[1][0].tolist()
        self.calls.append((self.step, prompted, labels))
        ious, object_score = self.script(self.step, labels)
        grid = tuple(real.low_res.shape[-2:])
        boxes = [square_box(self.step, **SQUARE), DISTRACTOR, SLIVER]
        low_res = torch.stack([low_res_mask(b, grid) for b in boxes])[None]
        k = real.low_res.shape[1]
        if k == 1:  # a single-mask answer (the prompted frame): the object
            low_res, ious = low_res[:, :1], ious[:1]
        if object_score <= 0:
            low_res = torch.full_like(low_res, NO_OBJ_SCORE)
        return Decoded(low_res, torch.tensor([ious], dtype=torch.float32), real.tokens,
                       torch.tensor([[object_score]]))


def run(small_sam2, clip, config, script, prompts=(PROMPT,)):
    steps = ScriptedSteps(small_sam2.model, script)
    tracker = MemoryTracker(small_sam2, config=config, steps=steps)
    tracker.add_prompts(list(prompts))
    out = []
    for t, rgb in enumerate(clip):
        steps.step = t
        result = tracker.step(rgb, frame_index=t)
        out.append((result, dict(tracker.answers)))
    return out, tracker, steps


def test_the_kalman_box_chooses_what_the_scores_alone_would_not(small_sam2, clip):
    """From frame 8 the distractor scores best (0.9 against the object's 0.8): SAM 2
    alone (motion-aware off) jumps to it; with SAMURAI's weighing (stable after 3
    frames) the object's candidate wins, 0.25 * IoU(its box, the Kalman box ~ 1) +
    0.75 * 0.8 > 0.75 * 0.9, on every frame."""
    def script(t, labels):
        return ([0.9, 0.6, 0.1] if t < 8 else [0.8, 0.9, 0.1]), 5.0

    config = MemoryConfig(stable_frames=3, reprompt=False)
    motion, _, _ = run(small_sam2, clip, config, script)
    plain, _, _ = run(small_sam2, clip, MemoryConfig(motion_aware=False, reprompt=False), script)
    for t in range(8, len(clip)):
        a, b = motion[t][1][1], plain[t][1][1]
        assert a.best == 1 and a.chosen == 0, t  # the scores say distractor; motion says no
        assert a.motion_score > 0.8 and a.admitted, t
        assert b.chosen == 1, t
        result = motion[t][0].objects[0]
        assert box_iou(result.box_xyxy, square_box(t, **SQUARE)) > 0.8, t
        assert box_iou(plain[t][0].objects[0].box_xyxy, DISTRACTOR) > 0.8, t


def occluded(clip: list[np.ndarray]) -> list[np.ndarray]:
    """The clip with a grey wall (x 25-85) in front of everything on frames 8-11."""
    frames = [f.copy() for f in clip]
    for t in range(8, 12):
        frames[t][:, 25:85] = (128, 128, 128)
    return frames


def visible(rgb: np.ndarray, t: int) -> float:
    """The share of the square's box that shows the square's red on frame ``t``."""
    x1, y1, x2, y2 = (int(round(v)) for v in square_box(t, **SQUARE))
    patch = rgb[y1:y2, x1:x2].astype(int)
    return float(((patch[..., 0] > 150) & (patch[..., 1] < 100)).mean())


def test_a_synthetic_occlusion_is_lost_and_reacquired(small_sam2, clip):
    """A wall hides the square on frames 8-11; the object score is read off each frame
    (+5 where most of the square shows, else -3: what SAM 2's occlusion head is trained
    to say). While hidden: ``lost``, no mask, the box coasting with the Kalman filter,
    and those frames stay out of the memory (their features are kept only as the last
    frame, SAMURAI's keep_last); visible again from frame 12: tracked, on the object."""
    frames = occluded(clip)
    shown = [visible(f, t) for t, f in enumerate(frames)]
    assert [t for t, v in enumerate(shown) if v < 0.5] == [8, 9, 10, 11]

    def script(t, labels):
        return [0.9, 0.6, 0.1], (5.0 if shown[t] > 0.5 else -3.0)

    out, tracker, _ = run(small_sam2, frames, MemoryConfig(stable_frames=3), script)
    states = [r.objects[0].state for r, _ in out]
    assert states == ["prompted"] + ["tracking"] * 7 + ["lost"] * 4 + ["tracking"] * 8
    for t in range(8, 12):
        result, answers = out[t]
        o = result.objects[0]
        assert not o.mask.any() and not answers[1].admitted, t
        assert box_iou(o.box_xyxy, square_box(t, **SQUARE)) > 0.7, t  # the Kalman box
    for t in range(12, len(clip)):
        assert box_iou(out[t][0].objects[0].box_xyxy, square_box(t, **SQUARE)) > 0.8, t
    bank = tracker._objects[1].bank
    assert all(m.admitted for m in bank.recent if not 8 <= m.step < 12)


def test_a_weak_mask_is_asked_again_with_the_kalman_box_and_the_clicks(small_sam2, clip):
    """Frames 10-12 score 0.3 without prompts, 0.7 with them: each is re-prompted with
    the Kalman box's two corners (labels 2, 3) and the user's click (label 1), and the
    re-prompt's answer is kept (state ``reprompted``); its mask enters the memory as a
    prompted mask does (binarized)."""
    def script(t, labels):
        if 10 <= t <= 12:
            return ([0.7, 0.2, 0.1] if labels else [0.3, 0.2, 0.1]), 5.0
        return [0.9, 0.6, 0.1], 5.0

    prompt = ObjectPrompt(1, square_box(0, **SQUARE), points=((25.0, 25.0),), frame_index=0)
    out, _, steps = run(small_sam2, clip, MemoryConfig(stable_frames=3), script, (prompt,))
    states = [r.objects[0].state for r, _ in out]
    assert states[10:13] == ["reprompted"] * 3 and "reprompted" not in states[:10] + states[13:]
    again = [(t, labels) for t, prompted, labels in steps.calls if labels and t > 0]
    assert again == [(t, [2, 3, 1]) for t in (10, 11, 12)]
    for t in (10, 11, 12):
        a = out[t][1][1]
        assert a.reprompted and a.scores[a.chosen] == pytest.approx(0.7)


def test_the_memory_stays_bounded(small_sam2, clip):
    """40 frames (the clip twice over) with a correction every 4 frames: the bank never
    holds more than ``max_prompted_frames`` + SAM 2's 7 memories and 16 pointers."""
    frames = clip + clip
    prompts = [ObjectPrompt(1, square_box(0, **SQUARE), frame_index=t) for t in range(0, 40, 4)]

    def script(t, labels):
        return [0.9, 0.6, 0.1], 5.0

    config = MemoryConfig(max_prompted_frames=3, motion_aware=False)
    steps = ScriptedSteps(small_sam2.model, script)
    tracker = MemoryTracker(small_sam2, config=config, steps=steps)
    tracker.add_prompts(prompts)
    sizes = []
    for t, rgb in enumerate(frames):
        steps.step = t % len(clip)
        tracker.step(rgb, frame_index=t)
        bank = tracker._objects[1].bank
        sizes.append((len(bank.prompted), len(bank.recent), len(bank.pointers)))
    assert max(s[0] for s in sizes) == 3
    assert max(s[1] for s in sizes) <= steps.num_maskmem - 1
    assert max(s[2] for s in sizes) <= steps.max_pointers - 1
    assert sorted(tracker._objects[1].bank.prompted) == [28, 32, 36]


@pytest.mark.parametrize("through_files", [False, True])
def test_a_resumed_tracker_continues_exactly(small_sam2, clip, tmp_path, through_files):
    """20 frames straight == 11 frames, state saved (JSON + NPZ, no pickle), a fresh
    tracker loaded, 9 more frames: the same logits and masks bit for bit, with SAMURAI's
    parts on, on the real random model, with a second object still pending at the save."""
    prompts = [ObjectPrompt(1, (10.0, 10.0, 40.0, 40.0), points=((20.0, 22.0),)),
               ObjectPrompt(2, (80.0, 50.0, 120.0, 90.0), frame_index=14)]
    config = MemoryConfig(stable_frames=2)

    def frames_of(tracker, start, stop):
        out = []
        for t in range(start, stop):
            result = tracker.step(clip[t], frame_index=t)
            out.append([(o.object_id, o.state, o.mask.copy(), tracker.answers[o.object_id].logits)
                        for o in result.objects])
        return out

    straight = MemoryTracker(small_sam2, config=config)
    straight.add_prompts(prompts)
    expected = frames_of(straight, 0, 20)
    first = MemoryTracker(small_sam2, config=config)
    first.add_prompts(prompts)
    head = frames_of(first, 0, 11)
    state = first.state_dict()
    if through_files:
        save_state({"tracker": state}, tmp_path / "state")
        state = load_state(tmp_path / "state")["tracker"]
    resumed = MemoryTracker(small_sam2, config=config)
    resumed.load_state_dict(state)
    assert resumed.next_index == 11
    got = head + frames_of(resumed, 11, 20)
    for t, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert [o[:2] for o in a] == [o[:2] for o in b], t
        for oa, ob in zip(a, b, strict=True):
            assert np.array_equal(oa[2], ob[2]) and np.array_equal(oa[3], ob[3]), t
    with pytest.raises(ValueError, match="another configuration"):
        MemoryTracker(small_sam2, config=MemoryConfig()).load_state_dict(state)


def test_predicted_frames_move_the_mask_and_leave_the_memory(small_sam2, clip):
    """A live run's frames without time: the mask moved with the Kalman box, state
    ``predicted``; the memory and SAM 2's step count do not change."""
    def script(t, labels):
        return [0.9, 0.6, 0.1], 5.0

    steps = ScriptedSteps(small_sam2.model, script)
    tracker = MemoryTracker(small_sam2, config=MemoryConfig(stable_frames=2), steps=steps)
    tracker.add_prompts([PROMPT])
    for t in range(6):
        steps.step = t
        tracker.step(clip[t], frame_index=t)
    before = tracker.state_dict()["objects"][0]["bank"]
    result = tracker.predict_only(clip[6], frame_index=6, time_s=0.25)
    o = result.objects[0]
    assert o.state == "predicted" and o.mask.any()
    assert box_iou(o.box_xyxy, square_box(6, **SQUARE)) > 0.8
    after = tracker.state_dict()["objects"][0]["bank"]
    assert [m["step"] for m in after["recent"]] == [m["step"] for m in before["recent"]]
    assert tracker._step == 6


def test_bring_your_own_frames_init_then_step(small_sam2, clip):
    """The box tracker's frame-by-frame API: ``init`` with the prompts, ``step`` on."""
    tracker = MemoryTracker(small_sam2)
    first = tracker.init(clip[0], [ObjectPrompt(1, square_box(0, **SQUARE))])
    results = [tracker.step(rgb) for rgb in clip[1:4]]
    assert first[1].state == "prompted" and first.frame_index == 0
    assert [r.frame_index for r in results] == [1, 2, 3]
    assert tracker.object_ids == [1] and tracker.next_index == 4
    with pytest.raises(ValueError, match="uint8 RGB"):
        tracker.step(clip[4].astype(np.float32))
