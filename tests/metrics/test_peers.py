"""``samvideo eval`` against two other DAVIS evaluations on the same masks.

* vos-benchmark (hkchengrex's reimplementation of the DAVIS 2017 semi-supervised
  evaluation; its F code is copied from davis2017-evaluation): per sequence and object,
  J-mean and F-mean over the frames between the first and the last.
* TrackEval's DAVIS dataset and J&F metric: J-mean, F-mean, recall and decay per
  sequence. It is the unsupervised protocol (predicted ids matched to ground-truth ids,
  every frame it is given scored), so it is given the frames between the first and the
  last, and predictions whose ids the matching keeps.

The ground truth is the sample clips' masks (``sample_videos/*/masks``); the predictions
are those masks perturbed (shifted, eroded, dilated, dropped, ids swapped, a stray id,
a stale mask while the object is hidden) and GrabCut runs of ``samvideo track``.

Tolerance: the three count the same pixels and divide the same integers, so the
per-frame J and F are the same floats and the means are summed in the same order;
vos-benchmark reports percentages, so its figures carry the rounding of a x100 (a few
1e-16). ``TOL = 1e-12`` allows that and nothing more: one pixel more or less in one frame
moves a J-mean of these clips by more than 1e-6.

vos-benchmark differs from the DAVIS code in two ways, each tested as it differs: it
scores an object only from the frame where it first shows, and the void label 255 is an
object to it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import trackeval
from PIL import Image
from vos_benchmark.benchmark import benchmark

from samvideo.cli import main
from samvideo.masks import davis_palette
from samvideo.metrics import VOID_LABEL, evaluate, list_mask_files, read_mask
from tests.helpers import SAMPLES

TOL = 1e-12
CLIPS = ("moving", "occlusion", "two_objects")


def _save_labels(path: Path, labels: np.ndarray) -> None:
    """An indexed PNG with the DAVIS palette, as DAVIS results are written."""
    im = Image.fromarray(labels.astype(np.uint8))
    im.putpalette(davis_palette())
    im.save(path)


def _write_sequence(folder: Path, frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True)
    for i, labels in enumerate(frames):
        _save_labels(folder / f"{i:05d}.png", labels)


def _perturb(frames: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Predictions made from ground-truth label maps, each frame spoiled differently."""
    rng = np.random.default_rng(seed)
    kernel = np.ones((5, 5), np.uint8)
    swap = np.arange(256, dtype=np.uint8)
    swap[[1, 2]] = [2, 1]
    out = []
    for k, gt in enumerate(frames):
        p = np.roll(gt, tuple(int(v) for v in rng.integers(-6, 7, size=2)), axis=(0, 1))
        if k % 3 == 1:
            p = cv2.erode(p, kernel)
        elif k % 3 == 2:
            p = cv2.dilate(p, kernel)
        if k % 7 == 3:
            p[p == 1] = 0  # object 1 missed
        if k % 11 == 5:
            p = swap[p]  # ids 1 and 2 swapped
        if k % 5 == 0:
            p[:12, -12:] = 3  # an id the ground truth does not have
        if not gt.any() and k % 2 and out:
            p = out[-1].copy()  # the hidden object still "seen": false positives
        flips = rng.random(gt.shape) < 0.002  # pixel noise on the boundaries too
        p[flips] = np.where(p[flips] == 0, 1, 0)
        out.append(p)
    return out


def _layout(root: Path, predictions: dict[str, Path]) -> tuple[Path, Path]:
    """DAVIS layout: ``gt/<clip>/*.png`` (the sample masks), ``pred/<clip>/*.png``."""
    gt_root, pred_root = root / "gt", root / "pred"
    gt_root.mkdir(), pred_root.mkdir()
    for clip, masks in predictions.items():
        (gt_root / clip).symlink_to(SAMPLES / clip / "masks", target_is_directory=True)
        (pred_root / clip).symlink_to(masks, target_is_directory=True)
    return pred_root, gt_root


