"""Segmentation losses: cross-entropy + soft Dice (default), focal and class weights as options.

Every loss ignores pixels whose target is ``ignore_index`` (``__ignore__`` regions, padding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segdesk.ml.data import IGNORE_INDEX

ClassWeighting = Literal["none", "balanced"]


@dataclass(frozen=True)
class LossConfig:
    """``ce_weight * (CE or focal) + dice_weight * soft Dice``.

    ``focal_gamma > 0`` replaces cross-entropy by focal loss. ``class_weights``: ``"none"``,
    ``"balanced"`` (inverse square root of each class's pixel frequency in the training set,
    normalized to mean 1) or an explicit list, one weight per class. ``boundary_weight``: extra
    cross-entropy weight of pixels within ``boundary_radius`` pixels of a boundary between two
    classes (where thin structures and contact lines live, and where IoU is won or lost).
    """

    ce_weight: float = 1.0
    dice_weight: float = 1.0
    focal_gamma: float = 0.0
    class_weights: ClassWeighting | tuple[float, ...] = "none"
    label_smoothing: float = 0.0
    boundary_weight: float = 0.0
    boundary_radius: int = 2


def soft_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, *, ignore_index: int = IGNORE_INDEX, eps: float = 1.0
) -> torch.Tensor:
    """1 - mean soft Dice over the classes present in ``target`` (ignore pixels excluded)."""
    n_classes = logits.shape[1]
    valid = target != ignore_index
    probs = logits.float().softmax(1) * valid.unsqueeze(1)
    onehot = F.one_hot(target.masked_fill(~valid, 0), n_classes).permute(0, 3, 1, 2).to(probs.dtype)
    onehot = onehot * valid.unsqueeze(1)
    dims = (0, 2, 3)
    inter = (probs * onehot).sum(dims)
    card = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + eps) / (card + eps)
    present = onehot.sum(dims) > 0
    if not bool(present.any()):
        return logits.sum() * 0.0
    return 1.0 - dice[present].mean()


def boundary_map(target: torch.Tensor, *, radius: int = 2, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """(N, H, W) bool: pixels with a pixel of another class within ``radius`` (ignore is no class)."""
    valid = target != ignore_index
    t = target.masked_fill(~valid, 0)
    n_classes = int(t.max()) + 1
    onehot = F.one_hot(t, n_classes).permute(0, 3, 1, 2).float() * valid.unsqueeze(1)
    near = F.max_pool2d(onehot, 2 * radius + 1, stride=1, padding=radius)
    return (near.sum(1) > 1) & valid


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = 2.0,
    weight: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Focal loss (Lin et al. 2017), mean over non-ignored pixels."""
    logp = F.log_softmax(logits.float(), 1)
    valid = target != ignore_index
    t = target.masked_fill(~valid, 0)
    logp_t = logp.gather(1, t.unsqueeze(1)).squeeze(1)
    loss = -((1 - logp_t.exp()) ** gamma) * logp_t
    if weight is not None:
        loss = loss * weight[t]
    n = valid.sum()
    return (loss * valid).sum() / n.clamp(min=1)


def balanced_weights(pixel_counts: np.ndarray) -> list[float]:
    """Inverse square-root frequency weights, mean 1; absent classes get weight 1."""
    counts = np.asarray(pixel_counts, dtype=np.float64)
    freq = counts / max(counts.sum(), 1.0)
    w = np.where(freq > 0, 1.0 / np.sqrt(np.maximum(freq, 1e-12)), 0.0)
    present = freq > 0
    w[present] /= w[present].mean()
    w[~present] = 1.0
    return [float(v) for v in w]


class SegmentationLoss(nn.Module):
    """The training loss configured by ``LossConfig``; ``weights`` resolved from pixel counts."""

    def __init__(self, config: LossConfig, *, num_classes: int, pixel_counts: np.ndarray | None = None):
        super().__init__()
        self.config = config
        cw = config.class_weights
        if cw == "balanced":
            weights = balanced_weights(pixel_counts if pixel_counts is not None else np.ones(num_classes))
        elif cw == "none":
            weights = None
        else:
            weights = [float(v) for v in cw]
            if len(weights) != num_classes:
                raise ValueError(f"class_weights has {len(weights)} values for {num_classes} classes")
        self.weights = weights
        self.register_buffer(
            "weight", torch.tensor(weights, dtype=torch.float32) if weights else torch.ones(0)
        )

    def use_balanced_weights(self, pixel_counts: np.ndarray) -> None:
        """Switch to balanced class weights mid-run (``class_watch``: a class being lost)."""
        self.set_weights(balanced_weights(pixel_counts))

    def set_weights(self, weights: list[float]) -> None:
        self.weights = [float(w) for w in weights]
        self.weight = torch.tensor(self.weights, dtype=torch.float32, device=self.weight.device)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        weight = self.weight if self.weight.numel() else None
        total = logits.new_zeros((), dtype=torch.float32)
        if cfg.ce_weight:
            if cfg.boundary_weight > 0:
                main = _boundary_weighted_ce(logits, target, weight, cfg)
            elif cfg.focal_gamma > 0:
                main = focal_loss(logits, target, gamma=cfg.focal_gamma, weight=weight)
            else:
                main = F.cross_entropy(
                    logits.float(),
                    target,
                    weight=weight,
                    ignore_index=IGNORE_INDEX,
                    label_smoothing=cfg.label_smoothing,
                )
                if not bool((target != IGNORE_INDEX).any()):
                    main = logits.sum() * 0.0
            total = total + cfg.ce_weight * main
        if cfg.dice_weight:
            total = total + cfg.dice_weight * soft_dice_loss(logits, target)
        return total


def _boundary_weighted_ce(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, cfg: LossConfig
) -> torch.Tensor:
    """Cross-entropy (or focal) per pixel, pixels near class boundaries weighted ``1 + boundary_weight``.

    Normalized by the sum of the pixel weights, so the loss scale does not depend on how many
    boundary pixels a patch has.
    """
    valid = target != IGNORE_INDEX
    t = target.masked_fill(~valid, 0)
    logp = F.log_softmax(logits.float(), 1)
    logp_t = logp.gather(1, t.unsqueeze(1)).squeeze(1)
    if cfg.focal_gamma > 0:
        per_pixel = -((1 - logp_t.exp()) ** cfg.focal_gamma) * logp_t
    elif cfg.label_smoothing > 0:
        eps = cfg.label_smoothing
        per_pixel = -(1 - eps) * logp_t - eps * logp.mean(1)
    else:
        per_pixel = -logp_t
    w = 1.0 + cfg.boundary_weight * boundary_map(target, radius=cfg.boundary_radius).float()
    if weight is not None:
        w = w * weight[t]
    w = w * valid
    return (per_pixel * w).sum() / w.sum().clamp(min=1e-6)
