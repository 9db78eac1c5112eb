"""Sinks: every output format samvideo writes, each streaming frame by frame.

Each sink writes under a temporary name and moves its output into place in
``close``, so a file under its final name is always a whole, readable file (an
interrupted run closes its sinks too: the files are readable, and ``run.json`` says
``interrupted``). Memory stays flat: no sink holds more than one frame's pixels.

Every sink factory takes ``resume_after``: when set, the sink keeps what its final
output already holds for source frames ``<= resume_after``, ignores frames up to
there if they are written again, and appends the frames after it, so that an
interrupted run continued with ``--resume`` gives the same files as an uninterrupted
one.

=============  ============================  ===========================================
``--export``   file                          content
=============  ============================  ===========================================
video          overlay.mp4                   H.264 overlay, source timing, audio copied
davis          masks/00000.png …             indexed PNG, DAVIS palette, 0 = background
davis-binary   masks-binary/001/00000.png …  black/white PNG per object per frame
cutout         cutout/001/00000.png …        RGBA PNG per object: alpha = the mask
jsonl          tracks.jsonl                  one line per frame per object
coco           masks.coco.json               pycocotools RLE per frame per object
npz            masks.npz                     (T, H, W) uint8 labels + boxes, scores
mots           masks.mots.txt                KITTI MOTS text format
=============  ============================  ===========================================

PNG files are named by source frame index (``00042.png`` is source frame 42).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from samvideo.annotate import MaskAnnotator
from samvideo.masks import davis_palette
from samvideo.results import FrameResult, ObjectResult
from samvideo.video import VideoInfo, VideoWriter, is_stream

DEFAULT_EXPORTS = ("video", "davis", "jsonl")
#: KITTI MOTS class id written for every object (1 = "car" in KITTI; samvideo's objects
#: have no class, and TrackEval reads any id). Object ids are ``class_id * 1000 + id``.
MOTS_CLASS_ID = 1


class Sink(Protocol):
    """An output: ``write`` every frame in source order, then ``close`` once."""

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


def _missing(final: Path) -> ValueError:
    return ValueError(f"cannot resume: {str(final)!r} is missing (it was not exported by the "
                      "interrupted run, or was moved)")


def object_masks(result: FrameResult) -> tuple[np.ndarray, list[tuple[ObjectResult, np.ndarray]]]:
    """The frame's (H, W) uint8 label map and each object's (H, W) bool mask taken from
    it, so that every export holds exactly the pixels of the PNG label map."""
    labels = result.label_map()
    return labels, [(obj, labels == obj.object_id) for obj in result.objects]


class _Resumable:
    """Shared by the sinks: frames ``<= resume_after`` are already in the output."""

    resume_after: int | None = None

    def write(self, result: FrameResult) -> None:
        if self.resume_after is not None and result.frame_index <= self.resume_after:
            return
        self._write(result)

    def _write(self, result: FrameResult) -> None:
        raise NotImplementedError


# -- overlay video -----------------------------------------------------------------------

_ORIGIN = re.compile(r"origin_s=(\d+(?:/\d+)?)")


class OverlaySink(_Resumable):
    """``overlay.mp4``: the frames with masks, contours, boxes and labels drawn.

    The first frame written is the video's t = 0 (a run with ``--start`` gives a video of
    that part); later frames keep their source spacing (variable rates included). The
    source's first frame time is stored in the MP4 ``comment`` (``origin_s=``) so a
    resumed run continues the same timeline. Audio is copied from the source (no
    re-encoding) over the same span.
    """

    def __init__(self, out_dir: Path, info: VideoInfo, *, annotator: MaskAnnotator | None = None,
                 copy_audio: bool = True, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / "overlay.mp4"
        self.tmp = _tmp(self.final)
        self.info = info
        self.annotator = annotator or MaskAnnotator()
        self.copy_audio = copy_audio and info.has_audio
        self.resume_after = resume_after
        self.notes: list[str] = []
        if self.copy_audio and is_stream(info.source):  # its bytes went to the decoder
            self.copy_audio = False
            self.notes.append("audio not copied: the source is a pipe, read once for video")
        self._writer: VideoWriter | None = None
        self._origin: int | None = None  # source pts (time_base units) of the video's t = 0
        if resume_after is not None:
            if not self.final.is_file():
                raise _missing(self.final)
            self._origin = self._read_origin(self.final)

    def _read_origin(self, path: Path) -> int:
        import av

        with av.open(str(path)) as old:
            match = _ORIGIN.search(old.metadata.get("comment", ""))
        if match is None:
            raise ValueError(f"cannot resume {str(path)!r}: it has no samvideo origin_s tag")
        return round(Fraction(match.group(1)) / self.info.time_base)

    def _open(self, origin: int) -> VideoWriter:
        origin_s = origin * self.info.time_base
        audio = self.info.source if self.copy_audio else None
        writer = VideoWriter(self.tmp, self.info, audio_from=audio, audio_start_s=origin_s,
                             comment=f"samvideo overlay; origin_s={origin_s}")
        self.notes += writer.notes
        return writer

    def _write(self, result: FrameResult) -> None:
        if result.image is None:
            raise ValueError(f"frame {result.frame_index} has no image to draw the overlay on")
        pts = round(result.time_s / self.info.time_base)
        if self._writer is None:
            self._writer = self._start(pts)
        self._writer.write(self.annotator.annotate(result.image, result), pts - self._origin)

    def _start(self, pts: int | None) -> VideoWriter:
        if self._origin is None:
            self._origin = pts
        writer = self._open(self._origin)
        if self.resume_after is not None:  # the earlier frames, stream-copied
            writer.copy_from(self.final, before_pts=None if pts is None else pts - self._origin)
        return writer

    def close(self) -> list[Path]:
        if self._writer is None:
            if self.resume_after is None:
                return []  # no frame: no video
            self._writer = self._start(None)
        self._writer.close()
        return [_replace(self.tmp, self.final)]


# -- PNG folders -------------------------------------------------------------------------


class _FolderSink(_Resumable):
    """A folder of PNGs named by source frame index, written under ``.NAME.part``."""

    folder = ""

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / self.folder
        self.tmp = _tmp(self.final)
        self.info = info
        self.resume_after = resume_after
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        if resume_after is None:
            self.tmp.mkdir(parents=True)
            return
        if not self.final.is_dir():
            raise _missing(self.final)
        # the kept frames are linked (or copied) into the new folder: the old one stays
        # whole in place until close(), so a resume that fails can be tried again
        for png in sorted(self.final.rglob("*.png")):
            if png.stem.isdigit() and int(png.stem) <= resume_after:
                target = self.tmp / png.relative_to(self.final)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(png, target)
                except OSError:
                    shutil.copy2(png, target)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def close(self) -> list[Path]:
        return [_replace(self.tmp, self.final)]


class DavisSink(_FolderSink):
    """``masks/00000.png`` …: one indexed PNG per frame, DAVIS palette, named by the
    source frame index; pixel value = object id, 0 = background. ``np.array(Image.open(
    path))`` gives the (H, W) uint8 label map, as the DAVIS evaluation code reads it."""

    folder = "masks"

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None) -> None:
        super().__init__(out_dir, info, resume_after=resume_after)
        self.palette = davis_palette()

    def _write(self, result: FrameResult) -> None:
        im = Image.fromarray(result.label_map(), mode="P")
        im.putpalette(self.palette)
        im.save(self.tmp / f"{result.frame_index:05d}.png", optimize=False, compress_level=1)


class DavisBinarySink(_FolderSink):
    """``masks-binary/<id:03d>/00000.png``: a 1-bit black/white PNG per object per frame
    (white = object), from the frame the object starts on; all black while it is lost."""

    folder = "masks-binary"

    def _write(self, result: FrameResult) -> None:
        for obj, mask in object_masks(result)[1]:
            folder = self.tmp / f"{obj.object_id:03d}"
            folder.mkdir(exist_ok=True)
            Image.fromarray(mask).save(folder / f"{result.frame_index:05d}.png")


class CutoutSink(_FolderSink):
    """``cutout/<id:03d>/00000.png``: the frame as an RGBA PNG per object per frame, alpha
    255 on the object and 0 elsewhere (a transparent background), full frame size."""

    folder = "cutout"

    def _write(self, result: FrameResult) -> None:
        if result.image is None:
            raise ValueError(f"frame {result.frame_index} has no image to cut the objects from")
        for obj, mask in object_masks(result)[1]:
            folder = self.tmp / f"{obj.object_id:03d}"
            folder.mkdir(exist_ok=True)
            rgba = np.dstack([result.image, mask.astype(np.uint8) * 255])
            Image.fromarray(rgba, mode="RGBA").save(folder / f"{result.frame_index:05d}.png",
                                                    compress_level=1)


# -- line-oriented text files ------------------------------------------------------------


def _keep_lines(final: Path, out, resume_after: int, frame_of: Callable[[str], int]) -> None:
    """Copy the lines of ``final`` whose frame is ``<= resume_after`` to ``out``."""
    if not final.is_file():
        raise _missing(final)
    with final.open(encoding="utf-8") as old:
        for line in old:
            if line.strip() and frame_of(line) <= resume_after:
                out.write(line)


class JsonlSink(_Resumable):
    """``tracks.jsonl``: one JSON object per frame per object (see ObjectResult.to_json)."""

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / "tracks.jsonl"
        self.tmp = _tmp(self.final)
        self.resume_after = resume_after
        self.file = self.tmp.open("w", encoding="utf-8")
        if resume_after is not None:
            _keep_lines(self.final, self.file, resume_after, lambda s: json.loads(s)["frame"])

    def _write(self, result: FrameResult) -> None:
        for obj in result.objects:
            self.file.write(json.dumps(obj.to_json()) + "\n")

    def close(self) -> list[Path]:
        self.file.close()
        return [_replace(self.tmp, self.final)]


def encode_rle(mask: np.ndarray) -> dict:
    """pycocotools RLE of an (H, W) bool mask: ``{"size": [H, W], "counts": str}``
    (``counts`` as text, as COCO JSON files hold it)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


