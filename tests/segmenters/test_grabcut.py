from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from samvideo.masks import box_to_mask, expand_box, mask_iou, warp_mask
from samvideo.segmenters import (
    GrabCutConfig,
    GrabCutSegmenter,
    PromptRequest,
    Segmenter,
    build_segmenter,
)
from samvideo.segmenters.grabcut.gmm import fit_gmm, gmm_likelihood, log_components, posterior
from tests.helpers import make_frames, square_box

SHAPE = (240, 320)


def test_is_a_segmenter_built_by_name():
    seg = build_segmenter("grabcut")
    assert isinstance(seg, Segmenter) and isinstance(seg, GrabCutSegmenter)


def test_box_prompt_segments_the_object():
    frame = make_frames(1)[0]
    seg = GrabCutSegmenter()
    (emb,) = seg.encode([frame])
    (cand,) = seg.predict(emb, [PromptRequest.make(expand_box(square_box(0), 0.1))])
    assert cand.masks.shape == (1, *SHAPE) and cand.masks.dtype == bool
    assert 0.0 <= cand.scores[0] <= 1.0
    assert mask_iou(cand.masks[0], box_to_mask(square_box(0), SHAPE)) > 0.9
    assert cand.scores[0] > 0.7


def test_prior_mask_and_first_frame_colours_follow_the_object():
    frames = make_frames(6)
    seg = GrabCutSegmenter()
    memory: dict = {}
    truth0 = box_to_mask(square_box(0), SHAPE)
    (c0,) = seg.predict(seg.encode([frames[0]])[0],
                        [PromptRequest.make(square_box(0), memory=memory)])
    assert "grabcut_fgd" in memory  # the object's colour model, kept for later frames
    prior = warp_mask(c0.masks[0], square_box(0), square_box(5))
    (c5,) = seg.predict(seg.encode([frames[5]])[0],
                        [PromptRequest.make(square_box(5), prior_mask=prior, memory=memory)])
    assert mask_iou(c5.masks[0], box_to_mask(square_box(5), SHAPE)) > 0.9
    assert mask_iou(c0.masks[0], truth0) > 0.9


def test_clicks_seed_foreground_and_background():
    frame = make_frames(1)[0]
    seg = GrabCutSegmenter()
    emb = seg.encode([frame])[0]
    box = (10.0, 20.0, 80.0, 90.0)  # larger than the square (20, 30, 60, 70)
    (with_neg,) = seg.predict(emb, [PromptRequest.make(box, points=[(40, 50)],
                                                       neg_points=[(15, 25), (75, 85)])])
    m = with_neg.masks[0]
    assert m[50, 40] and not m[25, 15] and not m[85, 75]


def test_a_region_without_the_object_scores_low():
    frame = make_frames(1)[0]
    seg = GrabCutSegmenter()
    memory: dict = {}
    emb = seg.encode([frame])[0]
    seg.predict(emb, [PromptRequest.make(square_box(0), memory=memory)])
    empty_area = (200.0, 150.0, 260.0, 210.0)  # background only
    prior = box_to_mask(empty_area, SHAPE)
    (cand,) = seg.predict(emb, [PromptRequest.make(empty_area, prior_mask=prior, memory=memory)])
    assert cand.scores[0] < 0.35


def test_needs_a_box_or_a_click():
    seg = GrabCutSegmenter()
    emb = seg.encode([make_frames(1)[0]])[0]
    with pytest.raises(ValueError, match="box or at least one foreground point"):
        seg.predict(emb, [PromptRequest.make(None)])
    (cand,) = seg.predict(emb, [PromptRequest.make(None, points=[(40, 50)])])
    assert cand.masks[0][50, 40]


@pytest.mark.parametrize(("option", "value", "message"), [
    ("max_side", 4, "max_side=4"),
    ("colour", "last", "colour='last'"),
    ("core_sample", -1, "core_sample=-1"),
    ("tight_box", 0.5, "tight_box=0.5"),
    ("pin_min_cover", 2, "pin_min_cover=2"),
    ("regrow_above", 1.5, "regrow_above=1.5"),
    ("regrow", -0.1, "regrow=-0.1"),
])
def test_options_are_checked(option, value, message):
    with pytest.raises(ValueError, match=message):
        GrabCutConfig(**{option: value})
    assert np.isfinite(GrabCutSegmenter(GrabCutConfig(max_side=64)).config.max_side)


