"""Tests of samvideo.metrics: J&F as the DAVIS benchmark defines it.

Expected values are derived by hand or by slow, independent brute-force versions of
the DAVIS definitions written here (loops and pairwise distances, no dilation).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samvideo.metrics import (
    EvaluationReport,
    SequenceScores,
    boundary_f,
    boundary_map,
    boundary_radius,
    disk,
    evaluate,
    evaluate_sequence,
    jaccard,
    list_mask_files,
    read_mask,
    read_mask_folder,
    sequence_statistics,
)

H, W = 480, 854  # DAVIS 480p

DAVIS_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "davis2016-train"


# --------------------------------------------------------------------------------------
# Independent brute-force versions of the DAVIS definitions
# --------------------------------------------------------------------------------------


def _boundary_loops(mask: np.ndarray) -> np.ndarray:
    """DAVIS _seg2bmap by definition: differs from an in-image right/lower/diag pixel."""
    h, w = mask.shape
    out = np.zeros((h, w), dtype=bool)
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (1, 0), (1, 1)):
                yy, xx = y + dy, x + dx
                if yy < h and xx < w and mask[y, x] != mask[yy, xx]:
                    out[y, x] = True
    return out


def _boundary_padded(mask: np.ndarray) -> np.ndarray:
    """Same definition, vectorised differently: edge-replicate, then compare."""
    m = np.pad(mask.astype(bool), ((0, 1), (0, 1)), mode="edge")
    c = m[:-1, :-1]
    return (c != m[:-1, 1:]) | (c != m[1:, :-1]) | (c != m[1:, 1:])


def _f_brute(pred: np.ndarray, gt: np.ndarray, radius: int) -> float:
    """Boundary F by pairwise distances: a boundary pixel matches when a boundary pixel
    of the other mask lies at Euclidean distance <= radius (the disk)."""
    bp = np.argwhere(_boundary_padded(pred))
    bg = np.argwhere(_boundary_padded(gt))
    if len(bp) == 0 and len(bg) == 0:
        return 1.0
    if len(bp) == 0 or len(bg) == 0:
        return 0.0
    d2 = ((bp[:, None, :] - bg[None, :, :]) ** 2).sum(axis=2)
    precision = np.mean(d2.min(axis=1) <= radius**2)
    recall = np.mean(d2.min(axis=0) <= radius**2)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _rect(h: int, w: int, y0: int, x0: int, rh: int, rw: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y0 : y0 + rh, x0 : x0 + rw] = True
    return m


def _blob(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random mask made of a few ellipses."""
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros((h, w), dtype=bool)
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(2, h / 2), rng.uniform(2, w / 2)
        m |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return m


# --------------------------------------------------------------------------------------
# J
# --------------------------------------------------------------------------------------


def test_jaccard_identical_disjoint_and_half():
    sq = _rect(40, 60, 5, 5, 10, 10)
    assert jaccard(sq, sq) == 1.0
    assert jaccard(sq, _rect(40, 60, 25, 30, 10, 10)) == 0.0
    rect = _rect(40, 60, 5, 5, 10, 20)  # contains the square, twice its area
    assert jaccard(sq, rect) == 0.5
    assert jaccard(rect, sq) == 0.5


def test_jaccard_empty_masks():
    empty = np.zeros((30, 40), dtype=bool)
    assert jaccard(empty, empty) == 1.0  # DAVIS convention
    assert jaccard(empty, _rect(30, 40, 1, 1, 3, 3)) == 0.0
    assert jaccard(_rect(30, 40, 1, 1, 3, 3), empty) == 0.0


def test_jaccard_accepts_label_dtypes_and_void():
    gt = _rect(20, 20, 0, 0, 10, 10).astype(np.uint8) * 7
    pred = _rect(20, 20, 0, 0, 10, 20)
    void = np.zeros((20, 20), dtype=bool)
    void[:, 10:] = True  # the part of pred outside gt is void: ignored
    assert jaccard(pred, gt) == 0.5
    assert jaccard(pred, gt, void=void) == 1.0


