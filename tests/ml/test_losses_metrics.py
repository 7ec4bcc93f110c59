"""Losses ignore the ignore index; metrics come from one confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segdesk.ml.data import IGNORE_INDEX
from segdesk.ml.metrics import ConfusionMatrix
from segdesk.ml.training.losses import (
    LossConfig,
    SegmentationLoss,
    balanced_weights,
    boundary_map,
    focal_loss,
    soft_dice_loss,
)

torch.set_num_threads(1)


def _perfect_logits(target: torch.Tensor, n: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(target.clamp(max=n - 1), n).permute(0, 3, 1, 2).float() * 20


def test_dice_is_zero_for_perfect_and_ignores_ignored_pixels():
    target = torch.randint(0, 3, (2, 16, 16))
    logits = _perfect_logits(target, 3)
    assert soft_dice_loss(logits, target).item() == pytest.approx(0.0, abs=1e-3)
    # Garbage predictions where the target is ignored change nothing.
    t2 = target.clone()
    t2[:, :8] = IGNORE_INDEX
    noisy = logits.clone()
    noisy[:, :, :8] = torch.randn_like(noisy[:, :, :8]) * 50
    for cfg in (LossConfig(), LossConfig(focal_gamma=2.0), LossConfig(class_weights="balanced")):
        loss = SegmentationLoss(cfg, num_classes=3, pixel_counts=np.array([10, 5, 1]))
        assert loss(noisy, t2).item() == pytest.approx(loss(logits, t2).item(), abs=1e-4)
        assert loss(logits, t2).item() < 0.01


def test_all_ignored_gives_zero_loss_with_gradient():
    target = torch.full((1, 8, 8), IGNORE_INDEX)
    logits = torch.randn(1, 2, 8, 8, requires_grad=True)
    loss = SegmentationLoss(LossConfig(), num_classes=2)(logits, target)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(logits.grad).all()


def test_focal_equals_ce_at_gamma_zero_and_down_weights_easy_pixels():
    logits = torch.randn(2, 3, 8, 8)
    target = torch.randint(0, 3, (2, 8, 8))
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert focal_loss(logits, target, gamma=0.0).item() == pytest.approx(ce.item(), rel=1e-5)
    assert focal_loss(logits, target, gamma=2.0).item() < ce.item()


def test_class_weights():
    w = balanced_weights(np.array([900, 100, 0]))
    assert w[1] > w[0] and w[2] == 1.0
    assert np.mean(w[:2]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        SegmentationLoss(LossConfig(class_weights=(1.0,)), num_classes=2)


def test_confusion_matrix_metrics_by_hand():
    cm = ConfusionMatrix(3)
    truth = np.array([0, 0, 1, 1, 2, IGNORE_INDEX])
    pred = np.array([0, 1, 1, 1, 0, 2])
    cm.update(truth, pred)
    cm.update(np.array([2]), np.array([2]))  # accumulated over the whole set
    m = cm.compute(["a", "b", "c"])
    # class a: tp1 fn1 fp1 -> 1/3; b: tp2 fp1 -> 2/3; c: tp1 fn1 -> 1/2
    assert m.iou == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    assert m.dice == pytest.approx([0.5, 0.8, 2 / 3])
    assert m.miou == pytest.approx(np.mean([1 / 3, 2 / 3, 1 / 2]))
    assert m.pixel_accuracy == pytest.approx(4 / 6)
    assert m.pixels == 6
    assert "mIoU" in m.summary() and m.to_dict()["iou"]["b"] == pytest.approx(2 / 3)


def test_absent_class_is_none_not_zero():
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 1]), np.array([0, 1]))
    m = cm.compute()
    assert m.iou[2] is None and m.miou == 1.0


def test_boundary_map_marks_both_sides_of_a_class_boundary_only():
    target = torch.zeros((1, 8, 8), dtype=torch.long)
    target[0, :, 4:] = 1
    target[0, 0, 0] = IGNORE_INDEX
    near = boundary_map(target, radius=1)[0]
    assert near[:, 3:5].all() and not near[:, :3].any() and not near[:, 5:].any()
    assert not boundary_map(torch.zeros((1, 8, 8), dtype=torch.long), radius=2).any()


def test_boundary_weighting_up_weights_pixels_near_boundaries():
    target = torch.zeros((1, 16, 16), dtype=torch.long)
    target[0, :, 8:] = 1
    target[0, :2] = IGNORE_INDEX
    logits = torch.randn(1, 2, 16, 16)
    ce = torch.nn.functional.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    nearly_off = SegmentationLoss(LossConfig(dice_weight=0, boundary_weight=1e-9), num_classes=2)
    assert nearly_off(logits, target).item() == pytest.approx(ce.item(), rel=1e-5)
    # Wrong only far from the boundary vs wrong only near it: the boundary error now costs more.
    far, near = torch.zeros_like(logits), torch.zeros_like(logits)
    far[0, 1, :, :2] = near[0, 1, :, 6:8] = 5.0
    weighted = SegmentationLoss(LossConfig(dice_weight=0, boundary_weight=4.0), num_classes=2)
    plain = SegmentationLoss(LossConfig(dice_weight=0), num_classes=2)
    assert plain(far, target).item() == pytest.approx(plain(near, target).item(), rel=1e-5)
    assert weighted(near, target).item() > 2 * weighted(far, target).item()
