"""``samvideo track VIDEO --select``: pick the objects on the first frame in a window.

In the window: drag with the left button to draw an object's box (each drag starts a
new object); click with the left button for a foreground point, with the right button
(or Shift + left) for a background point, both for the object drawn last (the first
clicks before any box make a points-only object); ``u`` / Backspace undoes the last
step; Enter or Space accepts; Esc or ``q`` cancels.

The logic lives in :class:`Selection` (pure: mouse events in, prompts out) so it is
tested without a display; :func:`select_prompts` is the OpenCV window around it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import numpy as np

from samvideo.prompts import ObjectPrompt

#: a drag shorter than this (pixels, either side) is a click
CLICK_PX = 4
_ENTER, _SPACE, _ESC, _BACKSPACE = (10, 13), 32, 27, (8, 127)
#: the way out :func:`check_display` names for --select
BOX_INSTEAD = "give --box X1,Y1,X2,Y2 [--point X,Y] instead"


def check_display(flag: str = "--select", instead: str = BOX_INSTEAD) -> None:
    """Raise ValueError (one line: what ``flag`` needs, then ``instead``, the way out)
    when no OpenCV window can be opened here."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise ValueError(f"{flag} needs a display, and none is set here (no $DISPLAY or "
                         f"$WAYLAND_DISPLAY): {instead}")
    import cv2

    gui = next((line for line in cv2.getBuildInformation().splitlines()
                if line.strip().startswith("GUI:")), "")
    if "NONE" in gui.upper():
        raise ValueError(f"{flag} needs OpenCV with a GUI backend; this OpenCV has none "
                         f"(opencv-python-headless?): {instead}")


@dataclass
class _Object:
    box: tuple[float, float, float, float] | None = None
    points: list[tuple[float, float]] = field(default_factory=list)
    neg_points: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Selection:
    """Boxes and clicks on one (H, W) frame, from mouse events in image pixels."""

    width: int
    height: int
    objects: list[_Object] = field(default_factory=list)
    drag_from: tuple[int, int] | None = None
    drag_to: tuple[int, int] | None = None
    _history: list[str] = field(default_factory=list)

    def press(self, x: int, y: int) -> None:
        """Left button down at (x, y)."""
        self.drag_from = self.drag_to = self._clip(x, y)

    def move(self, x: int, y: int) -> None:
        """The mouse moved (a drag in progress follows it)."""
        if self.drag_from is not None:
            self.drag_to = self._clip(x, y)

    def release(self, x: int, y: int, *, negative: bool = False) -> None:
        """Left button up: a box when dragged, else a (fore- or background) point."""
        if self.drag_from is None:
            return
        (x0, y0), (x1, y1) = self.drag_from, self._clip(x, y)
        self.drag_from = self.drag_to = None
        if abs(x1 - x0) > CLICK_PX and abs(y1 - y0) > CLICK_PX:
            box = (min(x0, x1), min(y0, y1), max(x0, x1) + 1, max(y0, y1) + 1)
            self.objects.append(_Object(box=tuple(float(v) for v in box)))
            self._history.append("box")
        else:
            self.click(x1, y1, negative=negative)

    def click(self, x: int, y: int, *, negative: bool = False) -> None:
        """A point for the object drawn last (a first point starts a points-only object)."""
        if not self.objects:
            if negative:
                return  # a background click with no object: nothing to attach it to
            self.objects.append(_Object())
            self._history.append("object")
        target = self.objects[-1].neg_points if negative else self.objects[-1].points
        target.append(tuple(float(v) for v in self._clip(x, y)))
        self._history.append("neg" if negative else "pos")

    def undo(self) -> None:
        """Take back the last box or point."""
        if not self._history:
            return
        step = self._history.pop()
        if step in ("box", "object"):
            self.objects.pop()
        elif step == "pos":
            self.objects[-1].points.pop()
            if self.objects[-1].box is None and not self.objects[-1].points:
                self.objects.pop()
                self._history.pop()
        else:
            self.objects[-1].neg_points.pop()

    def prompts(self) -> list[ObjectPrompt]:
        """One :class:`ObjectPrompt` per object (ids 1..N, frame 0 = the first frame)."""
        return [ObjectPrompt(i, o.box, tuple(o.points), tuple(o.neg_points))
                for i, o in enumerate(self.objects, start=1) if o.box or o.points]

    def draw(self, rgb: np.ndarray) -> np.ndarray:
        """The frame ((H, W, 3) uint8 RGB) with the selection so far drawn on a copy."""
        import cv2

        from samvideo.annotate import object_colour

        out = rgb.copy()
        for i, o in enumerate(self.objects, start=1):
            colour = object_colour(i)
            if o.box is not None:
                x0, y0, x1, y1 = (int(v) for v in o.box)
                cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), colour, 2)
                cv2.putText(out, f"#{i}", (x0 + 3, y0 + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                            colour, 1, cv2.LINE_AA)
            for x, y in o.points:
                cv2.circle(out, (int(x), int(y)), 5, (0, 255, 0), -1)
            for x, y in o.neg_points:
                cv2.circle(out, (int(x), int(y)), 5, (255, 0, 0), -1)
        if self.drag_from is not None and self.drag_to is not None:
            cv2.rectangle(out, self.drag_from, self.drag_to, (255, 255, 255), 1)
        return out

    def _clip(self, x: int, y: int) -> tuple[int, int]:
        return min(max(int(x), 0), self.width - 1), min(max(int(y), 0), self.height - 1)


HELP = ("drag: box (new object) | click: + point | right-click: - point | "
        "u: undo | Enter: done | Esc: cancel")


def select_prompts(rgb: np.ndarray, *, title: str = "samvideo: select objects"
                   ) -> list[ObjectPrompt]:
    """Show ``rgb`` ((H, W, 3) uint8 RGB) in a window and return the prompts drawn on it.

    Raises ValueError when there is no display, or the user cancels or selects nothing.
    """
    check_display()
    import cv2

    sel = Selection(rgb.shape[1], rgb.shape[0])

    def on_mouse(event: int, x: int, y: int, flags: int, _param: object) -> None:
        shift = bool(flags & cv2.EVENT_FLAG_SHIFTKEY)
        if event == cv2.EVENT_LBUTTONDOWN:
            sel.press(x, y)
        elif event == cv2.EVENT_MOUSEMOVE:
            sel.move(x, y)
        elif event == cv2.EVENT_LBUTTONUP:
            sel.release(x, y, negative=shift)
        elif event == cv2.EVENT_RBUTTONUP:
            sel.click(x, y, negative=True)

    try:
        cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
        cv2.setMouseCallback(title, on_mouse)
        cv2.setWindowTitle(title, f"{title} - {HELP}")
        while True:
            cv2.imshow(title, cv2.cvtColor(sel.draw(rgb), cv2.COLOR_RGB2BGR))
            key = cv2.waitKey(20) & 0xFF
            if key in _ENTER or key == _SPACE:
                break
            if key in (_ESC, ord("q")) or cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1:
                raise ValueError("--select: cancelled, nothing selected")
            if key in _BACKSPACE or key == ord("u"):
                sel.undo()
    except cv2.error as exc:
        raise ValueError(f"--select: cannot open a window here: {exc.err or exc}") from None
    finally:
        cv2.destroyAllWindows()
        cv2.waitKey(1)
    prompts = sel.prompts()
    if not prompts:
        raise ValueError("--select: no box or point was drawn")
    return prompts
