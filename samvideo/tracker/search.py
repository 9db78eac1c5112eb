"""Lost and found: where to look for a lost object, and the object-coloured blob there
that most likely is the object (the tracker prompts the segmenter with it)."""

from __future__ import annotations

import cv2
import numpy as np

from samvideo.masks import Box, back_project, clip_box
from samvideo.tracker.config import TrackerConfig
from samvideo.tracker.state import TrackedObject


def search_box(o: TrackedObject, predicted: Box, shape, config: TrackerConfig) -> Box:
    """Where to look for a lost object: its last good size, grown with time, around
    the coasting centre."""
    cfg = config
    grow = 1 + min(cfg.search_growth * o.lost_for, cfg.max_search_growth)
    gw, gh = o.good_size if o.good_size[0] > 0 else (predicted[2] - predicted[0],
                                                      predicted[3] - predicted[1])
    cx, cy = (predicted[0] + predicted[2]) / 2, (predicted[1] + predicted[3]) / 2
    half_w, half_h = gw * grow / 2, gh * grow / 2
    return clip_box((cx - half_w, cy - half_h, cx + half_w, cy + half_h), shape[1], shape[0])


def find_blob(o: TrackedObject, rgb: np.ndarray, search: Box,
              config: TrackerConfig) -> np.ndarray | None:
    """The object-coloured blob of the search box most likely to be the object: a
    plausible size (at least ``reacquire_min_area`` of the good area, at most
    ``max_area_change`` times it), then the largest, then the nearest to the centre.
    Returns an (H, W) bool mask or None."""
    cfg = config
    if o.hist_first is None or o.good_area <= 0:
        return None
    prob, (x0, y0) = back_project(rgb, search, o.hist_first, o.hist_around)
    if prob.size == 0:
        return None
    prob = cv2.GaussianBlur(prob, (0, 0), 1.5)
    hot = (prob >= cfg.blob_threshold).astype(np.uint8)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(hot, connectivity=8)
    cx = (search[0] + search[2]) / 2 - x0
    cy = (search[1] + search[3]) / 2 - y0
    best, best_key = 0, None
    for i in range(1, n):
        ratio = stats[i, cv2.CC_STAT_AREA] / o.good_area
        if not cfg.reacquire_min_area <= ratio <= cfg.max_area_change:
            continue
        dist = float(np.hypot(centroids[i][0] - cx, centroids[i][1] - cy))
        key = (min(ratio, 1.0), -dist)
        if best_key is None or key > best_key:
            best, best_key = i, key
    if best == 0:
        return None
    out = np.zeros(rgb.shape[:2], bool)
    out[y0:y0 + labels.shape[0], x0:x0 + labels.shape[1]] = labels == best
    return out