# -- the first frame: the user's box is tight ------------------------------------------


def _engine_and_wagon() -> tuple[np.ndarray, np.ndarray]:
    """(240, 320, 3) RGB: a red engine and a wagon the green of the ground it stands on
    (sky blue above), and the (240, 320) bool truth. A box around both is tight."""
    image = np.empty((240, 320, 3), np.uint8)
    image[:] = (90, 150, 90)
    image[:120] = (200, 60, 40)
    image[80:160, 60:160] = (40, 40, 200)
    image[100:160, 160:260] = (90, 150, 90)
    noise = np.random.default_rng(0).normal(0, 6, image.shape)
    truth = np.zeros((240, 320), bool)
    truth[80:160, 60:160] = truth[100:160, 160:260] = True
    return np.clip(image + noise, 0, 255).astype(np.uint8), truth


def _lines_crossed(mask: np.ndarray, box) -> tuple[float, float]:
    x0, y0, x1, y1 = (int(v) for v in box)
    inside = mask[y0:y1, x0:x1]
    return float(inside.any(axis=1).mean()), float(inside.any(axis=0).mean())


def test_every_line_of_a_tight_box_crosses_the_first_mask():
    """Colour alone gives the engine only (the wagon is the ground's colour): with the
    box taken as tight, every row and column of it, bar 5 % at each end, holds object."""
    image, truth = _engine_and_wagon()
    box = (60.0, 80.0, 260.0, 160.0)
    masks = {}
    for tight in (-1, 0.05):
        seg = GrabCutSegmenter(GrabCutConfig(tight_box=tight))
        (cand,) = seg.predict(seg.encode([image])[0], [PromptRequest.make(box)])
        masks[tight] = cand.masks[0]
    rows, cols = _lines_crossed(masks[-1], box)
    assert rows == 1.0 and cols < 0.55  # the wagon's columns are empty
    rows, cols = _lines_crossed(masks[0.05], box)
    assert rows == 1.0 and cols >= 0.9  # 5 % of the columns at each end are exempt
    assert _lines_crossed(masks[0.05], (70, 80, 250, 160))[1] == 1.0
    engine = truth.copy()
    engine[:, 160:] = False
    for mask in masks.values():  # the engine is whole either way, nothing outside the box
        assert mask[engine].mean() > 0.98 and not mask[:, 261:].any()


# -- the colour models of a tracked frame ----------------------------------------------


def _noise(colour, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.array(colour) + rng.normal(0, 8, (n, 3)), 0, 255).astype(np.uint8)


def _tracked_crop():
    """A 64 x 64 BGR crop with tracking seeds: sure background (blue) on the left, a band
    of probable background holding the object's new yellow front (a prior that lags the
    object), then the prior: probable and sure foreground, red with the yellow front."""
    labels = np.full((64, 64), cv2.GC_BGD, np.uint8)
    labels[:, 24:32] = cv2.GC_PR_BGD
    labels[:, 32:36] = cv2.GC_PR_FGD
    labels[:, 36:] = cv2.GC_FGD
    image = np.empty((64, 64, 3), np.uint8)
    image[:, :24] = _noise((200, 80, 30), 64 * 24, 1).reshape(64, 24, 3)  # blue
    image[:, 24:] = _noise((30, 60, 210), 64 * 40, 2).reshape(64, 40, 3)  # red
    image[:, 24:40] = _noise((40, 210, 230), 64 * 16, 3).reshape(64, 16, 3)  # yellow
    return image, labels


@pytest.mark.parametrize("colour", ["first", "first+core"])
def test_the_band_around_a_lagging_prior_does_not_teach_the_background(colour):
    image, labels = _tracked_crop()
    sample = np.vstack([_noise((30, 60, 210), 768, 5), _noise((40, 210, 230), 256, 6)])
    seg = GrabCutSegmenter(GrabCutConfig(colour=colour))
    fgd, bgd = seg._tracked_models(image, labels.copy(), fit_gmm(sample), sample)
    yellow_front = image[:, 24:32].reshape(-1, 3)
    assert posterior(yellow_front, fgd, bgd).mean() > 0.9
    assert posterior(image[:, :24].reshape(-1, 3), fgd, bgd).mean() < 0.1


