"""Sinks: every output format samvideo writes, each streaming frame by frame.

Each sink writes under a temporary name and moves its output into place in
``close``, so a file under its final name is always a whole, readable file (an
interrupted run closes its sinks too: the files are readable, and ``run.json`` says
``interrupted``). Memory stays flat: nothing holds more than one frame.

=============  ==========================  ===========================================
``--export``   file                        content
=============  ==========================  ===========================================
video          overlay.mp4                 H.264 overlay, source timing, audio copied
davis          masks/00000.png …           indexed PNG, DAVIS palette, 0 = background
davis-binary   masks-binary/001/00000.png  black/white PNG per object per frame
jsonl          tracks.jsonl                one line per frame per object
coco           masks.coco.json             pycocotools RLE per frame per object
npz            masks.npz                   (T, H, W) uint8 labels + boxes, scores
mots           masks.mots.txt              KITTI MOTS text format
=============  ==========================  ===========================================
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from samvideo.annotate import MaskAnnotator
from samvideo.masks import davis_palette
from samvideo.results import FrameResult
from samvideo.video import VideoInfo, VideoWriter

DEFAULT_EXPORTS = ("video", "davis", "jsonl")
#: KITTI MOTS class id written for every object (1 = "car" in KITTI; samvideo's objects
#: have no class, and TrackEval reads any id). Object ids are ``class_id * 1000 + id``.
MOTS_CLASS_ID = 1


class Sink(Protocol):
    """An output: ``write`` every frame in order, then ``close`` once."""

    def write(self, result: FrameResult) -> None: ...

    def close(self) -> list[Path]:
        """Finish and move the output into place; return the final paths."""
        ...


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")


def _replace(tmp: Path, final: Path) -> Path:
    if final.is_dir():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


class OverlaySink:
    """``overlay.mp4``: the frames with masks, contours, boxes and labels drawn."""

    def __init__(self, out_dir: Path, info: VideoInfo, *, annotator: MaskAnnotator | None = None,
                 copy_audio: bool = True) -> None:
        self.final = out_dir / "overlay.mp4"
        self.tmp = _tmp(self.final)
        self.annotator = annotator or MaskAnnotator()
        audio = info.source if copy_audio and info.has_audio else None
        self.writer = VideoWriter(self.tmp, info, audio_from=audio)

    def write(self, result: FrameResult) -> None:
        if result.image is None:
            raise ValueError(f"frame {result.frame_index} has no image to draw the overlay on")
        pts = round(result.time_s / self.writer.info.time_base)
        self.writer.write(self.annotator.annotate(result.image, result), pts)

    def close(self) -> list[Path]:
        self.writer.close()
        return [_replace(self.tmp, self.final)]


class DavisSink:
    """``masks/00000.png`` …: one indexed PNG per frame, DAVIS palette, named by the
    source frame index; pixel value = object id, 0 = background."""

    def __init__(self, out_dir: Path, info: VideoInfo) -> None:
        self.final = out_dir / "masks"
        self.tmp = _tmp(self.final)
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        self.palette = davis_palette()

    def write(self, result: FrameResult) -> None:
        im = Image.fromarray(result.label_map(), mode="P")
        im.putpalette(self.palette)
        im.save(self.tmp / f"{result.frame_index:05d}.png", optimize=False, compress_level=1)

    def close(self) -> list[Path]:
        return [_replace(self.tmp, self.final)]


class DavisBinarySink:
    """``masks-binary/<id:03d>/00000.png``: a 1-bit black/white PNG per object per frame."""

    def __init__(self, out_dir: Path, info: VideoInfo) -> None:
        self.final = out_dir / "masks-binary"
        self.tmp = _tmp(self.final)
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)

    def write(self, result: FrameResult) -> None:
        for obj in result.objects:
            folder = self.tmp / f"{obj.object_id:03d}"
            folder.mkdir(exist_ok=True)
            Image.fromarray(obj.mask).save(folder / f"{result.frame_index:05d}.png")

    def close(self) -> list[Path]:
        return [_replace(self.tmp, self.final)]


class JsonlSink:
    """``tracks.jsonl``: one JSON object per frame per object (see ObjectResult.to_json)."""

    def __init__(self, out_dir: Path, info: VideoInfo) -> None:
        self.final = out_dir / "tracks.jsonl"
        self.tmp = _tmp(self.final)
        self.file = self.tmp.open("w", encoding="utf-8")

    def write(self, result: FrameResult) -> None:
        for obj in result.objects:
            self.file.write(json.dumps(obj.to_json()) + "\n")

    def close(self) -> list[Path]:
        self.file.close()
        return [_replace(self.tmp, self.final)]


def encode_rle(mask: np.ndarray) -> dict:
    """pycocotools RLE of a (H, W) bool mask, ``counts`` as text."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


