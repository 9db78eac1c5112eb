"""GrabCut's graph cut on the undecided pixels only, with frozen colour models or over
rounds that re-learn them.

``cv2.grabCut`` builds a graph over every pixel of the crop, though most of them are
sure foreground or background and keep their label: on a tracked frame all but the band
around the prior, on the first frame everything outside the box. :class:`GraphCut`
builds the same energy (OpenCV's data terms, its contrast-sensitive links, its ``beta``
over the whole crop) over the probable pixels alone: a link to a sure pixel becomes a
terminal link of its probable neighbour. A sure pixel's terminal link (``9 * gamma``)
outweighs all of its neighbour links (``(4 + 4 / sqrt(2)) * gamma`` at most), so
OpenCV's cut never moves one either: the minimum cut, and so the labels, are the same.
The maximum flow is PyMaxflow's (Boykov-Kolmogorov, the algorithm OpenCV's cut runs);
GrabCut's rounds (``cv2.GC_EVAL``) and the pins of the tight-box prior change only the
terminal links of the same graph, so each cut after the first starts from the flow and
search trees of the last (Kohli & Torr, ICCV 2005), where OpenCV builds and solves the
graph anew every round.
"""

from __future__ import annotations

import cv2
import maxflow
import numpy as np

from samvideo.segmenters.grabcut.gmm import GMM_K, learn_gmm, log_components, opencv_densities

GAMMA = 50.0  # OpenCV's weight of the links between neighbours
_SURE = 9 * GAMMA  # OpenCV's terminal link of a sure pixel (its lambda)
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
    GraphCut(image, labels).cut(labels, fgd, bgd)


class GraphCut:
    """GrabCut's graph over the probable pixels of (h, w) uint8 ``labels`` of the
    (h, w, 3) uint8 ``image``: OpenCV's neighbour links between them, a link to a sure
    neighbour as a terminal link. Each cut adds the data terms of a pair of models;
    a later cut of the same pixels (other models, or pixels pinned as sure foreground
    since) starts from the flow and search trees the last one left (Kohli & Torr's
    dynamic graph cuts): the same minimum cut, found in a fraction of the time."""

    def __init__(self, image: np.ndarray, labels: np.ndarray) -> None:
        self.image = image
        self.free = (labels == cv2.GC_PR_BGD) | (labels == cv2.GC_PR_FGD)
        self.sure = labels[~self.free]  # the labels the folded links assume
        self.n = int(np.count_nonzero(self.free))
        if self.n == 0:
            return
        self.pixels = image[self.free]
        ei, ej, ew, self.to_source, self.to_sink = _neighbour_links(image, labels, self.free)
        self.graph = maxflow.Graph[float](self.n, len(ei))
        self.nodes = self.graph.add_nodes(self.n)
        self.graph.add_edges(ei, ej, ew, ew)
        self.terminal: np.ndarray | None = None  # source minus sink capacity, as added

    def cut(self, labels: np.ndarray, fgd: np.ndarray, bgd: np.ndarray) -> None:
        """Cut the probable pixels of ``labels`` under the two (1, 65) GMMs, in place.
        ``labels`` are those the graph was built on, or those with probable pixels
        pinned as sure foreground (``GC_FGD``) since. The pinned get OpenCV's terminal
        link of a sure pixel, which no neighbour links outweigh: they stay foreground."""
        if self.n == 0:
            return
        # cutting a pixel to the background costs its background model's -log density
        source = self.to_source - _log_density(self.pixels, bgd)
        sink = self.to_sink - _log_density(self.pixels, fgd)
        pinned = labels[self.free] == cv2.GC_FGD
        source[pinned], sink[pinned] = self.to_source[pinned] + _SURE, self.to_sink[pinned]
        if self.terminal is None:
            self.graph.add_grid_tedges(self.nodes, source, sink)
            self.graph.maxflow()
        else:
            # only the difference of a pixel's two terminal links decides its side
            change = (source - sink) - self.terminal
            self.graph.add_grid_tedges(self.nodes, np.maximum(change, 0),
                                       np.maximum(-change, 0))
            self.graph.mark_grid_nodes(self.nodes)
            self.graph.maxflow(reuse_trees=True)
        self.terminal = source - sink
        cut = np.where(self.graph.get_grid_segments(self.nodes), cv2.GC_PR_BGD, cv2.GC_PR_FGD)
        labels[self.free] = np.where(pinned, cv2.GC_FGD, cut)

    def iterate(self, labels: np.ndarray, bgd: np.ndarray, fgd: np.ndarray,
                iterations: int) -> None:
        """``cv2.grabCut(image, labels, None, bgd, fgd, iterations, cv2.GC_EVAL)``: each
        round re-learns the two (1, 65) float64 GMMs from the labels (each pixel to its
        model's likeliest component, then OpenCV's learning), in place, and cuts.

        Raises cv2.error when the labels leave one model without pixels (as OpenCV
        does), ValueError when a pixel outside the graph changed label since it was
        built."""
        moved = int(np.count_nonzero(labels[~self.free] != self.sure))
        if moved:
            raise ValueError(f"GraphCut.iterate: {moved} sure pixels changed label since the "
                             "graph was built; build a new one")
        pixels = self.image.reshape(-1, 3).astype(np.float64)
        for _ in range(iterations):
            fg = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).reshape(-1)
            for model, side in ((bgd, ~fg), (fgd, fg)):
                model[...] = _learn(pixels[side], model)
            self.cut(labels, fgd, bgd)


