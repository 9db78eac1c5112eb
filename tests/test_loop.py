"""The one frame loop with a fake segmenter: what is encoded, when prompts reach the
tracker, and the three things it does with a frame (segment, predict, idle)."""

from __future__ import annotations

import numpy as np
import pytest

from samvideo.loop import EveryFrame, PromptFeed, Scheduled, Timings, frame_loop
from samvideo.prompts import ObjectPrompt
from samvideo.stop import Stop
from samvideo.tracker import Tracker
from samvideo.video import Frame
from tests.helpers import FakeSegmenter, make_frames, square_box

SHAPE = (240, 320)


class Counting(FakeSegmenter):
    """A fake that remembers which frame indices it encoded, and in which batches."""

    def __init__(self) -> None:
        super().__init__(square_box, SHAPE)
        self.batches: list[int] = []

    def encode(self, frames):
        self.batches.append(len(frames))
        return super().encode(frames)


def frames(n: int) -> list[Frame]:
    return [Frame(i, i / 24, i, rgb) for i, rgb in enumerate(make_frames(n))]


class Every:
    """A schedule that segments every ``k``-th frame and records what was done."""

    batch = 0

    def __init__(self, items: list[Frame], k: int) -> None:
        self.items, self.k, self.done_with = items, k, []

    def __iter__(self):
        for f in self.items:
            yield Scheduled(f, segment=f.index % self.k == 0)

    def done(self, item, kind, seconds, prompted):
        self.done_with.append((item.frame.index, kind, prompted))


def test_frames_before_the_first_prompt_are_idle_and_not_encoded():
    seg = Counting()
    feed = PromptFeed([ObjectPrompt(1, square_box(0), frame_index=5)])
    results = list(frame_loop(EveryFrame(frames(9), idle_before=feed.next_frame),
                              Tracker(seg), feed))
    assert [r.frame_index for r in results] == list(range(9))
    assert all(not r.objects for r in results[:5])
    assert results[5][1].state == "prompted" and results[8][1].state == "tracking"
    assert sum(seg.batches) == 4  # frames 5..8 only


def test_batches_are_encoded_ahead_and_results_keep_source_order():
    seg = Counting()
    timings = Timings()
    results = list(frame_loop(EveryFrame(frames(10), batch=4),
                              Tracker(seg), PromptFeed([ObjectPrompt(1, square_box(0))]),
                              timings=timings))
    assert [r.frame_index for r in results] == list(range(10))
    assert seg.batches == [4, 4, 2] and timings.frames == 10


def test_a_schedule_decides_what_is_segmented_and_hears_what_was_done():
    schedule = Every(frames(7), 3)
    results = list(frame_loop(schedule, Tracker(FakeSegmenter(square_box, SHAPE)),
                              PromptFeed([ObjectPrompt(1, square_box(0))])))
    kinds = [kind for _, kind, _ in schedule.done_with]
    assert kinds == ["segmented", "predicted", "predicted"] * 2 + ["segmented"]
    assert [r[1].state for r in results] == ["prompted", "predicted", "predicted",
                                             "tracking", "predicted", "predicted", "tracking"]
    assert schedule.done_with[0][2] is True and schedule.done_with[3][2] is False


def test_a_prompt_whose_frame_was_not_segmented_applies_on_the_next_segmented_one():
    feed = PromptFeed([ObjectPrompt(1, square_box(0)), ObjectPrompt(2, square_box(5),
                                                                    frame_index=4)])
    schedule = Every(frames(8), 3)  # frames 0, 3, 6 segmented: frame 4 is not
    results = list(frame_loop(schedule, Tracker(FakeSegmenter(square_box, SHAPE)), feed))
    assert [o.object_id for o in results[5].objects] == [1]
    assert results[6][2].state == "prompted"
    assert [(p.object_id, index) for p, index in feed.moved] == [(2, 6)]


def test_sources_give_prompts_for_the_next_segmented_frame_fitted_to_it():
    given = [[], [ObjectPrompt(1, (300.0, 200.0, 400.0, 300.0))],
             [ObjectPrompt(1, (500.0, 500.0, 600.0, 600.0))]]
    feed = PromptFeed([], sources=[lambda: given.pop(0) if given else []])
    assert feed.poll(SHAPE) == 0 and feed.due(0) == []
    assert feed.poll(SHAPE) == 1
    (p,) = feed.due(7)
    assert p.frame_index == 7 and p.box == (300.0, 200.0, 320.0, 240.0)  # clipped
    assert feed.poll(SHAPE) == 0 and "outside" in feed.rejected[0]


def test_a_stop_ends_the_loop_after_the_current_frame():
    stop = Stop()
    seen = []
    for result in frame_loop(EveryFrame(frames(30), batch=2), Tracker(Counting()),
                             PromptFeed([ObjectPrompt(1, square_box(0))]), halt=stop):
        seen.append(result.frame_index)
        if result.frame_index == 4:
            stop.set()
    assert seen == [0, 1, 2, 3, 4]


def test_a_prompt_without_box_or_points_is_refused_at_once():
    with pytest.raises(ValueError, match="object 3 has neither box nor points"):
        PromptFeed([ObjectPrompt(3, None)])


def test_embeddings_can_come_from_a_cache():
    seg = FakeSegmenter(square_box, SHAPE)
    cache = {0: 0}
    results = list(frame_loop(EveryFrame(frames(1)), Tracker(seg),
                              PromptFeed([ObjectPrompt(1, square_box(0))]),
                              encode=lambda fs: [cache[f.index] for f in fs]))
    assert np.array_equal(results[0][1].mask, seg._mask(0, seg.calls[0][1]))