def test_first_plus_core_learns_how_the_object_looks_now():
    """First seen red; now (lighting) the prior's core is a purple that the first
    model explains only partly against the blue background: "first+core" knows it."""
    image, labels = _tracked_crop()
    image[:, 40:] = _noise((130, 70, 130), 64 * 24, 7).reshape(64, 24, 3)  # purple core
    sample = _noise((30, 60, 210), 1024, 5)
    first_fgd = fit_gmm(sample)
    now = image[:, 40:].reshape(-1, 3)
    posteriors = {}
    for colour in ("first", "first+core"):
        cv2.setRNGSeed(1234)
        seg = GrabCutSegmenter(GrabCutConfig(colour=colour))
        models = seg._tracked_models(image, labels.copy(), first_fgd, sample)
        posteriors[colour] = posterior(now, *models).mean()
    assert posteriors["first+core"] > 0.95 and posteriors["first"] < 0.8


# -- tracked frames: a lost part grows back ---------------------------------------------


def _square_with_arm() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(300, 400, 3) RGB: a 200-px red square with a 16-px arm on its right, on a blue
    background with a green patch just right of the square; the (300, 400) bool object
    and the square alone (a prior that lost the arm)."""
    rng = np.random.default_rng(0)
    image = np.empty((300, 400, 3), np.uint8)
    image[:] = (40, 60, 200)
    image[200:240, 262:280] = (60, 200, 60)  # green: neither object nor background
    square = np.zeros((300, 400), bool)
    square[50:250, 60:260] = True
    arm = np.zeros_like(square)
    arm[120:160, 260:276] = True
    image[square | arm] = (200, 40, 40)
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    return image, square | arm, square


@pytest.mark.parametrize("regrow", [0.0, 0.1])
def test_a_lost_part_next_to_the_mask_grows_back(regrow):
    """The prior lost the arm; the band (``reach``: 6 px here) cannot hold all of it.
    With ``regrow`` the arm's object-coloured pixels are the cut's to decide and it comes
    back whole; the green patch, as near but not object-coloured, stays out."""
    image, truth, square = _square_with_arm()
    seg = GrabCutSegmenter(GrabCutConfig(regrow=regrow))
    memory: dict = {}
    emb = seg.encode([image])[0]
    seg.predict(emb, [PromptRequest.make((60, 50, 276, 250), memory=memory)])
    # the prompt box is wider than the prior (a Kalman box, or flow that lost the arm)
    (cand,) = seg.predict(emb, [PromptRequest.make((60, 50, 290, 250), prior_mask=square,
                                                    memory=memory)])
    mask = cand.masks[0]
    arm = truth & ~square
    assert mask[square].mean() > 0.99 and not mask[200:240, 262:280].any()
    if regrow:
        assert mask[arm].mean() > 0.95 and mask_iou(mask, truth) > 0.98
    else:
        assert mask[:, 268:].sum() == 0 and mask[arm].mean() < 0.6  # cut at the band's edge


def test_regrow_never_frees_a_background_click():
    image, truth, square = _square_with_arm()
    seg = GrabCutSegmenter()
    memory: dict = {}
    emb = seg.encode([image])[0]
    seg.predict(emb, [PromptRequest.make((60, 50, 276, 250), memory=memory)])
    (cand,) = seg.predict(emb, [PromptRequest.make((60, 50, 290, 250), prior_mask=square,
                                                    neg_points=[(272, 140)], memory=memory)])
    assert not cand.masks[0][140, 272]


@pytest.mark.parametrize("told", [False, True])
@pytest.mark.parametrize("with_prior", [True, False], ids=["prior", "re-prompt"])
def test_known_background_is_cut_away_though_it_has_the_objects_colour(told, with_prior):
    """``PromptRequest.background`` (the tracker's prior pixels that move with the
    background) is sure background, on a tracked frame and on a re-prompt (a bare box):
    the arm goes though it is red; without it the arm stays."""
    image, truth, square = _square_with_arm()
    arm = truth & ~square
    seg = GrabCutSegmenter()
    memory: dict = {}
    emb = seg.encode([image])[0]
    seg.predict(emb, [PromptRequest.make((60, 50, 276, 250), memory=memory)])
    (cand,) = seg.predict(emb, [PromptRequest.make((60, 50, 276, 250),
                                                    prior_mask=truth if with_prior else None,
                                                    background=arm if told else None,
                                                    memory=memory)])
    mask = cand.masks[0]
    assert mask[square].mean() > 0.99
    if told:
        assert not mask[arm].any()
    else:
        assert mask[arm].mean() > 0.95


def _five_colour_pixels(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 3) uint8 pixels of five well-apart colours (counts 100..500), their centres
    and their counts."""
    centres = np.array([[30, 30, 30], [220, 40, 40], [40, 220, 40], [40, 40, 220],
                        [200, 200, 200]], np.float64)
    counts = np.array([100, 200, 300, 400, 500])
    pixels = np.vstack([np.clip(rng.normal(c, 6, (n, 3)), 0, 255)
                        for c, n in zip(centres, counts, strict=True)])
    return pixels.astype(np.uint8), centres, counts


