"""What every sink shares: the protocol, temporary names that become final when whole,
and the frames an interrupted run already wrote (``resume_after``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

import numpy as np

from samvideo.results import FrameResult, ObjectResult


class Sink(Protocol):
    """An output: ``write`` every frame in source order, then ``close`` once."""

    def write(self, result: FrameResult) -> None: ...

    def close(self) -> list[Path]:
        """Finish and move the output into place; return the final paths."""
        ...


def tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")


def move_into_place(tmp: Path, final: Path) -> Path:
    if final.is_dir():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def missing(final: Path) -> ValueError:
    return ValueError(f"cannot resume: {str(final)!r} is missing (it was not exported by the "
                      "interrupted run, or was moved)")


def object_masks(result: FrameResult) -> tuple[np.ndarray, list[tuple[ObjectResult, np.ndarray]]]:
    """The frame's (H, W) uint8 label map and each object's (H, W) bool mask taken from
    it, so that every export holds exactly the pixels of the PNG label map."""
    labels = result.label_map()
    return labels, [(obj, labels == obj.object_id) for obj in result.objects]


class Resumable:
    """Shared by the sinks: frames ``<= resume_after`` are already in the output."""

    resume_after: int | None = None

    def write(self, result: FrameResult) -> None:
        if self.resume_after is not None and result.frame_index <= self.resume_after:
            return
        self._write(result)

    def _write(self, result: FrameResult) -> None:
        raise NotImplementedError