class MotsSink(_Resumable):
    """``masks.mots.txt``: KITTI MOTS lines ``frame id class_id height width rle``, frame
    = source frame index, ``id = class_id * 1000 + object_id``, pycocotools RLE counts;
    masks never overlap and empty masks are left out, as TrackEval requires."""

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / "masks.mots.txt"
        self.tmp = _tmp(self.final)
        self.resume_after = resume_after
        self.file = self.tmp.open("w", encoding="utf-8")
        if resume_after is not None:
            _keep_lines(self.final, self.file, resume_after, lambda s: int(s.split(" ", 1)[0]))

    def _write(self, result: FrameResult) -> None:
        for obj, mask in object_masks(result)[1]:
            if not mask.any():
                continue
            rle = encode_rle(mask)
            h, w = rle["size"]
            track_id = MOTS_CLASS_ID * 1000 + obj.object_id
            self.file.write(f"{result.frame_index} {track_id} {MOTS_CLASS_ID} {h} {w} "
                            f"{rle['counts']}\n")

    def close(self) -> list[Path]:
        self.file.close()
        return [_replace(self.tmp, self.final)]


class CocoSink(_Resumable):
    """``masks.coco.json``: COCO-style ``images`` (one per frame) and ``annotations`` (one
    per frame per object with a non-empty mask), segmentations as pycocotools RLE.

    Image records: ``id`` (= frame index + 1), ``frame_index``, ``time`` (s), ``width``,
    ``height``, ``file_name`` (the DAVIS PNG), ``object_ids`` (objects on the frame).
    Annotation records add ``object_id``, ``segmentation`` (RLE, ``counts`` as text),
    ``area``, ``bbox`` (COCO's own XYWH), ``bbox_xywh`` (the same), ``bbox_xyxy``,
    ``score`` and ``state``. The file holds one record per line, so it can be read back
    a line at a time (a resumed run does).
    """

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / "masks.coco.json"
        self.tmp = _tmp(self.final)
        self.info = info
        self.resume_after = resume_after
        self.images = self.tmp.with_suffix(".images")
        self.annotations = self.tmp.with_suffix(".annotations")
        self._img = self.images.open("w", encoding="utf-8")
        self._ann = self.annotations.open("w", encoding="utf-8")
        self._next_ann = 1
        if resume_after is not None:
            self._resume(resume_after)

    def _resume(self, resume_after: int) -> None:
        if not self.final.is_file():
            raise _missing(self.final)
        for section, record in _coco_records(self.final):
            if record["frame_index"] > resume_after:
                continue
            out = self._img if section == "images" else self._ann
            out.write(json.dumps(record) + "\n")
            if section == "annotations":
                self._next_ann = max(self._next_ann, record["id"] + 1)

    def _write(self, result: FrameResult) -> None:
        image_id = result.frame_index + 1
        h, w = result._size()
        self._img.write(json.dumps({
            "id": image_id, "frame_index": result.frame_index, "time": round(result.time_s, 6),
            "width": w, "height": h, "file_name": f"{result.frame_index:05d}.png",
            "object_ids": [o.object_id for o in result.objects],
        }) + "\n")
        for obj, mask in object_masks(result)[1]:
            if obj.box_xyxy is None or not mask.any():
                continue
            x1, y1, x2, y2 = (round(float(v), 2) for v in obj.box_xyxy)
            xywh = [x1, y1, round(x2 - x1, 2), round(y2 - y1, 2)]
            self._ann.write(json.dumps({
                "id": self._next_ann, "image_id": image_id, "category_id": 1,
                "object_id": obj.object_id, "frame_index": result.frame_index,
                "time": round(result.time_s, 6),
                "segmentation": encode_rle(mask), "area": int(mask.sum()),
                "bbox": xywh, "bbox_xywh": xywh, "bbox_xyxy": [x1, y1, x2, y2],
                "score": round(float(obj.score), 4), "state": obj.state, "iscrowd": 0,
            }) + "\n")
            self._next_ann += 1

    def close(self) -> list[Path]:
        self._img.close()
        self._ann.close()
        info = {"description": "samvideo masks", "source": self.info.source,
                "rate": str(self.info.rate), "time_unit": "s",
                "bbox": "bbox and bbox_xywh are XYWH, bbox_xyxy is XYXY, pixels"}
        with self.tmp.open("w", encoding="utf-8") as out:
            out.write('{"info": ' + json.dumps(info) + ",\n")
            out.write('"categories": [{"id": 1, "name": "object"}],\n')
            for key, part in (("images", self.images), ("annotations", self.annotations)):
                out.write(f'"{key}": [\n')
                with part.open(encoding="utf-8") as lines:
                    for i, line in enumerate(lines):
                        out.write((",\n" if i else "") + line.rstrip("\n"))
                out.write("\n]" + (",\n" if key == "images" else "}\n"))
        self.images.unlink()
        self.annotations.unlink()
        return [_replace(self.tmp, self.final)]


