"""Undoing the class prior the training patches taught, by as much as the held-out images ask.

To learn rare classes at all, training shows them far more often than the person's images hold
them: patches are centred on a class's pixels (``class_crop_p``) and rare classes get loss weight
(balanced weights, or the class watch). The network learns those odds: a class's logit is raised by
about ``log s``, ``s = w * q / f`` (``w`` its loss weight, ``q`` its share of the training patches'
pixels, ``f`` its share of the training images' pixels). On inspection plates (scratches 0.07% of
the pixels, s = 5, pits s = 23) that made every dark streak of the brushed metal a scratch: 31-83
false scratches per test plate (docs/benchmarks.md).

After training, the best epoch's logits on the held-out images are shifted by ``-t log s`` for each
``t`` of ``FRACTIONS`` (0: as trained; 1: the whole shift undone) and scored; the best ``t`` is baked
into the head's bias when it gains at least ``MIN_GAIN`` held-out mIoU over 0, so the checkpoint,
the ONNX export, the app and the CLI predict with it without knowing it exists; never a fraction
that loses a held-out object the model as trained found (``FoundObjects``). A boundary class
(``L::boundary``) takes its class's offset: the split between objects is not the prior's business,
and the held-out mIoU (boundary folded in) cannot judge it. Only with held-out images: with fewer
than 3 reviewed images the validation images are training images, which the network fits whatever
its prior. A class the held-out images do not hold keeps its odds (``judged_shift``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch

from segdesk.core.instances import boundary_folding
from segdesk.ml.metrics import SegmentationMetrics

#: The shares of the prior shift tried (0 = the model as trained is the reference).
FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Held-out mIoU a correction must gain to be kept.
MIN_GAIN = 0.005
#: Shifts within this factor of each other for every class are left alone (only ratios count).
MIN_SHIFT = 1.25
#: Held-out objects smaller than this (px) are not counted as found or lost (``FoundObjects``).
MIN_OBJECT_AREA = 10


def groups(class_names: Sequence[str]) -> np.ndarray:
    """(C,) int: each class's group, a boundary class in its class's (``boundary_folding``, as the
    metrics a person sees fold them); every class its own group when nothing folds."""
    folding = boundary_folding(class_names)
    return folding[0] if folding is not None else np.arange(len(class_names))


def prior_shift(
    class_names: Sequence[str],
    image_counts: np.ndarray,
    patch_counts: np.ndarray,
    weights: Sequence[float] | None,
) -> np.ndarray:
    """``s`` per class (1 for a class absent from the images or the patches); a boundary class gets
    its class's, computed from the two together."""
    n = len(class_names)
    w = np.asarray(weights if weights else np.ones(n), dtype=np.float64)
    f = np.asarray(image_counts, dtype=np.float64)
    q = np.asarray(patch_counts, dtype=np.float64)
    group = groups(class_names)
    s = np.ones(n)
    for g in np.unique(group):
        members = group == g
        fg, qg = f[members].sum() / max(f.sum(), 1.0), q[members].sum() / max(q.sum(), 1.0)
        if fg > 0 and qg > 0:
            # The group's weight: its members' weights averaged over its patch pixels.
            wg = float((w[members] * q[members]).sum() / max(q[members].sum(), 1.0))
            s[members] = wg * qg / fg
    return s


def held_out_classes(class_names: Sequence[str], masks: Sequence[np.ndarray]) -> np.ndarray:
    """(C,) bool: the classes with pixels in ``masks``; a boundary class counts as its class and
    its class as it."""
    n = len(class_names)
    group = groups(class_names)
    present = np.zeros(n, dtype=bool)
    for mask in masks:
        values = np.unique(mask)
        present[values[values < n]] = True
    return np.isin(group, group[present])


@dataclass
class PriorChoice:
    fraction: float
    offsets: list[float]
    held_out: dict[str, float] = field(default_factory=dict)  # mIoU per fraction tried
    metrics: SegmentationMetrics | None = None  # held-out metrics at the chosen fraction
    found: dict[str, int] = field(default_factory=dict)  # held-out objects found per fraction

    def to_dict(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "offsets": self.offsets,
            "held_out_miou": self.held_out,
            "held_out_objects_found": self.found,
        }

    def note(self) -> str:
        before, after = self.held_out["0"], self.held_out[f"{self.fraction:g}"]
        return (
            f"rare classes' odds lowered by {self.fraction:g} of what the training patches taught "
            f"(held-out mIoU {before:.3f} -> {after:.3f})"
        )


