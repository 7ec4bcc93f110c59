"""Training stops on the model, not the clock: the minimum steps hold however slow the machine is."""

from __future__ import annotations

import types

import torch

import segdesk.ml.training.train as train_mod
from segdesk.ml.data import training_set_from_arrays
from segdesk.ml.training.schedule import run_fraction, steps_eta
from segdesk.ml.training.train import TrainConfig, TrainProgress, TrainResult, fine_tune
from tests.ml._infer_helpers import CLASSES, blob_image

torch.set_num_threads(1)


class SlowClock:
    """A clock on which every reading is ``tick`` seconds after the previous one (a very busy CPU)."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def perf_counter(self) -> float:
        self.now += self.tick
        return self.now


def _dataset():
    pairs = [blob_image(64, 64, seed=s) for s in range(3)]
    return training_set_from_arrays([p[0] for p in pairs], [p[1] for p in pairs], CLASSES)


def _config(**kw):
    base = dict(
        minutes=0.5,
        patch_size=32,
        batch_size=2,
        patches_per_epoch=8,
        base_width=4,
        depth=2,
        device="cpu",
        patience=1,
        progress_interval_s=0.0,
    )
    return TrainConfig(**{**base, **kw})


def test_minimum_steps_are_trained_under_a_slowed_clock_and_the_cap_says_it_cut(monkeypatch):
    clock = SlowClock(tick=20.0)  # the 30 s budget is gone after two readings
    monkeypatch.setattr(train_mod, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    events = list(fine_tune(_dataset(), _config(min_steps=24, target_steps=60)))
    result = events[-1]
    assert isinstance(result, TrainResult)
    assert result.steps == 24 and result.stop_reason == "time_budget"
    assert "cap stopped training after 24 of 60 planned steps" in result.note
    assert result.meta()["training"]["note"] == result.note
    # The learning rate decays completely by the step the run stops at (the clock ran out).
    lrs = [e.lr for e in events if isinstance(e, TrainProgress)]
    assert lrs[-1] < 0.1 * max(lrs)


def test_without_a_minimum_the_same_clock_stops_at_once(monkeypatch):
    clock = SlowClock(tick=20.0)
    monkeypatch.setattr(train_mod, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    result = list(fine_tune(_dataset(), _config()))[-1]
    assert result.steps < 24 and result.stop_reason == "time_budget"


def test_target_steps_end_a_quiet_run_and_patience_waits_for_the_minimum():
    result = list(fine_tune(_dataset(), _config(minutes=60.0, min_steps=16, target_steps=20)))[-1]
    assert result.stop_reason in ("target_steps", "early_stopping")
    assert 16 <= result.steps <= 20


def test_schedule_and_eta_count_steps():
    cfg = TrainConfig(min_steps=100, target_steps=400)
    assert run_fraction(cfg, 50, elapsed=1000.0, budget=60.0) == 0.5  # busy: the minimum sets the pace
    assert run_fraction(cfg, 200, elapsed=10.0, budget=60.0) == 0.5  # quiet: steps over the target
    # 1 s a step: 350 steps left to the target, but the 60 s cap comes first; the minimum is never cut.
    assert steps_eta(cfg, 60.0, elapsed=50.0, step=50, total_steps=10**6) == 50.0
    assert steps_eta(cfg, 60.0, elapsed=10.0, step=10, total_steps=10**6) == 90.0  # 90 steps to the minimum
    assert steps_eta(cfg, 600.0, elapsed=10.0, step=10, total_steps=10**6) == 390.0


def _scripted_scores(monkeypatch, scores: list[float]) -> None:
    """Validation returns ``scores`` in turn (the held-out images' mIoU of each epoch)."""
    from segdesk.ml.metrics import SegmentationMetrics

    left = list(scores)

    def score(self, model):
        m = left.pop(0)
        return SegmentationMetrics(list(CLASSES), [m, m], [m, m], m, m, m, 1)

    monkeypatch.setattr(train_mod._Trainer, "score", score)


def test_epochs_before_the_minimum_steps_do_not_compete_for_the_kept_model(monkeypatch):
    # 4 steps an epoch; the minimum is reached at the end of epoch 3. A lucky validation at epoch 1
    # (high learning rate, half-trained) must not be the model returned.
    _scripted_scores(monkeypatch, [0.9, 0.3, 0.5, 0.4])
    cfg = _config(minutes=60.0, min_steps=12, target_steps=16, patience=0)
    result = list(fine_tune(_dataset(), cfg))[-1]
    assert result.steps == 16 and [h["val_miou"] for h in result.history] == [0.9, 0.3, 0.5, 0.4]
    assert result.metrics.miou == 0.5  # the first epoch at the minimum, not epoch 1's 0.9


def test_a_fine_tunes_starting_model_still_competes(monkeypatch):
    from segdesk.ml.model import UNet, UNetConfig

    start = UNet(UNetConfig(num_classes=len(CLASSES), base_width=4, depth=2))
    _scripted_scores(monkeypatch, [0.7, 0.9, 0.3, 0.5, 0.6])  # epoch 0 is the starting model
    cfg = _config(minutes=60.0, min_steps=12, target_steps=16, patience=0)
    result = list(fine_tune(_dataset(), cfg, model=start, model_classes=CLASSES))[-1]
    assert result.metrics.miou == 0.7


def test_a_warm_starts_fresh_head_never_competes(monkeypatch):
    """The generalist with a new head (the plan records ``warm_start``) is validated, for the chart,
    but never kept: the first epoch at the minimum replaces it."""
    import dataclasses

    from segdesk.ml.model import UNet, UNetConfig

    start = UNet(UNetConfig(num_classes=len(CLASSES), base_width=4, depth=2))
    _scripted_scores(monkeypatch, [0.95, 0.9, 0.3, 0.5, 0.6])
    cfg = _config(minutes=60.0, min_steps=12, target_steps=16, patience=0)
    cfg = dataclasses.replace(cfg, plan={"warm_start": "generalist-test"})
    result = list(fine_tune(_dataset(), cfg, model=start, model_classes=CLASSES))[-1]
    assert [h["val_miou"] for h in result.history][0] == 0.95 and result.metrics.miou == 0.6


def test_without_a_minimum_the_best_epoch_is_kept(monkeypatch):
    _scripted_scores(monkeypatch, [0.9, 0.3, 0.5, 0.4])
    cfg = _config(minutes=None, max_epochs=4, patience=0)
    assert list(fine_tune(_dataset(), cfg))[-1].metrics.miou == 0.9