def test_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(10, 10\).*\(10, 11\)"):
        jaccard(np.zeros((10, 10)), np.zeros((10, 11)))
    with pytest.raises(ValueError, match=r"\(10, 10\).*\(11, 10\)"):
        boundary_f(np.zeros((10, 10)), np.zeros((11, 10)))
    with pytest.raises(ValueError, match=r"2-D.*\(4, 4, 3\)"):
        jaccard(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)))


# --------------------------------------------------------------------------------------
# Boundary map, disk, radius
# --------------------------------------------------------------------------------------


def test_boundary_map_matches_definition_on_random_masks():
    rng = np.random.default_rng(0)
    for _ in range(20):
        h, w = rng.integers(1, 25, size=2)
        m = rng.random((h, w)) < rng.uniform(0.1, 0.9)
        expected = _boundary_loops(m)
        np.testing.assert_array_equal(boundary_map(m), expected)
        np.testing.assert_array_equal(_boundary_padded(m), expected)


def test_boundary_map_of_a_square_is_its_offset_outline():
    # Square rows 10..19, cols 20..29: the boundary is the outline of rows 9..19 x
    # cols 19..29 (half a pixel towards the origin), 4 * 11 - 4 = 40 pixels.
    b = boundary_map(_rect(40, 50, 10, 20, 10, 10))
    outline = _rect(40, 50, 9, 19, 11, 11) & ~_rect(40, 50, 10, 20, 9, 9)
    np.testing.assert_array_equal(b, outline)
    assert b.sum() == 40
    # A mask filling the image has no boundary (the border is not one).
    assert not boundary_map(np.ones((5, 7), dtype=bool)).any()


def test_disk_is_skimage_disk():
    for r in range(0, 12):
        k = disk(r)
        c = np.arange(-r, r + 1)
        x, y = np.meshgrid(c, c)
        np.testing.assert_array_equal(k, (x**2 + y**2 <= r**2).astype(np.uint8))
        assert k.shape == (2 * r + 1, 2 * r + 1)
    assert disk(8).sum() == 197  # lattice points in a radius-8 circle (Gauss)
    try:
        from skimage.morphology import disk as sk_disk
    except ImportError:
        return
    for r in range(0, 12):
        np.testing.assert_array_equal(disk(r), sk_disk(r).astype(np.uint8))


def test_boundary_radius():
    assert math.isclose(math.hypot(H, W), 979.65, abs_tol=0.01)
    assert boundary_radius((H, W)) == 8  # ceil(0.008 * 979.65) = ceil(7.84)
    assert boundary_radius((H, W), 3) == 3  # >= 1: pixels
    assert boundary_radius((1080, 1920)) == math.ceil(0.008 * math.hypot(1080, 1920))
    for bad in (0, -0.1, 2.5):
        with pytest.raises(ValueError, match=str(bad)):
            boundary_radius((H, W), bad)


# --------------------------------------------------------------------------------------
# F
# --------------------------------------------------------------------------------------


def test_boundary_f_identical_disjoint_empty():
    sq = _rect(H, W, 100, 200, 100, 100)
    assert boundary_f(sq, sq) == 1.0
    far = _rect(H, W, 300, 600, 100, 100)
    assert boundary_f(sq, far) == 0.0
    empty = np.zeros((H, W), dtype=bool)
    assert boundary_f(empty, empty) == 1.0
    assert boundary_f(empty, sq) == 0.0
    assert boundary_f(sq, empty) == 0.0


def test_boundary_f_shift_within_radius_is_one():
    gt = _rect(H, W, 100, 200, 100, 100)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (0, 8), (5, 6)):  # all within 8 pixels
        pred = _rect(H, W, 100 + dy, 200 + dx, 100, 100)
        assert boundary_f(pred, gt) == 1.0, (dy, dx)
    assert boundary_f(_rect(H, W, 100, 209, 100, 100), gt) < 1.0  # 9 > 8


