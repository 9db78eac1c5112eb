"""One object's memory for SAM 2, bounded: :class:`MemoryBank`.

``SAM2VideoPredictor`` keeps every frame's output of a video and looks memories up by
frame index; a stream cannot keep every frame. The bank keeps, per object:

* the **prompted frames** (SAM 2's conditioning frames), at most ``max_prompted`` (the
  latest): each is attended to with temporal position 0;
* the **recent frames'** memories: SAM 2 attends to the last ``num_maskmem - 1`` (6 in
  SAM 2.1). With ``select=False`` (SAM 2 exactly) these are the frames of the last
  ``num_maskmem - 1`` steps, at their distance; with ``select=True`` (SAMURAI) the latest
  ``num_maskmem - 1`` frames that were *admitted* (good scores), by rank, and the
  previous frame besides when ``keep_last`` (SAMURAI always attends to it);
* the **object pointers** of the last ``max_pointers - 1`` steps (15), at their distance
  (all frames, as SAM 2 and SAMURAI attend to them).

Time is counted in *steps*: one per segmented frame (a live run's predicted frames are
not steps, so the memories keep the spacing SAM 2 was trained on). So the bank holds at
most ``max_prompted + num_maskmem`` memory frames and ``max_pointers`` pointers: its size
does not grow with the clip.

A memory frame is (1, 64, h, w) bfloat16 (SAM 2's memory encoder output, stored as the
predictor stores it), a pointer (1, 256) float32. :meth:`MemoryBank.state_dict` gives
them as numpy arrays (float32: bfloat16 converts to it and back exactly).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Memory:
    """One frame's memory.

    Attributes:
        step: the step it was made on.
        features: (1, 64, h, w) bfloat16 memory features.
        pointer: (1, 256) float32 object pointer of that frame.
        admitted: its scores were good enough to enter the memory (always True without
            selection).
    """

    step: int
    features: torch.Tensor
    pointer: torch.Tensor
    admitted: bool = True


class MemoryBank:
    """The memories SAM 2 attends to for one object, bounded (see the module docstring)."""

    def __init__(
        self,
        *,
        num_maskmem: int,  # the model's: memories attended besides the prompts, plus one
        max_pointers: int,  # the model's max_obj_ptrs_in_encoder
        max_prompted: int,  # prompted frames kept (MemoryConfig.max_prompted_frames)
        select: bool,  # SAMURAI's admission (True) or SAM 2's last frames (False)
        keep_last: bool = True,  # with select: also attend to the previous frame
    ) -> None:
        if num_maskmem < 1 or max_pointers < 2 or max_prompted < 1:
            raise ValueError(f"bank sizes too small: num_maskmem={num_maskmem} (>= 1), "
                             f"max_pointers={max_pointers} (>= 2), max_prompted={max_prompted}"
                             " (>= 1)")
        self.num_maskmem, self.max_pointers = num_maskmem, max_pointers
        self.max_prompted, self.select, self.keep_last = max_prompted, select, keep_last
        self.prompted: dict[int, Memory] = {}  # step -> memory, oldest first
        self.recent: deque[Memory] = deque()  # tracked frames' memories, oldest first
        self.pointers: deque[tuple[int, torch.Tensor]] = deque()  # (step, pointer)

    def __len__(self) -> int:
        """Memory frames held (prompted and recent)."""
        return len(self.prompted) + len(self.recent)

    # -- adding ------------------------------------------------------------------------

    def add_prompted(self, memory: Memory) -> None:
        """A prompted frame's memory; the oldest beyond ``max_prompted`` is forgotten."""
        self.prompted[memory.step] = memory
        while len(self.prompted) > self.max_prompted:
            del self.prompted[next(iter(self.prompted))]

    def add(self, step: int, pointer: torch.Tensor, features: torch.Tensor | None,
            admitted: bool = True) -> None:
        """A tracked frame's pointer and memory features (None: its memory is not kept,
        only its pointer); steps must increase."""
        last = self.pointers[-1][0] if self.pointers else None
        if last is not None and step <= last:
            raise ValueError(f"step {step} is not after {last}")
        self.pointers.append((step, pointer))
        while step - self.pointers[0][0] >= self.max_pointers - 1:
            self.pointers.popleft()
        keep = self.num_maskmem - 1
        if features is not None:
            self.recent.append(Memory(step, features, pointer, admitted))
        if not self.select:
            while self.recent and step - self.recent[0].step >= keep:
                self.recent.popleft()
            return
        # the latest `keep` admitted ones, and this frame whatever it scored
        admitted_ones = [m for m in self.recent if m.admitted][-keep:] if keep else []
        self.recent = deque(m for m in self.recent if m.step == step or any(
            m is a for a in admitted_ones))

    # -- what SAM 2 attends to ---------------------------------------------------------

    def memories(self, step: int, *, max_cond: int = -1) -> list[tuple[int, torch.Tensor]]:
        """``(t_pos, features)`` to attend to on ``step``, in SAM 2's order: the prompted
        frames first (t_pos 0; at most ``max_cond`` of them, the closest, when it is not
        -1: the model's ``max_cond_frames_in_attn``), then the recent frames from the
        oldest (t_pos 1) to the newest (t_pos ``num_maskmem - 1``)."""
        from sam2.modeling.sam2_utils import select_closest_cond_frames

        cond, _ = select_closest_cond_frames(step, self.prompted, max_cond)
        out = [(0, m.features) for m in cond.values()]
        keep = self.num_maskmem - 1
        if not keep:
            return out
        if self.select:
            chosen = [m for m in self.recent if m.admitted][-keep:]
            newest = self.recent[-1] if self.recent else None
            if self.keep_last and newest is not None and newest.step == step - 1 and \
                    not newest.admitted:
                chosen = [*chosen, newest][-keep:]
            ranked = [(self.num_maskmem - (len(chosen) - i), m) for i, m in enumerate(chosen)]
        else:
            ranked = [(self.num_maskmem - (step - m.step), m) for m in self.recent
                      if 1 <= step - m.step <= keep]
        return out + [(t_pos, m.features) for t_pos, m in ranked]

    def pointer_list(self, step: int) -> list[tuple[int, torch.Tensor]]:
        """``(t_diff, pointer)`` to attend to on ``step``, in SAM 2's order: the prompted
        frames' (up to this step; t_diff = step - theirs), then the recent steps' from the
        newest (t_diff 1) back ``max_pointers - 1`` steps."""
        out = [(step - s, m.pointer) for s, m in self.prompted.items() if s <= step]
        by_step = dict(self.pointers)
        for t_diff in range(1, self.max_pointers):
            ptr = by_step.get(step - t_diff)
            if ptr is not None:
                out.append((t_diff, ptr))
        return out

    # -- saving ------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """The bank as plain data: numpy arrays (features float32, exact), ints, bools."""
        def entry(m: Memory) -> dict:
            return {"step": m.step, "admitted": m.admitted,
                    "features": m.features.float().cpu().numpy(),
                    "pointer": m.pointer.float().cpu().numpy()}

        return {"prompted": [entry(m) for m in self.prompted.values()],
                "recent": [entry(m) for m in self.recent],
                "pointers": [{"step": s, "pointer": p.float().cpu().numpy()}
                             for s, p in self.pointers]}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        """Restore :meth:`state_dict` (arrays copied onto ``device``)."""
        def tensor(a, dtype=torch.float32) -> torch.Tensor:
            return torch.from_numpy(np.array(a, np.float32)).to(device, dtype)

        def memory(d: dict) -> Memory:
            return Memory(int(d["step"]), tensor(d["features"], torch.bfloat16),
                          tensor(d["pointer"]), bool(d["admitted"]))

        self.prompted = {int(d["step"]): memory(d) for d in state["prompted"]}
        self.recent = deque(memory(d) for d in state["recent"])
        self.pointers = deque((int(d["step"]), tensor(d["pointer"])) for d in state["pointers"])
