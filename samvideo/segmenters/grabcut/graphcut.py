"""GrabCut's graph cut with frozen colour models, on the undecided pixels only.

``cv2.grabCut(image, labels, None, bgd, fgd, 1, cv2.GC_EVAL_FREEZE_MODEL)`` builds a
graph over every pixel of the crop, though on a tracked frame most of them are sure
foreground or background and keep their label. :func:`frozen_cut` builds the same
energy (OpenCV's data terms, its contrast-sensitive links, its ``beta`` over the whole
crop) over the probable pixels alone: a link to a sure pixel becomes a terminal link
of its probable neighbour. A sure pixel's terminal link (``9 * gamma``) outweighs all
of its neighbour links (``(4 + 4 / sqrt(2)) * gamma`` at most), so OpenCV's cut never
moves one either: the minimum cut, and so the labels, are the same, at the cost of the
band around the prior rather than of the crop. The maximum flow is PyMaxflow's
(Boykov-Kolmogorov, the algorithm OpenCV's cut runs).
"""

from __future__ import annotations

import cv2
import maxflow
import numpy as np

from samvideo.segmenters.grabcut.gmm import log_components

GAMMA = 50.0  # OpenCV's weight of the links between neighbours
# the neighbour each pixel is linked to (dy, dx: left, up-left, up, up-right) and the
# link's weight as OpenCV sets it (its diagonal weight divides by a float sqrt(2))
_LINKS = ((0, -1, GAMMA), (-1, -1, GAMMA / float(np.sqrt(np.float32(2)))), (-1, 0, GAMMA),
          (-1, 1, GAMMA / float(np.sqrt(np.float32(2)))))


def frozen_cut(image: np.ndarray, labels: np.ndarray, fgd: np.ndarray,
               bgd: np.ndarray) -> None:
    """One round of ``cv2.grabCut`` in ``GC_EVAL_FREEZE_MODEL`` mode: ``labels`` ((h, w)
    uint8 GrabCut labels of the (h, w, 3) uint8 ``image``) get each probable pixel cut
    to ``GC_PR_FGD`` or ``GC_PR_BGD`` under the (1, 65) float64 GMMs ``fgd`` and
    ``bgd``, in place; sure pixels are left alone."""
    free = (labels == cv2.GC_PR_BGD) | (labels == cv2.GC_PR_FGD)
    n = int(np.count_nonzero(free))
    if n == 0:
        return
    h, w = labels.shape
    ids = np.full((h, w), -1, np.int32)
    ids[free] = np.arange(n, dtype=np.int32)
    pixels = image[free]
    # cutting a pixel to the background costs its background model's -log density
    source, sink = -_log_density(pixels, bgd), -_log_density(pixels, fgd)
    x = image.astype(np.int32)
    spans, squares, total = [], [], 0
    for dy, dx, _ in _LINKS:
        here = (slice(-dy, h), slice(max(-dx, 0), w - max(dx, 0)))
        there = (slice(0, h + dy), slice(max(-dx, 0) + dx, w - max(dx, 0) + dx))
        d = x[here] - x[there]
        sq = np.einsum("ijc,ijc->ij", d, d)
        spans.append((here, there))
        squares.append(sq)
        total += int(sq.sum())
    # OpenCV's beta: 1 / (2 * the mean squared colour step between neighbours)
    mean = total / (4 * w * h - 3 * w - 3 * h + 2)
    beta = 0.0 if mean <= np.finfo(np.float64).eps else 1.0 / (2.0 * mean)
    sure_fg = labels == cv2.GC_FGD
    ei, ej, ew = [], [], []
    for (here, there), sq, (_, _, gamma) in zip(spans, squares, _LINKS, strict=True):
        ip, iq = ids[here], ids[there]
        touch = (ip >= 0) | (iq >= 0)
        ip, iq = ip[touch], iq[touch]
        weight = gamma * np.exp(-beta * sq[touch])
        both = (ip >= 0) & (iq >= 0)
        ei.append(ip[both])
        ej.append(iq[both])
        ew.append(weight[both])
        for a, b, fg in ((ip, iq, sure_fg[there][touch]), (iq, ip, sure_fg[here][touch])):
            one = (a >= 0) & (b < 0)  # a free pixel next to a sure one
            source += np.bincount(a[one & fg], weight[one & fg], n)
            sink += np.bincount(a[one & ~fg], weight[one & ~fg], n)
    ei, ej, ew = np.concatenate(ei), np.concatenate(ej), np.concatenate(ew)
    graph = maxflow.Graph[float](n, len(ei))
    nodes = graph.add_nodes(n)
    graph.add_edges(ei, ej, ew, ew)
    graph.add_grid_tedges(nodes, source, sink)
    graph.maxflow()
    labels[free] = np.where(graph.get_grid_segments(nodes), cv2.GC_PR_BGD, cv2.GC_PR_FGD)


def _log_density(pixels: np.ndarray, model: np.ndarray) -> np.ndarray:
    """(N,) log density of (N, 3) pixels under a (1, 65) GMM as OpenCV's cut computes
    it (its covariances as they are), up to a constant; finite where the density
    underflows."""
    comp = log_components(pixels, model, ridge=0.0)
    top = comp.max(axis=1)
    return top + np.log(np.exp(comp - top[:, None]).sum(axis=1))
