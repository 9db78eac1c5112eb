"""What both trackers share: prompts waiting for their frame, and the objects' ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from samvideo.prompts import ObjectPrompt
from samvideo.results import FrameResult


class PromptQueue:
    """The prompt schedule of a tracker. Subclasses keep ``_objects`` (id → object),
    ``_pending`` (frame index → prompts) and ``_next_index``, and define ``step``."""

    _objects: dict[int, Any]
    _pending: dict[int, list[ObjectPrompt]]
    _next_index: int

    @property
    def object_ids(self) -> list[int]:
        return sorted(self._objects)

    @property
    def next_index(self) -> int:
        """The frame index :meth:`step` assumes when none is given."""
        return self._next_index

    def add_prompts(self, prompts: Sequence[ObjectPrompt]) -> None:
        """Schedule prompts; each applies on its ``frame_index`` (a new object starts
        there; an existing object is corrected from there on)."""
        for p in prompts:
            if p.box is None and not p.points:
                raise ValueError(f"prompt for object {p.object_id} has neither box nor points")
            self._pending.setdefault(p.frame_index, []).append(p)

    def init(self, rgb: np.ndarray, prompts: Sequence[ObjectPrompt], *, frame_index: int = 0,
             time_s: float = 0.0) -> FrameResult:
        """Start tracking on ``rgb`` ((H, W, 3) uint8 RGB) with prompts for this frame."""
        self.add_prompts([replace(p, frame_index=frame_index) for p in prompts])
        return self.step(rgb, frame_index=frame_index, time_s=time_s)
