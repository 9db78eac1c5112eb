"""Benchmark: the loop around the model, per object per frame (``tools/bench.py --overhead``).

On DAVIS ``bear`` (480p) it tracks the bear, and with ``objects=2`` also a red disc
painted onto the frames that drifts to the right, with a SAM or MobileSAM segmenter
whose image embeddings are computed beforehand (not timed). Every ``predict`` call runs
the model's prompt encoder and mask decoder for real; the low-res logits they give are
then replaced by an *oracle*'s made from the ground truth (:class:`OracleAnswers`), and
the segmenter's own upscaling and everything after runs on those: random weights answer
with noise (positive over most of the frame), which would cost the mask upscaling a
whole frame and send the tracker down paths (lost, re-prompted) that a trained model
does not take on this clip. The oracle's own cost (a few small OpenCV calls) is timed
and left out of every figure (``oracle_ms`` shows it).

It reports, per object per frame, single-core CPU milliseconds (``torch`` and OpenCV on
one thread; ``time.thread_time``, so the figure does not depend on what else runs):

* ``model``: the prompt encoder and mask decoder (``stage_seconds["decoder"]``);
* ``tracker``: everything else in ``Tracker.step``: the segmenter's mask upscaling
  (``postprocess``, shown apart too), optical flow (``flow``: ``flow_warp``, shown apart
  too), the still-background cue, choosing, clean-up, colour histograms, the motion
  model;
* ``io``: what the sinks do with the result: drawing the overlay (``draw``, shown apart),
  H.264 encoding, the DAVIS PNG, the JSONL line.

The code runs against any samvideo checkout (it uses only the tracker, the segmenters'
``stage_seconds`` and the sinks), so the same command measures before and after a change.
"""

from __future__ import annotations

import inspect
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import torch

from samvideo.annotate import MaskAnnotator
from samvideo.export import make_sinks
from samvideo.masks import mask_to_box
from samvideo.prompts import ObjectPrompt
from samvideo.tracker import Tracker, TrackerConfig
from samvideo.video import VideoReader, probe

DISC_RADIUS = 30
DISC_START, DISC_SPEED = (650.0, 110.0), 2.0  # pixels of a 854x480 frame, pixels a frame


