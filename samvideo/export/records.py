"""Records of every frame and object: ``tracks.jsonl``, KITTI MOTS text, COCO RLE JSON,
and the NPZ arrays."""

from __future__ import annotations

import json
import shutil
import zipfile
from abc import abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from samvideo.export.base import (
    Categories,
    Resumable,
    missing,
    move_into_place,
    object_masks,
    tmp_path,
    truncate,
)
from samvideo.results import FrameResult
from samvideo.video import VideoInfo

#: KITTI MOTS class id of unnamed objects when no object is named (1 = "car" in KITTI;
#: TrackEval reads any id); named objects get their name's category id
#: (:class:`~samvideo.export.base.Categories`). Object ids are ``class_id * 1000 + id``.
MOTS_CLASS_ID = 1


def _keep_lines(final: Path, out, resume_after: int, frame_of: Callable[[str], int]) -> None:
    """Copy the lines of ``final`` whose frame is ``<= resume_after`` to ``out``."""
    if not final.is_file():
        raise missing(final)
    with final.open(encoding="utf-8") as old:
        for line in old:
            if line.strip() and frame_of(line) <= resume_after:
                out.write(line)


class _LinesSink(Resumable):
    """A text file of lines in frame order, written under ``.NAME.part``."""

    filename = ""

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / self.filename
        self.tmp = tmp_path(self.final)
        self.resume_after = resume_after
        self.file = self.tmp.open("w", encoding="utf-8")
        if resume_after is not None:
            _keep_lines(self.final, self.file, resume_after, self.frame_of)

    @staticmethod
    @abstractmethod
    def frame_of(line: str) -> int:
        """The frame index a line of this file is about."""

    def checkpoint(self) -> dict:
        self.file.flush()
        return {"bytes": self.file.tell()}

    @classmethod
    def recover(cls, out_dir: Path, info: VideoInfo, data: dict, last_frame: int) -> None:
        """Cut the killed run's ``.NAME.part`` back to its checkpoint and move it into
        place (without one, the final file is kept: it holds the checkpoint's frames)."""
        final = Path(out_dir) / cls.filename
        tmp = tmp_path(final)
        if tmp.is_file() and "bytes" in data:
            truncate(tmp, int(data["bytes"]))
            move_into_place(tmp, final)

    def close(self) -> list[Path]:
        self.file.close()
        return [move_into_place(self.tmp, self.final)]


class JsonlSink(_LinesSink):
    """``tracks.jsonl``: one JSON object per frame per object (see ObjectResult.to_json)."""

    export = "jsonl"
    filename = "tracks.jsonl"

    @staticmethod
    def frame_of(line: str) -> int:
        return json.loads(line)["frame"]

    def _write(self, result: FrameResult) -> None:
        for obj in result.objects:
            self.file.write(json.dumps(obj.to_json()) + "\n")