class CocoSink:
    """``masks.coco.json``: COCO-style images (one per frame) and annotations (one per
    frame per object with a non-empty mask) with pycocotools RLE segmentations.

    ``bbox`` is COCO's own XYWH; ``bbox_xyxy`` is the same box as XYXY."""

    def __init__(self, out_dir: Path, info: VideoInfo) -> None:
        self.final = out_dir / "masks.coco.json"
        self.tmp = _tmp(self.final)
        self.info = info
        self.images = self.tmp.with_suffix(".images")
        self.annotations = self.tmp.with_suffix(".annotations")
        self._img = self.images.open("w", encoding="utf-8")
        self._ann = self.annotations.open("w", encoding="utf-8")
        self._next_ann = 1
        self._object_ids: set[int] = set()

    def write(self, result: FrameResult) -> None:
        image_id = result.frame_index + 1
        h, w = result._size()
        self._img.write(json.dumps({
            "id": image_id, "frame_index": result.frame_index, "time": round(result.time_s, 6),
            "width": w, "height": h, "file_name": f"{result.frame_index:05d}.png",
        }) + "\n")
        for obj in result.objects:
            self._object_ids.add(obj.object_id)
            if obj.box_xyxy is None or not obj.mask.any():
                continue
            x1, y1, x2, y2 = obj.box_xyxy
            self._ann.write(json.dumps({
                "id": self._next_ann, "image_id": image_id, "category_id": 1,
                "object_id": obj.object_id, "frame_index": result.frame_index,
                "time": round(result.time_s, 6),
                "segmentation": encode_rle(obj.mask), "area": obj.area,
                "bbox": [x1, y1, x2 - x1, y2 - y1], "bbox_xyxy": [x1, y1, x2, y2],
                "score": round(obj.score, 4), "state": obj.state, "iscrowd": 0,
            }) + "\n")
            self._next_ann += 1

    def close(self) -> list[Path]:
        self._img.close()
        self._ann.close()
        with self.tmp.open("w", encoding="utf-8") as out:
            out.write('{"info": ' + json.dumps({
                "description": "samvideo masks", "source": self.info.source,
                "rate": str(self.info.rate),
            }))
            out.write(', "categories": [{"id": 1, "name": "object"}]')
            out.write(', "objects": ' + json.dumps(sorted(self._object_ids)))
            for key, part in (("images", self.images), ("annotations", self.annotations)):
                out.write(f', "{key}": [')
                with part.open(encoding="utf-8") as lines:
                    for i, line in enumerate(lines):
                        out.write(("," if i else "") + line.rstrip("\n"))
                out.write("]")
            out.write("}\n")
        self.images.unlink()
        self.annotations.unlink()
        return [_replace(self.tmp, self.final)]


