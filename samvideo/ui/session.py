"""What the browser UI works on: the open video, what the page holds for it, previews,
and tracking jobs.

Everything goes through the library's own path, the one frame loop
(:func:`samvideo.loop.frame_loop`): a preview is that loop over the chosen frame alone
(the segmenter's ``encode`` and ``predict``, the tracker's mask choice and clean-up), and
a tracking job is a :class:`samvideo.run.Run` with the prompts written as a
``--prompts`` file, so the page's results are exactly those of ``samvideo track
--prompts`` with the same file. The page's frames come from a
:class:`~samvideo.video.frames.FrameStore`, which follows the reader's rules: frame
``i`` on the page is frame ``i`` the tracker sees.

The page's state belongs to the source it is about: its prompts, names and objects
(:meth:`UiState.save_page`) and its runs are kept per source, so a reload, or opening
the same file again, brings them back, and another video never shows them.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from samvideo.annotate import MaskAnnotator
from samvideo.directions import check_direction
from samvideo.loop import EveryFrame, PromptFeed, frame_loop
from samvideo.prompts import (
    ObjectPrompt,
    check_name,
    check_prompts,
    load_prompts_file,
    name_objects,
    prompt_from_json,
    prompts_to_json,
)
from samvideo.results import FrameResult, ObjectResult
from samvideo.run import FileOptions, Run
from samvideo.segmenters.base import Segmenter
from samvideo.tracker import MemoryConfig, TrackerConfig, make_tracker
from samvideo.ui.errors import about_file
from samvideo.ui.render import jpeg, labels_png, mask_layer_png
from samvideo.ui.runs import DOWNLOADS, UI_EXPORTS, RunRecord, TrackJob, zip_folder
from samvideo.video import Frame
from samvideo.video.frames import FrameStore

__all__ = ["DOWNLOADS", "UI_EXPORTS", "Busy", "NotFound", "UiConfig", "UiState", "Video",
           "prompts_from_json"]


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
        tracker: the tracker and its settings, as ``samvideo track`` builds them (a
            :class:`MemoryConfig`: ``samvideo ui --tracker memory``, SAM 2.1's memory).
        annotator: how overlays are drawn.
        batch: frames per encoder call.
        warning: what the page warns of from the start (``--model auto`` fell back to
            GrabCut: no SAM checkpoint), or None.
    """

    root: Path
    workdir: Path
    max_upload_bytes: int = 500 * 1024 * 1024
    exports: tuple[str, ...] = UI_EXPORTS
    tracker: TrackerConfig | MemoryConfig = field(default_factory=TrackerConfig)
    annotator: MaskAnnotator = field(default_factory=MaskAnnotator)
    batch: int = 1
    warning: str | None = None


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
            "codec": info.codec, "missing": sorted(self.store.missing),
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
    return name_objects(out, "objects")