def encode_rle(mask: np.ndarray) -> dict:
    """pycocotools RLE of an (H, W) bool mask: ``{"size": [H, W], "counts": str}``
    (``counts`` as text, as COCO JSON files hold it)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


class MotsSink(_LinesSink):
    """``masks.mots.txt``: KITTI MOTS lines ``frame id class_id height width rle``, frame
    = source frame index, ``id = class_id * 1000 + object_id``, pycocotools RLE counts;
    masks never overlap and empty masks are left out, as TrackEval requires. ``class_id``
    is the object's name's category (:class:`~samvideo.export.base.Categories`, as in
    the COCO file)."""

    export = "mots"
    filename = "masks.mots.txt"

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None,
                 categories: Categories | None = None) -> None:
        super().__init__(out_dir, info, resume_after=resume_after)
        self.categories = categories or Categories()

    @staticmethod
    def frame_of(line: str) -> int:
        return int(line.split(" ", 1)[0])

    def _write(self, result: FrameResult) -> None:
        for obj, mask in object_masks(result)[1]:
            if not mask.any():
                continue
            rle = encode_rle(mask)
            h, w = rle["size"]
            class_id = self.categories.id_of(obj.name)
            track_id = class_id * 1000 + obj.object_id
            self.file.write(f"{result.frame_index} {track_id} {class_id} {h} {w} "
                            f"{rle['counts']}\n")


class CocoSink(Resumable):
    """``masks.coco.json``: COCO-style ``images`` (one per frame) and ``annotations`` (one
    per frame per object with a non-empty mask), segmentations as pycocotools RLE.

    Image records: ``id`` (= frame index + 1), ``frame_index``, ``time`` (s), ``width``,
    ``height``, ``file_name`` (the DAVIS PNG), ``object_ids`` (objects on the frame).
    Annotation records add ``object_id``, ``name`` (the object's name, or null),
    ``category_id``, ``segmentation`` (RLE, ``counts`` as text), ``area``, ``bbox``
    (COCO's own XYWH), ``bbox_xywh`` (the same), ``bbox_xyxy``, ``score`` and ``state``.
    ``categories`` holds one category per object name, in the order the names first
    appear (unnamed objects are ``"object"``). The file holds one record per line, so
    it can be read back a line at a time (a resumed run does).
    """

    export = "coco"
    filename = "masks.coco.json"

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None,
                 categories: Categories | None = None) -> None:
        self.final = Path(out_dir) / self.filename
        self.tmp = tmp_path(self.final)
        self.info = info
        self.resume_after = resume_after
        self.images, self.annotations = _coco_parts(self.tmp)
        self._img = self.images.open("w", encoding="utf-8")
        self._ann = self.annotations.open("w", encoding="utf-8")
        self._next_ann = 1
        self.categories = categories or Categories()
        if resume_after is not None:
            self._resume(resume_after)

    def _resume(self, resume_after: int) -> None:
        if not self.final.is_file():
            raise missing(self.final)
        for section, record in _coco_records(self.final):
            if record["frame_index"] > resume_after:
                continue
            out = self._img if section == "images" else self._ann
            out.write(json.dumps(record) + "\n")
            if section == "annotations":
                self._next_ann = max(self._next_ann, record["id"] + 1)
                self.categories.id_of(record.get("name"))

    def _write(self, result: FrameResult) -> None:
        image_id = result.frame_index + 1
        h, w = result.size()
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
                "id": self._next_ann, "image_id": image_id,
                "category_id": self.categories.id_of(obj.name), "object_id": obj.object_id,
                "name": obj.name, "frame_index": result.frame_index,
                "time": round(result.time_s, 6),
                "segmentation": encode_rle(mask), "area": int(mask.sum()),
                "bbox": xywh, "bbox_xywh": xywh, "bbox_xyxy": [x1, y1, x2, y2],
                "score": round(float(obj.score), 4), "state": obj.state, "iscrowd": 0,
            }) + "\n")
            self._next_ann += 1

    def checkpoint(self) -> dict:
        self._img.flush()
        self._ann.flush()
        return {"images": self._img.tell(), "annotations": self._ann.tell()}

    @classmethod
    def recover(cls, out_dir: Path, info: VideoInfo, data: dict, last_frame: int) -> None:
        """Cut the killed run's record files back to the checkpoint and write the JSON."""
        final = Path(out_dir) / cls.filename
        images, annotations = _coco_parts(tmp_path(final))
        if not (images.is_file() and annotations.is_file() and "images" in data):
            return
        truncate(images, int(data["images"]))
        truncate(annotations, int(data["annotations"]))
        categories = Categories()
        with annotations.open(encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                categories.ids.setdefault(record.get("name") or "object", record["category_id"])
        _write_coco(final, info, categories, images, annotations)

    def close(self) -> list[Path]:
        self._img.close()
        self._ann.close()
        return [_write_coco(self.final, self.info, self.categories, self.images,
                            self.annotations)]


def _coco_parts(tmp: Path) -> tuple[Path, Path]:
    """The two record files a COCO sink streams to (``.part`` names: a crashed run's are
    cleaned up with the rest)."""
    return tmp.with_suffix(".images.part"), tmp.with_suffix(".annotations.part")


def _write_coco(final: Path, info: VideoInfo, categories: Categories, images: Path,
                annotations: Path) -> Path:
    """Join the image and annotation records into the COCO JSON file, one record a line;
    the record files are removed and the file is moved into place."""
    tmp = tmp_path(final)
    about = {"description": "samvideo masks", "source": info.source, "rate": str(info.rate),
             "time_unit": "s", "bbox": "bbox and bbox_xywh are XYWH, bbox_xyxy is XYXY, pixels"}
    cats = sorted(categories.to_json(), key=lambda c: c["id"])
    with tmp.open("w", encoding="utf-8") as out:
        out.write('{"info": ' + json.dumps(about) + ",\n")
        out.write('"categories": ' + json.dumps(cats) + ",\n")
        for key, part in (("images", images), ("annotations", annotations)):
            out.write(f'"{key}": [\n')
            with part.open(encoding="utf-8") as lines:
                for i, line in enumerate(lines):
                    out.write((",\n" if i else "") + line.rstrip("\n"))
            out.write("\n]" + (",\n" if key == "images" else "}\n"))
    images.unlink()
    annotations.unlink()
    return move_into_place(tmp, final)


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


class NpzSink(Resumable):
    """``masks.npz``: ``labels`` (T, H, W) uint8 (0 = background, else object id),
    ``frame_indices`` (T,) int64 (source frames), ``times`` (T,) float64 seconds,
    ``object_ids`` (N,) int32, ``object_names`` (N,) str ("" where unnamed),
    ``boxes_xyxy`` (T, N, 4) float32 pixels of the mask's box (NaN where the object is
    not on the frame, or is lost), ``scores`` (T, N) float32 (NaN where it is not on the
    frame), compressed.
    Label maps stream to a temporary file and each frame's boxes and scores to a line
    of another, so memory stays flat and a checkpoint is a byte count of each."""

    export = "npz"
    filename = "masks.npz"

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / self.filename
        self.tmp = tmp_path(self.final)
        self.resume_after = resume_after
        self.raw_path, self.meta_path = _npz_parts(self.tmp)
        self.raw = self.raw_path.open("wb")
        self.meta = self.meta_path.open("w", encoding="utf-8")
        self.shape: tuple[int, int] = (info.height, info.width)
        self.frames = _NpzFrames()
        if resume_after is not None:
            self._resume(resume_after)

    def _resume(self, resume_after: int) -> None:
        if not self.final.is_file():
            raise missing(self.final)
        with np.load(self.final) as old:
            frames = old["frame_indices"]
            keep = int(np.searchsorted(frames, resume_after, side="right"))
            ids, boxes, scores = old["object_ids"], old["boxes_xyxy"], old["scores"]
            names = old["object_names"] if "object_names" in old.files else [""] * len(ids)
            times = old["times"]
            for t in range(keep):
                self._add(int(frames[t]), float(times[t]), {
                    int(i): ([float(v) for v in boxes[t, j]], float(scores[t, j]),
                             str(names[j]) or None)
                    for j, i in enumerate(ids) if np.isfinite(scores[t, j])})
        with zipfile.ZipFile(self.final) as zf, zf.open("labels.npy") as f:
            fmt = np.lib.format
            version = fmt.read_magic(f)
            header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, _ = header(f)
            self.shape = tuple(shape[1:])
            _copy_bytes(f, self.raw, keep * int(np.prod(self.shape)))

    def _add(self, frame: int, time_s: float, objects: dict[int, tuple]) -> None:
        """One frame's record: ``objects`` maps id -> (box XYXY or 4 NaN, score, name)."""
        self.frames.add(frame, time_s, objects)
        self.meta.write(json.dumps([frame, time_s, [[i, *v] for i, v in objects.items()]])
                        + "\n")

    def _write(self, result: FrameResult) -> None:
        labels = result.label_map()
        self.shape = labels.shape
        self.raw.write(np.ascontiguousarray(labels).tobytes())
        self._add(result.frame_index, result.time_s, {
            o.object_id: ([float(v) for v in o.box_xyxy]
                          if o.box_xyxy is not None and o.state != "lost" else [np.nan] * 4,
                          float(o.score), o.name)
            for o in result.objects
        })

    def checkpoint(self) -> dict:
        self.raw.flush()
        self.meta.flush()
        return {"labels": self.raw.tell(), "meta": self.meta.tell(), "shape": list(self.shape)}

    @classmethod
    def recover(cls, out_dir: Path, info: VideoInfo, data: dict, last_frame: int) -> None:
        """Cut the killed run's label and record files back to the checkpoint and write
        the NPZ."""
        final = Path(out_dir) / cls.filename
        raw_path, meta_path = _npz_parts(tmp_path(final))
        if not (raw_path.is_file() and meta_path.is_file() and "labels" in data):
            return
        truncate(raw_path, int(data["labels"]))
        truncate(meta_path, int(data["meta"]))
        frames = _NpzFrames()
        with meta_path.open(encoding="utf-8") as lines:
            for line in lines:
                frame, time_s, objects = json.loads(line)
                frames.add(frame, time_s, {int(o[0]): tuple(o[1:]) for o in objects})
        meta_path.unlink()
        _write_npz(final, tuple(data["shape"]), frames, raw_path)

    def close(self) -> list[Path]:
        self.raw.close()
        self.meta.close()
        self.meta_path.unlink()
        return [_write_npz(self.final, self.shape, self.frames, self.raw_path)]


class _NpzFrames:
    """The per-frame records of an NPZ: frame indices, times, each object's box, score
    and name (small: no pixels)."""

    def __init__(self) -> None:
        self.indices: list[int] = []
        self.times: list[float] = []
        self.objects: list[dict[int, tuple]] = []
        self.names: dict[int, str] = {}

    def add(self, frame: int, time_s: float, objects: dict[int, tuple]) -> None:
        self.indices.append(frame)
        self.times.append(time_s)
        self.objects.append({i: (box, score) for i, (box, score, _) in objects.items()})
        for i, (_, _, name) in objects.items():
            if name:
                self.names.setdefault(i, name)


def _npz_parts(tmp: Path) -> tuple[Path, Path]:
    """The raw labels and the per-frame records an NPZ sink streams to."""
    return tmp.with_suffix(".labels.part"), tmp.with_suffix(".meta.part")


def _write_npz(final: Path, shape: tuple[int, ...], frames: _NpzFrames, raw_path: Path) -> Path:
    """The compressed NPZ from the raw (T, H, W) uint8 label file and the records; the
    raw file is removed and the NPZ moved into place."""
    tmp = tmp_path(final)
    ids = sorted({i for frame in frames.objects for i in frame})
    boxes = np.full((len(frames.indices), len(ids), 4), np.nan, np.float32)
    scores = np.full((len(frames.indices), len(ids)), np.nan, np.float32)
    for t, frame in enumerate(frames.objects):
        for j, object_id in enumerate(ids):
            if object_id in frame:
                boxes[t, j], scores[t, j] = frame[object_id]
    h, w = shape
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        with zf.open("labels.npy", "w", force_zip64=True) as f:
            header = {"descr": "|u1", "fortran_order": False,
                      "shape": (len(frames.indices), h, w)}
            np.lib.format.write_array_header_2_0(f, header)
            with raw_path.open("rb") as raw:
                shutil.copyfileobj(raw, f, 1 << 22)
        arrays = {
            "frame_indices": np.array(frames.indices, np.int64),
            "times": np.array(frames.times, np.float64),
            "object_ids": np.array(ids, np.int32),
            "object_names": np.array([frames.names.get(i, "") for i in ids], dtype=str),
            "boxes_xyxy": boxes,
            "scores": scores,
        }
        for name, arr in arrays.items():
            with zf.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, arr, allow_pickle=False)
    raw_path.unlink()
    return move_into_place(tmp, final)


def _copy_bytes(src, dst, count: int, chunk: int = 1 << 22) -> None:
    while count > 0:
        data = src.read(min(chunk, count))
        if not data:
            raise ValueError(f"cannot resume: {getattr(src, 'name', 'labels.npy')!r} is short "
                             f"by {count} bytes")
        dst.write(data)
        count -= len(data)
