"""Instance metrics on instance maps (numpy): the DSB 2018 average precision, splits and merges.

For one image and an IoU threshold t, predicted and true objects are matched one to one when their IoU
is above t (for t >= 0.5 a match is unique); the score is TP / (TP + FP + FN), the Data Science
Bowl 2018 "average precision" (StarDist's "accuracy"). The DSB metric is its mean over
t = 0.5, 0.55, ..., 0.95, averaged over images; AP@0.5 is the score at t = 0.5.

Splits and merges count the edits a person has to make:

- a predicted object *merges* k > 1 true objects when at least half of each of them lies in it: it
  counts k - 1 merges (the person splits it k - 1 times);
- a true object is *split* into k > 1 predicted objects when at least half of each of them lies in
  it: it counts k - 1 splits (the person merges k - 1 times).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


@dataclass(frozen=True)
class Overlap:
    """Pairwise overlap of true (rows) and predicted (columns) objects, ids 1..N each."""

    true_ids: np.ndarray
    pred_ids: np.ndarray
    intersection: np.ndarray  # (n_true, n_pred) pixels
    true_area: np.ndarray
    pred_area: np.ndarray

    @property
    def iou(self) -> np.ndarray:
        union = self.true_area[:, None] + self.pred_area[None, :] - self.intersection
        return np.where(union > 0, self.intersection / np.maximum(union, 1), 0.0)


def overlap(true: np.ndarray, pred: np.ndarray) -> Overlap:
    """The contingency table of two instance maps of the same shape (0 = background)."""
    t, p = np.asarray(true), np.asarray(pred)
    if t.shape != p.shape:
        raise ValueError(f"instance maps differ in shape: {t.shape} vs {p.shape}")
    t_ids, t_inv = np.unique(t.ravel(), return_inverse=True)
    p_ids, p_inv = np.unique(p.ravel(), return_inverse=True)
    table = np.bincount(t_inv * len(p_ids) + p_inv, minlength=len(t_ids) * len(p_ids)).reshape(
        len(t_ids), len(p_ids)
    )
    t_keep, p_keep = t_ids != 0, p_ids != 0
    inter = table[t_keep][:, p_keep].astype(np.int64)
    return Overlap(t_ids[t_keep], p_ids[p_keep], inter, table[t_keep].sum(1), table[:, p_keep].sum(0))


def match_counts(ov: Overlap, threshold: float) -> tuple[int, int, int]:
    """(TP, FP, FN) at an IoU threshold: greedy one-to-one matching, highest IoU first."""
    iou = ov.iou
    n_true, n_pred = iou.shape
    if n_true == 0 or n_pred == 0:
        return 0, n_pred, n_true
    rows, cols = np.nonzero(iou > threshold)
    order = np.argsort(-iou[rows, cols], kind="stable")
    used_t, used_p = set(), set()
    for r, c in zip(rows[order], cols[order], strict=True):
        if r not in used_t and c not in used_p:
            used_t.add(int(r))
            used_p.add(int(c))
    tp = len(used_t)
    return tp, n_pred - tp, n_true - tp


def splits_merges(ov: Overlap, share: float = 0.5) -> tuple[int, int]:
    """(splits, merges) as defined in the module docstring."""
    inter = ov.intersection
    if inter.size == 0:
        return 0, 0
    pred_in_true = inter >= share * np.maximum(ov.pred_area[None, :], 1)  # most of the piece is in the truth
    true_in_pred = inter >= share * np.maximum(ov.true_area[:, None], 1)
    splits = int(np.maximum(pred_in_true.sum(axis=1) - 1, 0).sum())
    merges = int(np.maximum(true_in_pred.sum(axis=0) - 1, 0).sum())
    return splits, merges


@dataclass(frozen=True)
class ImageScore:
    name: str
    n_true: int
    n_pred: int
    precision: dict[float, float]  # threshold -> TP / (TP + FP + FN)
    splits: int
    merges: int

    @property
    def mean_ap(self) -> float:
        return float(np.mean(list(self.precision.values())))


def score_image(
    true: np.ndarray, pred: np.ndarray, *, name: str = "", thresholds: Sequence[float] = THRESHOLDS
) -> ImageScore:
    """One image's score; an image with no true and no predicted object scores 1."""
    ov = overlap(true, pred)
    precision = {}
    for t in thresholds:
        tp, fp, fn = match_counts(ov, t)
        total = tp + fp + fn
        precision[float(t)] = 1.0 if total == 0 else tp / total
    splits, merges = splits_merges(ov)
    return ImageScore(name, len(ov.true_ids), len(ov.pred_ids), precision, splits, merges)


@dataclass
class InstanceScores:
    """Scores over a set of images (means over images, as the DSB 2018 leaderboard)."""

    images: list[ImageScore] = field(default_factory=list)

    def add(self, score: ImageScore) -> None:
        self.images.append(score)

    def ap(self, threshold: float = 0.5) -> float:
        return float(np.mean([s.precision[threshold] for s in self.images])) if self.images else 0.0

    @property
    def mean_ap(self) -> float:
        return float(np.mean([s.mean_ap for s in self.images])) if self.images else 0.0

    @property
    def splits_per_image(self) -> float:
        return float(np.mean([s.splits for s in self.images])) if self.images else 0.0

    @property
    def merges_per_image(self) -> float:
        return float(np.mean([s.merges for s in self.images])) if self.images else 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "images": len(self.images),
            "ap50": round(self.ap(0.5), 4),
            "ap75": round(self.ap(0.75), 4),
            "map": round(self.mean_ap, 4),
            "splits_per_image": round(self.splits_per_image, 2),
            "merges_per_image": round(self.merges_per_image, 2),
        }


def score_images(pairs: Iterable[tuple[str, np.ndarray, np.ndarray]]) -> InstanceScores:
    """``pairs`` of (name, true instance map, predicted instance map)."""
    scores = InstanceScores()
    for name, true, pred in pairs:
        scores.add(score_image(true, pred, name=name))
    return scores


__all__ = [
    "THRESHOLDS",
    "ImageScore",
    "InstanceScores",
    "Overlap",
    "match_counts",
    "overlap",
    "score_image",
    "score_images",
    "splits_merges",
]