@pytest.fixture(scope="module")
def perturbed(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("perturbed")
    predictions = {}
    for seed, clip in enumerate(CLIPS):
        gt = [read_mask(f) for f in list_mask_files(SAMPLES / clip / "masks")]
        _write_sequence(root / "masks" / clip, _perturb(gt, seed))
        predictions[clip] = root / "masks" / clip
    return _layout(root, predictions)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> tuple[Path, Path]:
    """``samvideo track --model grabcut`` of the two clips with an occlusion or two objects."""
    root = tmp_path_factory.mktemp("tracked")
    predictions = {}
    for clip in ("occlusion", "two_objects"):
        src = SAMPLES / clip
        assert main(["track", str(src / "video.mp4"), "--prompts", str(src / "prompts.json"),
                     "-o", str(root / "out" / clip), "--export", "davis", "--quiet",
                     "--model", "grabcut", "--overwrite"]) == 0
        predictions[clip] = root / "out" / clip / "masks"
    return _layout(root, predictions)


def _vos_benchmark(pred_root: Path, gt_root: Path):
    """vos-benchmark's figures on the 0..1 scale: ``{(seq, obj): (J, F)}`` and the
    global ``(J, F)`` (its mean over every object of every sequence)."""
    _, global_j, global_f, per_object = benchmark(
        [str(gt_root)], [str(pred_root)], num_processes=1, verbose=False,
        skip_first_and_last=True)
    scores = {(seq, int(obj)): (j[obj] / 100, f[obj] / 100)
              for seq, (j, f) in per_object[0].items() for obj in j}
    return scores, (global_j[0] / 100, global_f[0] / 100)


def _trackeval_davis(pred_root: Path, gt_root: Path, work: Path) -> dict[str, dict]:
    """TrackEval's J&F of every sequence, given the frames between the first and the last
    laid out as its DAVIS dataset reads them (``gt/<seq>``, ``trackers/<name>/data/<seq>``)."""
    for seq in sorted(p.name for p in gt_root.iterdir()):
        for src, dst in ((gt_root / seq, work / "gt" / seq),
                         (pred_root / seq, work / "trackers" / "samvideo" / "data" / seq)):
            dst.mkdir(parents=True)
            for f in list_mask_files(src)[1:-1]:
                shutil.copy(f, dst / f.name)
    quiet = {"PRINT_CONFIG": False}
    evaluator = trackeval.Evaluator({
        **quiet, "USE_PARALLEL": False, "PRINT_RESULTS": False, "TIME_PROGRESS": False,
        "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False, "PLOT_CURVES": False})
    dataset = trackeval.datasets.DAVIS({**quiet, "GT_FOLDER": str(work / "gt"),
                                        "TRACKERS_FOLDER": str(work / "trackers")})
    results, messages = evaluator.evaluate([dataset], [trackeval.metrics.JAndF()])
    assert messages == {"DAVIS": {"samvideo": "Success"}}
    per_seq = results["DAVIS"]["samvideo"]
    return {seq: r["general"]["JAndF"] for seq, r in per_seq.items() if seq != "COMBINED_SEQ"}


@pytest.mark.parametrize("predictions", ["perturbed", "tracked"])
def test_j_and_f_means_equal_vos_benchmarks(predictions, request):
    pred_root, gt_root = request.getfixturevalue(predictions)
    report = evaluate(pred_root, gt_root)
    ours = {(s.name, s.object_id): s for s in report.sequences}
    theirs, (global_j, global_f) = _vos_benchmark(pred_root, gt_root)
    assert sorted(theirs) == sorted(ours)
    for key, s in ours.items():
        j, f = theirs[key]
        assert s.j_mean == pytest.approx(j, abs=TOL), key
        assert s.f_mean == pytest.approx(f, abs=TOL), key
        assert 0.2 < s.j_mean < 1, key  # neither trivial nor perfect
    assert report.j_mean == pytest.approx(global_j, abs=TOL)
    assert report.f_mean == pytest.approx(global_f, abs=TOL)


@pytest.mark.parametrize("predictions", ["perturbed", "tracked"])
def test_recall_and_decay_equal_trackevals(predictions, request, tmp_path):
    pred_root, gt_root = request.getfixturevalue(predictions)
    report = evaluate(pred_root, gt_root)
    theirs = _trackeval_davis(pred_root, gt_root, tmp_path)
    assert sorted(theirs) == sorted({s.name for s in report.sequences})
    fields = {"J-Mean": "j_mean", "J-Recall": "j_recall", "J-Decay": "j_decay",
              "F-Mean": "f_mean", "F-Recall": "f_recall", "F-Decay": "f_decay",
              "J&F": "jf_mean"}
    for seq, r in theirs.items():
        objects = [s for s in report.sequences if s.name == seq]
        assert r["num_gt_tracks"] == len(objects)
        for field, attr in fields.items():  # TrackEval gives the mean over the objects
            ours = np.mean([getattr(s, attr) for s in objects])
            assert ours == pytest.approx(r[field], abs=TOL), (seq, field)
    assert any(s.j_recall < 1 for s in report.sequences)  # the figures are not trivial
    assert any(abs(s.j_decay) > 0.005 for s in report.sequences)


def _two_rects(n: int, shape=(48, 64)) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` frames: object 1 everywhere; object 2 from frame ``n // 2`` on, predicted
    shifted by 2 pixels (J < 1) there and absent before, as in the ground truth."""
    gt, pred = [], []
    for k in range(n):
        g = np.zeros(shape, np.uint8)
        g[5:20, 5:20] = 1
        p = g.copy()
        if k >= n // 2:
            g[25:40, 30:50] = 2
            p[27:42, 30:50] = 2
        gt.append(g)
        pred.append(p)
    return gt, pred


def test_an_object_that_appears_later_is_scored_on_every_frame(tmp_path):
    """The DAVIS code scores every object on every evaluated frame (J = F = 1 where it is
    in neither mask), and so do samvideo and TrackEval. vos-benchmark starts an object's
    per-frame list at the first frame where it shows in either mask, so its means cover
    only those frames. (The official semi-supervised script would not count object 2 at
    all: it takes the objects 1..max of the first frame. DAVIS 2017 objects are all in
    the first frame, where the three agree.)"""
    gt, pred = _two_rects(10)
    _write_sequence(tmp_path / "gt" / "late", gt)
    _write_sequence(tmp_path / "pred" / "late", pred)
    report = evaluate(tmp_path / "pred", tmp_path / "gt")
    obj1, obj2 = report.sequences
    assert obj2.j_per_frame[:4] == [1.0] * 4 and obj2.f_per_frame[:4] == [1.0] * 4
    assert obj2.j_per_frame[4:] == [pytest.approx(13 / 17)] * 4  # 13 of 17 rows overlap
    theirs, _ = _vos_benchmark(tmp_path / "pred", tmp_path / "gt")
    assert theirs[("late", 1)] == pytest.approx((obj1.j_mean, obj1.f_mean), abs=TOL)
    assert theirs[("late", 2)] == pytest.approx(
        (np.mean(obj2.j_per_frame[4:]), np.mean(obj2.f_per_frame[4:])), abs=TOL)
    assert obj2.j_mean == pytest.approx((4 + 4 * 13 / 17) / 8)
    r = _trackeval_davis(tmp_path / "pred", tmp_path / "gt", tmp_path / "trackeval")["late"]
    assert r["J-Mean"] == pytest.approx(report.j_mean, abs=TOL)
    assert r["F-Mean"] == pytest.approx(report.f_mean, abs=TOL)


def test_void_pixels_count_for_neither_j_nor_f(tmp_path):
    """Ground-truth pixels labelled 255 are left out of both masks, as the DAVIS
    ``db_eval_iou`` / ``f_measure`` do with the void mask they are given, and as
    TrackEval does. vos-benchmark knows no void: 255 is one more object to it, and for
    the other objects void is background, which is what the official semi-supervised
    script does too (it gives the measures no void mask): its object-1 figures are
    samvideo's on the ground truth with 255 made 0."""
    gt, pred = _two_rects(8)
    for g, p in zip(gt, pred, strict=True):
        g[5:20, 20:26] = VOID_LABEL  # a void band along object 1's right side...
        p[5:20, 5:24] = 1  # ...that the prediction spills into
    _write_sequence(tmp_path / "gt" / "void", gt)
    _write_sequence(tmp_path / "pred" / "void", pred)
    _write_sequence(tmp_path / "gt0" / "void", [np.where(g == VOID_LABEL, 0, g) for g in gt])
    report = evaluate(tmp_path / "pred", tmp_path / "gt")
    assert [s.object_id for s in report.sequences] == [1, 2]
    assert report.sequences[0].j_mean == 1.0 and report.sequences[0].f_mean == 1.0

    theirs, _ = _vos_benchmark(tmp_path / "pred", tmp_path / "gt")
    assert sorted(theirs) == [("void", 1), ("void", 2), ("void", VOID_LABEL)]
    background = evaluate(tmp_path / "pred", tmp_path / "gt0").sequences[0]
    assert background.j_mean == pytest.approx(15 / 19)  # the 4 spilt columns count
    assert theirs[("void", 1)] == pytest.approx((background.j_mean, background.f_mean), abs=TOL)

    r = _trackeval_davis(tmp_path / "pred", tmp_path / "gt", tmp_path / "trackeval")["void"]
    assert r["J-Mean"] == pytest.approx(report.j_mean, abs=TOL)
    assert r["F-Mean"] == pytest.approx(report.f_mean, abs=TOL)


def test_a_real_davis_clip_equals_vos_benchmarks(shared_data, tmp_path):
    """The shortest DAVIS 2016 clip (1-bit ground truth, 854x480: radius 8), predicted
    by its own masks shifted and dilated."""
    clip = shared_data / "davis2016-train" / "dog-agility" / "masks"
    gt = [read_mask(f) for f in list_mask_files(clip)]
    _write_sequence(tmp_path / "masks", [
        cv2.dilate(np.roll(m, (k % 7 - 3, 5), axis=(0, 1)), np.ones((5, 5), np.uint8))
        if k % 2 else np.roll(m, (k % 7 - 3, 5), axis=(0, 1)) for k, m in enumerate(gt)])
    (tmp_path / "pred").mkdir(), (tmp_path / "gt").mkdir()
    (tmp_path / "pred" / "dog-agility").symlink_to(tmp_path / "masks")
    (tmp_path / "gt" / "dog-agility").symlink_to(clip)
    (s,) = evaluate(tmp_path / "pred", tmp_path / "gt").sequences
    theirs, _ = _vos_benchmark(tmp_path / "pred", tmp_path / "gt")
    assert list(theirs) == [("dog-agility", 1)]
    assert theirs["dog-agility", 1] == pytest.approx((s.j_mean, s.f_mean), abs=TOL)
    assert 0.5 < s.j_mean < 0.99 and 0.5 < s.f_mean < 0.99
