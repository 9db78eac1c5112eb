"""Mask PNGs read as DAVIS label maps: one file, a folder of them, their natural order."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from samvideo.video.info import natural_key


def list_mask_files(folder: str | Path) -> list[Path]:
    """The ``*.png`` files of a folder (not recursive), in natural order (2 before 10).

    Returns:
        Their paths (any case of ``.png``; folders so named are left out).

    Raises:
        ValueError: if ``folder`` is not a directory or holds no PNG file.
    """
    d = Path(folder)
    if not d.is_dir():
        raise ValueError(f"mask folder does not exist or is not a directory: {d}")
    files = [p for p in d.iterdir() if p.suffix.lower() == ".png" and p.is_file()]
    if not files:
        raise ValueError(f"no PNG masks in folder: {d}")
    return sorted(files, key=natural_key)


def read_mask(path: str | Path, *, object_id: int | None = None) -> np.ndarray:
    """Read one mask PNG as a label map (or as one object's mask).

    How pixel values become labels, by PNG mode:

    * indexed (palette, DAVIS style): the palette index is the label (0 background,
      1..N objects, 255 void);
    * 1-bit: 0 / 1;
    * 8-bit grey: 0/255-only images are binary masks (255 -> 1); otherwise the grey
      value is the label;
    * 16-bit / 32-bit grey: the value is the label (``int32`` result);
    * RGB / RGBA / other colour modes: any non-black pixel is object 1 (alpha ignored).

    Args:
        path: the PNG file.
        object_id: when given, return that object's mask instead of the label map.

    Returns:
        ``(H, W)`` ``uint8`` label map (``int32`` for 16/32-bit PNGs), or ``(H, W)`` bool
        mask of ``label == object_id`` when ``object_id`` is given.

    Raises:
        ValueError: if the file cannot be read as an image or ``object_id`` is not >= 1.
    """
    if object_id is not None and (int(object_id) != object_id or object_id < 1):
        raise ValueError(f"object_id must be an integer >= 1, got {object_id!r}")
    p = Path(path)
    try:
        with Image.open(p) as im:
            im.load()
            labels = _labels_from_image(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read mask image {p}: {exc}") from exc
    if object_id is not None:
        return labels == object_id
    return labels


def _labels_from_image(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode == "P":
        return np.asarray(im, dtype=np.uint8).copy()
    if mode == "PA":
        return np.asarray(im.getchannel(0), dtype=np.uint8).copy()
    if mode == "1":
        return np.asarray(im, dtype=np.bool_).astype(np.uint8)
    if mode in ("L", "LA"):
        grey = np.asarray(im.getchannel(0) if mode == "LA" else im, dtype=np.uint8)
        present = _uint8_present(grey)
        if present[255] and not present[1:255].any():
            return (grey != 0).astype(np.uint8)  # a 0/255 binary mask
        return grey.copy()
    if mode.startswith("I"):  # I, I;16, I;16B, I;16L, ...
        return np.asarray(im).astype(np.int32)
    rgb = np.asarray(im.convert("RGB"))
    return np.any(rgb != 0, axis=2).astype(np.uint8)


def read_mask_folder(path: str | Path, *, object_id: int | None = None) -> list[np.ndarray]:
    """Read every ``*.png`` of a folder, in natural order, with :func:`read_mask`.

    Args:
        path: the folder (not searched recursively).
        object_id: when given, return that object's bool masks instead of label maps.

    Returns:
        One ``(H, W)`` label map (``uint8``; ``int32`` for 16/32-bit PNGs) per file, or
        one ``(H, W)`` bool mask per file when ``object_id`` is given.

    Raises:
        ValueError: if the folder is missing, holds no PNG, or a file is unreadable.
    """
    return [read_mask(f, object_id=object_id) for f in list_mask_files(path)]


def _uint8_present(labels: np.ndarray) -> np.ndarray:
    """``(256,)`` bool: which values occur in a 2-D ``uint8`` array (an OpenCV histogram:
    one pass over the pixels, where ``np.unique`` sorts them)."""
    hist = cv2.calcHist([np.ascontiguousarray(labels)], [0], None, [256], [0, 256])
    return hist.ravel() > 0


def label_ids(labels: np.ndarray) -> set[int]:
    """The non-zero values present in an ``(H, W)`` integer label map."""
    if labels.dtype == np.uint8:
        return {int(i) for i in np.flatnonzero(_uint8_present(labels)[1:]) + 1}
    return {int(i) for i in np.unique(labels) if i != 0}
