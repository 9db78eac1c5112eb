"""What every sink shares: the protocol, temporary names that become final when whole,
the frames an interrupted run already wrote (``resume_after``), and checkpoints.

A checkpoint (:meth:`Sink.checkpoint`) makes a sink's temporary files consistent up to
the last frame written and returns what it takes to find that point again (byte
sizes, closed video segments) as JSON data. After the process is killed, the sink's
``recover(out_dir, info, data, last_frame)`` turns its temporary files back into the
final output holding exactly the frames up to the checkpoint, as if the run had
stopped cleanly there; ``--resume`` then continues it as usual.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from samvideo.results import FrameResult, ObjectResult


class Sink(Protocol):
    """An output: ``write`` every frame in source order, then ``close`` once."""

    #: the ``--export`` name (the key of its checkpoint data)
    export: str

    def write(self, result: FrameResult) -> None: ...

    def checkpoint(self) -> dict:
        """Make the temporary files whole up to the last frame written; return the JSON
        data ``recover`` needs to cut them back to this point."""
        ...

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


def truncate(path: Path, size: int) -> None:
    """Cut a file written by a killed run back to ``size`` bytes (its checkpoint)."""
    if path.stat().st_size < size:
        raise ValueError(f"cannot recover {str(path)!r}: it holds {path.stat().st_size} bytes, "
                         f"its checkpoint says {size}")
    with path.open("r+b") as f:
        f.truncate(size)


def missing(final: Path) -> ValueError:
    return ValueError(f"cannot resume: {str(final)!r} is missing (it was not exported by the "
                      "interrupted run, or was moved)")


def object_masks(result: FrameResult) -> tuple[np.ndarray, list[tuple[ObjectResult, np.ndarray]]]:
    """The frame's (H, W) uint8 label map and each object's (H, W) bool mask taken from
    it, so that every export holds exactly the pixels of the PNG label map."""
    labels = result.label_map()
    return labels, [(obj, labels == obj.object_id) for obj in result.objects]


class Categories:
    """Object names as category ids (COCO ``categories``, MOTS classes): 1, 2, ... in the
    order the names first come (a run gives its prompts' names first, so every process
    of a resumed run numbers them alike); unnamed objects are ``"object"``."""

    def __init__(self, names: Iterable[str | None] = ()) -> None:
        self.ids: dict[str, int] = {}
        for name in names:
            self.id_of(name)

    def id_of(self, name: str | None) -> int:
        return self.ids.setdefault(name or "object", len(self.ids) + 1)

    def to_json(self) -> list[dict]:
        return [{"id": i, "name": n} for n, i in self.ids.items()] or [{"id": 1,
                                                                       "name": "object"}]


class Resumable(ABC):
    """Shared by the sinks: frames ``<= resume_after`` are already in the output."""

    resume_after: int | None = None

    def write(self, result: FrameResult) -> None:
        if self.resume_after is not None and result.frame_index <= self.resume_after:
            return
        self._write(result)

    @abstractmethod
    def _write(self, result: FrameResult) -> None:
        """Write one frame's results (a frame not yet in the output)."""