def _coco_records(path: Path) -> Iterator[tuple[str, dict]]:
    """``(section, record)`` for each image and annotation of a samvideo COCO file, read
    a line at a time."""
    section = None
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith('"images": ['):
                section = "images"
            elif line.startswith('"annotations": ['):
                section = "annotations"
            elif section and line.startswith('{"id"'):
                yield section, json.loads(line.rstrip().rstrip(","))


# -- NPZ ---------------------------------------------------------------------------------


class NpzSink(_Resumable):
    """``masks.npz``: ``labels`` (T, H, W) uint8 (0 = background, else object id),
    ``frame_indices`` (T,) int64 (source frames), ``times`` (T,) float64 seconds,
    ``object_ids`` (N,) int32, ``boxes_xyxy`` (T, N, 4) float32 pixels (NaN where the
    object is not on the frame), ``scores`` (T, N) float32 (NaN likewise), compressed.
    Label maps stream to a temporary file, so memory stays flat."""

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / "masks.npz"
        self.tmp = _tmp(self.final)
        self.resume_after = resume_after
        self.raw_path = self.tmp.with_suffix(".labels")
        self.raw = self.raw_path.open("wb")
        self.shape: tuple[int, int] = (info.height, info.width)
        self.frames: list[int] = []
        self.times: list[float] = []
        self.per_frame: list[dict[int, tuple]] = []
        if resume_after is not None:
            self._resume(resume_after)

    def _resume(self, resume_after: int) -> None:
        if not self.final.is_file():
            raise _missing(self.final)
        with np.load(self.final) as old:
            frames = old["frame_indices"]
            keep = int(np.searchsorted(frames, resume_after, side="right"))
            ids, boxes, scores = old["object_ids"], old["boxes_xyxy"], old["scores"]
            self.frames = [int(f) for f in frames[:keep]]
            self.times = [float(t) for t in old["times"][:keep]]
        for t in range(keep):
            self.per_frame.append({int(i): (tuple(boxes[t, j]), float(scores[t, j]))
                                   for j, i in enumerate(ids) if np.isfinite(scores[t, j])})
        with zipfile.ZipFile(self.final) as zf, zf.open("labels.npy") as f:
            fmt = np.lib.format
            version = fmt.read_magic(f)
            header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, _ = header(f)
            self.shape = tuple(shape[1:])
            _copy_bytes(f, self.raw, keep * int(np.prod(self.shape)))

    def _write(self, result: FrameResult) -> None:
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
        h, w = self.shape
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


