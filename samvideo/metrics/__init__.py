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
* The objects of a sequence are the labels other than 0 and 255 found in any
  ground-truth frame (the official semi-supervised script takes ``1..max`` of the first
  frame's labels). Every object is scored on every evaluated frame, as the official code
  does: where it is in neither mask, J = F = 1.
* Ground-truth pixels labelled 255 are *void*: they count for neither J nor F, as the
  official ``db_eval_iou`` and ``f_measure`` treat the void mask they are given. (Its
  unsupervised evaluation gives them one; its semi-supervised evaluation gives none, so
  there void is background. DAVIS 2016 masks have no void pixels.)

Masks are ``(H, W)`` arrays; any dtype is accepted and non-zero means "object". Label
maps are ``(H, W)`` ``uint8`` (``int32`` for 16-bit PNGs) arrays with ``0`` =
background, ``1..N`` = object ids and ``255`` = void. Prediction and ground truth must
have the same size: nothing is resized. Errors are raised as :class:`ValueError`
naming the offending value; nothing is printed.

The modules: :mod:`.measures` (J, F and the per-sequence statistics of arrays),
:mod:`.reading` (mask PNGs and folders of them as label maps), :mod:`.evaluation`
(sequences and folders of sequences, the report). ``tests/test_metrics_peers.py`` checks
the figures against vos-benchmark's and TrackEval's DAVIS evaluations.
"""

from samvideo.metrics.evaluation import (
    VOID_LABEL,
    EvaluationReport,
    SequenceScores,
    evaluate,
    evaluate_sequence,
)
from samvideo.metrics.measures import (
    DEFAULT_BOUND_TH,
    boundary_f,
    boundary_map,
    boundary_radius,
    disk,
    jaccard,
    sequence_statistics,
)
from samvideo.metrics.reading import list_mask_files, read_mask, read_mask_folder

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
