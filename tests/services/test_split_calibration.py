"""Issue 17: per-model split calibration on held-out images (services/split_calibration.py), and the
proposals using the model's recorded split (services/proposals.py)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from segdesk.core.errors import ModelError
from segdesk.services import split_calibration
from segdesk.services.proposals import ProposalSettings, propose_image
from segdesk.services.split_calibration import MIN_OBJECTS, calibrate_split, default_split

NAMES = ["_background_", "nucleus", "nucleus::boundary"]


def touching_pairs(seed: int, r: int = 5) -> np.ndarray:
    """72x72 instance map: two rows of two touching discs of radius ``r`` (4 objects)."""
    rng = np.random.default_rng(seed)
    ins = np.zeros((72, 72), np.int32)
    k = 0
    for cy in (18, 52):
        x = int(rng.integers(8, 20))
        for _ in range(2):
            k += 1
            disc = np.zeros_like(ins)
            cv2.circle(disc, (x + r, cy), r, 1, -1)
            ins[(disc > 0) & (ins == 0)] = k
            x += 2 * r - 1
    return ins


def probabilities(ins: np.ndarray, shrink: int = 0) -> np.ndarray:
    """What a model gives: each object ``shrink`` px short of its outline, a contact boundary where
    the (shrunk) objects still touch; sure, not certain."""
    from segdesk.core.instances import instance_target

    objects = np.zeros_like(ins)
    k = np.ones((2 * shrink + 1, 2 * shrink + 1), np.uint8)
    for i in range(1, int(ins.max()) + 1):
        objects[cv2.erode((ins == i).astype(np.uint8), k) > 0] = i
    target = instance_target((objects > 0).astype(np.uint8), objects, {1: 2}, width=2)
    probs = np.full((3, *ins.shape), 0.05, np.float32)
    np.put_along_axis(probs, target[None].astype(np.int64), 0.9, axis=0)
    return probs


def held_out(n: int, shrink: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    truths = [touching_pairs(s) for s in range(n)]
    return [probabilities(t, shrink) for t in truths], truths


def test_a_model_that_under_reaches_outlines_is_calibrated_to_grow() -> None:
    probs, truths = held_out(8, shrink=2)  # 32 objects; radius 5 -> 3: IoU 0.36, below 0.5
    record = calibrate_split(probs, truths, NAMES)
    assert record["grow"] == 1 and record["objects"] == 32 and record["images"] == 8
    assert record["default_ap50"] < 0.2 and record["ap50"] > 0.9
    assert record["map"] > record["default_map"] + split_calibration.MIN_GAIN


def test_a_model_that_is_right_keeps_the_defaults() -> None:
    probs, truths = held_out(8, shrink=0)
    record = calibrate_split(probs, truths, NAMES)
    assert {k: record[k] for k in ("h", "grow")} == default_split()
    assert record["default_ap50"] > 0.9
    assert (record["ap50"], record["map"]) == (record["default_ap50"], record["default_map"])


def test_too_few_held_out_images_or_objects_keep_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    probs, truths = held_out(2, shrink=2)
    assert calibrate_split(probs, truths, NAMES) == {"skipped": "2 held-out image(s) (fewer than 3)"}
    monkeypatch.setattr(split_calibration, "MIN_IMAGES", 2)
    record = calibrate_split(probs, truths, NAMES)
    assert record == {"skipped": f"8 held-out objects (fewer than {MIN_OBJECTS})"}


def test_a_model_without_a_boundary_class_is_not_calibrated() -> None:
    probs, truths = held_out(8, shrink=0)
    two = [np.stack([p[0], p[1] + p[2]]) for p in probs]
    assert "skipped" in calibrate_split(two, truths, NAMES[:2])
    assert split_calibration.calibrate_model(None, {"classes": NAMES[:2]}, None) is None


def with_specks(probs: np.ndarray, truth: np.ndarray, seed: int) -> np.ndarray:
    """``probs`` with a 5 x 5 object no person drew in each free corner that has room."""
    probs = probs.copy()
    for y, x in ((1, 1), (1, 66), (66, 1), (66, 66)):
        if not truth[y : y + 5, x : x + 5].any() and (seed + y + x) % 3:
            probs[:, y : y + 5, x : x + 5] = np.array([0.05, 0.9, 0.05], np.float32)[:, None, None]
    return probs


def test_specks_smaller_than_the_drawn_objects_are_left_out_when_that_helps() -> None:
    """A model that proposes specks (25 px) beside the drawn discs (~80 px): the calibration records
    the small end of the drawn objects' areas as the smallest object to propose, and the proposals
    drop the specks; a model without specks records no such minimum."""
    probs, truths = held_out(8, shrink=0)
    speckled = [with_specks(p, t, k) for k, (p, t) in enumerate(zip(probs, truths, strict=True))]
    record = calibrate_split(speckled, truths, NAMES)
    smallest = split_calibration.smallest_drawn_area(truths)
    assert 25 < record["min_area"] == smallest <= 81
    assert record["default_ap50"] < 0.8 and record["ap50"] > 0.95
    assert "min_area" not in calibrate_split(probs, truths, NAMES)
    image = np.zeros(truths[0].shape, np.uint8)
    meta = {"classes": NAMES, "instances": {"split": record}}
    plain = propose_image(RecordedPredictor(speckled[0], {"classes": NAMES}), image, ProposalSettings())
    recorded = propose_image(RecordedPredictor(speckled[0], meta), image, ProposalSettings())
    assert len(recorded.shapes) == 4 < len(plain.shapes)
    # the panel's minimum still applies when it is the larger one
    bigger = propose_image(RecordedPredictor(speckled[0], meta), image, ProposalSettings(min_area=500))
    assert bigger.shapes == []


class _Pred:
    def __init__(self, probs: np.ndarray) -> None:
        self.probabilities = probs
        self.class_map = probs.argmax(0).astype(np.uint8)
        self.confidence = probs.max(0)
        self.mean_entropy, self.tiles = 0.1, 1


class RecordedPredictor:
    model_version = "v4"
    class_names = NAMES

    def __init__(self, probs: np.ndarray, meta: dict[str, Any]) -> None:
        self.probs, self.meta = probs, meta

    def predict(self, image: Any, **kw: Any) -> _Pred:
        return _Pred(self.probs)


def test_proposals_split_with_the_models_recorded_settings() -> None:
    truth = touching_pairs(0)
    probs = probabilities(truth, shrink=1)
    image = np.zeros(truth.shape, np.uint8)
    plain = propose_image(RecordedPredictor(probs, {"classes": NAMES}), image, ProposalSettings())
    meta = {"classes": NAMES, "instances": {"split": {"h": 1.5, "grow": 1, "images": 2}}}
    recorded = propose_image(RecordedPredictor(probs, meta), image, ProposalSettings())
    assert plain.split == {} and recorded.split == {"h": 1.5, "grow": 1}
    assert len(plain.shapes) == len(recorded.shapes) == 4
    area = [sum(cv2.contourArea(s.points.astype(np.float32)) for s in r.shapes) for r in (plain, recorded)]
    assert area[1] > area[0] * 1.2  # every object grown by a pixel
    broken = {"classes": NAMES, "instances": {"split": {"grow": "lots"}}}
    with pytest.raises(ModelError, match=r"meta\.instances\.split\.grow"):
        propose_image(RecordedPredictor(probs, broken), image, ProposalSettings())


def test_calibration_uses_held_out_images_and_adds_training_ones_when_too_few(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Enough held-out images: only those are predicted. Too few (10 reviewed images hold out 2):
    the training images whose maps travel with the set join them, and the record says so. Nothing
    when validation is the training images."""
    pytest.importorskip("torch")
    from types import SimpleNamespace

    import segdesk.ml.inference.infer as infer

    seen: list[str] = []

    class Counting:
        def __init__(self, model: Any, meta: Any, **kw: Any) -> None:
            assert kw == {"device": "cpu", "backend": "torch"}

        def predict(self, image: Any, **kw: Any) -> _Pred:
            seen.append(image)
            return _Pred(probabilities(touching_pairs(int(image[1:])), shrink=2))

    monkeypatch.setattr(infer, "Predictor", Counting)

    def samples(prefix: str, ids: range) -> list[SimpleNamespace]:
        return [SimpleNamespace(name=f"{prefix}{i}", image=f"{prefix}{i}") for i in ids]

    maps = {f"{p}{i}": touching_pairs(i) for p in "vt" for i in range(10)}
    dataset = SimpleNamespace(
        split="held-out",
        val=samples("v", range(9)),
        train=samples("t", range(8)),
        val_instances={f"v{i}": maps[f"v{i}"] for i in range(9) if i != 1},  # v1: no map travelled
        train_instances={f"t{i}": maps[f"t{i}"] for i in range(6)},
    )
    probs, truths, on = split_calibration.calibration_predictions(None, {"classes": NAMES}, dataset)
    assert on == "held-out" and seen == ["v0", "v2", "v3", "v4", "v5", "v6", "v7", "v8"] and len(probs) == 8
    seen.clear()
    dataset.val, dataset.val_instances = samples("v", range(2)), {"v0": maps["v0"], "v1": maps["v1"]}
    probs, truths, on = split_calibration.calibration_predictions(None, {"classes": NAMES}, dataset)
    assert on == "held-out and training" and seen == ["v0", "v1", "t0", "t1", "t2", "t3", "t4", "t5"]
    record = split_calibration.calibrate_model(None, {"classes": NAMES}, dataset)
    assert record["on"] == "held-out and training" and record["images"] == 8 and record["grow"] == 1
    dataset.train_instances = {}
    assert split_calibration.calibrate_model(None, {"classes": NAMES}, dataset) == {
        "skipped": "2 held-out image(s) (fewer than 3)"
    }
    dataset.split = "all-for-both"
    assert "no held-out images" in split_calibration.calibration_predictions(
        None, {"classes": NAMES}, dataset
    )
