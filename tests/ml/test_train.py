"""The trainer: overfits tiny data, cancels fast, grows heads, fails clearly, is repeatable."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import torch

from segdesk.core.errors import Cancelled, TrainingError
from segdesk.ml.data import IGNORE_INDEX, TrainingSet, make_sample, training_set_from_arrays
from segdesk.ml.model import UNet, UNetConfig
from segdesk.ml.training import train as train_mod
from segdesk.ml.training.augment import NO_AUGMENTATION
from segdesk.ml.training.evaluate import evaluate
from segdesk.ml.training.losses import SegmentationLoss
from segdesk.ml.training.setup import adapt_head, resolve_device
from segdesk.ml.training.train import EpochEnd, TrainConfig, TrainProgress, TrainResult, fine_tune

torch.set_num_threads(1)
TINY = dict(patch_size=64, batch_size=4, base_width=8, depth=2, patches_per_epoch=16, device="cpu")


def _blobs(seed: int, n_classes: int = 2, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    mask = np.zeros((size, size), np.uint8)
    for k in range(5):
        cy, cx = rng.integers(8, size - 8, 2)
        r = int(rng.integers(5, 10))
        mask[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 1 + k % (n_classes - 1)
    levels = np.array([50, 170, 110, 230])[:n_classes]
    image = (levels[mask] + rng.normal(0, 12, mask.shape)).clip(0, 255).astype(np.uint8)
    return image, mask


def _dataset(n_classes: int = 2, names: list[str] | None = None) -> TrainingSet:
    pairs = [_blobs(s, n_classes) for s in (0, 1)]
    names = names or ["_background_", "a", "b", "c"][:n_classes]
    return training_set_from_arrays([p[0] for p in pairs], [p[1] for p in pairs], names)


def _run(dataset: TrainingSet, config: TrainConfig, **kwargs) -> tuple[TrainResult, list]:
    events = list(fine_tune(dataset, config, **kwargs))
    assert isinstance(events[-1], TrainResult)
    return events[-1], events


def test_overfits_two_small_images_within_seconds():
    ds = _dataset()
    result, events = _run(ds, TrainConfig(minutes=None, max_epochs=24, patience=0, warmup_steps=5, **TINY))
    # 96 steps with the default augmentation (seeds 0-3 all reach > 0.96): ~7 s on an idle 2-core
    # CPU; the time bound is generous for a machine shared with other work.
    assert result.elapsed_s < 30
    metrics = evaluate(result.model, ds.train, ds.class_names)
    assert min(metrics.iou) > 0.95, metrics.summary()
    assert result.split == "all-for-both" and result.metrics.miou > 0.95
    progress = [e for e in events if isinstance(e, TrainProgress)]
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert progress and epochs and result.epochs == len(epochs)
    first = progress[0]
    assert first.step == 1 and first.lr == pytest.approx(TrainConfig().lr / 5, rel=0.05)
    assert all(p.patches_per_s > 0 and p.eta_s >= 0 for p in progress)
    assert result.meta()["metrics"]["split"] == "all-for-both"
    assert not result.model.training and next(result.model.parameters()).device.type == "cpu"


def test_cancel_stops_within_one_second():
    ds = _dataset()
    cancel = threading.Event()
    set_at: list[float] = []

    def fire() -> None:
        set_at.append(time.perf_counter())
        cancel.set()

    timer = threading.Timer(0.6, fire)
    config = TrainConfig(minutes=1.0, **{**TINY, "patch_size": 128, "base_width": 16, "depth": 3})
    with pytest.raises(Cancelled):
        timer.start()
        for _ in fine_tune(ds, config, cancel):
            pass
    stopped = time.perf_counter()
    timer.join()
    assert set_at and stopped - set_at[0] < 1.0


def test_threads_are_limited_while_training_and_restored():
    before = torch.get_num_threads()
    seen = []
    for event in fine_tune(_dataset(), TrainConfig(minutes=None, max_epochs=1, threads=1, **TINY)):
        seen.append(torch.get_num_threads())
        assert event is not None
    assert set(seen) == {1} and torch.get_num_threads() == before


def test_seeded_runs_are_repeatable():
    cfg = TrainConfig(minutes=None, max_epochs=2, seed=3, **TINY)
    a, _ = _run(_dataset(), cfg)
    b, _ = _run(_dataset(), cfg)
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka


def test_fine_tune_grows_a_head_for_added_classes():
    first, _ = _run(_dataset(2), TrainConfig(minutes=None, max_epochs=2, **TINY))
    ds3 = _dataset(3)
    result, _ = _run(
        ds3,
        TrainConfig(minutes=None, max_epochs=1, lr=1e-9, warmup_steps=1, **TINY),
        model=first.model,
        model_classes=first.class_names,
    )
    assert result.model.config.num_classes == 3 and result.class_names == ds3.class_names
    # With a negligible learning rate the kept rows are still the old model's.
    torch.testing.assert_close(result.model.head.weight[:2], first.model.head.weight, atol=1e-5, rtol=0)
    assert first.model.config.num_classes == 2  # the given model is not modified


def test_adapt_head_matches_rows_by_name():
    model = UNet(UNetConfig(num_classes=3, base_width=4, depth=1))
    old = model.head.weight.detach().clone()
    adapt_head(model, ["bg", "cat", "dog"], ["bg", "dog", "bird", "cat"])
    w = model.head.weight.detach()
    assert w.shape[0] == 4
    torch.testing.assert_close(w[0], old[0])
    torch.testing.assert_close(w[1], old[2])
    torch.testing.assert_close(w[3], old[1])
    assert not torch.equal(w[2], old[2])


def test_errors_no_images_one_class_nan():
    names = ["_background_", "a"]
    with pytest.raises(TrainingError, match="no reviewed images"):
        next(fine_tune(TrainingSet(names, [], []), TrainConfig(**TINY)))
    only_bg = make_sample(np.zeros((32, 32), np.uint8), np.zeros((32, 32)), name="x.png")
    with pytest.raises(TrainingError, match="only _background_"):
        next(fine_tune(TrainingSet(names, [only_bg], [only_bg]), TrainConfig(**TINY)))
    ignored = make_sample(np.zeros((32, 32), np.uint8), np.full((32, 32), IGNORE_INDEX), name="x.png")
    with pytest.raises(TrainingError, match="only no class"):
        next(fine_tune(TrainingSet(names, [ignored], [ignored]), TrainConfig(**TINY)))


def test_nan_loss_is_a_training_error(monkeypatch):
    class NanLoss(SegmentationLoss):
        def forward(self, logits, target):
            return super().forward(logits, target) * float("nan")

    monkeypatch.setattr(train_mod, "SegmentationLoss", NanLoss)
    with pytest.raises(TrainingError, match="loss became nan"):
        list(fine_tune(_dataset(), TrainConfig(minutes=None, max_epochs=1, **TINY)))


def test_ignore_pixels_do_not_train():
    """A region marked ignore with a wrong label never changes what the model learns there."""
    image, mask = _blobs(0)
    lying = mask.copy()
    lying[:, :32] = IGNORE_INDEX
    ds = training_set_from_arrays([image], [lying], ["_background_", "a"])
    cfg = TrainConfig(minutes=None, max_epochs=1, augment=NO_AUGMENTATION, **TINY)
    result, _ = _run(ds, cfg)
    assert result.metrics.pixels == 64 * 32  # validation counts only the non-ignored half


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(TrainingError, match="expected one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_mixed_precision_trains():
    result, _ = _run(_dataset(), TrainConfig(minutes=0.1, **{**TINY, "device": "cuda"}))
    assert result.device.startswith("cuda") and result.metrics.miou > 0.8


def test_fine_tune_never_returns_worse_than_its_start(monkeypatch):
    start, _ = _run(_dataset(), TrainConfig(minutes=None, max_epochs=1, **TINY))
    real = train_mod._Trainer.score
    scores = iter([0.9, 0.5, 0.6])  # epoch 0 (the start) scores best

    def fake_score(self, model):
        metrics = real(self, model)
        metrics.miou = next(scores)
        return metrics

    monkeypatch.setattr(train_mod._Trainer, "score", fake_score)
    result, events = _run(
        _dataset(),
        TrainConfig(minutes=None, max_epochs=2, **TINY),
        model=start.model,
        model_classes=start.class_names,
    )
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [0, 1, 2]
    assert result.metrics.miou == 0.9 and result.history[0]["epoch"] == 0
    assert result.history[0]["train_loss"] is None
    json.dumps(result.meta(), allow_nan=False)  # what save_checkpoint writes must be strict JSON
    for key, value in start.model.state_dict().items():
        assert torch.equal(result.model.state_dict()[key], value), key


def test_costly_validation_is_skipped_under_a_time_budget_but_the_last_epoch_validates(monkeypatch):
    real = train_mod._Trainer.score

    def slow_score(self, model):
        time.sleep(0.2)  # validation worth many training steps of this tiny model
        return real(self, model)

    monkeypatch.setattr(train_mod._Trainer, "score", slow_score)
    config = TrainConfig(minutes=0.04, patience=0, val_max_share=0.05, **{**TINY, "patches_per_epoch": 4})
    result, events = _run(_dataset(), config)
    validated = [e.epoch for e in events if isinstance(e, EpochEnd)]
    assert validated[0] == 1 and validated[-1] == result.epochs
    assert len(validated) < result.epochs / 2, (validated, result.epochs)
    assert [h["epoch"] for h in result.history] == validated


def test_a_warm_starts_untrained_start_never_competes_even_without_a_minimum():
    # min_steps 0 (a TrainConfig without a plan: fine_tune called directly; the app and the CLI always
    # plan a minimum) once let epoch 0 compete: on these tiny images no trained epoch scored higher,
    # so the untrained start, a fresh head on the generalist, was returned.
    model = UNet(UNetConfig(num_classes=2, base_width=8, depth=2))
    start = {k: v.detach().clone() for k, v in model.named_parameters()}
    config = TrainConfig(minutes=None, max_epochs=2, patience=0, plan={"warm_start": "g"}, **TINY)
    result, _ = _run(_dataset(), config, model=model)
    assert result.history[0]["step"] == 0  # the start was scored ...
    assert not torch.equal(dict(result.model.named_parameters())["head.weight"], start["head.weight"])
    own = TrainConfig(minutes=None, max_epochs=2, patience=0, **TINY)  # ... a project's own model competes
    result, _ = _run(_dataset(), own, model=model)
    assert result.history[0]["step"] == 0


def test_the_start_does_not_compete_when_images_it_never_saw_train(monkeypatch):
    """The app's loop on DSB dev: the model of the first 2 reviewed images won every later retrain on
    the held-out images. A start that has not seen every training image is no candidate."""
    start, _ = _run(_dataset(), TrainConfig(minutes=None, max_epochs=1, **TINY))
    real = train_mod._Trainer.score

    def scripted(scores):
        it = iter(scores)

        def fake_score(self, model):
            metrics = real(self, model)
            metrics.miou = next(it)
            return metrics

        monkeypatch.setattr(train_mod._Trainer, "score", fake_score)

    config = TrainConfig(minutes=None, max_epochs=2, **TINY)
    grown = _dataset()
    grown.known = frozenset({grown.train[0].name})  # the start trained on one of the two images
    assert grown.new_images == [grown.train[1].name]
    scripted([0.9, 0.5, 0.6])  # epoch 0 (the start) scores best
    result, _ = _run(grown, config, model=start.model, model_classes=start.class_names)
    assert result.metrics.miou == 0.6
    same = _dataset()
    same.known = frozenset(s.name for s in same.train)  # nothing new: the start competes as before
    scripted([0.9, 0.5, 0.6])
    result, _ = _run(same, config, model=start.model, model_classes=start.class_names)
    assert result.metrics.miou == 0.9
