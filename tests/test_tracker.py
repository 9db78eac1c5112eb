from __future__ import annotations

import numpy as np
import pytest

from samvideo.masks import box_to_mask, mask_iou
from samvideo.prompts import ObjectPrompt
from samvideo.tracker import Tracker, TrackerConfig
from tests.helpers import FakeSegmenter, square_box

SHAPE = (240, 320)
BLANK = np.zeros((*SHAPE, 3), np.uint8)


def _run(tracker, n, start=0):
    return [tracker.step(BLANK, frame_index=t) for t in range(start, n)]


def test_follows_a_moving_object_with_the_kalman_prediction():
    seg = FakeSegmenter(square_box, SHAPE)
    tracker = Tracker(seg)
    tracker.init(BLANK, [ObjectPrompt(1, square_box(0))])
    results = _run(tracker, 30, start=1)
    for r in results:
        (obj,) = r.objects
        assert obj.state == "tracking"
        assert mask_iou(obj.mask, box_to_mask(square_box(r.frame_index), SHAPE)) > 0.95


def test_without_motion_a_fast_object_is_cut_by_the_stale_box():
    # the fake returns the object cut to the prompt box: a static box loses area
    fast = lambda t: square_box(t, velocity=(16.0, 0.0))  # noqa: E731
    seg = FakeSegmenter(fast, SHAPE)
    tracker = Tracker(seg, config=TrackerConfig(motion="none", reprompt=False))
    tracker.init(BLANK, [ObjectPrompt(1, fast(0))])
    r = _run(tracker, 4, start=1)[-1]
    with_motion = Tracker(FakeSegmenter(fast, SHAPE))
    with_motion.init(BLANK, [ObjectPrompt(1, fast(0))])
    m = _run(with_motion, 4, start=1)[-1]
    truth = box_to_mask(fast(3), SHAPE)
    assert mask_iou(m.objects[0].mask, truth) > mask_iou(r.objects[0].mask, truth) + 0.1


def test_score_drop_reprompts_with_reprojected_points():
    """On frames 10-12 a box alone scores 0.5; box + the user's click scores 0.9."""

    def score(t, req):
        if 10 <= t <= 12 and len(req.points) == 0:
            return 0.5
        return 0.9

    seg = FakeSegmenter(square_box, SHAPE, score)
    tracker = Tracker(seg)
    user_box = square_box(0)  # (20, 30, 60, 70)
    click = (30.0, 60.0)  # at (0.25, 0.75) of the user's box
    tracker.init(BLANK, [ObjectPrompt(1, user_box, points=(click,))])
    results = _run(tracker, 16, start=1)
    states = {r.frame_index: r.objects[0].state for r in results}
    assert [states[t] for t in (10, 11, 12)] == ["reprompted"] * 3
    assert states[9] == "tracking" and states[13] == "tracking"
    # the second request on frame 10 holds the click re-projected into the predicted box
    first, second = [req for t, req in seg.calls if t == 10]
    assert len(first.points) == 0 and list(second.labels) == [1]
    x1, y1, x2, y2 = second.box_xyxy
    np.testing.assert_allclose(first.box_xyxy, second.box_xyxy)
    np.testing.assert_allclose(second.points[0], [x1 + 0.25 * (x2 - x1), y1 + 0.75 * (y2 - y1)],
                               atol=1e-4)
    # ...which lands on the same spot of the object as the click did on frame 0
    tx1, ty1, tx2, ty2 = square_box(10)
    np.testing.assert_allclose(second.points[0], [tx1 + 10, ty1 + 30], atol=1.5)
    assert all(r.objects[0].score == pytest.approx(0.9)
               for r in results if 10 <= r.frame_index <= 12)


def test_reprompt_can_be_switched_off():
    seg = FakeSegmenter(square_box, SHAPE, lambda t, req: 0.5 if t == 5 else 0.9)
    tracker = Tracker(seg, config=TrackerConfig(reprompt=False))
    tracker.init(BLANK, [ObjectPrompt(1, square_box(0), points=((30.0, 40.0),))])
    results = _run(tracker, 8, start=1)
    assert all(r.objects[0].state == "tracking" for r in results)
    assert len([c for c in seg.calls if c[0] == 5]) == 1


