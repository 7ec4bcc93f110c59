"""The plan's working scale: resampling round trip, training at the scale, prediction from the checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from segdesk.ml.checkpoint import ModelStore
from segdesk.ml.data import training_set_from_arrays
from segdesk.ml.inference.infer import Predictor
from segdesk.ml.inference.tiling import Prediction
from segdesk.ml.rescale import resize_image, resize_mask, upsample_prediction, working_scale
from segdesk.ml.training.train import TrainConfig, TrainResult, fine_tune
from tests.ml._infer_helpers import CLASSES, blob_image, fresh_copy, trained_tiny_model

torch.set_num_threads(1)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [None, 1, 3])
def test_resize_keeps_dtype_and_channels(dtype, channels):
    shape = (101, 67) if channels is None else (101, 67, channels)
    image = np.ones(shape, dtype)
    small = resize_image(image, 0.5)
    assert small.dtype == dtype and small.shape[:2] == (50, 34) and small.ndim == image.ndim


def test_resampling_round_trip_brings_a_prediction_back_to_full_size():
    _, truth = blob_image(203, 157, seed=3)
    small = resize_mask(truth, 0.5)
    probs = np.stack([small == c for c in range(2)]).astype(np.float16)
    pred = Prediction(small, probs.max(0).astype(np.float32), CLASSES, 0.0, 0.0, probabilities=probs)
    back = upsample_prediction(pred, 203, 157, low_confidence=0.7, keep=False)
    assert back.class_map.shape == truth.shape and back.confidence.shape == truth.shape
    inter = np.logical_and(back.class_map == 1, truth == 1).sum()
    union = np.logical_or(back.class_map == 1, truth == 1).sum()
    assert inter / union > 0.85  # only the discs' edges move by a pixel
    assert back.probabilities is None and 0.0 <= back.mean_entropy <= 1.0


class _Recording:
    """Wraps a predictor's backend and records the tile sizes it is given."""

    def __init__(self, backend):
        self.backend, self.shapes = backend, []
        self.num_classes, self.name = backend.num_classes, backend.name

    def __call__(self, batch):
        self.shapes.append(batch.shape[-2:])
        return self.backend(batch)


def test_a_predictor_runs_the_network_at_the_working_scale_and_answers_at_full_size():
    image, truth = blob_image(160, 120, seed=1, count=6)
    meta = {"classes": CLASSES, "plan": {"scale": 0.5}}
    predictor = Predictor(fresh_copy(trained_tiny_model()), meta, device="cpu", backend="torch", tile=512)
    assert predictor.scale == 0.5
    predictor.backend = _Recording(predictor.backend)
    pred = predictor.predict(image, return_probabilities=True)
    assert predictor.backend.shapes == [(80, 60)]
    assert pred.class_map.shape == truth.shape and pred.probabilities.shape == (2, 160, 120)
    native = Predictor(fresh_copy(trained_tiny_model()), {"classes": CLASSES}, device="cpu", backend="torch")
    assert native.scale == 1.0
    agree = (native.predict(image).class_map == pred.class_map).mean()
    assert agree > 0.9


def test_the_plan_is_saved_in_the_checkpoint_and_reused_at_prediction(tmp_path: Path):
    pairs = [blob_image(128, 128, seed=s) for s in range(3)]
    ts = training_set_from_arrays([p[0] for p in pairs], [p[1] for p in pairs], CLASSES)
    plan = {"scale": 0.5, "patch_size": 64, "base_width": 4, "depth": 2}
    config = TrainConfig(
        minutes=None,
        max_epochs=1,
        patches_per_epoch=8,
        patch_size=64,
        batch_size=4,
        base_width=4,
        depth=2,
        scale=0.5,
        plan=plan,
        device="cpu",
    )
    result = [e for e in fine_tune(ts, config) if isinstance(e, TrainResult)][0]
    meta = result.meta()
    assert meta["plan"] == plan
    store = ModelStore(tmp_path)
    version = store.add_version(result.model, meta)
    assert working_scale(store.info(version)) == 0.5
    predictor = Predictor.from_checkpoint(store.path(version), device="cpu", backend="torch")
    assert predictor.scale == 0.5
    predictor.backend = _Recording(predictor.backend)
    pred = predictor.predict(pairs[0][0])
    assert predictor.backend.shapes == [(64, 64)] and pred.class_map.shape == (128, 128)


def test_training_resamples_its_patches_to_the_working_scale(monkeypatch):
    pairs = [blob_image(128, 128, seed=s) for s in range(3)]
    ts = training_set_from_arrays([p[0] for p in pairs], [p[1] for p in pairs], CLASSES)
    seen = []
    import segdesk.ml.training.setup as train_mod  # where the patch loader is made

    real = train_mod.PatchDataset

    def spy(samples, *args, **kwargs):
        seen.extend(s.mask.shape for s in samples)
        return real(samples, *args, **kwargs)

    monkeypatch.setattr(train_mod, "PatchDataset", spy)
    config = TrainConfig(
        minutes=None,
        max_epochs=1,
        patches_per_epoch=4,
        patch_size=32,
        batch_size=4,
        base_width=4,
        depth=2,
        scale=0.25,
        device="cpu",
    )
    result = [e for e in fine_tune(ts, config) if isinstance(e, TrainResult)][0]
    assert seen and all(shape == (32, 32) for shape in seen)
    assert result.metrics.miou >= 0.0  # validation scored at full size, through the scale
