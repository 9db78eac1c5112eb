"""Drawing results onto frames (the overlay video's look).

Annotators take an (H, W, 3) uint8 RGB frame and a :class:`FrameResult` and return
a new RGB frame, as supervision's annotators do; colours are RGB tuples from the
DAVIS palette so the overlay matches the PNG masks.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from samvideo.masks import davis_palette
from samvideo.results import FrameResult

_PALETTE = np.array(davis_palette(), np.uint8).reshape(256, 3)
OVERLAY_STYLES = ("fill", "contour", "box", "all")
_TEXT_PX = cv2.getTextSize("#0", cv2.FONT_HERSHEY_SIMPLEX, 1.0, 1)[0][1]  # at scale 1


def object_colour(object_id: int) -> tuple[int, int, int]:
    """RGB colour of an object: its DAVIS palette entry, brightened to read on video."""
    r, g, b = (int(v) for v in _PALETTE[object_id % 256])
    return tuple(min(255, v * 2) if v else 40 for v in (r, g, b))  # type: ignore[return-value]


@dataclass(frozen=True)
class MaskAnnotator:
    """Tint masks, outline them, draw boxes and ``#id score`` labels.

    ``style``: ``fill`` (tint), ``contour`` (outline), ``box`` (rectangle) or ``all``.
    Every style labels each object with its id, name and score (``#1 0.97``,
    ``#2 player 0.91``; ``#1 lost`` while it is lost), in black or white, whichever reads
    better on the object's colour, once every object is drawn (no label is overdrawn by
    another object's tint or lines), with text about ``label_height`` of the frame's
    shorter side tall. A lost or predicted object's box is drawn dashed in every style.
    """

    style: str = "all"  # fill / contour / box / all
    opacity: float = 0.45  # tint strength: object still visible through its colour
    thickness: int = 2  # contour and box lines, in pixels
    labels: bool = True  # draw "#id score"
    label_height: float = 0.028  # label text height / the frame's shorter side: 20 px at
    # 720p, and at 144p a tag that leaves a face in view...
    min_label_px: float = 7.0  # ...but never smaller than the smallest legible text

    def __post_init__(self) -> None:
        if self.style not in OVERLAY_STYLES:
            raise ValueError(f"overlay style {self.style!r}: choose one of {OVERLAY_STYLES}")
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"overlay opacity {self.opacity!r} must be within [0, 1]")

    def annotate(self, rgb: np.ndarray, result: FrameResult) -> np.ndarray:
        """Return a copy of ``rgb`` ((H, W, 3) uint8 RGB) with the results drawn."""
        out = rgb.copy()
        fill = self.style in ("fill", "all")
        contour = self.style in ("contour", "all")
        box = self.style in ("box", "all")
        for obj in result.objects:
            colour = object_colour(obj.object_id)
            window = _mask_window(obj.mask)
            if fill and window is not None:
                y0, y1, x0, x1 = window
                part, sel = out[y0:y1, x0:x1], obj.mask[y0:y1, x0:x1]
                np.copyto(part, cv2.LUT(part, _tint_table(colour, self.opacity)),
                          where=sel[..., None])
            if contour and window is not None:
                y0, y1, x0, x1 = window
                contours, _ = cv2.findContours(
                    obj.mask[y0:y1, x0:x1].astype(np.uint8), cv2.RETR_EXTERNAL,
                    cv2.CHAIN_APPROX_SIMPLE, offset=(x0, y0),
                )
                cv2.drawContours(out, contours, -1, colour, self.thickness, cv2.LINE_AA)
            dashed = obj.state in ("lost", "predicted")
            if obj.box_xyxy is not None and (box or dashed):
                self._box(out, obj, colour, dashed)
        if self.labels:  # last: no later object's tint or lines cross a label
            for obj in result.objects:
                dashed = obj.state in ("lost", "predicted")
                if obj.box_xyxy is not None and (dashed or obj.mask.any()):
                    self._label(out, obj, object_colour(obj.object_id), dashed)
        return out

    def _box(self, out: np.ndarray, obj, colour, dashed: bool) -> None:
        x1, y1, x2, y2 = (int(round(v)) for v in obj.box_xyxy)
        if dashed:
            _dashed_rect(out, (x1, y1), (x2 - 1, y2 - 1), colour, max(1, self.thickness - 1))
        else:
            cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), colour, self.thickness, cv2.LINE_AA)

    def _label(self, out: np.ndarray, obj, colour, dashed: bool) -> None:
        """``#id [name] score`` on a tag of the object's colour above the box (below it
        at the top edge), kept inside the frame, sized to the frame."""
        x1, y1, _, y2 = (int(round(v)) for v in obj.box_xyxy)
        name = f" {obj.name}" if getattr(obj, "name", None) else ""
        label = f"#{obj.object_id}{name} " + (obj.state if dashed else f"{obj.score:.2f}")
        h, w = out.shape[:2]
        scale = max(self.min_label_px, self.label_height * min(h, w)) / _TEXT_PX
        weight = 1 if scale < 0.8 else 2
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)
        pad = max(1, th // 6)
        x = min(max(x1, 0), max(w - tw - 2 * pad, 0))
        ty = y1 - pad - 1 if y1 - th - 2 * pad - 1 >= 0 else min(y2 + th + pad + 1,
                                                                   h - base - 1)
        cv2.rectangle(out, (x, ty - th - pad), (x + tw + 2 * pad - 1, ty + base), colour, -1)
        cv2.putText(out, label, (x + pad, ty), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    text_colour(colour), weight, cv2.LINE_AA)


def _mask_window(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1): the mask's box grown by one pixel within the frame (a border of
    background around it, so that contours found in it are those of the whole frame),
    or None for an empty mask. Drawing there costs the object's area, not the frame's."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (max(int(ys[0]) - 1, 0), min(int(ys[-1]) + 2, h),
            max(int(xs[0]) - 1, 0), min(int(xs[-1]) + 2, w))


@functools.lru_cache(maxsize=64)
def _tint_table(colour: tuple[int, int, int], opacity: float) -> np.ndarray:
    """(256, 1, 3) uint8 ``cv2.LUT`` table of the tint: every channel value blended with
    the colour, by the same float arithmetic as blending the pixels one by one."""
    levels = np.arange(256, dtype=np.uint8)[:, None]
    tint = np.array(colour, np.float32)
    return (levels * (1 - opacity) + tint * opacity).astype(np.uint8).reshape(256, 1, 3)


def text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with an RGB ``background`` (WCAG
    relative luminance)."""
    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in background)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (0, 0, 0) if luminance > 0.179 else (255, 255, 255)


def _dashed_rect(img, p1, p2, colour, thickness, dash: int = 8) -> None:
    (x1, y1), (x2, y2) = p1, p2
    for a, b, fixed, horizontal in ((x1, x2, y1, True), (x1, x2, y2, True),
                                    (y1, y2, x1, False), (y1, y2, x2, False)):
        for s in range(a, b, 2 * dash):
            e = min(s + dash, b)
            pt1, pt2 = ((s, fixed), (e, fixed)) if horizontal else ((fixed, s), (fixed, e))
            cv2.line(img, pt1, pt2, colour, thickness)
