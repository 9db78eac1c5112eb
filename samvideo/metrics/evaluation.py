"""J&F of sequences of mask PNGs: one sequence, a folder of sequences, the report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from samvideo.metrics.measures import (
    DEFAULT_BOUND_TH,
    boundary_f,
    jaccard,
    sequence_statistics,
)
from samvideo.metrics.reading import label_ids, list_mask_files, read_mask
from samvideo.video.info import natural_key

VOID_LABEL = 255
"""Ground-truth label of void pixels: they count for neither J nor F."""


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


@dataclass
class SequenceScores:
    """J&F of one object in one sequence (first and last frame left out, as in DAVIS).

    Attributes:
        name: sequence name (by default the ground-truth folder's name).
        object_id: the object's label in the ground truth (1..N).
        n_frames: frames scored (those the prediction and the ground truth both have),
            first and last included; the statistics cover the ``n_frames - 2`` frames
            in between.
        gt_frames: frames of the ground truth (more than ``n_frames`` when the
            prediction covers a part of the clip).
        first_frame, last_frame: the first and last frame scored, as the files name them
            (their numbers for ``00042.png``), or None for names without a number.
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
    gt_frames: int = 0
    first_frame: int | None = None
    last_frame: int | None = None

    @property
    def partial(self) -> bool:
        """Whether only a part of the ground truth's frames was scored."""
        return self.n_frames < self.gt_frames

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

    def partial_notes(self) -> list[str]:
        """One line per sequence scored on a part of its ground truth's frames."""
        notes = {}
        for s in self.sequences:
            if s.partial:
                where = "" if s.first_frame is None else \
                    f" (frames {s.first_frame}-{s.last_frame})"
                notes[s.name] = (f"sequence {s.name!r}: scored the {s.n_frames} frames the "
                                 f"prediction has{where} of the ground truth's "
                                 f"{s.gt_frames}")
        return list(notes.values())

    def format_table(self) -> str:
        """Plain-text table: one row per sequence and object, then the mean row; a
        sequence scored on a part of its frames shows ``scored/ground truth``."""
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
            frames = f"{s.n_frames}/{s.gt_frames}" if s.partial else str(s.n_frames)
            rows.append(
                [s.name, str(s.object_id), frames]
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


def _frame_key(path: Path) -> int | str:
    return int(path.stem) if path.stem.isdigit() else path.stem


def _pair_frames(pred_files: list[Path], gt_files: list[Path], pred_d: Path, gt_d: Path,
                 all_frames: bool) -> tuple[list[tuple[Path, Path]], list[int | None]]:
    """(prediction, ground truth) file pairs to score, in ground-truth order, and each
    pair's frame number (None for names without one). Files pair by name (``00042.png``
    with ``42.png``); a prediction of a part of the clip pairs its frames only, unless
    ``all_frames``. Folders whose names have nothing in common pair by position, when
    they hold as many files."""
    mismatch = ValueError(
        f"frame count mismatch: {len(pred_files)} predicted masks in {pred_d} "
        f"but {len(gt_files)} ground-truth masks in {gt_d}"
        + (" (--all-frames insists on every frame)" if all_frames else ""))
    by_key = {_frame_key(p): p for p in pred_files}
    common = [g for g in gt_files if _frame_key(g) in by_key]
    if not common:
        if len(pred_files) != len(gt_files):
            raise mismatch
        pairs = list(zip(pred_files, gt_files, strict=True))
    elif all_frames and (len(common) != len(gt_files) or len(by_key) != len(gt_files)):
        raise mismatch
    else:
        pairs = [(by_key[_frame_key(g)], g) for g in common]
    numbers = [k if isinstance(k := _frame_key(g), int) else None for _, g in pairs]
    return pairs, numbers


def evaluate_sequence(
    pred_dir: str | Path,
    gt_dir: str | Path,
    *,
    name: str | None = None,
    bound_th: float = DEFAULT_BOUND_TH,
    all_frames: bool = False,  # a prediction of a part of the clip is an error
) -> list[SequenceScores]:
    """J&F of one sequence, one entry per object id of the ground truth.

    Frames are paired by file name (``00042.png`` with ``00042.png`` or ``42.png``): a
    prediction of a part of the clip (``samvideo track --start/--end``, an interrupted
    run) is scored on the frames both folders have (:attr:`SequenceScores.n_frames` of
    :attr:`~SequenceScores.gt_frames`), unless ``all_frames``. Folders whose file names
    have nothing in common are paired by position in natural order (see
    :func:`list_mask_files`). Pairs are read one at a time, so memory use does not grow
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
        ValueError: if a folder holds no PNG, the frame counts differ where they must
            (``all_frames``, or no file name in common; both counts and folders named),
            there are fewer than 3 frames to score, a frame pair differs in size (both
            sizes named), or the ground truth holds no object.
    """
    pred_root, gt_root = Path(pred_dir), Path(gt_dir)
    pred_d = _png_dir(pred_root) or pred_root
    gt_d = _png_dir(gt_root) or gt_root
    pairs, numbers = _pair_frames(list_mask_files(pred_d), list_mask_files(gt_d), pred_d, gt_d,
                                  all_frames)
    gt_count = len(list_mask_files(gt_d))
    n = len(pairs)
    if n < 3:
        raise ValueError(
            f"need at least 3 frames to evaluate (first and last are left out), got {n} "
            f"in {gt_d}" + (f" that {pred_d} has too" if n < gt_count else "")
        )
    if name is None:
        name = _sequence_name(gt_d)

    gt_ids: set[int] = set()
    per_frame: list[dict[int, tuple[float, float]]] = []
    for k, (pf, gf) in enumerate(pairs):
        gt = read_mask(gf)
        pred = read_mask(pf)
        if pred.shape != gt.shape:
            raise ValueError(
                f"mask size mismatch at frame {k}: prediction {pf} is "
                f"{pred.shape[1]}x{pred.shape[0]} but ground truth {gf} is "
                f"{gt.shape[1]}x{gt.shape[0]} (WxH)"
            )
        frame_gt_ids = label_ids(gt) - {VOID_LABEL}
        gt_ids |= frame_gt_ids
        if k == 0 or k == n - 1:
            continue
        # An id absent from both masks scores J = F = 1 in this frame; only ids present
        # in either mask need computing (ids of later frames are not known yet).
        ids = frame_gt_ids | (label_ids(pred) - {VOID_LABEL})
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
                gt_frames=gt_count,
                first_frame=numbers[0],
                last_frame=numbers[-1],
            )
        )
    return results


def evaluate(
    pred_root: str | Path, gt_root: str | Path, *, bound_th: float = DEFAULT_BOUND_TH,
    all_frames: bool = False,
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
        all_frames: refuse a prediction that lacks frames of the ground truth (by
            default such a sequence is scored on the frames both have).

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
            key=natural_key,
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
        scores.extend(evaluate_sequence(pred_d, gt_d, name=seq_name, bound_th=bound_th,
                                        all_frames=all_frames))
    return EvaluationReport(sequences=scores)