def test_boundary_f_shift_by_20_known_value():
    gt = _rect(H, W, 100, 200, 100, 100)
    pred = _rect(H, W, 100, 220, 100, 100)
    # By hand: each boundary is the 400-pixel outline of a 101x101 box. Of the shifted
    # outline, 12 pixels of the top row and 12 of the bottom row lie more than 8 pixels
    # past the other box's corner, 83 of the 99 inner left-column pixels are more than
    # 8 rows from the other box's top/bottom rows (20 columns away from its left side),
    # and all 99 inner right-column pixels are 20 columns away: 206 unmatched, so
    # precision = recall = 194 / 400 = F.
    expected = 194 / 400
    assert _f_brute(pred, gt, 8) == pytest.approx(expected, abs=1e-12)
    assert boundary_f(pred, gt) == pytest.approx(expected, abs=1e-12)
    assert boundary_f(gt, pred) == pytest.approx(expected, abs=1e-12)


def test_boundary_f_matches_brute_force_on_random_masks():
    rng = np.random.default_rng(1)
    for _ in range(25):
        h, w = (int(v) for v in rng.integers(20, 70, size=2))
        pred, gt = _blob(rng, h, w), _blob(rng, h, w)
        for bound_th in (0.008, 0.05, 2, 5):
            r = boundary_radius((h, w), bound_th)
            assert boundary_f(pred, gt, bound_th=bound_th) == pytest.approx(
                _f_brute(pred, gt, r), abs=1e-12
            ), (h, w, bound_th)


def test_boundary_f_masks_touching_the_image_border():
    # Cropping must not change anything when masks reach the image edges.
    gt = _rect(60, 80, 30, 50, 30, 30)  # bottom-right corner
    pred = _rect(60, 80, 25, 45, 35, 35)
    assert boundary_f(pred, gt, bound_th=3) == pytest.approx(_f_brute(pred, gt, 3))
    full = np.ones((60, 80), dtype=bool)
    assert boundary_f(full, full) == 1.0  # no boundary on either side


def test_boundary_f_void_removes_pixels_from_both_masks():
    gt = _rect(50, 50, 10, 10, 20, 20)
    pred = gt.copy()
    pred[10:30, 30:45] = True  # extra part far from gt's boundary
    void = np.zeros_like(gt)
    void[:, 31:] = True
    assert boundary_f(pred, gt, bound_th=1) < 1.0
    assert boundary_f(pred, gt, bound_th=1, void=void) == 1.0


# --------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------


def test_sequence_statistics_davis_bins():
    # 8 values: DAVIS edges round(linspace(1, 8, 5)) - 1 = [0, 2, 4, 5, 7]; first bin
    # values[0:3], last bin values[5:8] (np.array_split would give [0:2] and [6:8]).
    v = [1, 1, 0, 0.5, 0.5, 0.5, 0, 0]
    mean, recall, decay = sequence_statistics(v)
    assert mean == pytest.approx(3.5 / 8)
    assert recall == pytest.approx(2 / 8)  # strictly > 0.5: the 0.5 frames do not count
    assert decay == pytest.approx(2 / 3 - 1 / 6)
    # 1 value: every bin is that value, decay 0; 2 values: first minus second.
    assert sequence_statistics([0.7]) == pytest.approx((0.7, 1.0, 0.0))
    assert sequence_statistics([0.9, 0.3])[2] == pytest.approx(0.6)
    # 80 values (an 82-frame clip): edges [0, 20, 40, 59, 79], 21-value end bins.
    v80 = np.arange(80, dtype=float)
    assert sequence_statistics(v80)[2] == pytest.approx(np.mean(v80[0:21]) - np.mean(v80[59:80]))
    # Long sequences (more than 255 frames) work (the original's uint8 cast overflows).
    v600 = np.r_[np.ones(300), np.zeros(300)]
    assert sequence_statistics(v600)[2] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="0 frames"):
        sequence_statistics([])


