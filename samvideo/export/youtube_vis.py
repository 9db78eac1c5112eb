"""YouTube-VIS style JSON over many clips (``samvideo batch --dataset-export youtube-vis``).

The file holds ``videos`` (``id``, ``name``, ``width``, ``height``, ``length``,
``file_names``), one ``category`` (samvideo's objects have no class: id 1, ``object``)
and ``annotations``, one per object track: ``video_id``, ``object_id``, ``category_id``,
``iscrowd`` 0, ``height``, ``width``, and per frame of the video ``segmentations``
(pycocotools RLE, ``counts`` as text, or None where the object is absent), ``bboxes``
(XYWH or None) and ``areas`` (or None); ``score`` is the mean of the track's scores when
``tracks.jsonl`` was written. ``file_names`` are ``<clip>/<source frame:05d>.jpg``, the
names of frames extracted with ``ffmpeg -i clip.mp4 -start_number 0 <clip>/%05d.jpg``.

Each clip's worker writes the clip's own file (:func:`write_clip`, in the clip folder,
from its ``masks/`` label maps); :func:`merge` joins them, one clip at a time, with the
ids made unique, so the driver never holds more than one clip's masks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from samvideo.export.records import encode_rle

CLIP_FILE = "youtube_vis.json"  # in each clip's folder
BATCH_FILE = "youtube_vis.json"  # in the batch's folder
CATEGORIES = [{"id": 1, "name": "object", "supercategory": "object"}]


def write_clip(out_dir: str | Path, name: str, object_ids: Iterable[int] = ()) -> Path:
    """Write ``out_dir/youtube_vis.json`` for one clip from ``out_dir/masks/*.png``: one
    video, one track per object id found in the masks or given in ``object_ids`` (an
    object never seen still has its track, all None). A file newer than the clip's
    ``run.json`` is kept as it is."""
    from samvideo.metrics import list_mask_files, read_mask

    out_dir = Path(out_dir)
    final = out_dir / CLIP_FILE
    run_json = out_dir / "run.json"
    if final.is_file() and run_json.is_file() and \
            final.stat().st_mtime_ns >= run_json.stat().st_mtime_ns:
        return final
    files = list_mask_files(out_dir / "masks")
    ids = sorted(set(object_ids))
    tracks: dict[int, dict[str, list]] = {}
    height = width = 0
    for k, path in enumerate(files):
        labels = read_mask(path)
        height, width = labels.shape
        present = [int(v) for v in np.unique(labels) if 0 < v < 255]
        for object_id in sorted(set(ids) | set(present)):
            track = tracks.setdefault(object_id, {"segmentations": [None] * k,
                                                  "bboxes": [None] * k, "areas": [None] * k})
            mask = labels == object_id
            area = int(mask.sum())
            box = None
            if area:
                ys, xs = np.nonzero(mask)
                box = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                       int(ys.max() - ys.min() + 1)]
            track["segmentations"].append(encode_rle(mask) if area else None)
            track["bboxes"].append(box)
            track["areas"].append(area if area else None)
    scores = _mean_scores(out_dir / "tracks.jsonl")
    video = {"id": 1, "name": name, "width": width, "height": height, "length": len(files),
             "file_names": [f"{name}/{int(p.stem):05d}.jpg" if p.stem.isdigit()
                            else f"{name}/{p.stem}.jpg" for p in files]}
    annotations = []
    for n, (object_id, track) in enumerate(sorted(tracks.items()), start=1):
        ann = {"id": n, "video_id": 1, "object_id": object_id, "category_id": 1,
               "iscrowd": 0, "height": height, "width": width, **track}
        if object_id in scores:
            ann["score"] = scores[object_id]
        annotations.append(ann)
    data = {"info": {"description": f"samvideo tracks of {name}"}, "videos": [video],
            "categories": CATEGORIES, "annotations": annotations}
    tmp = final.with_name(f".{final.name}.part")
    tmp.write_text(json.dumps(data) + "\n", encoding="utf-8")
    os.replace(tmp, final)
    return final


def _mean_scores(path: Path) -> dict[int, float]:
    """Each object's mean score over the frames where it was seen, from ``tracks.jsonl``."""
    if not path.is_file():
        return {}
    sums: dict[int, list[float]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                if rec.get("area") and rec.get("score") is not None:
                    sums.setdefault(int(rec["object_id"]), []).append(float(rec["score"]))
    return {k: sum(v) / len(v) for k, v in sums.items()}


def merge(clip_dirs: Sequence[str | Path], dest: str | Path, *, description: str = "") -> Path:
    """Join the clip files of ``clip_dirs`` (in that order: video ids 1..N) into one
    YouTube-VIS file at ``dest``, written under a temporary name and renamed when whole.
    ValueError names a clip folder without its file."""
    dest = Path(dest)
    files = [Path(d) / CLIP_FILE for d in clip_dirs]
    for f in files:
        if not f.is_file():
            raise ValueError(f"{f.parent} has no {CLIP_FILE}: its clip is not complete")
    tmp = dest.with_name(f".{dest.name}.part")
    with tmp.open("w", encoding="utf-8") as out:
        out.write('{"info": ' + json.dumps({"description": description}))
        out.write(', "categories": ' + json.dumps(CATEGORIES) + ', "videos": [')
        for video_id, f in enumerate(files, start=1):  # a clip at a time: memory stays flat
            video = _read(f)["videos"][0]
            out.write((", " if video_id > 1 else "") + json.dumps({**video, "id": video_id}))
        out.write('], "annotations": [')
        ann_id = 0
        for video_id, f in enumerate(files, start=1):
            for ann in _read(f)["annotations"]:
                ann_id += 1
                out.write((", " if ann_id > 1 else "")
                          + json.dumps({**ann, "id": ann_id, "video_id": video_id}))
        out.write("]}\n")
    os.replace(tmp, dest)
    return dest


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