class NpzSink:
    """``masks.npz``: ``labels`` (T, H, W) uint8 (0 = background, else object id),
    ``frame_indices`` (T,) int64, ``times`` (T,) float64, ``object_ids`` (N,) int32,
    ``boxes_xyxy`` (T, N, 4) float32 (NaN when unknown), ``scores`` (T, N) float32,
    compressed. Label maps stream to a temporary file, so memory stays flat."""

    def __init__(self, out_dir: Path, info: VideoInfo) -> None:
        self.final = out_dir / "masks.npz"
        self.tmp = _tmp(self.final)
        self.raw_path = self.tmp.with_suffix(".labels")
        self.raw = self.raw_path.open("wb")
        self.shape: tuple[int, int] | None = None
        self.frames: list[int] = []
        self.times: list[float] = []
        self.per_frame: list[dict[int, tuple]] = []

    def write(self, result: FrameResult) -> None:
        labels = result.label_map()
        self.shape = labels.shape
        self.raw.write(np.ascontiguousarray(labels).tobytes())
        self.frames.append(result.frame_index)
        self.times.append(result.time_s)
        self.per_frame.append({
            o.object_id: (o.box_xyxy if o.box_xyxy is not None else (np.nan,) * 4, o.score)
            for o in result.objects
        })

    def close(self) -> list[Path]:
        self.raw.close()
        ids = sorted({i for frame in self.per_frame for i in frame})
        boxes = np.full((len(self.frames), len(ids), 4), np.nan, np.float32)
        scores = np.full((len(self.frames), len(ids)), np.nan, np.float32)
        for t, frame in enumerate(self.per_frame):
            for j, object_id in enumerate(ids):
                if object_id in frame:
                    boxes[t, j], scores[t, j] = frame[object_id]
        h, w = self.shape or (0, 0)
        with zipfile.ZipFile(self.tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            with zf.open("labels.npy", "w", force_zip64=True) as f:
                header = {"descr": "|u1", "fortran_order": False,
                          "shape": (len(self.frames), h, w)}
                np.lib.format.write_array_header_2_0(f, header)
                with self.raw_path.open("rb") as raw:
                    shutil.copyfileobj(raw, f, 1 << 22)
            arrays = {
                "frame_indices": np.array(self.frames, np.int64),
                "times": np.array(self.times, np.float64),
                "object_ids": np.array(ids, np.int32),
                "boxes_xyxy": boxes,
                "scores": scores,
            }
            for name, arr in arrays.items():
                with zf.open(f"{name}.npy", "w") as f:
                    np.lib.format.write_array(f, arr, allow_pickle=False)
        self.raw_path.unlink()
        return [_replace(self.tmp, self.final)]


class MotsSink:
    """``masks.mots.txt``: KITTI MOTS lines ``frame id class_id height width rle`` with
    ``id = class_id * 1000 + object_id`` and pycocotools RLE counts; empty masks are
    left out (as MOTS does)."""

    def __init__(self, out_dir: Path, info: VideoInfo) -> None:
        self.final = out_dir / "masks.mots.txt"
        self.tmp = _tmp(self.final)
        self.file = self.tmp.open("w", encoding="ascii")

    def write(self, result: FrameResult) -> None:
        for obj in result.objects:
            if not obj.mask.any():
                continue
            rle = encode_rle(obj.mask)
            h, w = rle["size"]
            track_id = MOTS_CLASS_ID * 1000 + obj.object_id
            self.file.write(f"{result.frame_index} {track_id} {MOTS_CLASS_ID} {h} {w} "
                            f"{rle['counts']}\n")

    def close(self) -> list[Path]:
        self.file.close()
        return [_replace(self.tmp, self.final)]


SinkFactory = Callable[[Path, VideoInfo], Sink]
EXPORTERS: dict[str, SinkFactory] = {
    "video": OverlaySink,
    "davis": DavisSink,
    "davis-binary": DavisBinarySink,
    "jsonl": JsonlSink,
    "coco": CocoSink,
    "npz": NpzSink,
    "mots": MotsSink,
}


def parse_exports(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"video,davis"`` → ``("video", "davis")``; ValueError names an unknown format."""
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    if not names:
        raise ValueError("--export is empty: choose from " + ", ".join(EXPORTERS))
    for name in names:
        if name not in EXPORTERS:
            raise ValueError(f"unknown export format {name!r}: choose from {', '.join(EXPORTERS)}")
    return tuple(dict.fromkeys(names))


def make_sinks(names: Sequence[str], out_dir: Path, info: VideoInfo, *,
               annotator: MaskAnnotator | None = None) -> list[Sink]:
    sinks: list[Sink] = []
    for name in names:
        if name == "video":
            sinks.append(OverlaySink(out_dir, info, annotator=annotator))
        else:
            sinks.append(EXPORTERS[name](out_dir, info))
    return sinks


_STOP = object()


class SinkThread:
    """Run sinks in a background thread behind a bounded queue (drawing and H.264
    encoding overlap with tracking). Errors surface on the next ``write`` or ``close``."""

    def __init__(self, sinks: Sequence[Sink], *, queue_size: int = 8) -> None:
        self.sinks = list(sinks)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self.seconds = 0.0
        self.frames = 0
        self._thread = threading.Thread(target=self._run, name="samvideo-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import time

        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue
            try:
                t0 = time.perf_counter()
                for sink in self.sinks:
                    sink.write(item)
                self.seconds += time.perf_counter() - t0
                self.frames += 1
            except BaseException as exc:  # reported to the caller
                self._error = exc

    def write(self, result: FrameResult) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(result)

    def close(self) -> list[Path]:
        self._queue.put(_STOP)
        self._thread.join()
        if self._error is not None:
            raise self._error
        paths: list[Path] = []
        for sink in self.sinks:
            paths += sink.close()
        return paths
