"""Clean-up of a predicted class map before it becomes proposals (numpy + OpenCV only).

Three light steps, each optional, applied in this order by :func:`postprocess`:

1. ``smooth_kernel``: a majority (mode) filter over a k x k window; ties keep the pixel's own class.
   Off by default because a 3 x 3 majority already erases one-pixel-wide structures (membranes,
   vessels, cracks), exactly what people segment in microscopy.
2. ``min_area``: islands of any class smaller than this many pixels are absorbed by their surroundings
   (each pixel takes the class of the nearest pixel outside the small islands).
3. ``max_hole_area``: background holes of at most this many pixels that one single class encloses are
   filled with that class. A hole touching the image border, or bordered by two classes, is kept.

A class map is uint8 or uint16, H x W, with 0 = background unless stated otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


@dataclass(frozen=True)
class PostprocessConfig:
    """Settings of :func:`postprocess`. Areas are in pixels; 0 switches a step off."""

    min_area: int = 16
    max_hole_area: int = 64
    smooth_kernel: int = 0
    background: int = 0

    def __post_init__(self) -> None:
        if self.min_area < 0 or self.max_hole_area < 0:
            raise ValueError("min_area and max_hole_area must be >= 0")
        if self.smooth_kernel < 0 or (self.smooth_kernel and self.smooth_kernel % 2 == 0):
            raise ValueError(f"smooth_kernel must be 0 or an odd number, got {self.smooth_kernel}")


def _check(class_map: np.ndarray) -> np.ndarray:
    arr = np.asarray(class_map)
    if arr.ndim != 2 or arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"class map must be a 2-D uint8/uint16 array, got {arr.dtype} {arr.shape}")
    return arr


def majority_smooth(class_map: np.ndarray, kernel: int = 3) -> np.ndarray:
    """Mode filter over a ``kernel`` x ``kernel`` window (ties keep the original class)."""
    cm = _check(class_map)
    classes = np.unique(cm)
    if kernel <= 1 or len(classes) < 2:
        return cm.copy()
    best_score = np.full(cm.shape, -1, dtype=np.int32)
    best = cm.copy()
    for c in classes:
        hit = cm == c
        counts = cv2.boxFilter(hit.astype(np.uint8), cv2.CV_32S, (kernel, kernel), normalize=False)
        # Doubling the count and adding one for the pixel's own class breaks ties in its favour.
        score = counts * 2 + hit
        better = score > best_score
        best[better] = c
        best_score[better] = score[better]
    return best


def remove_small_components(class_map: np.ndarray, min_area: int, *, connectivity: int = 8) -> np.ndarray:
    """Absorb islands (of any class) smaller than ``min_area`` pixels into their surroundings."""
    cm = _check(class_map)
    if min_area <= 1:
        return cm.copy()
    small = np.zeros(cm.shape, dtype=np.uint8)
    for c in np.unique(cm):
        n, labels, stats, _ = cv2.connectedComponentsWithStats(
            (cm == c).astype(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S
        )
        tiny = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_area) + 1
        if len(tiny):
            small[np.isin(labels, tiny)] = 1
    if not small.any():
        return cm.copy()
    if small.all():  # nothing to absorb into: the whole map is made of small islands
        return cm.copy()
    # Each small pixel takes the class of the nearest pixel that is not part of a small island.
    _, nearest = cv2.distanceTransformWithLabels(small, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    keep = small == 0
    lut = np.zeros(int(nearest.max()) + 1, dtype=cm.dtype)
    lut[nearest[keep]] = cm[keep]
    out = cm.copy()
    out[~keep] = lut[nearest[~keep]]
    return out


def fill_holes(class_map: np.ndarray, max_area: int, *, background: int = 0) -> np.ndarray:
    """Fill background holes of at most ``max_area`` pixels that a single class encloses."""
    cm = _check(class_map)
    out = cm.copy()
    if max_area <= 0:
        return out
    h, w = cm.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(
        (cm == background).astype(np.uint8), connectivity=4, ltype=cv2.CV_32S
    )
    for k in range(1, n):
        x, y, bw, bh, area = stats[k]
        if area > max_area or x == 0 or y == 0 or x + bw == w or y + bh == h:
            continue  # too big, or open to the border: not a hole
        sub = cm[y - 1 : y + bh + 1, x - 1 : x + bw + 1]
        comp = labels[y - 1 : y + bh + 1, x - 1 : x + bw + 1] == k
        ring = cv2.dilate(comp.astype(np.uint8), _CROSS).astype(bool) & ~comp
        around = np.unique(sub[ring])
        if len(around) == 1 and around[0] != background:
            out[y : y + bh, x : x + bw][comp[1:-1, 1:-1]] = around[0]
    return out


def postprocess(class_map: np.ndarray, config: PostprocessConfig | None = None) -> np.ndarray:
    """Smooth, absorb small islands, fill small holes (see the module docstring)."""
    cfg = config or PostprocessConfig()
    out = _check(class_map)
    if cfg.smooth_kernel > 1:
        out = majority_smooth(out, cfg.smooth_kernel)
    if cfg.min_area > 1:
        out = remove_small_components(out, cfg.min_area)
    if cfg.max_hole_area > 0:
        out = fill_holes(out, cfg.max_hole_area, background=cfg.background)
    return out if out is not class_map else out.copy()
