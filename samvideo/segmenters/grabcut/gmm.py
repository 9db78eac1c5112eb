"""GrabCut's colour models: OpenCV's 5-component Gaussian mixtures in its (1, 65) float64
layout (5 weights, 5 BGR means, 5 row-major 3 x 3 covariances), fitted as ``cv2.grabCut``
fits them but without randomness, and the posteriors they give."""

from __future__ import annotations

import cv2
import numpy as np

GMM_K = 5  # OpenCV's GrabCut uses 5 Gaussian components per model


def fit_gmm(pixels: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """OpenCV's (1, 65) float64 GrabCut GMM (5 weights, 5 BGR means, 5 row-major 3 x 3
    covariances) of (N, 3) pixels, N >= 5, fitted as ``cv2.grabCut`` does (k-means, 10
    rounds, then one Gaussian per cluster) but started without randomness: from the
    components of ``start`` (a (1, 65) GMM, each pixel to its likeliest component) when
    given, else from a split of the colours along their widest axis (Orchard & Bouman
    1991, as in the GrabCut paper). OpenCV's own start is k-means++, random: whole
    sequences would hang on its seed.

    Raises cv2.error with fewer than 5 pixels (as ``cv2.grabCut`` does)."""
    x = np.asarray(pixels, np.float32).reshape(-1, 3)  # cv2.kmeans takes float32
    if len(x) < GMM_K:
        raise cv2.error(f"{len(x)} pixels cannot fit a {GMM_K}-component colour model")
    x64 = x.astype(np.float64)
    if start is not None and (start[0, :GMM_K] > 0).any():
        first = log_components(x64, start).argmax(axis=1).astype(np.int32)
    else:
        first = split_clusters(x, GMM_K)
    criteria = (cv2.TERM_CRITERIA_MAX_ITER, 10, 0.0)
    _, comp, _ = cv2.kmeans(x, GMM_K, first.reshape(-1, 1), criteria, 1,
                            cv2.KMEANS_USE_INITIAL_LABELS)
    return learn_gmm(x64, comp.reshape(-1))


def log_components(pixels: np.ndarray, model: np.ndarray, *,
                   ridge: float = 1e-2) -> np.ndarray:
    """(N, 5) log of weight x density of each component of a (1, 65) GMM at (N, 3)
    float64 pixels (-inf for empty components). ``ridge`` is added to the covariances'
    diagonal: posteriors that stay finite on flat colours (0: the density OpenCV's cut
    computes)."""
    m = np.asarray(model, np.float64).reshape(-1)
    weights, means = m[:GMM_K], m[GMM_K:4 * GMM_K].reshape(GMM_K, 3)
    covs = m[4 * GMM_K:].reshape(GMM_K, 3, 3) + np.eye(3) * ridge
    live = np.flatnonzero(weights > 0)
    if live.size == 0:
        return np.full((len(pixels), GMM_K), -np.inf)
    # every component's Mahalanobis distance in one product: (x - m)^T P (x - m) is
    # linear in the pixels' quadratic terms, which are computed once for all components
    prec = np.linalg.inv(covs[live])  # (K', 3, 3), symmetric
    pm = np.einsum("kij,kj->ki", prec, means[live])
    rows, cols = np.triu_indices(3)
    coef = np.concatenate([prec[:, rows, cols] * np.where(rows == cols, 1.0, 2.0), -2 * pm,
                           np.einsum("ki,ki->k", pm, means[live])[:, None]], axis=1)
    x = np.ascontiguousarray(np.asarray(pixels, np.float64).T)  # (3, N)
    terms = np.empty((10, x.shape[1]))
    for t, (i, j) in enumerate(zip(rows, cols, strict=True)):
        np.multiply(x[i], x[j], out=terms[t])
    terms[6:9], terms[9] = x, 1.0
    const = np.log(weights[live]) - 0.5 * np.log((2 * np.pi) ** 3 * np.linalg.det(covs[live]))
    # einsum's own loop, not BLAS: numpy's BLAS would split this thin product over every
    # core and leave them spinning between calls, a core taken from decoding and writing
    out = np.einsum("kt,tn->kn", coef, terms)  # (K', N)
    out *= -0.5
    out += const[:, None]
    if live.size < GMM_K:
        full = np.full((GMM_K, len(pixels)), -np.inf)
        full[live] = out
        out = full
    return out.T


def split_clusters(x: np.ndarray, k: int) -> np.ndarray:
    """(N,) int32 labels of ``k`` clusters of (N, 3) float pixels: the cluster whose
    colours spread most (largest covariance eigenvalue) is split at its mean across its
    main axis, until there are ``k`` (fewer when the pixels are too uniform)."""
    labels = np.zeros(len(x), np.int32)
    for new in range(1, k):
        best, spread, axis, centre = -1, 0.0, None, None
        for c in range(new):
            pts = x[labels == c]
            if len(pts) < 2:
                continue
            mean = pts.mean(axis=0)
            values, vectors = np.linalg.eigh(np.cov(pts, rowvar=False))
            if values[-1] > spread:
                best, spread, axis, centre = c, float(values[-1]), vectors[:, -1], mean
        if best < 0:
            break
        members = np.flatnonzero(labels == best)
        labels[members[(x[members] - centre) @ axis > 0]] = new
    return labels


def learn_gmm(x: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """OpenCV's GMM learning (``GMM::endLearning``) of (N, 3) float64 pixels with (N,)
    component indices, in OpenCV's arithmetic (sums in pixel order, the determinant by
    cofactors): weight, mean and covariance of each component's pixels, with white noise
    (0.01) added to a covariance whose determinant is at most 1e-6."""
    model = np.zeros((1, 65), np.float64)
    weights = model[0, :GMM_K]
    means = model[0, GMM_K:4 * GMM_K].reshape(GMM_K, 3)
    covs = model[0, 4 * GMM_K:].reshape(GMM_K, 3, 3)
    rows, cols = np.triu_indices(3)
    for c in range(GMM_K):
        pts = x[comp == c]
        if len(pts) == 0:
            continue
        inv_n = 1.0 / len(pts)
        weights[c] = len(pts) / len(x)
        # a running sum, as OpenCV adds each pixel: numpy's pairwise sum rounds otherwise
        means[c] = np.cumsum(pts, axis=0)[-1] * inv_n
        prods = np.cumsum(pts[:, rows] * pts[:, cols], axis=0)[-1]
        covs[c][rows, cols] = covs[c][cols, rows] = prods * inv_n - means[c][rows] * means[c][cols]
        if determinant(covs[c]) <= 1e-6:
            covs[c] += 0.01 * np.eye(3)
    return model


def determinant(c: np.ndarray) -> float:
    """A 3 x 3 matrix's determinant by cofactors, as OpenCV's GrabCut computes it."""
    c = c.reshape(-1)
    return float(c[0] * (c[4] * c[8] - c[5] * c[7]) - c[1] * (c[3] * c[8] - c[5] * c[6])
                 + c[2] * (c[3] * c[7] - c[4] * c[6]))


def opencv_densities(pixels: np.ndarray, model: np.ndarray) -> np.ndarray:
    """(N, 5) density of each component of a (1, 65) GMM at (N, 3) float64 pixels in
    OpenCV's arithmetic (``GMM::operator()``: ``det ** -0.5 * exp(-0.5 * d^T C^-1 d)``
    with ``d`` the pixel minus the mean and the inverse by cofactors; no weight, no
    ``2 pi``; 0 for empty components). Taken from the mean as OpenCV takes it: expanded
    into products of the pixels, the distance loses its digits when a covariance is
    nearly singular."""
    m = np.asarray(model, np.float64).reshape(-1)
    weights, means = m[:GMM_K], m[GMM_K:4 * GMM_K].reshape(GMM_K, 3)
    covs = m[4 * GMM_K:].reshape(GMM_K, 9)
    x = np.asarray(pixels, np.float64).T  # (3, N)
    out = np.zeros((GMM_K, x.shape[1]))
    for k in np.flatnonzero(weights > 0):
        c = covs[k]
        det = determinant(c)
        inv_det = 1.0 / det
        inv = np.array([[c[4] * c[8] - c[5] * c[7], -(c[1] * c[8] - c[2] * c[7]),
                         c[1] * c[5] - c[2] * c[4]],
                        [-(c[3] * c[8] - c[5] * c[6]), c[0] * c[8] - c[2] * c[6],
                         -(c[0] * c[5] - c[2] * c[3])],
                        [c[3] * c[7] - c[4] * c[6], -(c[0] * c[7] - c[1] * c[6]),
                         c[0] * c[4] - c[1] * c[3]]]) * inv_det  # inv[i][j] as OpenCV's
        d0, d1, d2 = x[0] - means[k, 0], x[1] - means[k, 1], x[2] - means[k, 2]
        dist = (d0 * (d0 * inv[0, 0] + d1 * inv[1, 0] + d2 * inv[2, 0])
                + d1 * (d0 * inv[0, 1] + d1 * inv[1, 1] + d2 * inv[2, 1])
                + d2 * (d0 * inv[0, 2] + d1 * inv[1, 2] + d2 * inv[2, 2]))
        with np.errstate(over="ignore"):  # OpenCV's overflows there too
            out[k] = 1.0 / np.sqrt(det) * np.exp(-0.5 * dist)
    return out.T


def gmm_likelihood(pixels: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Likelihood of (N, 3) float64 pixels under an OpenCV GrabCut GMM (1, 65) array."""
    return np.exp(log_components(pixels, model)).sum(axis=1)


def colour_confidence(bgr, mask, fgd, bgd) -> float:
    """Mean posterior P(foreground | colour) over the mask's pixels (0 for an empty mask)."""
    if not mask.any():
        return 0.0
    at = np.flatnonzero(mask)
    if len(at) > 1000:  # a subsample gives the same mean at a fraction of the cost
        at = at[:: len(at) // 1000]
    return float(posterior(bgr.reshape(-1, 3)[at], fgd, bgd).mean())


def posterior(pixels: np.ndarray, fgd, bgd) -> np.ndarray:
    """P(foreground | colour) of (N, 3) BGR pixels under GrabCut's two GMMs (equal
    priors), (N,) float64."""
    px = np.asarray(pixels, np.float64)
    lf, lb = gmm_likelihood(px, fgd), gmm_likelihood(px, bgd)
    return (lf + 1e-300) / (lf + lb + 2e-300)