def _page_json(body: Any) -> dict:
    """What the page keeps for a video (its prompts, object ids and names), checked; the
    prompts carry the names."""
    if not isinstance(body, dict):
        raise ValueError("the page state must be a JSON object")
    prompts = prompts_from_json(body.get("objects", []))
    ids = body.get("ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, int) and 1 <= i <= 255 for i in ids):
        raise ValueError(f"ids = {ids!r}: must be a list of object ids 1..255")
    names = body.get("names", {})
    if not isinstance(names, dict):
        raise ValueError(f"names = {names!r}: must map object ids to names")
    names = {str(int(k)): check_name(v, f"names[{k}]") for k, v in names.items() if v}
    named = [dataclasses.replace(p, name=names.get(str(p.object_id), p.name)) for p in prompts]
    return {"objects": prompts_to_json(named)["objects"], "ids": ids, "names": names}


class UiState:
    """The server's state: one open video, the page's state and runs of each source
    opened, at most one running job."""

    def __init__(self, config: UiConfig, segmenter: Segmenter) -> None:
        self.config = config
        self.segmenter = segmenter
        self.video: Video | None = None
        self.runs: dict[int, RunRecord] = {}
        self.job: TrackJob | None = None
        self._pages: dict[Path, dict] = {}  # per source: what the page holds
        self._lock = threading.RLock()
        self._preview_lock = threading.Lock()
        self._next_video = 1
        self._next_run = 1
        self._embedding: tuple[int, int, Any] | None = None  # (video id, frame, embedding)
        self._latest_jpeg: tuple[int, int, bytes] | None = None
        config.workdir.mkdir(parents=True, exist_ok=True)

    # -- the video ---------------------------------------------------------------------

    def open(self, source: Path, label: str, name: str | None = None) -> Video:
        """Open a source (already checked to be allowed); ValueError saying what is
        wrong with it, in terms of ``name`` (what the user calls it: the file's name)."""
        name = name or source.name
        with self._lock:
            self.check_idle("open another video")
            try:
                store = FrameStore(source)
            except (ValueError, RuntimeError) as exc:
                raise ValueError(about_file(exc, source, name)) from None
            if store.count == 0:
                store.close()
                raise ValueError(f"{name} has no frames")
            if self.video is not None:
                self.video.store.close()
            self.video = Video(self._next_video, name, source, label, store)
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

    # -- what the page holds -------------------------------------------------------------

    def save_page(self, video_id: int, body: Any) -> dict:
        """Keep the page's prompts, object ids and names for the open video's source."""
        video = self.require_video(video_id)
        page = _page_json(body)
        self._pages[video.source] = page
        return page

    def status(self) -> dict:
        """The open video, what the page holds for it and its runs (newest last); the
        job only when it tracks this video."""
        video, job = self.video, self.job
        runs = [] if video is None else [r.to_json() for r in self.runs.values()
                                         if r.source == video.source]
        mine = job is not None and video is not None and job.record.source == video.source
        return {
            "video": None if video is None else video.to_json(),
            "page": None if video is None else self._pages.get(video.source),
            "runs": runs,
            "job": job.record.to_json() if mine else None,
            "busy": job is not None and job.alive,
            "warning": self.config.warning,
        }

    def read_prompts(self, text: Any) -> dict:
        """A prompts file's content (text), checked as ``--prompts`` checks it and
        against the open video: its objects in the page's form."""
        video = self.require_video()
        if not isinstance(text, str) or not text.strip():
            raise ValueError("the prompts file is empty")
        tmp = self.config.workdir / "import.json"
        tmp.write_text(text, encoding="utf-8")
        try:
            prompts = load_prompts_file(tmp)
        finally:
            tmp.unlink(missing_ok=True)
        info = dataclasses.replace(video.store.info, frame_count=video.store.count)
        prompts, notes = check_prompts(prompts, info)
        return {"objects": prompts_to_json(prompts)["objects"], "notes": notes}

    # -- preview -----------------------------------------------------------------------

    def preview(self, frame: int, objects: Any) -> dict:
        """Segment the prompted objects on one frame, as the tracker does on a prompt.

        Returns per-object box, score and area, ``mask_png`` (RGBA layer bytes) and
        ``labels_png`` (the label map: the page colours it itself).
        """
        video = self.require_video()
        rgb = self._frame(video, frame)
        prompts = prompts_from_json(objects, frame=frame)
        info = dataclasses.replace(video.store.info, frame_count=video.store.count)
        if prompts:
            prompts, _ = check_prompts(prompts, info)
        t0 = time.perf_counter()
        here = Frame(frame, video.store.times[frame], frame, rgb)
        tracker = make_tracker(self.segmenter, self.config.tracker)
        with self._preview_lock:  # one preview at a time: the segmenter is shared
            (result,) = frame_loop(EveryFrame([here], batch=1), tracker, PromptFeed(prompts),
                                   encode=lambda frames: [self._embed(video, frames[0])])
        ms = (time.perf_counter() - t0) * 1000
        return {
            "frame": frame,
            "ms": round(ms, 1),
            "objects": [_object_json(o) for o in result.objects],
            "mask_png": mask_layer_png(result, rgb.shape[:2]),
            "labels_png": labels_png(result.label_map()),
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

    def start(self, objects: Any, *, direction: Any = "forward", first: Any = None,
              last: Any = None) -> RunRecord:
        """Start tracking with the page's prompts (the prompts-file ``objects`` list) over
        frames ``first..last`` (inclusive; None: the whole clip) in ``direction``. Bad
        input is refused before anything is written."""
        with self._lock:
            self.check_idle("start another run")
            video = self.require_video()
            span = _span(first, last, video.store.count)
            direction = check_direction(direction)
            prompts = prompts_from_json(objects)
            info = dataclasses.replace(video.store.info, frame_count=video.store.count)
            prompts, _ = check_prompts(prompts, info)
            outside = [p for p in prompts if not span[0] <= p.frame_index <= span[1]]
            if outside:
                p = outside[0]
                raise ValueError(f"object {p.object_id}'s prompt on frame {p.frame_index} lies "
                                 f"outside the frames to track ({span[0]}-{span[1]})")
            folder = self.config.workdir / "runs" / f"{self._next_run:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            try:
                record, tracking = self._make_run(video, folder, prompts, span, direction)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)  # nothing half made stays
                raise
            self._next_run += 1
            self.job = TrackJob(record, tracking)
            self.runs[record.run_id] = record
            self.job.start()
            return record

    def _make_run(self, video: Video, folder: Path, prompts: list[ObjectPrompt],
                  span: tuple[int, int], direction: str) -> tuple[RunRecord, Run]:
        prompts_file = folder / "prompts.json"
        prompts_file.write_text(json.dumps(prompts_to_json(prompts), indent=1) + "\n",
                                encoding="utf-8")
        prompts = load_prompts_file(prompts_file)  # exactly what --prompts reads
        record = RunRecord(self._next_run, video.video_id, video.source, video.name, folder,
                           prompts, span=span, direction=direction)
        exports = tuple(dict.fromkeys((*self.config.exports, "davis", "jsonl")))
        whole = span == (0, video.store.count - 1)
        options = FileOptions(
            output=record.output, exports=exports, batch=self.config.batch,
            annotator=self.config.annotator, tracker=self.config.tracker,
            start=None if whole else span[0], end=None if whole else span[1] + 1,
            direction=direction, save_every_s=None,
            inputs={"ui": True, "source": video.label, "prompts_file": str(prompts_file),
                    "prompts": prompts_to_json(prompts)["objects"]},
        )
        return record, Run(video.source, prompts, self.segmenter, options)

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

    def _finished_run(self, run_id: int, what: str) -> tuple[RunRecord, Video]:
        record = self.require_run(run_id)
        if not record.done:
            raise Busy(f"run {run_id} is still tracking: its {what} are ready when it ends")
        video = self.require_video()
        if video.source != record.source:
            raise NotFound(f"run {run_id} tracked {record.name}, which is not open")
        return record, video

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

    def _labels(self, record: RunRecord, index: int) -> np.ndarray:
        if index not in record.objects:
            raise NotFound(f"frame {index} was not tracked by run {record.run_id}")
        return np.asarray(Image.open(record.output / "masks" / f"{index:05d}.png"))

    def overlay_jpeg(self, run_id: int, index: int) -> bytes:
        """The overlay of a finished run's frame, drawn from its PNG masks."""
        record, video = self._finished_run(run_id, "frames")
        rgb = self._frame(video, index)
        labels = self._labels(record, index)
        t = video.store.times[index]
        result = FrameResult(index, t, [
            ObjectResult(index, t, oid, labels == oid, box, score, state)
            for oid, box, score, state, _ in record.objects[index]
        ], rgb)
        return jpeg(self.config.annotator.annotate(rgb, result))

    def labels(self, run_id: int, index: int) -> bytes:
        """A finished run's frame as a label-map PNG (grey level = object id)."""
        record, _ = self._finished_run(run_id, "frames")
        return labels_png(self._labels(record, index))

    def tracks(self, run_id: int) -> dict:
        return self.require_run(run_id).tracks_json()

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
        stem = Path(record.name).stem
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


def _span(first: Any, last: Any, count: int) -> tuple[int, int]:
    """Frames ``first..last`` (inclusive) of a clip of ``count``; ValueError names a bad
    bound."""
    lo = 0 if first is None else first
    hi = count - 1 if last is None else last
    for what, v in (("first", lo), ("last", hi)):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < count:
            raise ValueError(f"{what} frame {v!r}: must be a frame number 0..{count - 1}")
    if hi < lo:
        raise ValueError(f"frames {lo}-{hi}: the last frame comes before the first")
    return lo, hi


def _object_json(o: ObjectResult) -> dict:
    box = None if o.box_xyxy is None else [round(float(v), 2) for v in o.box_xyxy]
    return {"id": o.object_id, "box": box, "score": round(float(o.score), 4),
            "state": o.state, "area": o.area, "name": o.name}
