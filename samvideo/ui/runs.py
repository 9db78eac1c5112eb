"""The page's tracking runs: what one run did (:class:`RunRecord`: progress, each frame's
objects, downloads) and the thread that iterates its :class:`~samvideo.run.Run`
(:class:`TrackJob`). A run belongs to the source it tracked: the page only shows the
runs of the video that is open."""

from __future__ import annotations

import collections
import io
import threading
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from samvideo.prompts import ObjectPrompt, prompts_to_json
from samvideo.results import FrameResult
from samvideo.run import Run

#: What a run writes; ``davis`` and ``jsonl`` are always added (the review reads them).
UI_EXPORTS = ("video", "davis", "jsonl", "coco", "npz")
#: Download name → file in the run's output folder (``masks`` is zipped on request).
DOWNLOADS = {
    "overlay": "overlay.mp4",
    "masks": "masks",
    "coco": "masks.coco.json",
    "npz": "masks.npz",
    "jsonl": "tracks.jsonl",
    "run": "run.json",
    "prompts": "../prompts.json",
}


class RunRecord:
    """One tracking run: progress, per-frame boxes and states, the latest result.

    Attributes:
        source: the tracked file (a run belongs to it).
        span: the source frames asked for, ``(first, last)`` inclusive.
        objects: per source frame, each object's (id, box XYXY or None, score, state,
            area in pixels).
    """

    def __init__(self, run_id: int, video_id: int, source: Path, name: str, folder: Path,
                 prompts: Sequence[ObjectPrompt], *, span: tuple[int, int],
                 direction: str) -> None:
        self.run_id, self.video_id, self.source, self.name = run_id, video_id, source, name
        self.folder = folder
        self.output = folder / "out"
        self.prompts = list(prompts)
        self.span, self.direction = span, direction
        self.total = span[1] - span[0] + 1  # the run's own count replaces it once open
        self.state = "starting"  # running / stopping / complete / interrupted / failed
        self.error: str | None = None
        self.frames_done = 0
        self.backward: tuple[int, int] | None = None  # frames tracked backwards, of all
        self.started = time.monotonic()
        self.finished: float | None = None
        self.latest: FrameResult | None = None
        self.objects: dict[int, list[tuple[int, Any, float, str, int]]] = {}
        self._window: collections.deque = collections.deque(maxlen=30)

    def add(self, result: FrameResult) -> None:
        self.objects[result.frame_index] = [
            (o.object_id, None if o.box_xyxy is None else [round(float(v), 2) for v in o.box_xyxy],
             round(float(o.score), 4), o.state, o.area) for o in result.objects
        ]
        self.latest = result
        self.frames_done += 1
        self._window.append((time.monotonic(), self.frames_done))
        if self.state == "starting":
            self.state = "running"

    def going_backwards(self, done: int, total: int) -> None:
        self.backward = (done, total)
        if self.state == "starting":
            self.state = "running"

    def rate(self) -> float | None:
        if len(self._window) < 2:
            return None
        (t0, n0), (t1, n1) = self._window[0], self._window[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else None

    @property
    def done(self) -> bool:
        return self.state in ("complete", "interrupted", "failed")

    def to_json(self) -> dict:
        rate = self.rate()
        left = max(self.total - self.frames_done, 0)
        end = self.finished if self.finished is not None else time.monotonic()
        percent = 100.0 if self.state == "complete" else 100.0 * self.frames_done / self.total
        tracked = sorted(self.objects)
        return {
            "run_id": self.run_id, "video_id": self.video_id, "state": self.state,
            "frames_done": self.frames_done, "total": self.total,
            "percent": round(min(percent, 100.0), 1),
            "rate_fps": None if rate is None else round(rate, 2),
            "eta_s": None if rate in (None, 0) or self.done else round(left / rate, 1),
            "elapsed_s": round(end - self.started, 2),
            "latest_frame": None if self.latest is None else self.latest.frame_index,
            "backward": None if self.backward is None else list(self.backward),
            "direction": self.direction, "span": list(self.span),
            "tracked": [tracked[0], tracked[-1]] if tracked else None,
            "error": self.error,
            "prompts": prompts_to_json(self.prompts)["objects"],
            "downloads": self._downloads() if self.done else {},
        }

    def tracks_json(self) -> dict:
        """Every tracked frame's objects: ``{"frames": {"12": [[id, box, score, state,
        area], ...]}}`` (the page draws boxes and labels, and its timeline, from it)."""
        return {"run_id": self.run_id, "frames": {str(i): objs for i, objs in
                                                  sorted(self.objects.items())}}

    def _downloads(self) -> dict[str, str]:
        out = {}
        for kind, name in DOWNLOADS.items():
            if (self.output / name).exists():
                out[kind] = f"/api/run/{self.run_id}/download/{kind}"
        return out


class TrackJob:
    """A :class:`~samvideo.run.Run` iterated in a background thread, stoppable at any
    frame through its :class:`~samvideo.stop.Stop`."""

    def __init__(self, record: RunRecord, tracking: Run) -> None:
        self.record = record
        self._run = tracking
        tracking.on_backward = record.going_backwards
        if tracking.expected_frames:
            record.total = tracking.expected_frames
        self._thread = threading.Thread(target=self._work, name="samvideo-ui-job", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the job to stop after the current frame (outputs are closed, readable,
        and ``run.json`` says ``interrupted``)."""
        if not self.record.done:
            self.record.state = "stopping"
        self._run.stop.set("stopped from the page")

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _work(self) -> None:
        record = self.record
        try:
            with self._run:
                for result in self._run:
                    record.add(result)  # written by the sinks already
            record.state = self._run.summary.status
        except BaseException as exc:  # reported to the page
            record.state, record.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            record.finished = time.monotonic()


def zip_folder(folder: Path) -> bytes:
    """The files of ``folder`` in a zip under ``<folder name>/`` (stored: PNGs are
    compressed already)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                zf.write(path, f"{folder.name}/{path.name}")
    return buf.getvalue()
