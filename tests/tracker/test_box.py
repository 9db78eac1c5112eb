from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from samvideo.masks import box_to_mask, expand_box, mask_iou
from samvideo.metrics import list_mask_files, read_mask
from samvideo.motion import StillConfig
from samvideo.prompts import ObjectPrompt, load_prompts_file
from samvideo.segmenters.base import PromptRequest
from samvideo.segmenters.grabcut import GrabCutSegmenter
from samvideo.tracker import Tracker, TrackerConfig
from tests.helpers import SAMPLES, FakeSegmenter, make_frames, square_box

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


# -- the occlusion clip: lost while hidden, found again after -------------------------

OCCLUSION = SAMPLES / "occlusion"
HIDDEN = range(25, 35)  # frames 25..34: the object is fully behind the panel
#: measured (GrabCut): lost on exactly frames 25..34, re-acquired on frame 38 (the
#: object shows again from frame 35 and is a third out on 38); the tests allow frame 39
REACQUIRED_BY = 34 + 5


def _clip(folder):
    with av.open(str(folder / "video.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    labels = [read_mask(p) for p in list_mask_files(folder / "masks")]
    return frames, labels, load_prompts_file(folder / "prompts.json")


class MaskFake(FakeSegmenter):
    """Answers with the true mask of the object (ground truth) cut to the prompt box
    grown by 25 %; score 0.95, and 0 when nothing of the object is there (hidden)."""

    def __init__(self, labels):
        super().__init__(lambda t: None, labels[0].shape)
        self.labels = labels

    def _mask(self, t, req):
        truth = self.labels[t] == 1
        if req.box_xyxy is None:
            return truth
        prompt = tuple(float(v) for v in req.box_xyxy)
        return truth & box_to_mask(expand_box(prompt, 0.25), self.shape)


def _track_clip(segmenter, frames, prompts):
    tracker = Tracker(segmenter)
    results = [tracker.init(frames[0], prompts)]
    results += [tracker.step(rgb) for rgb in frames[1:]]
    return [r.objects[0] for r in results]


def _check_occlusion(objs, labels):
    for t in HIDDEN:
        assert objs[t].state == "lost" and not objs[t].mask.any(), t
    found = next(t for t in range(35, len(objs)) if objs[t].state != "lost")
    assert found <= REACQUIRED_BY, f"re-acquired on frame {found}"
    assert all(o.state != "lost" for o in objs[found:]), [o.state for o in objs[found:]]
    # before the occlusion and after re-acquisition the masks are right
    for t in [*range(1, 24), *range(found + 2, len(objs))]:
        _check_visible_part(objs[t].mask, labels[t] == 1, t)
    return found


def _check_visible_part(mask: np.ndarray, truth: np.ndarray, t: int) -> None:
    """The mask is the object's visible part: IoU over 0.8; for a sliver (under 300
    pixels show, where a strip one pixel wide along the occluder's edge alone costs 0.2
    IoU) all of it, and 97 % of the mask within 2 pixels of it (a few boundary pixels
    of a sliver 7 pixels wide move with any change of the colour models)."""
    if truth.sum() >= 300:
        assert mask_iou(mask, truth) > 0.8, t
        return
    near = cv2.dilate(truth.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert (mask & truth).sum() >= 0.95 * truth.sum(), t
    assert (mask & ~near).sum() <= 0.03 * mask.sum(), (t, int((mask & ~near).sum()))


@pytest.fixture(scope="module")
def occlusion_clip():
    return _clip(OCCLUSION)


def test_grabcut_loses_the_hidden_object_and_finds_it_again(occlusion_clip):
    frames, labels, prompts = occlusion_clip
    objs = _track_clip(GrabCutSegmenter(), frames, prompts)
    _check_occlusion(objs, labels)


def test_a_segmenter_whose_score_collapses_while_hidden(occlusion_clip):
    frames, labels, prompts = occlusion_clip
    seg = MaskFake(labels)
    objs = _track_clip(seg, frames, prompts)
    _check_occlusion(objs, labels)
    # while lost, the tracker searched a widening box around the coasting prediction
    searched = [req.box_xyxy for t, req in seg.calls if t in HIDDEN]
    widths = [float(b[2] - b[0]) for b in searched]
    assert widths[-1] > widths[0]


def test_a_mask_that_does_not_look_like_the_object_is_not_reported():
    """The segmenter answers confidently, but on frames 10+ with a blob of another colour
    (the object itself went away): appearance, not score, makes the object lost."""
    frames = make_frames(16)
    elsewhere = (200.0, 150.0, 240.0, 190.0)
    for f in frames[10:]:
        f[box_to_mask(elsewhere, SHAPE)] = (40, 60, 200)  # a blue square appears...
        f[box_to_mask(square_box(12), SHAPE)] = (90, 120, 90)  # ...the red one is gone

    class Confident(FakeSegmenter):
        def _mask(self, t, req):
            return box_to_mask(square_box(t) if t < 10 else elsewhere, self.shape)

    tracker = Tracker(Confident(square_box, SHAPE))
    tracker.init(frames[0], [ObjectPrompt(1, square_box(0))])
    states = [tracker.step(f).objects[0].state for f in frames[1:]]
    assert states[:9] == ["tracking"] * 9
    assert set(states[9:]) == {"lost"}


@pytest.mark.parametrize(("trust", "scores_object"), [
    (0.0, False), (TrackerConfig().trust_appearance, False),
    (TrackerConfig().trust_appearance, True)])
def test_a_sure_mask_sliding_onto_the_background_scores_what_it_looks(trust, scores_object):
    """From frame 8 the segmenter's confident answer slides off the object, 6 px a frame
    (never a jump), onto the background beside it. Scored by the segmenter alone it is
    trusted to the end; scored by its looks too (the default where the score is a
    colour fit), its score falls as it leaves the object, and a mask on the background
    is doubtful until the object is lost. A segmenter whose score judges the object
    (``scores_object``) keeps its own score."""
    frames = make_frames(30)

    class Sliding(FakeSegmenter):
        def _mask(self, t, req):
            x0, y0, x1, y1 = square_box(t)
            d = min(max(6 * (t - 7), 0), 36)
            return box_to_mask((x0 + d, y0, x1 + d, y1), self.shape)

    segmenter = Sliding(square_box, SHAPE)
    segmenter.scores_object = scores_object
    config = TrackerConfig(trust_appearance=trust)
    tracker = Tracker(segmenter, config=config)
    tracker.init(frames[0], [ObjectPrompt(1, square_box(0))])
    out = [tracker.step(f, frame_index=t).objects[0] for t, f in enumerate(frames[1:], 1)]
    j = [mask_iou(r.mask, box_to_mask(square_box(t), SHAPE)) for t, r in enumerate(out, 1)]
    on_object = [r.score for r in out[:7]]
    wrong = [r for r, v in zip(out, j, strict=True) if v < 0.2 and r.state != "lost"]
    off = [r for r, v in zip(out, j, strict=True) if v < 0.1 and r.state != "lost"]
    assert min(j[:7]) == 1 and min(on_object) >= 0.9  # the object itself looks right
    if trust == 0 or scores_object:
        assert len(wrong) >= 15 and all(r.score > 0.9 for r in wrong)
    else:  # the score falls as the mask leaves the object, and the object is let go
        assert max(r.score for r in wrong) < min(on_object)
        assert all(r.score < config.reprompt_below for r in off)
        assert out[-1].state == "lost" and len(off) <= config.lost_after


# -- saving and restoring --------------------------------------------------------------


def _steps(tracker, frames, start):
    return [tracker.step(rgb, frame_index=start + i) for i, rgb in enumerate(frames)]


def _masks(results):
    return [[(o.object_id, o.state, o.mask.copy(), o.box_xyxy, o.score) for o in r.objects]
            for r in results]


def _assert_same(a, b):
    assert len(a) == len(b)
    for fa, fb in zip(a, b, strict=True):
        assert [o[:2] for o in fa] == [o[:2] for o in fb]
        for oa, ob in zip(fa, fb, strict=True):
            np.testing.assert_array_equal(oa[2], ob[2])
            assert oa[3] == ob[3] and oa[4] == ob[4]


@pytest.mark.parametrize("through_files", [False, True])
def test_state_dict_resumes_bit_identically(tmp_path, occlusion_clip, through_files):
    """N frames straight == k frames, save, load into a fresh tracker, N - k frames; on
    the occlusion clip (GrabCut, flow, the lost state) with a second object whose
    prompt is still pending at the save."""
    frames, _, prompts = occlusion_clip
    frames = frames[:40]
    late = ObjectPrompt(2, (250.0, 20.0, 300.0, 60.0), frame_index=34)
    straight = Tracker(GrabCutSegmenter())
    straight.add_prompts([*prompts, late])
    expected = _masks(_steps(straight, frames, 0))

    k = 30  # the object is lost here: coasting, widening search, pending prompt
    first = Tracker(GrabCutSegmenter())
    first.add_prompts([*prompts, late])
    head = _masks(_steps(first, frames[:k], 0))
    state = first.state_dict()
    if through_files:
        from samvideo.resume import load_state, save_state

        save_state({"tracker": state}, tmp_path / "state")
        state = load_state(tmp_path / "state")["tracker"]
    resumed = Tracker(GrabCutSegmenter())
    resumed.load_state_dict(state)
    assert resumed.next_index == k
    tail = _masks(_steps(resumed, frames[k:], k))
    _assert_same(head + tail, expected)
    # the saved state is a copy: tracking on does not change it
    assert first.state_dict()["next_index"] == k


def test_state_dict_refuses_another_configuration():
    tracker = Tracker(FakeSegmenter(square_box, SHAPE))
    tracker.init(BLANK, [ObjectPrompt(1, square_box(0))])
    state = tracker.state_dict()
    other = Tracker(FakeSegmenter(square_box, SHAPE), config=TrackerConfig(lost_after=9))
    with pytest.raises(ValueError, match="lost_after"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="format"):
        other.load_state_dict({**state, "format": "something/0"})


@pytest.mark.parametrize(("option", "value"), [
    ("min_appearance", 1.5), ("max_area_change", 0.5), ("lost_after", 0),
])
def test_config_values_are_checked(option, value):
    with pytest.raises(ValueError, match=f"{option}={value}"):
        TrackerConfig(**{option: value})


def test_what_the_backend_learns_on_the_prompted_frame_is_kept():
    # GrabCut learns the object's colours on the prompted frame; they must be the ones
    # later frames use (a model learned on frame 1 instead would take in the trail the
    # moved mask leaves behind), and a new box on a later frame starts them afresh
    frames = make_frames(8)
    seg = GrabCutSegmenter()
    tracker = Tracker(seg)
    tracker.init(frames[0], [ObjectPrompt(1, box=square_box(0))])
    alone = PromptRequest.make(square_box(0))
    seg.predict(seg.encode([frames[0]])[0], [alone])
    kept = tracker.state_dict()["objects"][0]["memory"]
    np.testing.assert_array_equal(kept["grabcut_fgd"], alone.memory["grabcut_fgd"])
    for t in range(1, 7):
        result = tracker.step(frames[t])
        assert mask_iou(result[1].mask, box_to_mask(square_box(t), frames[t].shape[:2])) > 0.9, t
    tracker.add_prompts([ObjectPrompt(1, box=square_box(7), frame_index=7)])
    tracker.step(frames[7])
    again = PromptRequest.make(square_box(7))
    seg.predict(seg.encode([frames[7]])[0], [again])
    renewed = tracker.state_dict()["objects"][0]["memory"]
    np.testing.assert_array_equal(renewed["grabcut_fgd"], again.memory["grabcut_fgd"])


def _object_and_wall(n: int) -> tuple[list[np.ndarray], list[np.ndarray], tuple]:
    """RGB frames of a static camera: a 60-px red square moving right 4 px per frame
    away from a red wall (30 x 60 px, its left neighbour on frame 0) over a textured
    grey-blue ground; the square's (H, W) bool masks and a box around square and wall."""
    rng = np.random.default_rng(3)
    ground = cv2.GaussianBlur(rng.integers(40, 140, (240, 320, 3)).astype(np.float32),
                              (0, 0), 1.5)
    ground[..., 2] += 60  # blue-ish, never red
    red = cv2.GaussianBlur(rng.integers(150, 255, (240, 320)).astype(np.float32), (0, 0), 1.5)
    frames, truths = [], []
    for t in range(n):
        f = ground.copy()
        f[90:150, 50:80] = np.stack([red[90:150, 50:80], 30 + 0 * red[90:150, 50:80],
                                     30 + 0 * red[90:150, 50:80]], -1)  # the wall
        x = 80 + 4 * t
        f[90:150, x:x + 60] = np.stack([red[:60, :60], np.full((60, 60), 30.0),
                                        np.full((60, 60), 30.0)], -1)  # the object
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
        truth = np.zeros((240, 320), bool)
        truth[90:150, x:x + 60] = True
        truths.append(truth)
    return frames, truths, (50, 90, 140, 150)


@pytest.mark.parametrize("still", [None, StillConfig()])
def test_background_the_first_mask_took_is_cut_away_as_the_object_moves(still):
    """The user's box takes a red wall next to the object; colour alone keeps it for
    good. It stays still while the object moves, and with ``still`` (optical flow
    against the background's motion) the tracker cuts it away."""
    frames, truths, box = _object_and_wall(14)
    wall = np.zeros((240, 320), bool)
    wall[90:150, 50:80] = True
    tracker = Tracker(GrabCutSegmenter(), config=TrackerConfig(still=still))
    first = tracker.init(frames[0], [ObjectPrompt(1, box=box)])[1].mask
    assert first[wall].mean() > 0.9  # the first cut took the wall
    for t in range(1, 14):
        mask = tracker.step(frames[t])[1].mask
    assert mask[truths[13]].mean() > 0.9
    if still:
        assert mask[wall].mean() < 0.1
    else:
        assert mask[wall].mean() > 0.9


def test_a_reprompt_knows_the_background_too():
    # (nearly) every frame doubtful: a tracked request is followed by a re-prompt (a bare
    # box), which must carry the same known background, or GrabCut would cut the wall
    # back in
    frames, _, box = _object_and_wall(6)
    seg = GrabCutSegmenter()
    asked: list[PromptRequest] = []
    predict = seg.predict
    seg.predict = lambda emb, reqs: (asked.extend(reqs), predict(emb, reqs))[1]
    tracker = Tracker(seg, config=TrackerConfig(reprompt_below=1.0, lost_after=99))
    tracker.init(frames[0], [ObjectPrompt(1, box=box)])
    for t in range(1, 6):
        tracker.step(frames[t])
    # a re-prompt follows its frame's tracked request (the one with the prior)
    pairs = [(asked[i - 1], r) for i, r in enumerate(asked) if i > 1 and r.prior_mask is None]
    assert pairs and all(a.prior_mask is not None for a, _ in pairs)
    assert any(a.background is not None and a.background.any() for a, _ in pairs)
    for a, b in pairs:
        assert (a.background is None) == (b.background is None)
        if a.background is not None:
            np.testing.assert_array_equal(a.background, b.background)


class _FramedFake(FakeSegmenter):
    """Answers with the true mask inside the prompt box exactly (labels: (H, W) bool per
    frame); ``box_is_extent`` as given."""

    def __init__(self, truths, box_is_extent: bool):
        super().__init__(lambda t: None, truths[0].shape)
        self.truths, self.box_is_extent = truths, box_is_extent

    def _mask(self, t, req):
        return self.truths[t] & box_to_mask(tuple(float(v) for v in req.box_xyxy), self.shape)


def _behind_a_post(n: int = 40) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured bar 80 px wide moving right at 4 px a frame behind a post 16 px wide:
    for a while its visible part is two pieces, the front coming out on the far side."""
    rng = np.random.default_rng(3)
    background = rng.integers(0, 120, (*SHAPE, 3), dtype=np.uint8)
    bar = rng.integers(130, 256, (30, 80, 3), dtype=np.uint8)
    post = slice(150, 166)
    frames, truths = [], []
    for t in range(n):
        x = 40 + 4 * t
        frame, truth = background.copy(), np.zeros(SHAPE, bool)
        frame[100:130, x:x + 80], truth[100:130, x:x + 80] = bar, True
        frame[:, post], truth[:, post] = (60, 60, 200), False
        frames.append(frame)
        truths.append(truth)
    return frames, truths


@pytest.mark.parametrize("box_is_extent", [False, True])
def test_a_segmenter_that_reads_the_box_as_extent_is_asked_for_the_whole_object(box_is_extent):
    # a part that comes out from behind the post lies outside the box of the last mask
    # (the part that stayed in view): only the object's extent as last known asks for it
    frames, truths = _behind_a_post()
    segmenter = _FramedFake(truths, box_is_extent)
    tracker = Tracker(segmenter)
    results = [tracker.init(frames[0], [ObjectPrompt(1, box=(40.0, 100.0, 120.0, 130.0))])]
    results += [tracker.step(rgb) for rgb in frames[1:]]
    js = [mask_iou(r.objects[0].mask, t) for r, t in zip(results, truths, strict=True)]
    two_pieces = [t for t in range(len(truths))
                  if truths[t][:, :150].any() and truths[t][:, 166:].any()]
    split = float(np.mean([js[t] for t in two_pieces]))
    if box_is_extent:
        assert split > 0.95, split
    else:
        assert split < 0.8, split  # what GrabCut's reading of a box gives up


def _rising_behind_a_ledge(n: int = 30) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured 40 px square that drops behind a ledge (frames 6..13 hidden), then
    rises back 4 rows a frame from frame 14; a look-alike of its colours comes into
    view on frame 15 beside where the object went down."""
    rng = np.random.default_rng(5)
    background = rng.integers(0, 90, (*SHAPE, 3), dtype=np.uint8)
    texture, other = rng.integers(160, 256, (2, 40, 40, 3), dtype=np.uint8)
    texture[..., 2] //= 3  # a warm colour the background does not have
    other[..., 2] //= 3
    frames, truths = [], []
    for t in range(n):
        frame, truth = background.copy(), np.zeros(SHAPE, bool)
        if t >= 15:
            frame[50:90, 145:185] = other  # the look-alike: not the object
        top = 100 if t < 6 else 140 if t < 14 else max(140 - 4 * (t - 13), 100)
        frame[top:140, 100:140], truth[top:140, 100:140] = texture[: 140 - top], True
        frame[140:, :] = (40, 90, 40)  # the ledge
        frames.append(frame)
        truths.append(truth)
    return frames, truths


def test_a_lost_object_that_shows_a_part_first_is_followed_from_that_part():
    # the first part to come back is too small to re-acquire the object; it leads the
    # next frame's search, so the look-alike that the colour search would pick does not
    frames, truths = _rising_behind_a_ledge()
    tracker = Tracker(_FramedFake(truths, box_is_extent=True))
    results = [tracker.init(frames[0], [ObjectPrompt(1, box=(100.0, 100.0, 140.0, 140.0))])]
    results += [tracker.step(rgb) for rgb in frames[1:15]]
    # a tracker restored from here (it holds a lead) goes on as this one does
    restored = Tracker(_FramedFake(truths, box_is_extent=True))
    restored.segmenter._frame = 14
    restored.load_state_dict(tracker.state_dict())
    results += [tracker.step(rgb) for rgb in frames[15:]]
    again = [restored.step(rgb) for rgb in frames[15:]]
    assert all(np.array_equal(a.objects[0].mask, r.objects[0].mask)
               for a, r in zip(again, results[15:], strict=True))
    states = [r.objects[0].state for r in results]
    assert set(states[7:14]) == {"lost"}, states
    back = next(t for t in range(14, len(states)) if states[t] != "lost")
    assert back <= 18, states
    assert all(s != "lost" for s in states[back:]), states
    assert mask_iou(results[-1].objects[0].mask, truths[-1]) > 0.95


def _ring_uncovered(n: int = 16) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A still, hollow square (100 px, 8 px thick) that a block slides over from the
    right (frames 4..9: the visible part narrows to its left fifth), and that shows whole
    again on frame 10 (the block is gone)."""
    rng = np.random.default_rng(7)
    background = rng.integers(0, 120, (*SHAPE, 3), dtype=np.uint8)
    ring = np.zeros(SHAPE, bool)
    ring[60:160, 100:200] = True
    ring[68:152, 108:192] = False
    widths = [100] * 4 + [70, 50, 35, 25, 20, 20] + [100] * (n - 10)
    frames, truths = [], []
    for width in widths:
        frame, truth = background.copy(), ring.copy()
        frame[ring] = (230, 180, 40)
        truth[:, 100 + width:] = False
        frame[40:180, 100 + width:220] = (90, 90, 90)  # the block
        frames.append(frame)
        truths.append(truth)
    return frames, truths


class _WholeFake(_FramedFake):
    """Answers with the true pieces that the prompt box touches, whole (as an ideal
    promptable model answers with the object its box frames)."""

    def _mask(self, t, req):
        n, labels = cv2.connectedComponents(self.truths[t].view(np.uint8))
        touched = np.unique(labels[super()._mask(t, req)])
        return np.isin(labels, touched[touched > 0])


@pytest.mark.parametrize("box_is_extent", [False, True])
def test_an_answer_that_holds_the_expected_box_is_not_a_jump(box_is_extent):
    # when the whole object shows again, the moved prior is the fifth of it that stayed
    # in view: its box is a part of the answer's, not somewhere else
    frames, truths = _ring_uncovered()
    tracker = Tracker(_WholeFake(truths, box_is_extent))
    results = [tracker.init(frames[0], [ObjectPrompt(1, box=(100.0, 60.0, 200.0, 160.0))])]
    results += [tracker.step(rgb) for rgb in frames[1:]]
    states = [r.objects[0].state for r in results]
    assert set(states[1:10]) == {"tracking"}, states
    whole = [mask_iou(r.objects[0].mask, t) for r, t in zip(results[10:], truths[10:],
                                                            strict=True)]
    if box_is_extent:
        assert set(states[10:]) == {"tracking"} and min(whole) > 0.95, (states, whole)
    else:  # a box-reading segmenter's mask that grows out of its prior is a jump
        assert states[10] == "predicted", states
