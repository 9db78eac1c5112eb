"""What the tracker computes for a backend depends on what the backend reads
(:attr:`Segmenter.reads_background`, :attr:`Segmenter.reads_prior_mask`), not on its
type."""

from __future__ import annotations

import numpy as np

from samvideo.motion import FlowWarp
from samvideo.prompts import ObjectPrompt
from samvideo.tracker import Tracker
from samvideo.tracker import box as box_module
from tests.helpers import FakeSegmenter, make_frames, square_box


def track(segmenter, frames):
    tracker = Tracker(segmenter)
    tracker.init(frames[0], [ObjectPrompt(1, box=square_box(0))])
    for rgb in frames[1:]:
        tracker.step(rgb)


def test_the_still_background_cue_only_for_backends_that_read_it(monkeypatch):
    frames = make_frames(6)
    calls = []
    still_part = FlowWarp.still_part
    monkeypatch.setattr(FlowWarp, "still_part",
                        lambda self, *a, **k: (calls.append(1), still_part(self, *a, **k))[1])
    reader = FakeSegmenter(square_box, (240, 320))
    track(reader, frames)  # no reads_background attribute: given the cue, as before
    assert len(calls) == 5
    ignorer = FakeSegmenter(square_box, (240, 320))
    ignorer.reads_background = False
    calls.clear()
    track(ignorer, frames)
    assert calls == []
    assert all(req.background is None for _, req in ignorer.calls)
    # the same masks either way for a backend that ignores the cue
    assert all(np.array_equal(a.prior_mask, b.prior_mask) for (_, a), (_, b) in
               zip(reader.calls, ignorer.calls, strict=True) if a.prior_mask is not None)


def test_a_backend_that_reads_only_the_box_gets_a_coarser_flow(monkeypatch):
    frames = make_frames(6)
    seen = []
    flow_warp = box_module.flow_warp

    def spy(prev_gray, gray, mask, config, *args, prev_rgb=None, rgb=None, **kwargs):
        seen.append((config.max_side, config.refine))
        return flow_warp(prev_gray, gray, mask, config, *args, prev_rgb=prev_rgb, rgb=rgb,
                         **kwargs)

    monkeypatch.setattr(box_module, "flow_warp", spy)
    reader = FakeSegmenter(square_box, (240, 320))  # says nothing: read, as GrabCut does
    track(reader, frames)
    assert seen == [(320, True)] * 5
    seen.clear()
    box_only = FakeSegmenter(square_box, (240, 320))
    box_only.reads_prior_mask = False
    track(box_only, frames)
    assert seen == [(240, False)] * 5
    # the prompt boxes are where the object is either way
    for (_, a), (_, b) in zip(reader.calls[1:], box_only.calls[1:], strict=True):
        assert np.abs(a.box_xyxy - b.box_xyxy).max() <= 2
