"""Folders of PNGs named by source frame index: DAVIS label maps, binary masks per object,
RGBA cut-outs per object."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from samvideo.export.base import Resumable, missing, move_into_place, object_masks, tmp_path
from samvideo.masks import davis_palette
from samvideo.results import FrameResult
from samvideo.video import VideoInfo


class _FolderSink(Resumable):
    """A folder of PNGs named by source frame index, written under ``.NAME.part``."""

    folder = ""

    def __init__(self, out_dir: Path, info: VideoInfo, *, resume_after: int | None = None) -> None:
        self.final = Path(out_dir) / self.folder
        self.tmp = tmp_path(self.final)
        self.info = info
        self.resume_after = resume_after
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        if resume_after is None:
            self.tmp.mkdir(parents=True)
            return
        if not self.final.is_dir():
            raise missing(self.final)
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

    def checkpoint(self) -> dict:
        return {}  # every PNG up to the last frame written is whole

    @classmethod
    def recover(cls, out_dir: Path, info: VideoInfo, data: dict, last_frame: int) -> None:
        """Drop the killed run's PNGs after the checkpoint (the last one may be half
        written) and move the folder into place."""
        final = Path(out_dir) / cls.folder
        tmp = tmp_path(final)
        if not tmp.is_dir():
            return
        for png in tmp.rglob("*.png"):
            if not png.stem.isdigit() or int(png.stem) > last_frame:
                png.unlink()
        for stray in tmp.rglob("*"):  # PIL's temporary files, if any
            if stray.is_file() and stray.suffix != ".png":
                stray.unlink()
        move_into_place(tmp, final)

    def close(self) -> list[Path]:
        return [move_into_place(self.tmp, self.final)]


class DavisSink(_FolderSink):
    """``masks/00000.png`` …: one indexed PNG per frame, DAVIS palette, named by the
    source frame index; pixel value = object id, 0 = background. ``np.array(Image.open(
    path))`` gives the (H, W) uint8 label map, as the DAVIS evaluation code reads it."""

    export = "davis"
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

    export = "davis-binary"
    folder = "masks-binary"

    def _write(self, result: FrameResult) -> None:
        for obj, mask in object_masks(result)[1]:
            folder = self.tmp / f"{obj.object_id:03d}"
            folder.mkdir(exist_ok=True)
            Image.fromarray(mask).save(folder / f"{result.frame_index:05d}.png")


class CutoutSink(_FolderSink):
    """``cutout/<id:03d>/00000.png``: the frame as an RGBA PNG per object per frame, alpha
    255 on the object and 0 elsewhere (a transparent background), full frame size."""

    export = "cutout"
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
