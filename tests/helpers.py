"""Small builders shared by tests: synthetic clips written through PyAV, a fake
segmenter for tracker-logic tests, batch manifests of the sample clips."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from samvideo.masks import box_iou, box_to_mask, expand_box
from samvideo.segmenters.base import Candidates, PromptRequest

SAMPLES = Path(__file__).resolve().parents[1] / "sample_videos"
SAMPLE_CLIPS = ("moving", "two_objects", "occlusion")
LONG_BOX = (20, 30, 60, 70)  # the first box of make_frames' square (the long clip)
DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-train"


def square_box(t: int, *, start=(20.0, 30.0), velocity=(4.0, 2.0), size=40.0):
    """The true box of a square moving at constant velocity, at frame t (XYXY)."""
    x = start[0] + velocity[0] * t
    y = start[1] + velocity[1] * t
    return (x, y, x + size, y + size)


def make_frames(n: int, *, width=320, height=240, **kw) -> list[np.ndarray]:
    """n RGB frames of a red textured square moving over a grey-green noisy background."""
    rng = np.random.default_rng(0)
    bg = (rng.integers(60, 110, size=(height, width, 3))).astype(np.uint8)
    bg[..., 1] += 30
    frames = []
    for t in range(n):
        f = bg.copy()
        m = box_to_mask(square_box(t, **kw), (height, width))
        f[m] = (200, 40, 40) + rng.integers(0, 30, size=(int(m.sum()), 3))
        frames.append(f)
    return frames


def write_clip(path: Path, frames: list[np.ndarray], *, rate: Fraction = Fraction(24),
               time_base: Fraction | None = None, codec: str = "libx264",
               options: dict[str, str] | None = None) -> Path:
    """Write RGB frames to a video with PyAV (exact rate, explicit pts); ``options`` are
    the encoder's (``{"g": "10"}``: a keyframe every 10 frames)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        if time_base is not None:
            stream.time_base = time_base
        stream.options = {**({"crf": "18"} if codec == "libx264" else {}), **(options or {})}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


class FakeSegmenter:
    """A segmenter that knows where the objects truly are.

    ``truth(frame_index)`` gives the true XYXY box of the object, a list of boxes for
    several objects, or None (hidden). ``predict`` answers each request with the true
    object that overlaps its box most, cut to the box grown by 25 % (a box prompt
    that is a little off still gives the whole object, as with SAM; one that is far
    off gives a part), scored by ``score_fn(frame_index, request)``. Every request is
    recorded as ``(frame_index, request)``.
    """

    name = "fake"

    def __init__(self, truth, shape, score_fn=None) -> None:
        self.truth = truth
        self.shape = shape
        self.score_fn = score_fn or (lambda t, req: 0.95)
        self.calls: list[tuple[int, PromptRequest]] = []
        self._frame = -1

    def encode(self, frames):
        first = self._frame + 1
        self._frame += len(frames)
        return [first + i for i in range(len(frames))]

    def predict(self, embedding, requests):
        out = []
        for req in requests:
            self.calls.append((embedding, req))
            mask = self._mask(embedding, req)
            score = float(self.score_fn(embedding, req)) if mask.any() else 0.0
            out.append(Candidates(mask[None], np.array([score], np.float32)))
        return out

    def _mask(self, t, req):
        boxes = self.truth(t)
        boxes = [] if boxes is None else [boxes] if isinstance(boxes[0], float | int) else boxes
        mask = np.zeros(self.shape, bool)
        if not boxes:
            return mask
        if req.box_xyxy is None:
            return box_to_mask(boxes[0], self.shape)
        prompt = tuple(float(v) for v in req.box_xyxy)
        best = max(boxes, key=lambda b: box_iou(b, prompt))
        if box_iou(best, prompt) == 0:
            return mask
        return box_to_mask(best, self.shape) & box_to_mask(expand_box(prompt, 0.25), self.shape)


class SlowSegmenter:
    """A segmenter made ``seconds`` slower per encoded frame (a slow model on a live
    stream, without one)."""

    def __init__(self, segmenter, seconds: float) -> None:
        self.segmenter, self.seconds = segmenter, seconds
        self.name = segmenter.name

    def encode(self, frames):
        import time

        time.sleep(self.seconds * len(frames))
        return self.segmenter.encode(frames)

    def predict(self, embedding, requests):
        return self.segmenter.predict(embedding, requests)


def manifest_row(clip: str, **extra) -> dict:
    """A batch manifest row (JSON Lines) for a sample clip, with its prompts file and
    ground truth."""
    folder = SAMPLES / clip
    return {"source": str(folder / "video.mp4"), "prompts": str(folder / "prompts.json"),
            "ground_truth": str(folder / "masks"), "name": clip, **extra}


def write_manifest(path: Path, rows: list[dict]) -> Path:
    """A JSON Lines manifest of ``rows``."""
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_masks(folder: Path) -> dict[str, np.ndarray]:
    """An output folder's ``masks/*.png`` label maps by file name."""
    return {p.name: np.asarray(Image.open(p)) for p in sorted((folder / "masks").glob("*.png"))}