def judged_shift(shift: np.ndarray, judged: np.ndarray, majority: int) -> np.ndarray:
    """``shift`` with each class the held-out images do not hold (``judged`` False) given the shift
    of the images' most common class (``majority``), so that its odds against that class stay as
    trained: lowering a class the held-out images lack only removes its false alarms there, so they
    would always ask for it, and new images would lose its objects."""
    out = np.asarray(shift, dtype=np.float64).copy()
    out[~np.asarray(judged, dtype=bool)] = out[majority]
    return out


class FoundObjects:
    """``evaluate.confusions``'s ``on_map``: how many held-out objects each offset's class map finds.

    An object is an 8-connected region of one class in a held-out image's truth (a boundary class
    counted as its class), of at least ``MIN_OBJECT_AREA`` pixels, of any class but the images' most
    common (``majority``); found when the prediction has a pixel of that class in it. ``found[k]``
    sums over the images for offset ``k``."""

    def __init__(self, class_names: Sequence[str], n_offsets: int, *, majority: int) -> None:
        self.group = groups(class_names)
        self.majority = int(self.group[majority])
        self.found = np.zeros(n_offsets, dtype=np.int64)
        self._objects: dict[int, list[tuple[int, np.ndarray]]] = {}

    def objects(self, key: int, mask: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(class, labels of its objects: 0 elsewhere) of one truth mask, computed once."""
        if key not in self._objects:
            valid = mask < len(self.group)
            folded = np.where(valid, self.group[np.where(valid, mask, 0)], -1)
            out = []
            for c in np.unique(folded):
                if c < 0 or c == self.majority:
                    continue
                n, labels, stats, _ = cv2.connectedComponentsWithStats(
                    (folded == c).astype(np.uint8), connectivity=8
                )
                small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < MIN_OBJECT_AREA)
                labels[np.isin(labels, small[small > 0])] = 0
                if labels.any():
                    out.append((int(c), labels))
            self._objects[key] = out
        return self._objects[key]

    def __call__(self, k: int, sample: Any, class_map: np.ndarray) -> None:
        predicted = self.group[class_map]
        for c, labels in self.objects(id(sample), sample.mask):
            self.found[k] += np.unique(labels[(predicted == c) & (labels > 0)]).size


def choose(
    shift: np.ndarray,
    score: Callable[[list[torch.Tensor]], tuple[list[SegmentationMetrics], np.ndarray]],
) -> PriorChoice | None:
    """The fraction of ``shift`` to undo, or None (nothing to undo, or no fraction gains
    ``MIN_GAIN``). ``score(offsets)`` gives the held-out metrics of the model with each logit offset
    and the held-out objects each finds (``FoundObjects``): a fraction that loses an object the model
    as trained found is never chosen. On the plates the fraction that lost a held-out pit lost a
    test pit too, at both seeds (docs/benchmarks.md)."""
    log_s = np.log(np.maximum(shift, 1e-6))
    log_s = log_s - log_s.min()  # only differences count; 0 for the class lowered least
    if float(log_s.max(initial=0.0)) < np.log(MIN_SHIFT):
        return None
    offsets = [torch.tensor(-t * log_s, dtype=torch.float32) for t in FRACTIONS]
    metrics, found = score(offsets)
    mious = [m.miou if f >= found[0] else -1.0 for m, f in zip(metrics, found, strict=True)]
    best = int(np.argmax(mious))
    held_out = {f"{t:g}": round(m.miou, 5) for t, m in zip(FRACTIONS, metrics, strict=True)}
    if best == 0 or mious[best] < mious[0] + MIN_GAIN:
        return None
    offset = [round(float(v), 5) for v in offsets[best]]
    counts = {f"{t:g}": int(f) for t, f in zip(FRACTIONS, found, strict=True)}
    return PriorChoice(FRACTIONS[best], offset, held_out, metrics[best], counts)


def bake(model: torch.nn.Module, offsets: Sequence[float]) -> None:
    """Add ``offsets`` to the bias of the model's head (its last 1x1 convolution), in place."""
    head = model.head  # type: ignore[attr-defined]
    with torch.no_grad():
        head.bias += torch.tensor(list(offsets), dtype=head.bias.dtype, device=head.bias.device)


__all__ = [
    "FRACTIONS",
    "MIN_GAIN",
    "PriorChoice",
    "bake",
    "choose",
    "groups",
    "held_out_classes",
    "judged_shift",
    "prior_shift",
]
