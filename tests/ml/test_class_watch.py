"""A class the network has stopped predicting gets weight until it is learnt, and the run says so."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from segdesk.ml.data import IGNORE_INDEX
from segdesk.ml.model import UNet, UNetConfig
from segdesk.ml.training import train as train_mod
from segdesk.ml.training.class_watch import ClassRescue, ClassWatch, class_hits
from segdesk.ml.training.losses import LossConfig, SegmentationLoss
from segdesk.ml.training.train import TrainConfig, TrainResult, fine_tune
from tests.ml.test_train import TINY, _dataset


def test_class_hits_count_each_class_and_its_correct_arg_max():
    target = torch.tensor([[[0, 0, 1, 2], [2, 2, IGNORE_INDEX, 1]]])
    logits = torch.zeros(1, 3, 2, 4)
    logits[0, 0] = 1.0  # background everywhere ...
    logits[0, 1, 0, 2] = 2.0  # ... but one class-1 pixel right
    hits = class_hits(logits, target)
    assert hits.tolist() == [[2, 2, 3], [2, 1, 0]]
    # The trainer's channels-last logits give the same counts (and so would ties: first class wins).
    many = torch.randn(4, 5, 16, 16)
    labels = torch.randint(0, 5, (4, 16, 16))
    labels[:, :2] = IGNORE_INDEX
    last = many.contiguous(memory_format=torch.channels_last)
    assert torch.equal(class_hits(many, labels), class_hits(last, labels))
    assert class_hits(many, labels)[0].sum() == 4 * 14 * 16


def test_a_class_unpredicted_for_a_window_of_steps_is_lost_and_judged_again_a_window_later():
    watch = ClassWatch(["bg", "cell", "rod"], after_step=6, window=3, min_pixels=10)
    seen = [100, 100, 30]
    learnt, starved = [100, 90, 30], [100, 90, 0]
    assert watch.update([seen, starved], 1) == []
    assert watch.update([seen, starved], 2) == []
    assert watch.update([seen, learnt], 3) == []  # predicted again: the count restarts
    assert watch.update([seen, starved], 4) == []
    assert watch.update([[100, 100, 0], [100, 90, 0]], 5) == []  # no rods in the batch: count kept
    assert watch.update([seen, starved], 6) == []  # 2 starved steps since the restart
    assert watch.update([seen, starved], 7) == [2]
    assert watch.update([seen, starved], 8) == []  # the count starts again ...
    assert watch.update([seen, starved], 9) == []
    assert watch.update([seen, starved], 10) == [2]  # ... and a window later it is lost again
    early = ClassWatch(["bg", "rod"], after_step=10, window=2, min_pixels=10)
    for step in range(1, 10):  # before after_step: counted, not judged
        assert early.update([[100, 30], [100, 0]], step) == []
    assert early.update([[100, 30], [100, 0]], 10) == [1]


def test_a_class_too_small_in_the_batch_is_not_judged():
    watch = ClassWatch(["bg", "rod"], after_step=0, window=2, min_pixels=64)
    for step in range(10):
        assert watch.update([[1000, 20], [1000, 0]], step) == []


def test_the_rescue_balances_the_weights_then_doubles_the_lost_class_up_to_a_cap_and_eases_back():
    loss = SegmentationLoss(LossConfig(), num_classes=3)
    rescue = ClassRescue(
        loss, np.array([900, 90, 10]), ["bg", "cell", "rod"], after_step=0, window=1, min_pixels=10
    )
    lost, fine = [[100, 100, 30], [100, 90, 0]], [[100, 100, 30], [100, 90, 30]]
    rescue.after_step(fine, 1)
    assert loss.weight.numel() == 0 and rescue.note() == ""
    rescue.after_step(lost, 2)
    balanced = list(loss.weights)
    assert balanced[2] > balanced[1] > balanced[0]
    for step in range(3, 10):
        rescue.after_step(lost, step)
    assert loss.weights[:2] == pytest.approx(balanced[:2])
    assert loss.weights[2] == pytest.approx(8 * balanced[2])  # x2, x4, x8, then no further
    assert loss.weight.tolist() == pytest.approx(loss.weights)
    # Learnt again: once its running recall (0.9 / 0.1 per step) is past one half, the boost halves
    # each window (here 1 step) back to the balanced weight, and stays there.
    for step in range(10, 16):
        rescue.after_step(fine, step)
    assert loss.weights[2] == pytest.approx(8 * balanced[2])  # running recall 0.47 after 6 steps
    for step in range(16, 25):
        rescue.after_step(fine, step)
    assert loss.weights == pytest.approx(balanced)
    assert rescue.note() == (
        "'rod' was not being learnt (predicted on almost none of its pixels for 1 steps): "
        "at step 2 balanced class weights, "
        "at step 3 its weight x2, at step 4 its weight x4, at step 5 its weight x8, "
        "at step 16 back to x4, at step 17 back to x2, at step 18 back to x1"
    )


def test_weights_already_set_are_raised_for_the_lost_class_only():
    loss = SegmentationLoss(LossConfig(class_weights=(1.0, 1.0, 2.0)), num_classes=3)
    rescue = ClassRescue(
        loss, np.array([900, 90, 10]), ["bg", "cell", "rod"], after_step=0, window=1, min_pixels=10
    )
    rescue.after_step([[100, 100, 30], [0, 90, 20]], 1)
    assert loss.weights == [2.0, 1.0, 2.0]


def test_balanced_weights_can_be_switched_on_mid_run():
    loss = SegmentationLoss(LossConfig(), num_classes=3)
    assert loss.weight.numel() == 0
    loss.use_balanced_weights(np.array([900, 90, 10]))
    assert (
        loss.weight.tolist() == pytest.approx(loss.weights)
        and loss.weights[2] > loss.weights[1] > loss.weights[0]
    )
    assert "weight" in dict(loss.named_buffers())
    logits, target = torch.randn(1, 3, 4, 4), torch.randint(0, 3, (1, 4, 4))
    assert torch.isfinite(loss(logits, target))


def _starting_model(n_classes: int) -> UNet:
    """A model that can never predict class 2: its head row for it sits far below the others."""
    torch.manual_seed(0)
    model = UNet(UNetConfig(num_classes=n_classes, base_width=8, depth=2))
    with torch.no_grad():
        model.head.weight[2] = 0.0
        model.head.bias[2] = -50.0
    return model


@pytest.fixture(autouse=True)
def _short_watch(monkeypatch):
    """Judged from step 20 over windows of 12 (60 and 24 by default): the tiny runs stay short."""
    monkeypatch.setattr(train_mod, "ClassRescue", functools.partial(ClassRescue, after_step=20, window=12))


def _train(*, suppressed: bool = True, **config) -> TrainResult:
    ds = _dataset(3)
    cfg = TrainConfig(minutes=None, max_epochs=8, patience=0, **{**TINY, "depth": 2, **config})
    events = list(fine_tune(ds, cfg, model=_starting_model(3) if suppressed else None))
    return events[-1]


def test_a_run_that_loses_a_class_weights_it_and_says_so(monkeypatch):
    # lr 0: the model cannot learn class 'b', so the watch must notice it (32 steps: 8 x 16 / 4):
    # balanced weights at step 20 (judged from then on), x2 at step 32.
    switched = []
    original = SegmentationLoss.set_weights
    monkeypatch.setattr(
        SegmentationLoss, "set_weights", lambda self, w: (switched.append(list(w)), original(self, w))[1]
    )
    result = _train(lr=0.0)
    assert len(switched) == 2 and switched[1][2] == pytest.approx(2 * switched[0][2])
    assert result.note == (
        "'b' was not being learnt (predicted on almost none of its pixels for 12 steps): "
        "at step 20 balanced class weights, at step 32 its weight x2"
    )
    assert result.meta()["training"]["note"] == result.note


def test_a_contact_band_is_never_judged():
    watch = ClassWatch(["_background_", "nucleus", "nucleus::boundary"], after_step=0, window=1)
    assert watch.update([[1000, 500, 200], [1000, 500, 0]], 1) == []
    assert watch.update([[1000, 500, 200], [1000, 0, 0]], 2) == [1]


def test_a_run_that_learns_every_class_is_left_alone():
    assert _train(suppressed=False).note == ""


def test_the_watch_can_be_turned_off():
    assert _train(lr=0.0, class_watch=False).note == ""