def clip_with_truth(davis_clip: Path, frames: int, objects: int):
    """(frames (H, W, 3) uint8 RGB, truths [per frame: (object) list of (H, W) bool])."""
    rgbs, truths = [], []
    for i, frame in zip(range(frames), VideoReader(davis_clip / "video.mp4"), strict=False):
        rgb = frame.rgb.copy()
        truth = [cv2.imread(str(davis_clip / "masks" / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE) > 0]
        if objects > 1:
            disc = np.zeros(rgb.shape[:2], np.uint8)
            centre = (int(DISC_START[0] + DISC_SPEED * i), int(DISC_START[1]))
            cv2.circle(disc, centre, DISC_RADIUS, 1, -1)
            rgb[disc > 0] = (200, 30, 30)
            truth.append(disc > 0)
        rgbs.append(rgb)
        truths.append(truth)
    return rgbs, truths


class OracleAnswers:
    """Wraps a SAM or MobileSAM segmenter: the model runs; before the segmenter upscales
    the decoder's low-res logits, they are replaced by the ground truth's (three nested
    candidates: the true mask, eroded and dilated), and the scores by 0.9 / 0.8 / 0.7."""

    def __init__(self, segmenter, truths) -> None:
        self.segmenter, self.truths, self.frame = segmenter, truths, 0
        self.name = segmenter.name
        self.reads_background = getattr(segmenter, "reads_background", True)
        self.box_is_extent = getattr(segmenter, "box_is_extent", False)
        self.scores_object = getattr(segmenter, "scores_object", False)
        self.reads_prior_mask = getattr(segmenter, "reads_prior_mask", True)
        self._requests: list = []
        self.seconds = 0.0  # thread time spent making the answers, left out of the figures
        # the segmenter's own method, not the wrapper an earlier oracle put there
        upscale = type(segmenter)._postprocess.__get__(segmenter)

        def with_truth(low_res, scores, embedding):
            t0 = time.thread_time()
            low_res = [self._logits(r, len(lr), embedding) for r, lr in
                       zip(self._requests, low_res, strict=True)]
            self.seconds += time.thread_time() - t0
            scores = [torch.tensor([0.9, 0.8, 0.7][: len(s)]) for s in scores]
            return upscale(low_res, scores, embedding)

        segmenter._postprocess = with_truth

    def encode(self, frames):
        return self.segmenter.encode(frames)

    def predict(self, embedding, requests):
        self._requests = list(requests)
        return self.segmenter.predict(embedding, requests)

    def _logits(self, request, k: int, embedding) -> torch.Tensor:
        """(k, 256, 256) logits of the true mask of the object ``request`` asks for: +8
        inside, -8 outside, on the low-res grid of the model's input (SAM, MobileSAM:
        the frame resized to 1024 on its long side and padded; SAM 2.1: the frame
        resized to 1024 x 1024)."""
        truths = self.truths[self.frame]
        box = request.box_xyxy

        def overlap(t):
            b = mask_to_box(t)
            if b is None or box is None:
                return 0.0
            iw = min(b[2], box[2]) - max(b[0], box[0])
            ih = min(b[3], box[3]) - max(b[1], box[1])
            return max(iw, 0) * max(ih, 0)

        truth = max(truths, key=overlap).astype(np.uint8)
        input_size = getattr(embedding, "input_size", (1024, 1024))  # SAM 2.1: no padding
        h, w = (round(v / 4) for v in input_size)
        small = cv2.resize(truth, (w, h), interpolation=cv2.INTER_AREA)
        kernel = np.ones((3, 3), np.uint8)
        out = np.full((k, 256, 256), -8.0, np.float32)
        for i, m in enumerate((small, cv2.erode(small, kernel), cv2.dilate(small, kernel))[:k]):
            out[i, :h, :w] = np.where(m > 0, 8.0, -8.0)
            out[i] = cv2.GaussianBlur(out[i], (5, 5), 1.0)
        return torch.from_numpy(out)


def measure(segmenter, davis_clip: Path, *, frames: int = 20, objects: int = 1,
            config: TrackerConfig | None = None) -> dict:
    """Per object per frame single-core CPU ms of the model, the tracker and the I/O."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    # the segmenter's stage clock in this thread's CPU time, as everything here
    module = inspect.getmodule(type(segmenter)._clock)
    module.time = SimpleNamespace(perf_counter=time.thread_time)
    rgbs, truths = clip_with_truth(davis_clip, frames, objects)
    oracle = OracleAnswers(segmenter, truths)
    embeddings = [segmenter.encode([rgb])[0] for rgb in rgbs]
    prompts = [ObjectPrompt(i + 1, box=mask_to_box(t)) for i, t in enumerate(truths[0])]
    tracker = Tracker(oracle, config=config)
    tracker.add_prompts(prompts)
    stages = segmenter.stage_seconds
    totals = dict.fromkeys(("model", "tracker", "postprocess", "flow", "io", "draw", "oracle"),
                           0.0)
    flow_clock = _FlowClock(inspect.getmodule(Tracker))
    annotator = MaskAnnotator()
    with tempfile.TemporaryDirectory(prefix="samvideo-overhead-") as tmp:
        sinks = make_sinks(("video", "davis", "jsonl"), Path(tmp),
                           probe(davis_clip / "video.mp4"), annotator=annotator)
        for i, (rgb, embedding) in enumerate(zip(rgbs, embeddings, strict=True)):
            oracle.frame = i
            before, oracle_before, flow_before = dict(stages), oracle.seconds, flow_clock.seconds
            t0 = time.thread_time()
            result = tracker.step(rgb, frame_index=i, time_s=i / 30, embedding=embedding)
            step = time.thread_time() - t0
            t1 = time.thread_time()
            annotator.annotate(rgb, result)
            t2 = time.thread_time()
            for sink in sinks:
                sink.write(result)
            t3 = time.thread_time()
            if i == 0:
                continue  # the prompted frame: models start, one-off costs
            decoder = stages["decoder"] - before["decoder"]
            answers = oracle.seconds - oracle_before
            totals["model"] += decoder
            totals["oracle"] += answers
            totals["tracker"] += step - decoder - answers
            totals["postprocess"] += stages["postprocess"] - before["postprocess"] - answers
            totals["flow"] += flow_clock.seconds - flow_before
            totals["draw"] += t2 - t1
            totals["io"] += t3 - t2  # the overlay sink draws too: drawing is in here once
        for sink in sinks:
            sink.close()
    flow_clock.close()
    n = (frames - 1) * objects
    states = [o.state for o in result.objects]
    return {"frames": frames, "objects": objects, "states_last_frame": states,
            **{f"{k}_ms": round(1000 * v / n, 2) for k, v in totals.items()}}


class _FlowClock:
    """Thread time in the tracker module's ``flow_warp`` (where it has one), while open."""

    def __init__(self, module) -> None:
        self.module, self.seconds = module, 0.0
        self.original = getattr(module, "flow_warp", None)
        if self.original is None:
            return
        original = self.original

        def timed(*args, **kwargs):
            t0 = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.thread_time() - t0

        module.flow_warp = timed

    def close(self) -> None:
        if self.original is not None:
            self.module.flow_warp = self.original