def test_lost_while_hidden_then_reacquired():
    hidden = range(12, 22)
    truth = lambda t: None if t in hidden else square_box(t)  # noqa: E731
    seg = FakeSegmenter(truth, SHAPE)
    tracker = Tracker(seg)
    tracker.init(BLANK, [ObjectPrompt(1, square_box(0))])
    results = {r.frame_index: r.objects[0] for r in _run(tracker, 35, start=1)}
    for t in hidden:
        assert results[t].state == "lost" and not results[t].mask.any()
        assert results[t].box_xyxy is not None  # the coasting prediction
    back = [t for t in range(22, 35) if results[t].state == "tracking"]
    assert back and back[0] <= 22 + 5
    truth_mask = box_to_mask(square_box(34), SHAPE)
    assert mask_iou(results[34].mask, truth_mask) > 0.9


def test_too_many_weak_frames_make_the_object_lost():
    seg = FakeSegmenter(square_box, SHAPE, lambda t, req: 0.5 if t >= 5 else 0.9)
    tracker = Tracker(seg, config=TrackerConfig(lost_after=3))
    tracker.init(BLANK, [ObjectPrompt(1, square_box(0))])
    states = [r.objects[0].state for r in _run(tracker, 12, start=1)]
    assert "lost" in states[6:]


def test_two_objects_get_disjoint_masks_higher_score_wins():
    a = lambda t: (20.0, 20.0, 80.0, 80.0)  # noqa: E731
    b = lambda t: (60.0, 60.0, 120.0, 120.0)  # noqa: E731

    class Two(FakeSegmenter):
        def predict(self, embedding, requests):
            out = []
            for req in requests:
                box = a(0) if req.box_xyxy[0] < 40 else b(0)
                self.truth = lambda t, box=box: box
                self.score_fn = lambda t, r, box=box: 0.9 if box == a(0) else 0.8
                out += super().predict(embedding, [req])
            return out

    tracker = Tracker(Two(a, SHAPE))
    r = tracker.init(BLANK, [ObjectPrompt(1, a(0)), ObjectPrompt(2, b(0))])
    m1, m2 = r[1].mask, r[2].mask
    assert not (m1 & m2).any()
    assert m1[70, 70] and not m2[70, 70]  # overlap goes to the higher score (object 1)
    labels = r.label_map()
    assert set(np.unique(labels)) == {0, 1, 2}


def test_a_later_prompt_starts_or_corrects_an_object():
    other = (200.0, 150.0, 240.0, 190.0)
    seg = FakeSegmenter(lambda t: [square_box(t), other], SHAPE)
    tracker = Tracker(seg)
    moved = square_box(8, start=(20.0, 100.0))
    tracker.add_prompts([ObjectPrompt(1, square_box(0)),
                         ObjectPrompt(2, other, frame_index=3),
                         ObjectPrompt(1, moved, frame_index=8)])
    seg.truth = lambda t: [square_box(t) if t < 8 else square_box(t, start=(20.0, 100.0)), other]
    results = _run(tracker, 12)
    assert [len(r.objects) for r in results] == [1, 1, 1] + [2] * 9
    assert results[3][2].state == "prompted"
    assert results[5][2].state == "tracking"
    # the correction on frame 8 restarts object 1 where the user says it is
    assert results[8][1].state == "prompted"
    assert results[8][1].box_xyxy == moved
    truth = box_to_mask(square_box(11, start=(20.0, 100.0)), SHAPE)
    assert mask_iou(results[11][1].mask, truth) > 0.9


def test_bad_frames_and_missing_prompts():
    tracker = Tracker(FakeSegmenter(square_box, SHAPE))
    with pytest.raises(RuntimeError, match="no objects"):
        tracker.step(BLANK)
    with pytest.raises(ValueError, match="uint8"):
        tracker.step(BLANK.astype(np.float32))
