"""Images the page shows: JPEG frames and the preview's transparent mask layer.

:func:`jpeg` also encodes the frames of ``--live --preview``'s MJPEG stream.
"""

from __future__ import annotations

import cv2
import numpy as np

from samvideo.annotate import object_colour
from samvideo.results import FrameResult


def jpeg(rgb: np.ndarray, *, quality: int = 90) -> bytes:
    """JPEG bytes of an (H, W, 3) uint8 RGB frame; ``quality`` is OpenCV's 1..100."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for a frame of shape {rgb.shape}")
    return buf.tobytes()


def mask_layer_png(result: FrameResult, size: tuple[int, int], *, alpha: int = 120) -> bytes:
    """PNG (RGBA) of the result's masks in each object's colour on a transparent
    background, outlined; ``size`` is (H, W). Drawn by the page over the frame."""
    h, w = size
    layer = np.zeros((h, w, 4), np.uint8)
    for obj in result.objects:
        if not obj.mask.any():
            continue
        colour = object_colour(obj.object_id)
        layer[obj.mask] = (*colour, alpha)
        contours, _ = cv2.findContours(obj.mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(layer, contours, -1, (*colour, 255), 2, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(layer, cv2.COLOR_RGBA2BGRA))
    if not ok:
        raise RuntimeError(f"PNG encoding failed for a mask layer of size {w}x{h}")
    return buf.tobytes()


def labels_png(labels: np.ndarray) -> bytes:
    """PNG of an (H, W) uint8 label map as grey levels (value = object id, 0 =
    background): the page reads the ids back from its pixels and colours them itself
    (each object shown or hidden, at the opacity the user chose)."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(labels, dtype=np.uint8),
                           [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError(f"PNG encoding failed for a label map of shape {labels.shape}")
    return buf.tobytes()


def colour_hex(object_id: int) -> str:
    r, g, b = object_colour(object_id)
    return f"#{r:02x}{g:02x}{b:02x}"
