"""What the browser UI works on: the open video, previews, and tracking jobs.

Everything goes through the library's own path, the one frame loop
(:func:`samvideo.loop.frame_loop`): a preview is that loop over the chosen frame alone
(the segmenter's ``encode`` and ``predict``, the tracker's mask choice and clean-up), and
a tracking job is a :class:`samvideo.run.Run` with the prompts written as a
``--prompts`` file, so the page's results are exactly those of ``samvideo track
--prompts`` with the same file. The page's frames come from a
:class:`~samvideo.video.frames.FrameStore`, which follows the reader's rules: frame
``i`` on the page is frame ``i`` the tracker sees.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import shutil
import threading
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from samvideo.annotate import MaskAnnotator
from samvideo.loop import EveryFrame, PromptFeed, frame_loop
from samvideo.prompts import (
    ObjectPrompt,
    check_prompts,
    load_prompts_file,
    prompt_from_json,
    prompts_to_json,
)
from samvideo.results import FrameResult, ObjectResult
from samvideo.run import FileOptions, Run
from samvideo.segmenters.base import Segmenter
from samvideo.tracker import Tracker, TrackerConfig
from samvideo.ui.render import jpeg, mask_layer_png
from samvideo.video import Frame
from samvideo.video.frames import FrameStore

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


class NotFound(LookupError):
    """Something the page asked for does not exist (HTTP 404)."""


class Busy(RuntimeError):
    """The request conflicts with a running job (HTTP 409)."""


@dataclass(frozen=True)
class UiConfig:
    """Settings of one UI server.

    Attributes:
        root: only files under this folder can be opened.
        workdir: where uploads and run outputs go.
        max_upload_bytes: uploads larger than this are refused.
        exports: the formats every run writes (``davis`` and ``jsonl`` are added).
        tracker: the tracking policy, as ``samvideo track`` builds it by default.
        annotator: how overlays are drawn.
        batch: frames per encoder call.
    """

    root: Path
    workdir: Path
    max_upload_bytes: int = 500 * 1024 * 1024
    exports: tuple[str, ...] = UI_EXPORTS
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    annotator: MaskAnnotator = field(default_factory=MaskAnnotator)
    batch: int = 1


@dataclass
class Video:
    """The open source: an id the page puts in its URLs, and its frames."""

    video_id: int
    name: str
    source: Path
    label: str  # the path relative to the root, or "upload: NAME"
    store: FrameStore

    def to_json(self) -> dict:
        info = self.store.info
        return {
            "id": self.video_id, "name": self.name, "label": self.label,
            "width": info.width, "height": info.height, "frames": self.store.count,
            "fps": float(info.rate), "rate": str(info.rate), "duration_s": info.duration_s,
            "codec": info.codec,
        }


def prompts_from_json(objects: Any, *, frame: int | None = None) -> list[ObjectPrompt]:
    """Prompts from the page's JSON (the prompts-file ``objects`` list); ``frame`` sets
    every object's frame. ValueError names the bad field."""
    if not isinstance(objects, list):
        raise ValueError(f"objects = {objects!r}: must be a list")
    out = []
    for i, obj in enumerate(objects):
        if frame is not None and isinstance(obj, dict):
            obj = {**obj, "frame": frame}
        out.append(prompt_from_json(obj, f"objects[{i}]"))
    return out


class RunRecord:
    """One tracking run: progress, per-frame boxes and states, the latest result."""

    def __init__(self, run_id: int, video: Video, folder: Path,
                 prompts: Sequence[ObjectPrompt]) -> None:
        self.run_id = run_id
        self.video = video
        self.folder = folder
        self.output = folder / "out"
        self.prompts = list(prompts)
        self.total = video.store.count
        self.state = "starting"  # running / stopping / complete / interrupted / failed
        self.error: str | None = None
        self.frames_done = 0
        self.started = time.monotonic()
        self.finished: float | None = None
        self.latest: FrameResult | None = None
        #: per source frame: (object_id, box, score, state) of each object
        self.objects: dict[int, list[tuple[int, Any, float, str]]] = {}
        self._window: collections.deque = collections.deque(maxlen=30)

    def add(self, result: FrameResult) -> None:
        self.objects[result.frame_index] = [
            (o.object_id, o.box_xyxy, o.score, o.state) for o in result.objects
        ]
        self.latest = result
        self.frames_done += 1
        self._window.append((time.monotonic(), self.frames_done))
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
        return {
            "run_id": self.run_id, "video_id": self.video.video_id, "state": self.state,
            "frames_done": self.frames_done, "total": self.total,
            "percent": round(min(percent, 100.0), 1),
            "rate_fps": None if rate is None else round(rate, 2),
            "eta_s": None if rate in (None, 0) or self.done else round(left / rate, 1),
            "elapsed_s": round(end - self.started, 2),
            "latest_frame": None if self.latest is None else self.latest.frame_index,
            "error": self.error,
            "prompts": prompts_to_json(self.prompts)["objects"],
            "downloads": self._downloads() if self.done else {},
        }

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


