"""Preview images for exports: class colours over the image, with a legend.

Colours are Labelme's palette indexed by class value (what the canvas shows for a label listed in
labels.txt); ignore regions (-1) take palette entry 255, as in VOC PNGs.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from segdesk.core.colors import IGNORE_INDEX, label_colormap

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _colors(label: np.ndarray) -> np.ndarray:
    cmap = label_colormap(max(256, int(label.max(initial=0)) + 1))
    index = np.where(label < 0, IGNORE_INDEX, label)
    return cmap[index].astype(np.uint8)


def _legend(image: np.ndarray, items: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """Draw ``(name, rgb)`` entries in the bottom-right corner (as imgviz's ``loc="rb"``)."""
    if not items:
        return image
    h, w = image.shape[:2]
    scale = max(0.35, min(1.0, min(h, w) / 900))
    thick = 1
    (_, th), _ = cv2.getTextSize("Ag", _FONT, scale, thick)
    line = th + 8
    width = max(cv2.getTextSize(name, _FONT, scale, thick)[0][0] for name, _ in items) + th + 16
    height = line * len(items) + 6
    x0, y0 = max(0, w - width - 4), max(0, h - height - 4)
    out = image.copy()
    box = out[y0 : y0 + height, x0 : x0 + width]
    box[:] = (box.astype(np.float32) * 0.4 + 255 * 0.6).astype(np.uint8)
    for i, (name, color) in enumerate(items):
        y = y0 + 4 + i * line
        c = tuple(int(v) for v in color)
        cv2.rectangle(out, (x0 + 4, y + 2), (x0 + 4 + th, y + 2 + th), c, -1)
        cv2.putText(out, name, (x0 + th + 10, y + th + 2), _FONT, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out


def voc_visualization(label: np.ndarray, gray: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """labelme2voc's visualization: colours at 50% over the grey image, legend of the labels present."""
    base = cv2.cvtColor(np.ascontiguousarray(gray), cv2.COLOR_GRAY2RGB)
    res = cv2.addWeighted(base, 0.5, np.ascontiguousarray(_colors(label)), 0.5, 0)
    cmap = label_colormap(256)
    present = [int(v) for v in np.unique(label) if 0 <= v < len(names)]
    return _legend(res, [(names[v], cmap[v % 256]) for v in present])


def overlay(image_rgb: np.ndarray, label: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """A preview: the image with each class at 50% and its outline, background left as it is."""
    image = np.ascontiguousarray(image_rgb)
    colors = np.ascontiguousarray(_colors(label))
    fg = label != 0
    out = np.where(fg[:, :, None], cv2.addWeighted(image, 0.5, colors, 0.5, 0), image)
    # Outlines where a pixel's class differs from a neighbour's: cheap, and separates touching regions.
    edge = np.zeros(label.shape, dtype=bool)
    edge[:-1, :] |= label[:-1, :] != label[1:, :]
    edge[:, :-1] |= label[:, :-1] != label[:, 1:]
    edge &= fg
    out[edge] = colors[edge]
    cmap = label_colormap(256)
    present = [int(v) for v in np.unique(label) if 0 < v < len(names)]
    return _legend(out, [(names[v], cmap[v % 256]) for v in present])


__all__ = ["overlay", "voc_visualization"]
