"""The schedule: epoch length, warmup + cosine with its floor, the weight average."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segdesk.ml.data import TrainingSet, training_set_from_arrays
from segdesk.ml.model import UNet, UNetConfig
from segdesk.ml.training.schedule import WeightAverage, epoch_length, lr_at, steps_per_epoch
from segdesk.ml.training.train import TrainConfig

torch.set_num_threads(1)


def _set(n_images: int, size: int) -> TrainingSet:
    image = np.zeros((size, size), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[: size // 2] = 1
    return training_set_from_arrays([image] * n_images, [mask] * n_images, ["bg", "a"], val_fraction=0)


def test_epoch_length_covers_the_pixels_about_four_times_within_bounds():
    cfg = TrainConfig(patch_size=256, batch_size=4)
    assert epoch_length(_set(4, 512), cfg) == 64 and steps_per_epoch(_set(4, 512), cfg) == 16
    assert epoch_length(_set(1, 64), cfg) == 32  # small data: at least 32 patches
    assert epoch_length(_set(1, 64), TrainConfig(patch_size=256, batch_size=5)) == 30  # whole batches
    assert epoch_length(_set(1, 64), TrainConfig(patches_per_epoch=10, batch_size=4)) == 8


def test_lr_warms_up_then_follows_the_cosine_down_to_its_floor():
    cfg = TrainConfig(lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(cfg, 0, 0.0) == pytest.approx(1e-4)
    assert lr_at(cfg, 9, 0.0) == pytest.approx(1e-3)
    assert lr_at(cfg, 100, 0.5) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert lr_at(cfg, 100, 1.0) == pytest.approx(1e-4) == lr_at(cfg, 100, 3.0)
    lrs = [lr_at(cfg, s, s / 100) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_weight_average_follows_the_model_and_copies_counters():
    model = UNet(UNetConfig(num_classes=2, base_width=2, depth=1))
    average = WeightAverage(model, decay=0.5)
    start = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model.inc[1].num_batches_tracked += 7
    average.update(model, step=1000)  # past the ramp: decay 0.5
    for p_avg, p0 in zip(average.model.parameters(), start, strict=True):
        torch.testing.assert_close(p_avg, p0 + 0.5)
    assert int(average.model.inc[1].num_batches_tracked) == 7
    average.update(model, step=0)  # the ramp: decay (1 + 0) / (10 + 0) = 0.1
    for p_avg, p0 in zip(average.model.parameters(), start, strict=True):
        torch.testing.assert_close(p_avg, p0 + 0.95)
    assert not any(p.requires_grad for p in average.model.parameters())
