"""J&F video object segmentation scores, computed exactly as the DAVIS benchmark does.

The definitions follow the official DAVIS evaluation code (``davis2017-evaluation``:
``db_eval_iou``, ``db_eval_boundary`` / ``f_measure``, ``_seg2bmap`` and
``utils.db_statistics``; the same measures as the DAVIS 2016 code):

* **J** (region similarity) is the intersection over union of the predicted and the
  ground-truth mask. Two empty masks score 1.
* **F** (contour accuracy) is the F-measure of the two masks' one-pixel boundary maps,
  where a boundary pixel counts as matched when a boundary pixel of the other mask lies
  within a disk of radius ``ceil(bound_th * image diagonal)`` pixels (8 pixels at
  854x480 with the default ``bound_th=0.008``). Two empty masks score 1; one empty
  boundary against a non-empty one scores 0.
* Per sequence and object, over all frames except the first and the last: the **mean**,
  the **recall** (fraction of frames scoring more than 0.5) and the **decay** (the mean
  of the first of four overlapping temporal bins minus the mean of the last one, bins
  placed as DAVIS places them), for J and for F; **J&F** is the mean of J-mean and
  F-mean.
* Ground-truth pixels labelled 255 are *void*: they count for neither J nor F (this only
  matters for DAVIS 2017 style label maps; DAVIS 2016 masks have no void pixels).

Masks are ``(H, W)`` arrays; any dtype is accepted and non-zero means "object". Label
maps are ``(H, W)`` ``uint8`` (``int32`` for 16-bit PNGs) arrays with ``0`` =
background, ``1..N`` = object ids and ``255`` = void. Prediction and ground truth must
have the same size: nothing is resized. Errors are raised as :class:`ValueError`
naming the offending value; nothing is printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "DEFAULT_BOUND_TH",
    "VOID_LABEL",
    "EvaluationReport",
    "SequenceScores",
    "boundary_f",
    "boundary_map",
    "boundary_radius",
    "disk",
    "evaluate",
    "evaluate_sequence",
    "jaccard",
    "list_mask_files",
    "read_mask",
    "read_mask_folder",
    "sequence_statistics",
]

DEFAULT_BOUND_TH = 0.008
"""DAVIS boundary tolerance: a fraction of the image diagonal (values >= 1 are pixels)."""

VOID_LABEL = 255
"""Ground-truth label that DAVIS ignores in both J and F."""

_N_DECAY_BINS = 4


# --------------------------------------------------------------------------------------
# Per-frame measures
# --------------------------------------------------------------------------------------


def _as_mask(array: np.ndarray, what: str) -> np.ndarray:
    """Return ``array`` as an ``(H, W)`` bool mask (non-zero = True)."""
    a = np.asarray(array)
    if a.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (H, W) mask, got shape {a.shape}")
    if a.dtype == np.bool_:
        return a
    return a != 0


def _check_pair(
    pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    p = _as_mask(pred, "pred")
    g = _as_mask(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(
            f"pred and gt masks differ in shape: pred {p.shape} vs gt {g.shape} "
            "(masks are compared without resizing)"
        )
    v = None
    if void is not None:
        v = _as_mask(void, "void")
        if v.shape != g.shape:
            raise ValueError(f"void mask shape {v.shape} differs from gt shape {g.shape}")
        if not v.any():
            v = None
    return p, g, v


def jaccard(pred: np.ndarray, gt: np.ndarray, *, void: np.ndarray | None = None) -> float:
    """Region similarity J: intersection over union of two masks (DAVIS ``db_eval_iou``).

    Args:
        pred: predicted mask, ``(H, W)``, bool (any dtype: non-zero = object).
        gt: ground-truth mask, ``(H, W)``, same shape as ``pred``.
        void: optional ``(H, W)`` mask of pixels to ignore (DAVIS void label).

    Returns:
        J in ``[0, 1]``; ``1.0`` when both masks are empty (DAVIS convention).

    Raises:
        ValueError: if a mask is not 2-D or the shapes differ.
    """
    p, g, v = _check_pair(pred, gt, void)
    inter_px = p & g
    union_px = p | g
    if v is not None:
        keep = ~v
        inter_px &= keep
        union_px &= keep
    union = int(np.count_nonzero(union_px))
    if union == 0:
        return 1.0
    return float(np.count_nonzero(inter_px)) / float(union)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a mask, as DAVIS ``_seg2bmap`` computes it.

    A pixel is a boundary pixel when its value differs from its right, lower or
    lower-right neighbour (only the neighbours inside the image are compared: on the last
    row only the right one, on the last column only the lower one, never at the
    bottom-right corner). Boundaries therefore sit half a pixel towards the origin from
    the true contour, and the image border is not a boundary: a mask filling the whole
    image has none.

    Args:
        mask: ``(H, W)`` mask, bool (any dtype: non-zero = object).

    Returns:
        ``(H, W)`` bool boundary map.
    """
    seg = _as_mask(mask, "mask")
    right = np.zeros_like(seg)
    below = np.zeros_like(seg)
    diag = np.zeros_like(seg)
    right[:, :-1] = seg[:, 1:]
    below[:-1, :] = seg[1:, :]
    diag[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ right) | (seg ^ below) | (seg ^ diag)
    b[-1, :] = seg[-1, :] ^ right[-1, :]
    b[:, -1] = seg[:, -1] ^ below[:, -1]
    b[-1, -1] = False
    return b