class UiState:
    """The server's state: one open video, its runs, at most one running job."""

    def __init__(self, config: UiConfig, segmenter: Segmenter) -> None:
        self.config = config
        self.segmenter = segmenter
        self.video: Video | None = None
        self.runs: dict[int, RunRecord] = {}
        self.job: TrackJob | None = None
        self._lock = threading.RLock()
        self._preview_lock = threading.Lock()
        self._next_video = 1
        self._next_run = 1
        self._embedding: tuple[int, int, Any] | None = None  # (video id, frame, embedding)
        self._latest_jpeg: tuple[int, int, bytes] | None = None
        config.workdir.mkdir(parents=True, exist_ok=True)

    # -- the video ---------------------------------------------------------------------

    def open(self, source: Path, label: str) -> Video:
        """Open a source (already checked to be allowed); ValueError when unreadable."""
        with self._lock:
            self.check_idle("open another video")
            store = FrameStore(source)
            if store.count == 0:
                store.close()
                raise ValueError(f"source {label!r} has no frames")
            if self.video is not None:
                self.video.store.close()
            self.video = Video(self._next_video, source.name, source, label, store)
            self._next_video += 1
            self._embedding = None
            return self.video

    def require_video(self, video_id: int | None = None) -> Video:
        video = self.video
        if video is None:
            raise NotFound("no video is open: open one first")
        if video_id is not None and video_id != video.video_id:
            raise NotFound(f"video {video_id} is no longer open (video {video.video_id} is)")
        return video

    def frame_jpeg(self, video_id: int, index: int) -> bytes:
        video = self.require_video(video_id)
        return jpeg(self._frame(video, index))

    def _frame(self, video: Video, index: int) -> np.ndarray:
        try:
            return video.store.frame(index)
        except IndexError as exc:
            raise NotFound(str(exc)) from None

    # -- preview -----------------------------------------------------------------------

    def preview(self, frame: int, objects: Any) -> dict:
        """Segment the prompted objects on one frame, as the tracker does on a prompt.

        Returns per-object box, score and area, and ``mask_png`` (RGBA layer bytes).
        """
        video = self.require_video()
        rgb = self._frame(video, frame)
        prompts = prompts_from_json(objects, frame=frame)
        info = dataclasses.replace(video.store.info, frame_count=video.store.count)
        if prompts:
            prompts, _ = check_prompts(prompts, info)
        t0 = time.perf_counter()
        here = Frame(frame, video.store.times[frame], frame, rgb)
        tracker = Tracker(self.segmenter, config=self.config.tracker)
        with self._preview_lock:  # one preview at a time: the segmenter is shared
            (result,) = frame_loop(EveryFrame([here], batch=1), tracker, PromptFeed(prompts),
                                   encode=lambda frames: [self._embed(video, frames[0])])
        ms = (time.perf_counter() - t0) * 1000
        return {
            "frame": frame,
            "ms": round(ms, 1),
            "objects": [_object_json(o) for o in result.objects],
            "mask_png": mask_layer_png(result, rgb.shape[:2]),
        }

    def _embed(self, video: Video, frame: Frame) -> Any:
        """The frame's embedding, kept for the next preview of the same frame."""
        cached = self._embedding
        if cached is not None and cached[:2] == (video.video_id, frame.index):
            return cached[2]
        embedding = self.segmenter.encode([frame.rgb])[0]
        self._embedding = (video.video_id, frame.index, embedding)
        return embedding

    # -- tracking ----------------------------------------------------------------------

    def start(self, objects: Any) -> RunRecord:
        """Start tracking with the page's prompts (the prompts-file ``objects`` list)."""
        with self._lock:
            self.check_idle("start another run")
            video = self.require_video()
            folder = self.config.workdir / "runs" / f"{self._next_run:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            prompts_file = folder / "prompts.json"
            prompts_file.write_text(json.dumps({"objects": objects}, indent=1) + "\n",
                                    encoding="utf-8")
            prompts = load_prompts_file(prompts_file)
            info = dataclasses.replace(video.store.info, frame_count=video.store.count)
            check_prompts(prompts, info)
            record = RunRecord(self._next_run, video, folder, prompts)
            self._next_run += 1
            exports = tuple(dict.fromkeys((*self.config.exports, "davis", "jsonl")))
            options = FileOptions(
                output=record.output, exports=exports, batch=self.config.batch,
                annotator=self.config.annotator, tracker=self.config.tracker,
                inputs={"ui": True, "source": video.label, "prompts_file": str(prompts_file),
                        "prompts": prompts_to_json(prompts)["objects"]},
            )
            self.job = TrackJob(record, Run(video.source, prompts, self.segmenter, options))
            self.runs[record.run_id] = record
            self.job.start()
            return record

    def stop(self) -> RunRecord | None:
        job = self.job
        if job is None:
            return None
        job.stop()
        return job.record

    def check_idle(self, what: str) -> None:
        """Busy while a job is tracking (``what`` says what was refused)."""
        if self.job is not None and self.job.alive:
            raise Busy(f"run {self.job.record.run_id} is still tracking: stop it before you "
                       f"{what}")

    def require_run(self, run_id: int) -> RunRecord:
        record = self.runs.get(run_id)
        if record is None:
            raise NotFound(f"run {run_id} does not exist")
        return record

    def latest_jpeg(self) -> bytes:
        """The overlay of the frame the running (or last) job made last."""
        job = self.job
        result = None if job is None else job.record.latest
        if job is None or result is None:
            raise NotFound("no tracked frame yet")
        key = (job.record.run_id, result.frame_index)
        cached = self._latest_jpeg
        if cached is not None and cached[:2] == key:
            return cached[2]
        data = jpeg(self.config.annotator.annotate(result.image, result))
        self._latest_jpeg = (*key, data)
        return data

    def overlay_jpeg(self, run_id: int, index: int) -> bytes:
        """The overlay of a finished run's frame, drawn from its PNG masks."""
        record = self.require_run(run_id)
        if not record.done:
            raise Busy(f"run {run_id} is still tracking: its frames are ready when it ends")
        video = self.require_video(record.video.video_id)
        rgb = self._frame(video, index)
        objects = record.objects.get(index)
        if objects is None:
            raise NotFound(f"frame {index} was not tracked by run {run_id}")
        labels = np.asarray(Image.open(record.output / "masks" / f"{index:05d}.png"))
        t = video.store.times[index]
        result = FrameResult(index, t, [
            ObjectResult(index, t, oid, labels == oid, box, score, state)
            for oid, box, score, state in objects
        ], rgb)
        return jpeg(self.config.annotator.annotate(rgb, result))

    def download(self, run_id: int, kind: str) -> tuple[Path | bytes, str]:
        """A run's output: a file path, or the zipped DAVIS masks as bytes; and the name
        to save it under."""
        record = self.require_run(run_id)
        if kind not in DOWNLOADS:
            raise NotFound(f"unknown download {kind!r}: choose one of {', '.join(DOWNLOADS)}")
        if not record.done:
            raise Busy(f"run {run_id} is still tracking: its files are ready when it ends")
        path = (record.output / DOWNLOADS[kind]).resolve()
        if not path.exists():
            raise NotFound(f"run {run_id} has no {kind!r} output")
        stem = Path(record.video.name).stem
        if kind == "masks":
            return zip_folder(path), f"{stem}-masks.zip"
        return path, f"{stem}-{path.name}"

    def close(self, timeout: float = 10.0) -> None:
        """Stop a running job (waiting up to ``timeout`` s) and close the video."""
        if self.job is not None:
            self.job.stop()
            self.job.join(timeout)
        if self.video is not None:
            self.video.store.close()

    def remove_workdir(self) -> None:
        shutil.rmtree(self.config.workdir, ignore_errors=True)


def _object_json(o: ObjectResult) -> dict:
    box = None if o.box_xyxy is None else [round(float(v), 2) for v in o.box_xyxy]
    return {"id": o.object_id, "box": box, "score": round(float(o.score), 4),
            "state": o.state, "area": o.area}


def zip_folder(folder: Path) -> bytes:
    """The files of ``folder`` in a zip under ``<folder name>/`` (stored: PNGs are
    compressed already)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                zf.write(path, f"{folder.name}/{path.name}")
    return buf.getvalue()
