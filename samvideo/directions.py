"""Tracking both ways from the prompts (``--direction backward|both``): the backward pass
and how its results join the forward run's.

The backward pass runs the same frame loop and tracker on the frames before the
prompts, last first (:class:`~samvideo.video.backward.ReverseFrames`): an object is
started by its latest prompt and corrected by the earlier ones as they come, as the
forward pass does the other way. It runs before anything is written; its results are
kept in a folder (each frame's label map compressed, and its objects' boxes, scores and
states as a line of JSON), and the forward pass, which writes every frame in source
order, takes each object from it on the frames before that object's first prompt
(``both``; the forward pass has no mask for it there), or all of them (``backward``).
Memory stays flat: the frames are decoded a keyframe interval at a time and the results
wait on disk.
"""

from __future__ import annotations

import json
import shutil
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from samvideo.loop import EveryFrame, PromptFeed, Timings, frame_loop
from samvideo.prompts import ObjectPrompt
from samvideo.results import FrameResult, ObjectResult
from samvideo.segmenters.base import Segmenter
from samvideo.stop import Stop
from samvideo.tracker import Tracker, TrackerConfig
from samvideo.video.backward import ReverseFrames
from samvideo.video.frames import FrameStore

#: ``--direction`` choices
DIRECTIONS = ("forward", "backward", "both")
#: the hidden folder of an output folder that holds the backward pass's results
BACKWARD_DIR = ".backward"
_DONE = "complete.json"


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r}: choose one of {', '.join(DIRECTIONS)}")
    return direction


def backward_span(prompts: Sequence[ObjectPrompt], first: int) -> tuple[int, int] | None:
    """The frames the backward pass tracks, ``(lo, hi)`` inclusive: from the latest frame
    an object starts on back to ``first`` (the first frame tracked); None when every
    object starts on ``first``."""
    starts = first_prompts(prompts)
    hi = max(starts.values(), default=first)
    return None if hi <= first else (first, hi)


def first_prompts(prompts: Sequence[ObjectPrompt]) -> dict[int, int]:
    """Each object's first prompted frame."""
    starts: dict[int, int] = {}
    for p in prompts:
        starts[p.object_id] = min(starts.get(p.object_id, p.frame_index), p.frame_index)
    return starts


class BackwardResults:
    """The backward pass's results, in ``folder``: ``labels.bin`` (each frame's (H, W)
    uint8 label map, zlib-compressed, one after the other) and ``frames.jsonl`` (one line
    a frame: its index, time, where its labels are, and each object's id, name, box
    XYXY, score and state). ``complete.json`` marks a pass that ran to the end (a resumed
    run reuses it); its ``key`` says for which job."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._frames: dict[int, dict] = {}

    @property
    def complete(self) -> bool:
        return (self.folder / _DONE).is_file()

    def key(self) -> Any:
        return json.loads((self.folder / _DONE).read_text(encoding="utf-8")).get("key")

    def load(self) -> BackwardResults:
        with (self.folder / "frames.jsonl").open(encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                self._frames[record["frame"]] = record
        return self

    def run(self, store: FrameStore, prompts: Sequence[ObjectPrompt], segmenter: Segmenter,
            config: TrackerConfig, span: tuple[int, int], *, key: Any, batch: int = 1,
            buffer_mb: float = 256.0, stop: Stop | None = None, timings: Timings | None = None,
            progress: Callable[[int, int], Any] | None = None) -> bool:
        """Track ``prompts`` from ``span[1]`` back to ``span[0]``; returns whether it ran to
        the end (False: ``stop`` was set)."""
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        lo, hi = span
        frames = ReverseFrames(store, lo, hi, buffer_mb=buffer_mb, spill_dir=self.folder)
        feed = PromptFeed([p for p in prompts if lo <= p.frame_index <= hi], reverse=True)
        tracker = Tracker(segmenter, config=config)
        total, done = hi - lo + 1, 0
        results = frame_loop(EveryFrame(frames, batch=batch), tracker, feed, timings=timings,
                             halt=stop)
        with (self.folder / "labels.bin").open("wb") as labels, \
                (self.folder / "frames.jsonl").open("w", encoding="utf-8") as lines:
            for result in results:
                feed.name(result)
                self._add(result, labels, lines)
                done += 1
                if progress is not None:
                    progress(done, total)
        if done < total:
            return False
        (self.folder / _DONE).write_text(json.dumps({"key": key, "frames": done}) + "\n",
                                         encoding="utf-8")
        return True

    def _add(self, result: FrameResult, labels, lines) -> None:
        data = zlib.compress(np.ascontiguousarray(result.label_map()).tobytes(), 1)
        record = {
            "frame": result.frame_index, "time": result.time_s, "offset": labels.tell(),
            "length": len(data), "shape": list(result.size()),
            "objects": [[o.object_id, o.name, None if o.box_xyxy is None else
                         [float(v) for v in o.box_xyxy], float(o.score), o.state]
                        for o in result.objects],
        }
        labels.write(data)
        lines.write(json.dumps(record) + "\n")
        self._frames[result.frame_index] = record

    def objects_at(self, index: int) -> list[ObjectResult]:
        """The objects the backward pass tracked on source frame ``index`` (none if it
        did not reach it)."""
        record = self._frames.get(index)
        if record is None or not record["objects"]:
            return []
        with (self.folder / "labels.bin").open("rb") as f:
            f.seek(record["offset"])
            raw = zlib.decompress(f.read(record["length"]))
        labels = np.frombuffer(raw, np.uint8).reshape(record["shape"])
        return [ObjectResult(index, record["time"], oid, labels == oid,
                             None if box is None else tuple(box), score, state, name)
                for oid, name, box, score, state in record["objects"]]

    def join(self, result: FrameResult) -> FrameResult:
        """``result`` (the forward pass's frame) with the backward pass's objects it does
        not have; their masks give way to the forward ones (masks never overlap)."""
        have = {o.object_id for o in result.objects}
        extra = [o for o in self.objects_at(result.frame_index) if o.object_id not in have]
        if not extra:
            return result
        taken = np.zeros(result.size(), bool)
        for o in result.objects:
            taken |= o.mask
        for o in extra:
            o.mask &= ~taken
        result.objects = sorted([*result.objects, *extra], key=lambda o: o.object_id)
        return result

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