def disk(radius: int) -> np.ndarray:
    """Disk structuring element, identical to ``skimage.morphology.disk(radius)``.

    Returns:
        ``(2r+1, 2r+1)`` ``uint8`` array with 1 where ``x**2 + y**2 <= r**2``.
    """
    r = int(radius)
    if r < 0 or r != radius:
        raise ValueError(f"disk radius must be a non-negative integer, got {radius!r}")
    coords = np.arange(-r, r + 1)
    x, y = np.meshgrid(coords, coords)
    return (x**2 + y**2 <= r**2).astype(np.uint8)


def boundary_radius(shape: Sequence[int], bound_th: float = DEFAULT_BOUND_TH) -> int:
    """Boundary tolerance in pixels, as DAVIS ``f_measure`` computes it.

    Args:
        shape: the image shape ``(H, W)``.
        bound_th: a fraction of the image diagonal when ``< 1`` (radius =
            ``ceil(bound_th * sqrt(H**2 + W**2))``), else a whole number of pixels.

    Returns:
        The dilation radius in pixels (8 for 854x480 at the default 0.008).
    """
    if not (isinstance(bound_th, (int, float, np.integer, np.floating)) and bound_th > 0):
        raise ValueError(f"bound_th must be a positive number, got {bound_th!r}")
    if bound_th >= 1:
        if float(bound_th) != int(bound_th):
            raise ValueError(f"bound_th >= 1 is a pixel radius and must be whole, got {bound_th}")
        return int(bound_th)
    h, w = (int(s) for s in shape)
    return int(np.ceil(bound_th * np.linalg.norm((h, w))))