def _copy_bytes(src, dst, count: int, chunk: int = 1 << 22) -> None:
    while count > 0:
        data = src.read(min(chunk, count))
        if not data:
            raise ValueError(f"cannot resume: {getattr(src, 'name', 'labels.npy')!r} is short "
                             f"by {count} bytes")
        dst.write(data)
        count -= len(data)


# -- registry ----------------------------------------------------------------------------

SinkFactory = Callable[..., Sink]  # (out_dir, info, *, resume_after=None) -> Sink
EXPORTERS: dict[str, SinkFactory] = {
    "video": OverlaySink,
    "davis": DavisSink,
    "davis-binary": DavisBinarySink,
    "cutout": CutoutSink,
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
               annotator: MaskAnnotator | None = None,
               resume_after: int | None = None) -> list[Sink]:
    """One sink per export name (see :data:`EXPORTERS`); ``resume_after`` continues an
    interrupted run's outputs after that source frame."""
    sinks: list[Sink] = []
    for name in names:
        if name == "video":
            sinks.append(OverlaySink(out_dir, info, annotator=annotator,
                                     resume_after=resume_after))
        else:
            sinks.append(EXPORTERS[name](out_dir, info, resume_after=resume_after))
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

    @property
    def notes(self) -> list[str]:
        """What the sinks want the user to know (e.g. audio that could not be copied)."""
        return [n for sink in self.sinks for n in getattr(sink, "notes", ())]

    def _run(self) -> None:
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
        paths: list[Path] = []
        for sink in self.sinks:  # close every sink, so each leaves a readable file
            try:
                paths += sink.close()
            except BaseException as exc:
                self._error = self._error or exc
        if self._error is not None:
            raise self._error
        return paths


def write_all(results: Iterable[FrameResult], sinks: Sequence[Sink]) -> list[Path]:
    """Write every result to every sink in this thread and close them (for tests and
    callers who bring their own results)."""
    try:
        for result in results:
            for sink in sinks:
                sink.write(result)
    finally:
        paths = [p for sink in sinks for p in sink.close()]
    return paths
