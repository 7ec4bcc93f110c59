"""Tiles and their blending: where tiles go, how they are weighted, and the band accumulator that
turns weighted tile probabilities into a :class:`Prediction` row band by row band.

Torch-free (numpy only); ``segdesk.ml.inference.infer`` (the predictor) re-exports these names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Rows turned into outputs per step, bounding the scratch memory of that step.
FINISH_ROWS = 64


@dataclass
class Prediction:
    """The result for one image.

    ``confidence`` is the max softmax probability per pixel; ``mean_entropy`` the per-pixel entropy
    divided by log(C) (0 = certain, 1 = uniform) averaged over the image; ``low_confidence_fraction``
    the fraction of pixels whose confidence is below the predictor's threshold. Either serves active
    learning: correct the images the model is least sure about first.
    """

    class_map: np.ndarray
    confidence: np.ndarray
    class_names: list[str]
    mean_entropy: float
    low_confidence_fraction: float
    probabilities: np.ndarray | None = None
    model_version: str | None = None
    tiles: int = 1
    elapsed_s: float = 0.0
    backend: str = "torch"

    @property
    def uncertainty(self) -> float:
        """The active-learning score (mean normalized entropy)."""
        return self.mean_entropy

    @property
    def mean_confidence(self) -> float:
        return float(self.confidence.mean()) if self.confidence.size else 0.0


def tile_positions(size: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering ``size`` with windows of ``tile``; the last one is flush with the end."""
    if size <= tile:
        return [0]
    pos = list(range(0, size - tile + 1, stride))
    if pos[-1] != size - tile:
        pos.append(size - tile)
    return pos


def ramp_window(length: int, ramp: int, *, left: bool, right: bool) -> np.ndarray:
    """1-D blending weights: 1 inside, a linear ramp over ``ramp`` pixels on the overlapped sides."""
    w = np.ones(length, dtype=np.float32)
    if ramp <= 0:
        return w
    r = (np.arange(length, dtype=np.float32) + 0.5) / ramp
    if left:
        w = np.minimum(w, r)
    if right:
        w = np.minimum(w, r[::-1])
    return np.maximum(w, np.float32(1e-3))


def working_memory_bytes(width: int, num_classes: int, tile: int, batch_size: int = 1) -> int:
    """The predictor's own float32 buffers beyond input and outputs (activations not included).

    Band accumulator ``C x tile x W`` + weights ``tile x W``; scratch to finish rows, ``FINISH_ROWS``
    at a time (probabilities, their logarithm, confidence, entropy); one batch of input tiles and
    output probabilities. The intensity statistics add at most ~100 MB (a 1-megapixel sample).
    """
    band = (num_classes + 1) * tile * width * 4
    finish = (2 * num_classes + 3) * min(FINISH_ROWS, tile) * width * 4
    batch = batch_size * (3 + 2 * num_classes) * tile * tile * 4
    return band + finish + batch


def class_map_dtype(num_classes: int) -> np.dtype:
    return np.dtype(np.uint8) if num_classes <= 256 else np.dtype(np.uint16)


class BandAccumulator:
    """Weighted sums for the rows ``[base, base + tile)``; finished rows become outputs at once."""

    def __init__(
        self,
        height: int,
        width: int,
        num_classes: int,
        tile: int,
        *,
        probabilities: bool,
        low_confidence: float,
    ) -> None:
        self.h, self.w, self.c, self.tile = height, width, num_classes, tile
        self.sum = np.zeros((num_classes, tile, width), dtype=np.float32)
        self.weight = np.zeros((tile, width), dtype=np.float32)
        self.base = 0
        self.class_map = np.empty((height, width), dtype=class_map_dtype(num_classes))
        self.confidence = np.empty((height, width), dtype=np.float32)
        self.probabilities = (
            np.empty((num_classes, height, width), dtype=np.float16) if probabilities else None
        )
        self.low_confidence = low_confidence
        self.entropy_sum = 0.0
        self.low_count = 0

    def start_row(self, y0: int) -> None:
        shift = y0 - self.base
        if shift:  # rows above y0 were finished; slide the band up by ``shift`` rows
            keep = max(self.tile - shift, 0)
            # Blocks of at most ``shift`` rows never overlap their destination, so no band-sized
            # temporary copy is made (per channel: each channel's rows are one memory block).
            for i in range(0, keep, shift):
                j = min(i + shift, keep)
                for c in range(self.c):
                    self.sum[c, i:j] = self.sum[c, i + shift : j + shift]
                self.weight[i:j] = self.weight[i + shift : j + shift]
            self.sum[:, keep:] = 0
            self.weight[keep:] = 0
            self.base = y0

    def add(self, probs: np.ndarray, x0: int, weights: np.ndarray) -> None:
        th, tw = weights.shape
        self.sum[:, :th, x0 : x0 + tw] += probs * weights
        self.weight[:th, x0 : x0 + tw] += weights

    def finish_rows(self, end: int) -> None:
        """Rows ``[base, end)`` get no more tiles: argmax, confidence, entropy (in small chunks)."""
        for r0 in range(0, end - self.base, FINISH_ROWS):
            r1 = min(r0 + FINISH_ROWS, end - self.base)
            p = self.sum[:, r0:r1] / self.weight[None, r0:r1]
            rows = slice(self.base + r0, self.base + r1)
            self.class_map[rows] = p.argmax(0)
            conf = p.max(0)
            self.confidence[rows] = conf
            if self.probabilities is not None:
                self.probabilities[:, rows] = p
            self.low_count += int(np.count_nonzero(conf < self.low_confidence))
            if self.c > 1:
                np.clip(p, 1e-12, None, out=p)
                ent = (p * np.log(p)).sum(0)
                self.entropy_sum -= float(ent.sum(dtype=np.float64)) / math.log(self.c)

    def result(self, class_names: Sequence[str], **kwargs: Any) -> Prediction:
        n = max(self.h * self.w, 1)
        return Prediction(
            class_map=self.class_map,
            confidence=self.confidence,
            class_names=list(class_names),
            mean_entropy=self.entropy_sum / n,
            low_confidence_fraction=self.low_count / n,
            probabilities=self.probabilities,
            **kwargs,
        )


__all__ = [
    "FINISH_ROWS",
    "BandAccumulator",
    "Prediction",
    "class_map_dtype",
    "ramp_window",
    "tile_positions",
    "working_memory_bytes",
]
