"""Label colours: Labelme's palette (the PASCAL VOC colour map), one stable colour per label.

The canvas, overlays and VOC export all take their colours from here, so a label looks the same
everywhere and in Labelme's own output (``imgviz.label_colormap``, computed here, not imported).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence

import numpy as np

from segdesk.core.rasterize import IGNORE_LABEL, class_name_to_value

#: The VOC palette entry for "ignore" (value 255 in uint8 maps).
IGNORE_INDEX = 255


@functools.lru_cache(maxsize=8)
def _colormap(n: int) -> np.ndarray:
    # VOC bit shuffle: bit k of the index (taken 3 at a time) goes to bit 7-k of r, g, b.
    ids = np.arange(n, dtype=np.int64)
    cmap = np.zeros((n, 3), dtype=np.int64)
    bits = max(1, int(n - 1).bit_length())
    for shift in range(0, bits, 3):
        level = 7 - shift // 3
        if level < 0:
            break
        for channel in range(3):
            cmap[:, channel] |= ((ids >> (shift + channel)) & 1) << level
    out = cmap.astype(np.uint8)
    out.setflags(write=False)
    return out


def label_colormap(n: int = 256) -> np.ndarray:
    """(n, 3) uint8 RGB palette, identical to ``imgviz.label_colormap()[:n]`` (read-only).

    Entry 0 is black (background), 1 dark red, 2 dark green ... 255 is (224, 224, 192).
    Beyond 256 entries the bit shuffle runs out of bits and colours repeat with a period of 256.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    base = _colormap(256)
    if n <= 256:
        return base[:n]
    out = np.resize(base, (n, 3))
    out.setflags(write=False)
    return out


#: An unlisted label's colour keeps at least this RGB distance from every listed label's colour (and
#: from background black), so a typo or a new label never looks like an existing one.
MIN_DISTANCE = 96.0


def label_index(label: str, labels: Sequence[str] | None = None) -> int:
    """The palette index of a label: its class value when ``labels`` (labels.txt order) lists it.

    ``__ignore__`` is 255 (as in VOC PNGs); ``_background_`` 0. A label not listed gets a stable
    index from a hash of its name (1..254), the same in every session and on every machine; with
    ``labels`` given, the first index from there on whose colour is clearly different from every
    listed label's (:data:`MIN_DISTANCE`), so it stays stable for a given label list.
    """
    if label == IGNORE_LABEL:
        return IGNORE_INDEX
    listed = None if labels is None else _listed(tuple(labels))
    if listed is not None and label in listed:
        return listed[label]
    if label == "_background_":
        return 0
    start = zlib.crc32(label.encode("utf-8")) % 254
    if not listed:
        return 1 + start
    return _distinct_index(start, frozenset(listed.values()))


@functools.lru_cache(maxsize=64)
def _listed(labels: tuple[str, ...]) -> dict[str, int]:
    return {k: v % 256 for k, v in class_name_to_value(labels).items() if v is not None and v >= 0}


@functools.lru_cache(maxsize=1024)
def _distinct_index(start: int, taken: frozenset[int]) -> int:
    cmap = label_colormap(256).astype(np.float64)
    used = sorted(taken | {0, IGNORE_INDEX})
    candidates = [1 + (start + step) % 254 for step in range(254)]
    candidates = [i for i in candidates if i not in taken]
    if not candidates:
        return 1 + start
    distance = np.sqrt(((cmap[candidates][:, None, :] - cmap[used][None, :, :]) ** 2).sum(-1)).min(1)
    for index, d in zip(candidates, distance, strict=True):
        if d >= MIN_DISTANCE:
            return index
    return candidates[int(np.argmax(distance))]  # very many classes: the most different one left


def label_color(label: str, labels: Sequence[str] | None = None) -> tuple[int, int, int]:
    """(r, g, b) of a label, from Labelme's palette (see :func:`label_index`)."""
    r, g, b = label_colormap(256)[label_index(label, labels)]
    return int(r), int(g), int(b)


__all__ = ["IGNORE_INDEX", "MIN_DISTANCE", "label_color", "label_colormap", "label_index"]