def boundary_f(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    bound_th: float = DEFAULT_BOUND_TH,
    void: np.ndarray | None = None,
) -> float:
    """Contour accuracy F: boundary F-measure of two masks (DAVIS ``f_measure``).

    Both masks' boundary maps (:func:`boundary_map`) are dilated by a disk of radius
    :func:`boundary_radius`; precision is the fraction of predicted boundary pixels that
    fall on the dilated ground-truth boundary, recall the fraction of ground-truth
    boundary pixels on the dilated predicted boundary, F = 2PR / (P + R).

    Args:
        pred: predicted mask, ``(H, W)``, bool (any dtype: non-zero = object).
        gt: ground-truth mask, ``(H, W)``, same shape as ``pred``.
        bound_th: boundary tolerance, a fraction of the image diagonal (``< 1``) or a
            whole number of pixels (``>= 1``). DAVIS uses 0.008.
        void: optional ``(H, W)`` mask of pixels removed from both masks first.

    Returns:
        F in ``[0, 1]``: ``1.0`` when neither mask has a boundary, ``0.0`` when exactly
        one of them has none.

    Raises:
        ValueError: if a mask is not 2-D, the shapes differ or ``bound_th`` is invalid.
    """
    p, g, v = _check_pair(pred, gt, void)
    radius = boundary_radius(p.shape, bound_th)
    if v is not None:
        keep = ~v
        p = p & keep
        g = g & keep

    # Everything happens inside the bounding box of the two masks, grown by the radius
    # plus one pixel: outside it both boundary maps are empty, so cropping is exact.
    rows = np.flatnonzero(np.any(p, axis=1) | np.any(g, axis=1))
    if rows.size == 0:
        return 1.0  # both masks empty: no boundary on either side
    cols = np.flatnonzero(np.any(p, axis=0) | np.any(g, axis=0))
    h, w = p.shape
    pad = radius + 1
    y0, y1 = max(int(rows[0]) - pad, 0), min(int(rows[-1]) + pad + 1, h)
    x0, x1 = max(int(cols[0]) - pad, 0), min(int(cols[-1]) + pad + 1, w)
    fg_boundary = boundary_map(p[y0:y1, x0:x1])
    gt_boundary = boundary_map(g[y0:y1, x0:x1])

    n_fg = int(np.count_nonzero(fg_boundary))
    n_gt = int(np.count_nonzero(gt_boundary))
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0  # precision or recall is 0, the other is 1

    kernel = disk(radius)
    fg_dil = cv2.dilate(fg_boundary.view(np.uint8), kernel).view(np.bool_)
    gt_dil = cv2.dilate(gt_boundary.view(np.uint8), kernel).view(np.bool_)
    precision = np.count_nonzero(fg_boundary & gt_dil) / float(n_fg)
    recall = np.count_nonzero(gt_boundary & fg_dil) / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return float(2.0 * precision * recall / (precision + recall))


# --------------------------------------------------------------------------------------
# Per-sequence statistics
# --------------------------------------------------------------------------------------


