"""Generated touching cells for the instance benchmark (a plain module, not collected by pytest).

A second instance data set beside DSB 2018 dev, so a change to how objects are separated is not
judged on one set alone: grey fluorescence-like 8-bit images of elliptic cells that grow in clusters
(most touch a neighbour), brighter at their centres than at their edges (as stained nuclei are, so two
touching cells meet in a faint dip), each image at its own magnification (cells 8-40 px across),
exposure and noise. The truth is an instance map (0 = background, k = cell k).
"""

from __future__ import annotations

import cv2
import numpy as np

from segdesk.core.instances import relabel_sequential


def synth_cells(rng: np.random.Generator, h: int = 256, w: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(8-bit grey image, int32 instance map) of one generated field of cells."""
    scale = float(rng.uniform(0.6, 1.6))  # this image's magnification
    ins = np.zeros((h, w), np.int32)
    centres: list[tuple[float, float, float]] = []
    n = int(rng.integers(30, 80) / scale)
    for k in range(1, n + 1):
        a = float(rng.uniform(5, 11)) * scale
        b = a * float(rng.uniform(0.6, 1.0))
        if centres and rng.random() < 0.7:  # beside an earlier cell: clusters of touching cells
            cy, cx, ra = centres[int(rng.integers(len(centres)))]
            t = float(rng.uniform(0, 2 * np.pi))
            d = (ra + a) * float(rng.uniform(0.75, 0.95))
            cy, cx = cy + d * np.sin(t), cx + d * np.cos(t)
        else:
            cy, cx = float(rng.uniform(0, h)), float(rng.uniform(0, w))
        disc = np.zeros((h, w), np.uint8)
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(disc, (round(cx), round(cy)), (round(a), round(b)), angle, 0, 360, 1, -1)
        free = (disc > 0) & (ins == 0)
        if free.sum() < 0.5 * max(int(disc.sum()), 1):
            continue  # mostly hidden: leave it out
        ins[free] = k
        centres.append((cy, cx, a))
    ins = relabel_sequential(ins)
    img = np.zeros((h, w), np.float32)
    for i in range(1, int(ins.max()) + 1):
        m = (ins == i).astype(np.uint8)
        dist = cv2.distanceTransform(np.pad(m, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
        peak = max(float(dist.max()), 1.0)
        img += m * float(rng.uniform(0.45, 1.0)) * (0.55 + 0.45 * np.sqrt(dist / peak))
    texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2.0)
    img *= 1 + 0.12 * texture
    img = cv2.GaussianBlur(img, (0, 0), 1.0) + 0.06
    img = img * float(rng.uniform(0.5, 1.0)) + rng.normal(0, float(rng.uniform(0.01, 0.04)), img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), ins


__all__ = ["synth_cells"]
