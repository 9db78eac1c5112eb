"""samvideo.segmenters.grabcut.graphcut: the cut on the undecided pixels gives OpenCV's
labels, pixel for pixel: with frozen models, and over rounds that re-learn them (on one
graph whose later cuts start from the last one's flow, pins included)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from samvideo.masks import mask_to_box
from samvideo.segmenters import GrabCutSegmenter, PromptRequest
from samvideo.segmenters.grabcut import segmenter as grabcut_segmenter
from samvideo.segmenters.grabcut.gmm import fit_gmm
from samvideo.segmenters.grabcut.graphcut import GraphCut, frozen_cut

ROOT = Path(__file__).resolve().parents[2]


def opencv_cut(image: np.ndarray, labels: np.ndarray, fgd: np.ndarray,
               bgd: np.ndarray) -> np.ndarray:
    out = labels.copy()
    cv2.grabCut(image, out, None, bgd.copy(), fgd.copy(), 1, cv2.GC_EVAL_FREEZE_MODEL)
    return out


def scene(seed: int, shape=(70, 90)) -> tuple[np.ndarray, np.ndarray]:
    """A noisy image of a few coloured discs and GrabCut labels: sure foreground deep in
    the discs, sure background far from them, a band of probable labels between."""
    rng = np.random.default_rng(seed)
    h, w = shape
    image = rng.normal(110, 25, (h, w, 3))
    inside = np.zeros(shape, np.uint8)
    for _ in range(3):
        centre = (int(rng.integers(10, w - 10)), int(rng.integers(10, h - 10)))
        radius = int(rng.integers(6, 16))
        cv2.circle(inside, centre, radius, 1, -1)
        image[cv2.circle(np.zeros(shape, np.uint8), centre, radius, 1, -1) > 0] = rng.normal(
            rng.uniform(40, 220, 3), 20, (1, 3))
    image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    away = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)
    labels = np.full(shape, cv2.GC_BGD, np.uint8)
    labels[away <= 5] = cv2.GC_PR_BGD
    labels[inside > 0] = cv2.GC_PR_FGD
    labels[depth > 4] = cv2.GC_FGD
    return image, labels


def models(image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fg = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    return fit_gmm(image[fg]), fit_gmm(image[~fg])


@pytest.mark.parametrize("seed", range(6))
def test_labels_are_opencvs_on_noisy_scenes(seed):
    image, labels = scene(seed)
    fgd, bgd = models(image, labels)
    expected = opencv_cut(image, labels, fgd, bgd)
    frozen_cut(image, labels, fgd, bgd)
    np.testing.assert_array_equal(labels, expected)
    assert (labels == cv2.GC_PR_FGD).any() and (labels == cv2.GC_PR_BGD).any()


def test_every_pixel_free_and_none_free():
    image, labels = scene(7)
    fgd, bgd = models(image, labels)
    free = np.where((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD), cv2.GC_PR_FGD,
                    cv2.GC_PR_BGD).astype(np.uint8)  # no sure pixel at all
    expected = opencv_cut(image, free, fgd, bgd)
    frozen_cut(image, free, fgd, bgd)
    np.testing.assert_array_equal(free, expected)
    sure = np.where(labels == cv2.GC_FGD, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
    before = sure.copy()
    frozen_cut(image, sure, fgd, bgd)  # nothing to decide: nothing changes
    np.testing.assert_array_equal(sure, before)


def test_a_thin_crop_of_one_row():
    image, labels = scene(8)
    fgd, bgd = models(image, labels)
    row, lab = np.ascontiguousarray(image[30:31]), np.ascontiguousarray(labels[30:31])
    expected = opencv_cut(row, lab, fgd, bgd)
    frozen_cut(row, lab, fgd, bgd)
    np.testing.assert_array_equal(lab, expected)


def test_the_tracked_frames_of_a_real_clip_are_cut_as_opencv_cuts_them(monkeypatch):
    # the sample clip decoded by PyAV, each frame prompted with the last frame's true
    # mask as the prior, as the tracker prompts it: every cut the segmenter makes
    # (band, regrown and doubted seeds, this frame's models) is compared with OpenCV's
    clip = ROOT / "sample_videos" / "moving"
    with av.open(str(clip / "video.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    truth = [np.array(Image.open(p)) == 1 for p in sorted((clip / "masks").glob("*.png"))]
    seen = []

    def compare(image, labels, fgd, bgd):
        expected = opencv_cut(image, labels, fgd, bgd)
        frozen_cut(image, labels, fgd, bgd)
        seen.append(int(np.count_nonzero(labels != expected)))

    monkeypatch.setattr(grabcut_segmenter, "frozen_cut", compare)
    seg = GrabCutSegmenter()
    memory: dict = {}
    seg.predict(seg.encode([frames[0]])[0],
                [PromptRequest.make(mask_to_box(truth[0]), memory=memory)])
    for k in range(1, 12):
        request = PromptRequest.make(mask_to_box(truth[k - 1]), prior_mask=truth[k - 1],
                                     memory=memory)
        seg.predict(seg.encode([frames[k]])[0], [request])
    assert len(seen) == 11 and seen == [0] * 11


def opencv_rounds(image, labels, bgd, fgd, iterations):
    out, bgd, fgd = labels.copy(), bgd.copy(), fgd.copy()
    cv2.grabCut(image, out, None, bgd, fgd, iterations, cv2.GC_EVAL)
    return out, bgd, fgd


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("iterations", [1, 2, 4])
def test_rounds_are_opencvs_grabcut(seed, iterations):
    image, labels = scene(seed)
    fgd, bgd = models(image, labels)
    expected, bgd_cv, fgd_cv = opencv_rounds(image, labels, bgd, fgd, iterations)
    GraphCut(image, labels).iterate(labels, bgd, fgd, iterations)
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(bgd, bgd_cv)
    np.testing.assert_array_equal(fgd, fgd_cv)


@pytest.mark.parametrize("seed", range(4))
def test_pinned_pixels_are_cut_on_the_same_graph_as_opencv_cuts_them(seed):
    image, labels = scene(seed)
    fgd, bgd = models(image, labels)
    graph = GraphCut(image, labels)
    graph.iterate(labels, bgd, fgd, 4)
    # pin probable pixels of both labels as sure foreground, as the tight-box prior does
    rng = np.random.default_rng(seed)
    probable = np.flatnonzero((labels == cv2.GC_PR_FGD) | (labels == cv2.GC_PR_BGD))
    pins = np.unravel_index(rng.choice(probable, 12, replace=False), labels.shape)
    assert (labels[pins] == cv2.GC_PR_BGD).any()
    labels[pins] = cv2.GC_FGD
    expected, bgd_cv, fgd_cv = opencv_rounds(image, labels, bgd, fgd, 2)
    graph.iterate(labels, bgd, fgd, 2)
    np.testing.assert_array_equal(labels, expected)
    assert (labels[pins] == cv2.GC_FGD).all()
    np.testing.assert_array_equal(fgd, fgd_cv)


def test_a_graph_refuses_labels_whose_sure_pixels_changed_and_models_without_pixels():
    image, labels = scene(9)
    fgd, bgd = models(image, labels)
    graph = GraphCut(image, labels)
    sure_bg = np.argwhere(labels == cv2.GC_BGD)[0]
    labels[tuple(sure_bg)] = cv2.GC_FGD
    with pytest.raises(ValueError, match="1 sure pixels changed"):
        graph.iterate(labels, bgd, fgd, 1)
    everything = np.full(labels.shape, cv2.GC_PR_FGD, np.uint8)  # no background at all
    with pytest.raises(cv2.error):
        GraphCut(image, everything).iterate(everything, bgd, fgd, 1)


def test_the_first_cut_of_a_real_clip_is_opencvs(monkeypatch):
    # the first frame of the sample clip decoded by PyAV, prompted with its true box: every
    # round of the first cut (rectangle seeds, then the tight-box pins) against OpenCV's
    clip = ROOT / "sample_videos" / "moving"
    with av.open(str(clip / "video.mp4")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    truth = np.array(Image.open(sorted((clip / "masks").glob("*.png"))[0])) == 1
    iterate = GraphCut.iterate
    seen = []

    def compare(graph, labels, bgd, fgd, iterations):
        expected, _, _ = opencv_rounds(graph.image, labels, bgd, fgd, iterations)
        iterate(graph, labels, bgd, fgd, iterations)
        seen.append(int(np.count_nonzero(labels != expected)))

    monkeypatch.setattr(GraphCut, "iterate", compare)
    seg = GrabCutSegmenter()
    seg.predict(seg.encode([frame])[0], [PromptRequest.make(mask_to_box(truth))])
    assert seen and seen == [0] * len(seen)
