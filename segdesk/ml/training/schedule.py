"""The training schedule: epoch length, learning rate over the run, time estimates.

Kept apart from the trainer so the schedule can be read (and tested) on its own.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import torch

from segdesk.ml.data import TrainingSet


class ScheduleConfig(Protocol):
    """The TrainConfig fields the schedule reads."""

    lr: float
    warmup_steps: int
    min_lr_ratio: float
    patch_size: int
    batch_size: int
    patches_per_epoch: int


def epoch_length(dataset: TrainingSet, config: ScheduleConfig) -> int:
    """Patches per epoch: ``patches_per_epoch``, or about 4 coverages of the training pixels (32..512).

    Always a whole number of batches (at least one).
    """
    length = config.patches_per_epoch
    if length <= 0:
        pixels = sum(s.mask.size for s in dataset.train)
        length = int(np.clip(4 * pixels / config.patch_size**2, 32, 512))
    return max(config.batch_size, length // config.batch_size * config.batch_size)


def steps_per_epoch(dataset: TrainingSet, config: ScheduleConfig) -> int:
    """Optimizer steps in one epoch."""
    return epoch_length(dataset, config) // config.batch_size


def lr_at(config: ScheduleConfig, step: int, fraction: float) -> float:
    """Linear warmup over ``warmup_steps``, then cosine from ``lr`` down to ``lr * min_lr_ratio``.

    ``fraction`` is how far the run is (0..1, by time or by steps).
    """
    warm = min(1.0, (step + 1) / max(config.warmup_steps, 1))
    fraction = min(max(fraction, 0.0), 1.0)
    cos = config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * fraction))
    return config.lr * warm * cos


def eta(budget: float, elapsed: float, step: int, total_steps: int) -> float:
    """Seconds left: the time budget or the remaining epochs at the current speed, the sooner."""
    by_steps = (total_steps - step) * elapsed / max(step, 1)
    return max(min(budget - elapsed, by_steps), 0.0)


class StepsConfig(Protocol):
    min_steps: int
    target_steps: int


def run_fraction(config: StepsConfig, step: int, elapsed: float, budget: float) -> float:
    """How far the run is (0..1) for the learning-rate schedule.

    By steps over ``target_steps`` when set, and by the clock over ``budget``; the clock can bring
    the end forward but never before ``min_steps`` (those are trained whatever the load), so the
    cosine decays completely by the step the run will actually stop at.
    """
    by_time = elapsed / max(budget, 1e-6) if math.isfinite(budget) else 0.0
    if config.min_steps > 0:
        by_time = min(by_time, step / config.min_steps)
    by_steps = step / config.target_steps if config.target_steps > 0 else 0.0
    return max(by_time, by_steps)


def steps_eta(config: StepsConfig, budget: float, elapsed: float, step: int, total_steps: int) -> float:
    """Seconds left, from the measured time per step: to ``target_steps`` (or the epochs' steps),
    no later than the budget, and no sooner than ``min_steps`` need."""
    per_step = elapsed / max(step, 1)
    end = config.target_steps if config.target_steps > 0 else total_steps
    by_steps = (end - step) * per_step
    left = min(budget - elapsed, by_steps)
    left = max(left, (config.min_steps - step) * per_step)
    return max(left, 0.0)


class WeightAverage:
    """An exponential moving average of a model's weights (and BatchNorm statistics).

    ``model`` is a copy that holds the average; validate and keep it instead of the raw weights.
    The decay ramps up as ``(1 + step) / (10 + step)`` so the average is not dominated by the
    random start in a short run.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        import copy

        self.decay = decay
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)
        self._avg, self._copy = _split_state(self.model)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        src_avg, src_copy = _split_state(model)
        torch._foreach_lerp_(self._avg, src_avg, 1.0 - decay)
        for dst, src in zip(self._copy, src_copy, strict=True):
            dst.copy_(src)


def _split_state(model: torch.nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The state's floating tensors (averaged) and the others (copied, e.g. BN batch counters)."""
    state = model.state_dict(keep_vars=False)
    floats = [t for t in state.values() if t.is_floating_point()]
    others = [t for t in state.values() if not t.is_floating_point()]
    return floats, others