def sequence_statistics(values: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """Mean, recall and decay of per-frame scores (DAVIS ``db_statistics``).

    Args:
        values: per-frame J or F scores of the evaluated frames (first and last frame of
            the sequence already left out), in frame order.

    Returns:
        ``(mean, recall, decay)``: the mean; the fraction of frames scoring more than
        0.5; and the mean of the first temporal bin minus the mean of the last one. The
        four bins are DAVIS's: with ``n`` values the edges are
        ``e = round(linspace(1, n, 5)) - 1`` and bin ``i`` is ``values[e[i] : e[i+1] + 1]``
        (neighbouring bins share their edge frame).

    Raises:
        ValueError: if ``values`` is empty.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise ValueError("no per-frame values to summarise (0 frames)")
    mean = float(np.mean(v))
    recall = float(np.mean(v > 0.5))
    # The 1e-10 mimics MATLAB's round-half-up, as the DAVIS code does.
    edges = (np.round(np.linspace(1, v.size, _N_DECAY_BINS + 1) + 1e-10) - 1).astype(np.int64)
    bins = [v[edges[i] : edges[i + 1] + 1] for i in range(_N_DECAY_BINS)]
    decay = float(np.mean(bins[0]) - np.mean(bins[-1]))
    return mean, recall, decay


# --------------------------------------------------------------------------------------
# Reading masks
# --------------------------------------------------------------------------------------


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_mask_files(folder: str | Path) -> list[Path]:
    """The ``*.png`` files of a folder (not recursive), in natural order (2 before 10).

    Raises:
        ValueError: if ``folder`` is not a directory or holds no PNG file.
    """
    d = Path(folder)
    if not d.is_dir():
        raise ValueError(f"mask folder does not exist or is not a directory: {d}")
    files = [p for p in d.iterdir() if p.suffix.lower() == ".png" and p.is_file()]
    if not files:
        raise ValueError(f"no PNG masks in folder: {d}")
    return sorted(files, key=_natural_key)


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
    """``(256,)`` bool: which values occur in a 2-D ``uint8`` array (OpenCV histogram,
    about 4x faster than ``np.bincount``)."""
    hist = cv2.calcHist([np.ascontiguousarray(labels)], [0], None, [256], [0, 256])
    return hist.ravel() > 0


def _label_ids(labels: np.ndarray) -> set[int]:
    """Non-zero label values present in a label map (fast path for ``uint8``)."""
    if labels.dtype == np.uint8:
        return {int(i) for i in np.flatnonzero(_uint8_present(labels)[1:]) + 1}
    return {int(i) for i in np.unique(labels) if i != 0}


def _png_dir(folder: Path) -> Path | None:
    """``folder`` if it holds PNGs, else ``folder/masks`` if that does, else None."""
    for d in (folder, folder / "masks"):
        if d.is_dir() and any(p.suffix.lower() == ".png" and p.is_file() for p in d.iterdir()):
            return d
    return None


def _sequence_name(png_dir: Path) -> str:
    """A sequence's name: its PNG folder's name, or the parent's for ``.../<name>/masks``."""
    d = png_dir.resolve()
    if d.name == "masks" and d.parent.name:
        d = d.parent
    return d.name or str(png_dir)


# --------------------------------------------------------------------------------------
# Sequences and reports
# --------------------------------------------------------------------------------------


@dataclass
class SequenceScores:
    """J&F of one object in one sequence (first and last frame left out, as in DAVIS).

    Attributes:
        name: sequence name (by default the ground-truth folder's name).
        object_id: the object's label in the ground truth (1..N).
        n_frames: frames in the sequence, first and last included; the statistics cover
            the ``n_frames - 2`` frames in between.
        j_mean, j_recall, j_decay: J statistics (:func:`sequence_statistics`).
        f_mean, f_recall, f_decay: F statistics.
        jf_mean: ``(j_mean + f_mean) / 2``.
        j_per_frame, f_per_frame: per-frame J and F of frames ``1 .. n_frames - 2``.
    """

    name: str
    object_id: int
    n_frames: int
    j_mean: float
    j_recall: float
    j_decay: float
    f_mean: float
    f_recall: float
    f_decay: float
    jf_mean: float
    j_per_frame: list[float] = field(repr=False)
    f_per_frame: list[float] = field(repr=False)

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable dict of every field."""
        return asdict(self)


_MEAN_FIELDS = ("jf_mean", "j_mean", "j_recall", "j_decay", "f_mean", "f_recall", "f_decay")


@dataclass
class EvaluationReport:
    """Scores of several sequences (one entry per sequence and object) and their means.

    The overall figures are plain means over :attr:`sequences` entries, i.e. over
    objects, as the DAVIS benchmark averages them.
    """

    sequences: list[SequenceScores]

    def _mean(self, attr: str) -> float:
        if not self.sequences:
            raise ValueError("the report holds no sequences")
        return float(np.mean([getattr(s, attr) for s in self.sequences]))

    @property
    def j_mean(self) -> float:
        """Mean of the sequences' J-mean."""
        return self._mean("j_mean")

    @property
    def j_recall(self) -> float:
        """Mean of the sequences' J-recall."""
        return self._mean("j_recall")

    @property
    def j_decay(self) -> float:
        """Mean of the sequences' J-decay."""
        return self._mean("j_decay")

    @property
    def f_mean(self) -> float:
        """Mean of the sequences' F-mean."""
        return self._mean("f_mean")

    @property
    def f_recall(self) -> float:
        """Mean of the sequences' F-recall."""
        return self._mean("f_recall")

    @property
    def f_decay(self) -> float:
        """Mean of the sequences' F-decay."""
        return self._mean("f_decay")

    @property
    def jf_mean(self) -> float:
        """Mean of the sequences' J&F (equals ``(j_mean + f_mean) / 2``)."""
        return self._mean("jf_mean")

    def means(self) -> dict[str, float]:
        """The overall means, keyed ``jf_mean``, ``j_mean``, ``j_recall``, ... ."""
        return {k: getattr(self, k) for k in _MEAN_FIELDS}

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable dict: ``{"mean": {...}, "n_sequences": n, "sequences": [...]}``."""
        return {
            "mean": self.means(),
            "n_sequences": len(self.sequences),
            "sequences": [s.to_dict() for s in self.sequences],
        }

    def format_table(self) -> str:
        """Plain-text table: one row per sequence and object, then the mean row."""
        headers = [
            "Sequence",
            "Obj",
            "Frames",
            "J&F",
            "J-Mean",
            "J-Recall",
            "J-Decay",
            "F-Mean",
            "F-Recall",
            "F-Decay",
        ]
        rows: list[list[str]] = []
        for s in self.sequences:
            rows.append(
                [s.name, str(s.object_id), str(s.n_frames)]
                + [f"{getattr(s, k):.3f}" for k in _MEAN_FIELDS]
            )
        mean_row = [f"Mean ({len(self.sequences)})", "", ""]
        mean_row += [f"{v:.3f}" for v in self.means().values()] if self.sequences else [""] * 7
        widths = [max(len(r[i]) for r in [headers, mean_row, *rows]) for i in range(len(headers))]

        def fmt(cells: list[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
            return "  ".join([first, *rest]).rstrip()

        rule = "-" * len(fmt(headers))
        return "\n".join([fmt(headers), rule, *(fmt(r) for r in rows), rule, fmt(mean_row)])


def _frame_scores(
    pred: np.ndarray, gt: np.ndarray, ids: Iterable[int], bound_th: float
) -> dict[int, tuple[float, float]]:
    void = gt == VOID_LABEL
    if not void.any():
        void = None
    out = {}
    for i in ids:
        p = pred == i
        g = gt == i
        out[i] = (jaccard(p, g, void=void), boundary_f(p, g, bound_th=bound_th, void=void))
    return out


def evaluate_sequence(
    pred_dir: str | Path,
    gt_dir: str | Path,
    *,
    name: str | None = None,
    bound_th: float = DEFAULT_BOUND_TH,
) -> list[SequenceScores]:
    """J&F of one sequence, one entry per object id of the ground truth.

    Frames are paired by position in natural file-name order (see
    :func:`list_mask_files`) and read one pair at a time, so memory use does not grow
    with the sequence length. Every label ``> 0`` (except the void label 255) found in
    any ground-truth frame is an object; prediction pixels carrying that label belong
    to it. The first and last frame are read (to validate them and collect ids) but left
    out of every score, as in DAVIS.

    Args:
        pred_dir: folder of predicted PNG label maps (or a folder whose ``masks/``
            subfolder holds them, as ``samvideo track`` writes).
        gt_dir: folder of ground-truth PNGs (or its ``masks/`` subfolder), read with
            :func:`read_mask`.
        name: sequence name for the scores; by default the ground-truth folder's name
            (its parent's when the PNGs are in ``masks/``).
        bound_th: boundary tolerance of :func:`boundary_f`.

    Returns:
        One :class:`SequenceScores` per ground-truth object, by increasing id.

    Raises:
        ValueError: if a folder holds no PNG, the frame counts differ (both counts and
            folders named), there are fewer than 3 frames, a frame pair differs in size
            (both sizes named), or the ground truth holds no object.
    """
    pred_root, gt_root = Path(pred_dir), Path(gt_dir)
    pred_d = _png_dir(pred_root) or pred_root
    gt_d = _png_dir(gt_root) or gt_root
    pred_files = list_mask_files(pred_d)
    gt_files = list_mask_files(gt_d)
    if len(pred_files) != len(gt_files):
        raise ValueError(
            f"frame count mismatch: {len(pred_files)} predicted masks in {pred_d} "
            f"but {len(gt_files)} ground-truth masks in {gt_d}"
        )
    n = len(gt_files)
    if n < 3:
        raise ValueError(
            f"need at least 3 frames to evaluate (first and last are left out), got {n} in {gt_d}"
        )
    if name is None:
        name = _sequence_name(gt_d)

    gt_ids: set[int] = set()
    per_frame: list[dict[int, tuple[float, float]]] = []
    for k, (pf, gf) in enumerate(zip(pred_files, gt_files, strict=True)):
        gt = read_mask(gf)
        pred = read_mask(pf)
        if pred.shape != gt.shape:
            raise ValueError(
                f"mask size mismatch at frame {k}: prediction {pf} is "
                f"{pred.shape[1]}x{pred.shape[0]} but ground truth {gf} is "
                f"{gt.shape[1]}x{gt.shape[0]} (WxH)"
            )
        frame_gt_ids = _label_ids(gt) - {VOID_LABEL}
        gt_ids |= frame_gt_ids
        if k == 0 or k == n - 1:
            continue
        # An id absent from both masks scores J = F = 1 in this frame; only ids present
        # in either mask need computing (ids of later frames are not known yet).
        ids = frame_gt_ids | (_label_ids(pred) - {VOID_LABEL})
        per_frame.append(_frame_scores(pred, gt, sorted(ids), bound_th))

    if not gt_ids:
        raise ValueError(f"the ground truth in {gt_d} holds no object (all pixels are 0)")

    results = []
    for obj in sorted(gt_ids):
        j = [fs.get(obj, (1.0, 1.0))[0] for fs in per_frame]
        f = [fs.get(obj, (1.0, 1.0))[1] for fs in per_frame]
        jm, jr, jd = sequence_statistics(j)
        fm, fr, fd = sequence_statistics(f)
        results.append(
            SequenceScores(
                name=name,
                object_id=obj,
                n_frames=n,
                j_mean=jm,
                j_recall=jr,
                j_decay=jd,
                f_mean=fm,
                f_recall=fr,
                f_decay=fd,
                jf_mean=(jm + fm) / 2.0,
                j_per_frame=j,
                f_per_frame=f,
            )
        )
    return results


def evaluate(
    pred_root: str | Path, gt_root: str | Path, *, bound_th: float = DEFAULT_BOUND_TH
) -> EvaluationReport:
    """J&F of one sequence or of a folder of sequences.

    * If ``gt_root`` itself holds PNGs (or its ``masks/`` subfolder does), it is one
      sequence, compared with the PNGs of ``pred_root`` (or ``pred_root/masks``).
    * Otherwise every subfolder ``gt_root/<name>`` holding PNGs (directly or in
      ``masks/``) is a sequence, compared with ``pred_root/<name>`` (or
      ``pred_root/<name>/masks``). Hidden folders are skipped.

    Args:
        pred_root: predictions (folder of PNGs, or of per-sequence folders).
        gt_root: ground truth laid out the same way.
        bound_th: boundary tolerance of :func:`boundary_f`.

    Returns:
        An :class:`EvaluationReport` with one entry per sequence and object, sequences in
        name order.

    Raises:
        ValueError: if a root is not a folder, no ground-truth sequence is found, a
            sequence has no prediction (all such sequences named), or
            :func:`evaluate_sequence` fails.
    """
    pred_root, gt_root = Path(pred_root), Path(gt_root)
    for what, root in (("prediction", pred_root), ("ground-truth", gt_root)):
        if not root.is_dir():
            raise ValueError(f"{what} folder does not exist or is not a directory: {root}")

    pairs: list[tuple[str, Path, Path]] = []
    single = _png_dir(gt_root)
    if single is not None:
        pred_d = _png_dir(pred_root)
        if pred_d is None:
            raise ValueError(
                f"no predicted PNG masks in {pred_root} or {pred_root / 'masks'} "
                f"(ground truth {single} is a single sequence)"
            )
        pairs.append((_sequence_name(single), pred_d, single))
    else:
        subdirs = sorted(
            (d for d in gt_root.iterdir() if d.is_dir() and not d.name.startswith(".")),
            key=_natural_key,
        )
        missing = []
        for sub in subdirs:
            gt_d = _png_dir(sub)
            if gt_d is None:
                continue
            pred_d = _png_dir(pred_root / sub.name)
            if pred_d is None:
                missing.append(sub.name)
            else:
                pairs.append((sub.name, pred_d, gt_d))
        if not pairs and not missing:
            raise ValueError(f"no ground-truth PNG masks in {gt_root} or its subfolders")
        if missing:
            raise ValueError(
                f"no predicted masks in {pred_root} for sequence(s) "
                f"{', '.join(repr(m) for m in missing)} (expected PNGs in "
                f"{pred_root / missing[0]} or {pred_root / missing[0] / 'masks'})"
            )

    scores: list[SequenceScores] = []
    for seq_name, pred_d, gt_d in pairs:
        scores.extend(evaluate_sequence(pred_d, gt_d, name=seq_name, bound_th=bound_th))
    return EvaluationReport(sequences=scores)