def _neighbour_links(image: np.ndarray, labels: np.ndarray, free: np.ndarray):
    """OpenCV's contrast-sensitive links of the ``free`` pixels (N of them, numbered in
    raster order): (M,) node pairs and weights of the links between two free pixels, and
    the (N,) weights each free pixel has to sure foreground and to sure background
    neighbours (its terminal links' share)."""
    h, w = labels.shape
    n = int(np.count_nonzero(free))
    ids = np.full((h, w), -1, np.int32)
    ids[free] = np.arange(n, dtype=np.int32)
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
    to_source, to_sink = np.zeros(n), np.zeros(n)
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
            to_source += np.bincount(a[one & fg], weight[one & fg], n)
            to_sink += np.bincount(a[one & ~fg], weight[one & ~fg], n)
    return np.concatenate(ei), np.concatenate(ej), np.concatenate(ew), to_source, to_sink


def _learn(pixels: np.ndarray, model: np.ndarray) -> np.ndarray:
    """OpenCV's ``assignGMMsComponents`` + ``learnGMMs`` for one model: each of the
    (N, 3) float64 pixels to the component of ``model`` with the highest density
    (unweighted, as OpenCV's ``whichComponent``; 0 where all underflow), then the
    (1, 65) GMM of those components."""
    if len(pixels) == 0:
        raise cv2.error("a GrabCut colour model has no pixels to learn from")
    return learn_gmm(pixels, opencv_densities(pixels, model).argmax(axis=1))


def _log_density(pixels: np.ndarray, model: np.ndarray) -> np.ndarray:
    """(N,) log density of (N, 3) pixels under a (1, 65) GMM as OpenCV's cut computes
    it (the weighted sum of :func:`opencv_densities`); where that underflows, the same
    from the log densities, finite where OpenCV's is infinite."""
    weights = np.asarray(model, np.float64).reshape(-1)[:GMM_K]
    density = opencv_densities(pixels, model)
    total = np.zeros(len(density))
    for k in range(GMM_K):  # in OpenCV's order: the same rounding
        total += weights[k] * density[:, k]
    out = np.empty(len(total))
    seen = total > 0
    out[seen] = np.log(total[seen])
    if not seen.all():
        comp = log_components(pixels[~seen], model, ridge=0.0)
        top = comp.max(axis=1)
        out[~seen] = top + np.log(np.exp(comp - top[:, None]).sum(axis=1)) + _TWO_PI_TERM
    return out


_TWO_PI_TERM = 1.5 * np.log(2 * np.pi)  # log_components' densities have it, OpenCV's not
