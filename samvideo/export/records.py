"""Records of every frame and object: ``tracks.jsonl``, KITTI MOTS text, COCO RLE JSON,
and the NPZ arrays."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from samvideo.export.base import Resumable, missing, move_into_place, object_masks, tmp_path
from samvideo.results import FrameResult
from samvideo.video import VideoInfo

#: KITTI MOTS class id written for every object (1 = "car" in KITTI; samvideo's objects
#: have no class, and TrackEval reads any id). Object ids are ``class_id * 1000 + id``.
MOTS_CLASS_ID = 1


def _keep_lines(final: Path, out, resume_after: int, frame_of: Callable[[str], int]) -> None:
    """Copy the lines of ``final`` whose frame is ``<= resume_after`` to ``out``."""
    if not final.is_file():
        raise missing(final)
    with final.open(encoding="utf-8") as old:
        for line in old:
            if line.strip() and frame_of(line) <= resume_after:
                out.write(line)


class JsonlSink(Resumable):
    """``tracks.jsonl``: one JSON object per frame per object (see ObjectResult.to_json)."""

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / "tracks.jsonl"
        self.tmp = tmp_path(self.final)
        self.resume_after = resume_after
        self.file = self.tmp.open("w", encoding="utf-8")
        if resume_after is not None:
            _keep_lines(self.final, self.file, resume_after, lambda s: json.loads(s)["frame"])

    def _write(self, result: FrameResult) -> None:
        for obj in result.objects:
            self.file.write(json.dumps(obj.to_json()) + "\n")

    def close(self) -> list[Path]:
        self.file.close()
        return [move_into_place(self.tmp, self.final)]


def encode_rle(mask: np.ndarray) -> dict:
    """pycocotools RLE of an (H, W) bool mask: ``{"size": [H, W], "counts": str}``
    (``counts`` as text, as COCO JSON files hold it)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


class MotsSink(Resumable):
    """``masks.mots.txt``: KITTI MOTS lines ``frame id class_id height width rle``, frame
    = source frame index, ``id = class_id * 1000 + object_id``, pycocotools RLE counts;
    masks never overlap and empty masks are left out, as TrackEval requires."""

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / "masks.mots.txt"
        self.tmp = tmp_path(self.final)
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
        return [move_into_place(self.tmp, self.final)]


class CocoSink(Resumable):
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
        self.tmp = tmp_path(self.final)
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
            raise missing(self.final)
        for section, record in _coco_records(self.final):
            if record["frame_index"] > resume_after:
                continue
            out = self._img if section == "images" else self._ann
            out.write(json.dumps(record) + "\n")
            if section == "annotations":
                self._next_ann = max(self._next_ann, record["id"] + 1)

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
        return [move_into_place(self.tmp, self.final)]


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
    ``object_ids`` (N,) int32, ``boxes_xyxy`` (T, N, 4) float32 pixels (NaN where the
    object is not on the frame), ``scores`` (T, N) float32 (NaN likewise), compressed.
    Label maps stream to a temporary file, so memory stays flat."""

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / "masks.npz"
        self.tmp = tmp_path(self.final)
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
            raise missing(self.final)
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
        return [move_into_place(self.tmp, self.final)]


def _copy_bytes(src, dst, count: int, chunk: int = 1 << 22) -> None:
    while count > 0:
        data = src.read(min(chunk, count))
        if not data:
            raise ValueError(f"cannot resume: {getattr(src, 'name', 'labels.npy')!r} is short "
                             f"by {count} bytes")
        dst.write(data)
        count -= len(data)