# --------------------------------------------------------------------------------------
# Reading PNGs
# --------------------------------------------------------------------------------------


def _palette() -> list[int]:
    pal = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128]
    pal += [0, 0, 0] * (256 - len(pal) // 3)
    pal[255 * 3 : 256 * 3] = [224, 224, 192]
    return pal


def _save_palette(path: Path, labels: np.ndarray) -> None:
    im = Image.fromarray(labels.astype(np.uint8), mode="P")
    im.putpalette(_palette())
    im.save(path)


def test_read_mask_modes(tmp_path):
    labels = np.zeros((6, 8), dtype=np.uint8)
    labels[1:3, 1:3] = 1
    labels[4:6, 5:8] = 2
    labels[0, 7] = 255
    _save_palette(tmp_path / "p.png", labels)
    got = read_mask(tmp_path / "p.png")
    assert got.dtype == np.uint8 and got.shape == (6, 8)
    np.testing.assert_array_equal(got, labels)
    np.testing.assert_array_equal(read_mask(tmp_path / "p.png", object_id=2), labels == 2)

    Image.fromarray(labels > 0).save(tmp_path / "bits.png")  # 1-bit
    assert Image.open(tmp_path / "bits.png").mode == "1"
    np.testing.assert_array_equal(read_mask(tmp_path / "bits.png"), labels > 0)

    Image.fromarray(((labels > 0) * 255).astype(np.uint8)).save(tmp_path / "l255.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "l255.png"), labels > 0)

    Image.fromarray(labels).save(tmp_path / "llabels.png")  # grey label map
    np.testing.assert_array_equal(read_mask(tmp_path / "llabels.png"), labels)

    rgb = np.zeros((6, 8, 3), dtype=np.uint8)
    rgb[labels == 1] = (200, 0, 0)
    rgb[labels == 2] = (0, 0, 1)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png"), np.isin(labels, (1, 2)))

    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png"):
        read_mask(tmp_path / "bad.png")
    with pytest.raises(ValueError, match="0"):
        read_mask(tmp_path / "p.png", object_id=0)


def test_read_mask_folder_natural_order(tmp_path):
    for i in (10, 2, 1):
        _save_palette(tmp_path / f"{i}.png", np.full((3, 4), i, dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("ignored")
    assert [p.name for p in list_mask_files(tmp_path)] == ["1.png", "2.png", "10.png"]
    masks = read_mask_folder(tmp_path)
    assert [int(m[0, 0]) for m in masks] == [1, 2, 10]
    assert all(m.shape == (3, 4) and m.dtype == np.uint8 for m in masks)
    bools = read_mask_folder(tmp_path, object_id=2)
    assert [bool(m.all()) for m in bools] == [False, True, False]
    assert bools[0].dtype == np.bool_
    with pytest.raises(ValueError, match="no PNG"):
        read_mask_folder(_empty_dir(tmp_path))
    with pytest.raises(ValueError, match="missing"):
        read_mask_folder(tmp_path / "missing")


def _empty_dir(root: Path) -> Path:
    d = root / "empty"
    d.mkdir()
    return d


# --------------------------------------------------------------------------------------
# Sequences
# --------------------------------------------------------------------------------------

SEQ_H, SEQ_W = 48, 64
GT_SQ = (10, 10, 10, 10)  # y0, x0, h, w of object 1 in the ground truth


def _write_seq(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        _save_palette(folder / f"{i:05d}.png", f)
    return folder


def _labels(*rects: tuple[int, tuple[int, int, int, int]]) -> np.ndarray:
    out = np.zeros((SEQ_H, SEQ_W), dtype=np.uint8)
    for obj, (y0, x0, h, w) in rects:
        out[y0 : y0 + h, x0 : x0 + w] = obj
    return out


def _kind_frames() -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """10 frames; per-frame J of the 8 middle frames = [1, 1, 0, .5, .5, .5, 0, 0]."""
    gt = [_labels((1, GT_SQ)) for _ in range(10)]
    same = _labels((1, GT_SQ))
    half = _labels((1, (10, 10, 10, 20)))  # contains the square: J = 0.5
    empty = _labels()
    far = _labels((1, (30, 40, 10, 10)))  # frames 0 and 9: wrong, must not count
    pred = [far, same, same, empty, half, half, half, empty, empty, far]
    return gt, pred, [1, 1, 0, 0.5, 0.5, 0.5, 0, 0]


def test_evaluate_sequence_first_last_excluded_recall_decay(tmp_path):
    gt, pred, j_expected = _kind_frames()
    _write_seq(tmp_path / "gt" / "seq", gt)
    _write_seq(tmp_path / "pred" / "seq", pred)
    (s,) = evaluate_sequence(tmp_path / "pred" / "seq", tmp_path / "gt" / "seq")
    assert isinstance(s, SequenceScores)
    assert (s.name, s.object_id, s.n_frames) == ("seq", 1, 10)
    assert s.j_per_frame == pytest.approx(j_expected)
    assert s.j_mean == pytest.approx(3.5 / 8)
    assert s.j_recall == pytest.approx(2 / 8)
    assert s.j_decay == pytest.approx(2 / 3 - 1 / 6)

    g = _rect(SEQ_H, SEQ_W, 10, 10, 10, 10)
    f_half = _f_brute(_rect(SEQ_H, SEQ_W, 10, 10, 10, 20), g, boundary_radius((SEQ_H, SEQ_W)))
    assert 0 < f_half < 1
    f_expected = [1, 1, 0, f_half, f_half, f_half, 0, 0]
    assert s.f_per_frame == pytest.approx(f_expected)
    f_mean, f_recall, f_decay = sequence_statistics(f_expected)
    assert (s.f_mean, s.f_recall, s.f_decay) == pytest.approx((f_mean, f_recall, f_decay))
    assert s.f_decay == pytest.approx(2 / 3 - f_half / 3)
    assert s.jf_mean == pytest.approx((s.j_mean + s.f_mean) / 2)

    # Making the first and last frame right changes nothing.
    pred[0] = pred[-1] = _labels((1, GT_SQ))
    _write_seq(tmp_path / "pred2" / "seq", pred)
    (s2,) = evaluate_sequence(tmp_path / "pred2" / "seq", tmp_path / "gt" / "seq", name="x")
    assert s2.name == "x"
    assert s2.j_per_frame == s.j_per_frame and s2.f_per_frame == s.f_per_frame


def test_evaluate_sequence_several_objects(tmp_path):
    # Object 2 appears in the ground truth from frame 5 on; the prediction gets it right
    # (empty before, exact after) -> J = F = 1 on every frame. A prediction id that is
    # not in the ground truth (3) is ignored; void (255) pixels are ignored.
    gt, pred = [], []
    for i in range(8):
        g = [(1, GT_SQ)]
        p = [(1, (10, 10, 10, 20)), (3, (40, 0, 5, 5))]
        if i >= 5:
            g.append((2, (30, 40, 8, 8)))
            p.append((2, (30, 40, 8, 8)))
        gl, pl = _labels(*g), _labels(*p)
        gl[0:3, 60:64] = 255
        gt.append(gl)
        pred.append(pl)
    _write_seq(tmp_path / "gt", gt)
    _write_seq(tmp_path / "pred", pred)
    scores = evaluate_sequence(tmp_path / "pred", tmp_path / "gt", name="multi")
    assert [s.object_id for s in scores] == [1, 2]
    s1, s2 = scores
    assert s1.j_per_frame == pytest.approx([0.5] * 6)
    assert s2.j_per_frame == [1.0] * 6 and s2.f_per_frame == [1.0] * 6
    assert s2.jf_mean == 1.0 and s2.j_decay == 0.0 and s2.j_recall == 1.0


def test_evaluate_sequence_errors(tmp_path):
    gt, pred, _ = _kind_frames()
    gt_dir = _write_seq(tmp_path / "gt", gt)
    short = _write_seq(tmp_path / "short", pred[:7])
    with pytest.raises(ValueError) as err:
        evaluate_sequence(short, gt_dir, all_frames=True)
    msg = str(err.value)
    assert "7" in msg and "10" in msg and str(short) in msg and str(gt_dir) in msg
    (part,) = evaluate_sequence(short, gt_dir)  # by default: the 7 frames both have
    assert (part.n_frames, part.gt_frames) == (7, 10)
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for i, p in enumerate(sorted(short.iterdir())):
        p.rename(renamed / f"frame-{i}.png")  # no name in common: by position, all or none
    with pytest.raises(ValueError, match="7 predicted.*10 ground-truth"):
        evaluate_sequence(renamed, gt_dir)

    big = [np.zeros((SEQ_H, SEQ_W + 2), dtype=np.uint8)] * 10
    big_dir = _write_seq(tmp_path / "big", big)
    with pytest.raises(ValueError, match=rf"{SEQ_W + 2}x{SEQ_H}.*{SEQ_W}x{SEQ_H}"):
        evaluate_sequence(big_dir, gt_dir)

    two = _write_seq(tmp_path / "two", gt[:2])
    with pytest.raises(ValueError, match="at least 3 frames"):
        evaluate_sequence(two, two)
    blank = _write_seq(tmp_path / "blank", [_labels()] * 4)
    with pytest.raises(ValueError, match="no object"):
        evaluate_sequence(blank, blank)


# --------------------------------------------------------------------------------------
# Folders of sequences and the report
# --------------------------------------------------------------------------------------


def test_evaluate_folder_of_sequences(tmp_path):
    gt, pred, _ = _kind_frames()
    # "alpha": the imperfect sequence; "beta": perfect, PNGs in masks/ on both sides.
    _write_seq(tmp_path / "gt" / "alpha", gt)
    _write_seq(tmp_path / "pred" / "alpha", pred)
    _write_seq(tmp_path / "gt" / "beta" / "masks", gt[:6])
    _write_seq(tmp_path / "pred" / "beta" / "masks", gt[:6])
    (tmp_path / "gt" / "not_a_sequence").mkdir()  # no PNG: not a sequence

    report = evaluate(tmp_path / "pred", tmp_path / "gt")
    assert isinstance(report, EvaluationReport)
    assert [(s.name, s.object_id) for s in report.sequences] == [("alpha", 1), ("beta", 1)]
    alpha, beta = report.sequences
    assert beta.jf_mean == 1.0 and beta.n_frames == 6
    assert report.j_mean == pytest.approx((alpha.j_mean + 1) / 2)
    assert report.f_mean == pytest.approx((alpha.f_mean + 1) / 2)
    assert report.jf_mean == pytest.approx((report.j_mean + report.f_mean) / 2)
    assert report.j_recall == pytest.approx((0.25 + 1) / 2)
    assert report.j_decay == pytest.approx(alpha.j_decay / 2)
    assert report.f_recall == pytest.approx((alpha.f_recall + 1) / 2)
    assert report.f_decay == pytest.approx(alpha.f_decay / 2)

    d = json.loads(json.dumps(report.to_dict()))
    assert d["n_sequences"] == 2
    assert d["mean"]["jf_mean"] == pytest.approx(report.jf_mean)
    assert d["sequences"][0]["name"] == "alpha"
    assert d["sequences"][0]["j_per_frame"] == pytest.approx(alpha.j_per_frame)

    table = report.format_table()
    lines = table.splitlines()
    assert "J&F" in lines[0] and "F-Decay" in lines[0]
    assert any(line.startswith("alpha") for line in lines)
    assert any(line.startswith("beta") for line in lines)
    assert lines[-1].startswith("Mean") and f"{report.jf_mean:.3f}" in lines[-1]


def test_evaluate_single_sequence_and_errors(tmp_path):
    gt, pred, _ = _kind_frames()
    gt_dir = _write_seq(tmp_path / "gt_single", gt)
    _write_seq(tmp_path / "out" / "masks", pred)  # as `samvideo track -o out` writes
    report = evaluate(tmp_path / "out", gt_dir)
    assert [s.name for s in report.sequences] == ["gt_single"]
    assert report.j_mean == pytest.approx(3.5 / 8)
    # GT given as a `masks` folder: the sequence takes its parent's name.
    _write_seq(tmp_path / "clip" / "masks", gt)
    report = evaluate(tmp_path / "out" / "masks", tmp_path / "clip" / "masks")
    assert [s.name for s in report.sequences] == ["clip"]
    (s,) = evaluate_sequence(tmp_path / "out", tmp_path / "clip")
    assert s.name == "clip" and s.j_mean == pytest.approx(3.5 / 8)

    # Missing prediction for a sequence: named in the error.
    _write_seq(tmp_path / "gt" / "alpha", gt)
    _write_seq(tmp_path / "gt" / "gamma", gt)
    _write_seq(tmp_path / "pred" / "alpha", pred)
    with pytest.raises(ValueError, match="gamma"):
        evaluate(tmp_path / "pred", tmp_path / "gt")

    # Mismatched frame counts inside a folder evaluation: refused when every frame is
    # asked for, else the frames both have are scored (issue 15 item 7)
    _write_seq(tmp_path / "pred" / "gamma", pred[:9])
    with pytest.raises(ValueError, match=r"9 predicted.*10 ground-truth.*--all-frames"):
        evaluate(tmp_path / "pred", tmp_path / "gt", all_frames=True)
    gamma = [s for s in evaluate(tmp_path / "pred", tmp_path / "gt").sequences
             if s.name == "gamma"]
    assert [(s.n_frames, s.gt_frames, s.partial) for s in gamma] == [(9, 10, True)]

    with pytest.raises(ValueError, match="nowhere"):
        evaluate(tmp_path / "pred", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no ground-truth PNG"):
        evaluate(tmp_path / "pred", _empty_dir(tmp_path))


# --------------------------------------------------------------------------------------
# Real DAVIS data (optional)
# --------------------------------------------------------------------------------------


@pytest.mark.skipif(not DAVIS_DIR.is_dir(), reason="../shared/data/davis2016-train absent")
def test_davis_ground_truth_against_itself():
    seq = DAVIS_DIR / "dog-agility"  # the shortest clip (25 frames)
    if not seq.is_dir():
        seq = sorted(p for p in DAVIS_DIR.iterdir() if (p / "masks").is_dir())[0]
    report = evaluate(seq, seq)
    (s,) = report.sequences
    assert s.name == seq.name and s.object_id == 1
    assert s.n_frames == len(list_mask_files(seq / "masks"))
    assert s.jf_mean == 1.0 and report.jf_mean == 1.0
    assert s.j_recall == 1.0 and s.f_decay == 0.0


@pytest.mark.skipif(not DAVIS_DIR.is_dir(), reason="../shared/data/davis2016-train absent")
def test_davis_boundary_f_matches_brute_force_on_real_masks():
    files = list_mask_files(DAVIS_DIR / "bear" / "masks")
    gt = read_mask(files[10]).astype(bool)
    for pred in (read_mask(files[16]).astype(bool), np.roll(gt, (4, -11), axis=(0, 1))):
        assert gt.shape == (H, W)
        assert boundary_f(pred, gt) == pytest.approx(_f_brute(pred, gt, 8), abs=1e-12)