def test_colour_models_are_the_same_whatever_the_random_state():
    """GrabCut's own k-means start draws from OpenCV's RNG; the fit must not, or a
    sequence depends on what drew from it before."""
    pixels, _, _ = _five_colour_pixels(np.random.default_rng(0))
    models = []
    for seed in (1, 1234):
        cv2.setRNGSeed(seed)
        models.append(fit_gmm(pixels))
    np.testing.assert_array_equal(models[0], models[1])


def test_colour_model_finds_five_separate_colours_as_grabcut_does():
    """Weights, means and covariances land where the five colours are, in OpenCV's
    (1, 65) layout, and the likelihood equals that of OpenCV's own fit."""
    pixels, centres, counts = _five_colour_pixels(np.random.default_rng(0))
    model = fit_gmm(pixels)
    assert model.shape == (1, 65) and model.dtype == np.float64
    weights, means = model[0, :5], model[0, 5:20].reshape(5, 3)
    covs = model[0, 20:].reshape(5, 3, 3)
    order = np.argsort(weights)
    np.testing.assert_allclose(weights[order], counts / counts.sum())
    np.testing.assert_allclose(means[order], centres, atol=2.0)
    for k in order:
        assert np.allclose(np.diag(covs[k]), 36, rtol=0.35), np.diag(covs[k])
    half = pixels.reshape(-1, 30, 3)  # 1500 pixels as an image of sure foreground,
    image = np.vstack([half, half])  # and again as sure background (OpenCV needs both)
    labels = np.full(image.shape[:2], cv2.GC_BGD, np.uint8)
    labels[: len(half)] = cv2.GC_FGD
    opencv = np.zeros((1, 65), np.float64)
    cv2.grabCut(image, labels, None, np.zeros((1, 65), np.float64), opencv, 0,
                cv2.GC_INIT_WITH_MASK)
    probe = pixels[::7].astype(np.float64)
    np.testing.assert_allclose(gmm_likelihood(probe, model), gmm_likelihood(probe, opencv),
                               rtol=1e-6)


def test_component_densities_are_each_weighted_gaussian():
    """log_components computes all components in one product; each column equals
    log(weight) + the log density of that component's Gaussian (with GrabCut's 0.01
    added to the covariance's diagonal), and an empty component gives -inf."""
    pixels, _, _ = _five_colour_pixels(np.random.default_rng(1))
    model = fit_gmm(pixels)
    model[0, 2] = 0.0  # one component empty
    probe = np.random.default_rng(2).integers(0, 256, (400, 3)).astype(np.float64)
    got = log_components(probe, model)
    assert got.shape == (400, 5)
    means, covs = model[0, 5:20].reshape(5, 3), model[0, 20:].reshape(5, 3, 3)
    for k in range(5):
        if k == 2:
            assert np.isneginf(got[:, k]).all()
            continue
        want = np.log(model[0, k]) + multivariate_normal(means[k], covs[k] + 0.01 * np.eye(3)
                                                         ).logpdf(probe)
        np.testing.assert_allclose(got[:, k], want, rtol=1e-9, atol=1e-6)


def test_colour_model_of_one_colour_and_of_too_few_pixels():
    flat = fit_gmm(np.full((50, 3), 90, np.uint8))
    assert flat[0, :5].sum() == pytest.approx(1.0)
    k = int(np.argmax(flat[0, :5]))
    np.testing.assert_allclose(flat[0, 20 + 9 * k: 29 + 9 * k].reshape(3, 3), 0.01 * np.eye(3))
    with pytest.raises(cv2.error, match="4 pixels"):
        fit_gmm(np.zeros((4, 3), np.uint8))
