"""A useless candidate is saved as a version but never made current, and the message says why."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from segdesk.commands.train import finish_training
from segdesk.ml.checkpoint import ModelStore
from segdesk.ml.data import training_set_from_arrays
from segdesk.ml.metrics import SegmentationMetrics
from segdesk.ml.training.promotion import baseline_scores, check_candidate, promote_decision
from segdesk.ml.training.train import TrainResult
from tests.ml._infer_helpers import CLASSES, blob_image, fresh_copy, trained_tiny_model

torch.set_num_threads(1)


def _dataset():
    pairs = [blob_image(96, 96, seed=s) for s in range(4)]
    return training_set_from_arrays([p[0] for p in pairs], [p[1] for p in pairs], CLASSES, val_fraction=0.5)


def _constant(label: int):
    """A model that predicts ``label`` everywhere (what a starved run produced in the app)."""
    net = fresh_copy(trained_tiny_model())
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.copy_(torch.tensor([5.0, -5.0] if label == 0 else [-5.0, 5.0]))
    return net


def _result(model, dataset) -> TrainResult:
    metrics = SegmentationMetrics(CLASSES, [0.8, 0.0], [0.9, 0.0], 0.4, 0.4, 0.8, 100)
    return TrainResult(
        model=model,
        class_names=CLASSES,
        metrics=metrics,
        history=[],
        split=dataset.split,
        images=[s.name for s in dataset.train],
        val_images=[s.name for s in dataset.val],
        steps=5,
        epochs=1,
        elapsed_s=1.0,
        stop_reason="time_budget",
        config={"scale": 1.0},
        device="cpu",
    )


def test_baselines_are_scored():
    ds = _dataset()
    scores = baseline_scores(ds.val, CLASSES)
    assert 0.3 < scores["majority class"] < 0.5  # background everywhere: IoU 1 class of 2, ~0.8 / 2
    assert scores["intensity threshold"] > 0.8  # bright discs on a dark ground


def test_a_model_that_predicts_a_present_class_nowhere_is_useless():
    ds = _dataset()
    verdict = check_candidate(_constant(0), ds.val, CLASSES)
    assert not verdict.useful and verdict.missing == ["cell"]
    assert "'cell' almost nowhere" in verdict.message() and "Label a few more examples" in verdict.message()


def test_a_model_that_calls_every_pixel_the_object_is_useless():
    ds = _dataset()
    # Everything "cell": the background, present everywhere, is predicted nowhere.
    verdict = check_candidate(_constant(1), ds.val, CLASSES)
    assert not verdict.useful and verdict.missing == ["_background_"]


def test_a_trained_model_is_useful():
    ds = _dataset()
    verdict = check_candidate(fresh_copy(trained_tiny_model()), ds.val, CLASSES)
    assert verdict.useful, verdict.message()


def test_a_degenerate_candidate_is_kept_as_a_version_but_not_made_current(tmp_path: Path):
    ds = _dataset()
    store = ModelStore(tmp_path)
    lines: list[str] = []
    good = finish_training(_result(fresh_copy(trained_tiny_model()), ds), ds, store, None, lines.append)
    assert store.current() == good
    bad_result = _result(_constant(0), ds)
    decision = promote_decision(bad_result, ds, store)
    assert not decision.promote and decision.useless
    assert "'cell' almost nowhere" in decision.reason
    bad = finish_training(bad_result, ds, store, good, lines.append)
    assert store.versions() == [good, bad] and store.current() == good
    assert store.info(bad)["promotion"]["useless"] is True
    assert f"saved {bad} but did not make it current; {good} stays current" in lines[-1]
    assert "Label a few more examples" in lines[-1]


def test_with_no_current_model_a_degenerate_candidate_still_is_not_made_current(tmp_path: Path):
    ds = _dataset()
    store = ModelStore(tmp_path)
    lines: list[str] = []
    version = finish_training(_result(_constant(1), ds), ds, store, None, lines.append)
    assert store.versions() == [version] and store.current() is None
    assert "did not make it current" in lines[-1] and "'_background_' almost nowhere" in lines[-1]


def test_the_check_uses_the_working_scale():
    ds = _dataset()
    verdict = check_candidate(fresh_copy(trained_tiny_model()), ds.val, CLASSES, scale=0.5)
    assert verdict.miou > 0.5 and np.isfinite(verdict.miou)


def test_a_candidate_no_better_than_a_trivial_baseline_is_useless():
    from segdesk.ml.metrics import ConfusionMatrix
    from segdesk.ml.training.promotion import judge

    ds = _dataset()
    rng = np.random.default_rng(0)
    noise = ConfusionMatrix(2)
    for s in ds.val:  # both classes predicted, at random: nothing learnt
        noise.update(s.mask, (rng.random(s.mask.shape) < 0.3).astype(np.uint8))
    verdict = judge(noise, ds.val, CLASSES)
    assert not verdict.useful and not verdict.missing
    assert "no better than a trivial majority class" in verdict.reason
    blurred = ConfusionMatrix(2)
    for s in ds.val:  # the discs found, but three pixels too wide all round: far below a threshold
        blurred.update(s.mask, cv2.dilate(s.mask, np.ones((7, 7), np.uint8)))
    verdict = judge(blurred, ds.val, CLASSES)
    assert not verdict.useful and "intensity threshold" in verdict.reason
    assert 0.6 < verdict.miou < 0.7


def test_a_good_candidate_behind_a_threshold_on_easy_images_is_still_useful():
    """Discs one pixel too wide all round (0.85 against a threshold's 1.0) make proposals worth
    correcting: not useless (a 5-image DSB run was refused this way with a 0.86 test mIoU)."""
    from segdesk.ml.metrics import ConfusionMatrix
    from segdesk.ml.training.promotion import USEFUL_MIOU, judge

    ds = _dataset()
    wider = ConfusionMatrix(2)
    for s in ds.val:
        wider.update(s.mask, cv2.dilate(s.mask, np.ones((3, 3), np.uint8)))
    verdict = judge(wider, ds.val, CLASSES)
    assert USEFUL_MIOU < verdict.miou < verdict.baselines["intensity threshold"] - 0.1
    assert verdict.useful, verdict.reason


def _scored_current(monkeypatch, old: float) -> None:
    """The current model scores ``old`` on the held-out images (the candidate: its result's mIoU)."""
    import segdesk.ml.training.promotion as promotion

    real = promotion.evaluate

    def fake_evaluate(*args, **kwargs):
        metrics = real(*args, **kwargs)
        metrics.miou = old
        return metrics

    monkeypatch.setattr(promotion, "evaluate", fake_evaluate)


def test_a_candidate_that_learnt_from_new_images_may_trail_by_what_few_held_out_images_can_tell(
    tmp_path: Path, monkeypatch
):
    from segdesk.ml.training.promotion import HELD_OUT_SPREAD, held_out_tolerance

    ds = _dataset()  # 2 training and 2 held-out images
    store = ModelStore(tmp_path)
    current = finish_training(_result(fresh_copy(trained_tiny_model()), ds), ds, store, None, lambda _: None)
    candidate = _result(fresh_copy(trained_tiny_model()), ds)
    candidate.metrics.miou = 0.80
    tolerance = HELD_OUT_SPREAD / 2**0.5
    _scored_current(monkeypatch, 0.80 + tolerance - 0.01)
    # retrained on the same images: strictly not worse, as before
    ds.known = frozenset(s.name for s in ds.train)
    assert held_out_tolerance(ds) == 0.0
    assert not promote_decision(candidate, ds, store).promote
    # one training image the current model never saw: a small deficit is within the held-out's noise
    ds.known = frozenset({ds.train[0].name})
    assert held_out_tolerance(ds) == tolerance
    decision = promote_decision(candidate, ds, store)
    assert decision.promote and decision.current_version == current
    assert (
        "2 held-out image(s) can tell apart" in decision.reason and "1 reviewed image(s)" in decision.reason
    )
    _scored_current(monkeypatch, 0.80 + tolerance + 0.01)  # beyond it: the current model stays
    assert not promote_decision(candidate, ds, store).promote
