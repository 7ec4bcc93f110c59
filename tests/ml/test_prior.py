"""The rare classes' taught odds, undone as far as the held-out images ask (``ml/training/prior.py``)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from segdesk.ml.data import TrainingSet, make_sample
from segdesk.ml.metrics import SegmentationMetrics
from segdesk.ml.model import UNet, UNetConfig
from segdesk.ml.training import prior
from segdesk.ml.training import train as train_mod
from segdesk.ml.training.events import Checking
from segdesk.ml.training.losses import LossConfig
from segdesk.ml.training.train import TrainConfig, TrainResult, fine_tune
from tests.ml.test_train import TINY

torch.set_num_threads(1)


def _metrics(miou: float) -> SegmentationMetrics:
    return SegmentationMetrics(["a", "b"], [miou, miou], [miou, miou], miou, miou, miou, 100)


def _scored(mious, found=(5, 5, 5, 5, 5)):
    return [_metrics(m) for m in mious], np.array(found)


def test_held_out_objects_found_per_offset():
    names = ["_background_", "nucleus", "nucleus::boundary", "speck"]
    mask = np.zeros((40, 40), np.uint8)
    mask[2:8, 2:8] = 1  # a nucleus ...
    mask[2:8, 8] = 2  # ... whose contact band counts as nucleus
    mask[2:8, 9:14] = 1
    mask[20:30, 20:30] = 1  # another nucleus
    mask[35:37, 35:37] = 3  # a speck of 4 px: too small to count
    sample = make_sample(np.zeros((40, 40), np.uint8), mask)
    found = prior.FoundObjects(names, 3, majority=0)
    hit_one = np.zeros_like(mask)
    hit_one[4, 10] = 2  # the boundary class predicted inside the first nucleus finds it
    found(0, sample, mask.astype(np.int64))  # the truth itself: both nuclei
    found(1, sample, hit_one.astype(np.int64))
    found(2, sample, np.zeros_like(mask, dtype=np.int64))
    np.testing.assert_array_equal(found.found, [2, 1, 0])
    # Background (the majority) is no object, nor is the 4-px speck: only the nucleus class counts.
    assert [c for c, _ in found.objects(id(sample), mask)] == [1]


def test_the_shift_is_weight_times_patch_share_over_image_share():
    s = prior.prior_shift(
        ["bg", "scratch", "pit"], np.array([990, 9, 1]), np.array([900, 80, 20]), [0.5, 1, 2]
    )
    np.testing.assert_allclose(s, [0.5 * 0.9 / 0.99, 1 * 0.08 / 0.009, 2 * 0.02 / 0.001])
    # No weights: the patches alone; a class in no patch or no image keeps 1.
    s = prior.prior_shift(["bg", "a", "b"], np.array([90, 10, 0]), np.array([80, 20, 0]), None)
    np.testing.assert_allclose(s, [80 / 90, 2.0, 1.0])


def test_a_boundary_class_shares_its_class_shift():
    names = ["_background_", "nucleus", "nucleus::boundary"]
    s = prior.prior_shift(names, np.array([900, 90, 10]), np.array([700, 250, 50]), None)
    assert s[1] == s[2] == pytest.approx(0.3 / 0.1)
    assert s[0] == pytest.approx(0.7 / 0.9)


def test_the_best_fraction_is_chosen_only_when_it_gains():
    shift = np.array([0.5, 8.0])
    seen = []

    def score(offsets):
        seen.extend(offsets)
        return [_metrics(m) for m in (0.60, 0.64, 0.70, 0.66, 0.61)], np.full(5, 7)

    choice = prior.choose(shift, score)
    assert choice is not None and choice.fraction == 0.5
    np.testing.assert_allclose(choice.offsets, [0.0, -0.5 * np.log(16.0)], atol=1e-5)  # ratios only
    assert torch.equal(seen[0], torch.zeros(2))
    assert choice.held_out == {"0": 0.6, "0.25": 0.64, "0.5": 0.7, "0.75": 0.66, "1": 0.61}
    assert "0.600 -> 0.700" in choice.note() and choice.metrics.miou == 0.70
    # A gain under MIN_GAIN, or the model as trained best: nothing changes.
    assert prior.choose(shift, lambda o: _scored((0.6, 0.603, 0.6, 0.6, 0.6))) is None
    assert prior.choose(shift, lambda o: _scored((0.7, 0.6, 0.6, 0.6, 0.6))) is None
    # A fraction that loses a held-out object the model as trained found is never chosen.
    choice = prior.choose(shift, lambda o: _scored((0.60, 0.64, 0.70, 0.72, 0.61), found=(9, 9, 9, 8, 7)))
    assert choice is not None and choice.fraction == 0.5
    assert choice.to_dict()["held_out_objects_found"] == {"0": 9, "0.25": 9, "0.5": 9, "0.75": 8, "1": 7}
    # Shifts within 1.25x of each other: nothing is even scored.
    assert prior.choose(np.array([0.95, 1.1]), lambda o: pytest.fail("scored")) is None
    assert prior.choose(np.array([4.0, 4.5]), lambda o: pytest.fail("scored")) is None


def test_a_class_the_held_out_images_lack_keeps_its_odds_against_the_majority():
    names = ["_background_", "scratch", "pit", "pit::boundary"]
    held_out = [np.array([[0, 1], [0, 0]]), np.array([[0, 0], [3, 3]])]  # a pit only by its boundary
    judged = prior.held_out_classes(names, held_out)
    np.testing.assert_array_equal(judged, [True, True, True, True])
    judged = prior.held_out_classes(names, held_out[:1])
    np.testing.assert_array_equal(judged, [True, True, False, False])
    shift = prior.judged_shift(np.array([0.02, 5.0, 30.0, 30.0]), judged, majority=0)
    np.testing.assert_allclose(shift, [0.02, 5.0, 0.02, 0.02])
    choice = prior.choose(shift, lambda offsets: _scored((0.5, 0.6, 0.55, 0.5, 0.5)))
    assert choice is not None and choice.offsets[2] == choice.offsets[3] == choice.offsets[0] == 0.0


def test_baked_offsets_shift_the_logits_exactly():
    model = UNet(UNetConfig(num_classes=3, base_width=8, depth=2)).eval()
    x = torch.randn(1, 3, 32, 32)
    before = model(x)
    prior.bake(model, [0.0, -1.5, 0.25])
    torch.testing.assert_close(
        model(x) - before, torch.tensor([0.0, -1.5, 0.25])[None, :, None, None].expand_as(before)
    )


def _rare_class_set(n: int = 5) -> TrainingSet:
    """Grey 96 x 96 fields of noise with one or two small bright specks (the rare class)."""
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        image = rng.normal(100, 25, (96, 96)).clip(0, 255)
        mask = np.zeros((96, 96), np.uint8)
        for _ in range(1 + i % 2):
            y, x = rng.integers(8, 88, 2)
            mask[y - 3 : y + 3, x - 3 : x + 3] = 1
        image[mask == 1] += 70
        samples.append(make_sample(image.clip(0, 255).astype(np.uint8), mask, name=f"f{i}.png"))
    return TrainingSet(["_background_", "speck"], samples[:-2], samples[-2:], "held-out")


def _train(ds: TrainingSet, *, weight: float = 4.0, crops: float = 0.5, **kw) -> TrainResult:
    config = TrainConfig(
        patience=0,
        class_crop_p=crops,
        loss=LossConfig(class_weights=(1.0, weight)),
        **{**TINY, "patch_size": 32, **kw},
    )
    *_, result = fine_tune(ds, config)
    return result


def test_a_model_taught_to_see_specks_everywhere_has_its_odds_lowered_and_says_so():
    ds = _rare_class_set()
    plain = _train(ds, minutes=None, max_epochs=12, prior_correction=False)
    assert plain.prior is None
    # The speck's logit raised by 2.5 (what heavy weights and speck-centred crops teach): specks
    # everywhere. A run that does not change the weights (lr 0) but shows specks that often and
    # weighs them 40x measures a shift of about e^5 and finds that half of it is what was added.
    inflated = plain.model
    with torch.no_grad():
        inflated.head.bias[1] += 2.5
    config = TrainConfig(
        minutes=None,
        max_epochs=1,
        lr=0.0,
        patience=0,
        class_crop_p=1.0,
        loss=LossConfig(class_weights=(1.0, 40.0)),
        **{**TINY, "patch_size": 32},
    )
    # Kept as it started (the starting model wins its epoch 0): taught nothing, so nothing undone.
    *events, kept = fine_tune(ds, config, model=copy.deepcopy(inflated), model_classes=ds.class_names)
    assert kept.prior is None and not [e for e in events if isinstance(e, Checking)]
    torch.testing.assert_close(kept.model.head.bias, inflated.head.bias)
    # Its images new to it, the start does not compete: the trained epoch is kept and corrected.
    ds = dataclasses.replace(ds, known=frozenset({"another.png"}))
    *events, result = fine_tune(ds, config, model=inflated, model_classes=ds.class_names)
    assert events[-1] == Checking("prior", 2)  # the panel says what the last seconds are for
    assert result.prior is not None
    assert result.prior["fraction"] > 0 and result.prior["offsets"][1] < -1.0
    held_out = result.prior["held_out_miou"]
    assert result.metrics.miou == pytest.approx(max(held_out.values()), abs=1e-5)
    assert result.metrics.miou >= held_out["0"] + prior.MIN_GAIN
    assert result.meta()["training"]["prior"] == result.prior
    assert "rare classes' odds lowered" in result.note
    # The offsets are in the head: the returned model predicts with them, nothing else needs to know.
    shift = torch.tensor(result.prior["offsets"])
    torch.testing.assert_close(result.model.head.bias - inflated.head.bias, shift, atol=1e-5, rtol=0)


def test_no_correction_without_held_out_images(monkeypatch):
    ds = _rare_class_set()
    ds = TrainingSet(ds.class_names, ds.train, ds.train, "all-for-both")
    monkeypatch.setattr(prior, "choose", lambda *a: pytest.fail("chosen on training images"))
    assert _train(ds, minutes=None, max_epochs=2, weight=40.0, crops=1.0).prior is None
    assert train_mod.TrainConfig().prior_correction
    events = list(fine_tune(ds, TrainConfig(patience=0, **{**TINY, "patch_size": 32, "max_epochs": 1})))
    assert not [e for e in events if isinstance(e, Checking)]  # nothing to check: nothing said
