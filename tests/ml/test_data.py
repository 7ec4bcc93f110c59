"""prepare_image (the one normalization), samples, splits and random patches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segdesk.core.errors import ModelError, TrainingError
from segdesk.core.review import reviewed_extra
from segdesk.ml.data import (
    IGNORE_INDEX,
    PatchDataset,
    make_sample,
    split_samples,
    training_set_from_arrays,
)
from segdesk.ml.normalize import (
    NORMALIZATION,
    check_normalization,
    intensity_range,
    prepare_image,
    scale_to_unit,
)

torch.set_num_threads(1)


def _ramp(h: int = 40, w: int = 50) -> np.ndarray:
    return np.linspace(0.0, 1.0, h * w).reshape(h, w)


@pytest.mark.parametrize(
    "image",
    [
        (_ramp() * 255).astype(np.uint8),
        (_ramp() * 65535).astype(np.uint16),
        (_ramp() * 4000 + 100).astype(np.uint16),  # 12-bit camera data in a 16-bit container
        _ramp().astype(np.float32) * 7.5 - 3.0,
        np.stack([(_ramp() * 255).astype(np.uint8)] * 3, -1),
        np.dstack([(_ramp() * 255).astype(np.uint8)] * 3 + [np.full((40, 50), 255, np.uint8)]),
        (_ramp() * 255).astype(np.uint8)[..., None],
    ],
    ids=["u8-grey", "u16", "u12-in-u16", "float", "rgb", "rgba", "hw1"],
)
def test_prepare_image_any_input_gives_the_same_normalized_ramp(image):
    out = prepare_image(image)
    assert out.dtype == np.float32 and out.shape == (3, 40, 50)
    # The ramp maps to the same standardized values whatever the dtype or range.
    reference = prepare_image((_ramp() * 255).astype(np.uint8))
    np.testing.assert_allclose(out, reference, atol=0.03)
    assert out.min() == pytest.approx(-2.0) and out.max() == pytest.approx(2.0)
    np.testing.assert_array_equal(out[0], out[1])


def test_colour_balance_is_kept_and_outliers_clipped():
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[..., 1] = np.linspace(0, 100, 64)[None, :].astype(np.uint8)
    rgb[0, 0] = 255  # one hot pixel does not stretch the range
    unit = scale_to_unit(rgb)
    assert unit[..., 0].mean() > unit[..., 1].mean() + 0.3  # joint scaling: red stays redder
    assert unit.min() >= 0 and unit.max() <= 1


def test_flat_and_nan_images_do_not_break():
    assert np.isfinite(prepare_image(np.full((8, 8), 7, np.uint16))).all()
    f = np.ones((8, 8), np.float32)
    f[2, 2] = np.nan
    assert np.isfinite(prepare_image(f)).all()


def test_tile_normalized_with_whole_image_range_equals_whole_image():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 4096, (100, 120)).astype(np.uint16)
    whole = prepare_image(image)
    tile = prepare_image(image[10:60, 20:90], intensity_range(image))
    np.testing.assert_array_equal(tile, whole[:, 10:60, 20:90])


def test_normalization_mismatch_is_a_model_error():
    check_normalization(dict(NORMALIZATION))
    with pytest.raises(ModelError, match="normalization"):
        check_normalization({**NORMALIZATION, "std": 1.0}, source="m.safetensors")


def test_split_holds_out_a_fifth_and_all_for_both_under_three():
    samples = [make_sample(np.zeros((4, 4), np.uint8), np.zeros((4, 4)), name=str(i)) for i in range(10)]
    train, val, split = split_samples(samples, val_fraction=0.2, seed=1)
    assert split == "held-out" and len(val) == 2 and len(train) == 8
    assert not {s.name for s in train} & {s.name for s in val}
    train, val, split = split_samples(samples[:2])
    assert split == "all-for-both" and train == val
    _, val, _ = split_samples(samples[:3])
    assert len(val) == 1
    train, val, _ = split_samples(samples[:3], val_fraction=0.9)  # --val-fraction 0.9: one still trains
    assert (len(train), len(val)) == (1, 2)  # (it held out all three: "no reviewed images to measure")


def test_sample_checks_sizes_and_values():
    with pytest.raises(TrainingError, match="class map"):
        make_sample(np.zeros((4, 5), np.uint8), np.zeros((5, 4)), name="a.png")
    with pytest.raises(TrainingError, match="0..254"):
        make_sample(np.zeros((4, 4), np.uint8), np.full((4, 4), 300), name="a.png")


def test_patch_dataset_crops_and_pads_any_size():
    big = make_sample(np.zeros((90, 70), np.uint8), np.ones((90, 70)), name="big")
    small = make_sample(np.zeros((20, 30), np.uint8), np.ones((20, 30)), name="small")
    from segdesk.ml.training.augment import apply, build_augmentation

    pipe = build_augmentation(48, seed=0)
    ds = PatchDataset([big, small], lambda i, m: apply(pipe, i, m), patch_size=48, length=20, seed=0)
    shapes = set()
    saw_padding = False
    for i in range(len(ds)):
        x, y = ds[i]
        shapes.add((tuple(x.shape), tuple(y.shape), x.dtype, y.dtype))
        saw_padding |= bool((y == IGNORE_INDEX).any())
    assert shapes == {((3, 48, 48), (48, 48), torch.float32, torch.int64)}
    assert saw_padding  # the small image is padded with the ignore index


def test_class_centred_crops_find_a_rare_class():
    mask = np.zeros((400, 400), np.uint8)
    mask[300:305, 40:45] = 1
    s = make_sample(np.zeros((400, 400), np.uint8), mask)
    ds = PatchDataset([s], lambda i, m: (i, m), patch_size=32, length=40, class_crop_p=0.5, seed=0)
    hits = sum(bool((ds[i][1] == 1).any()) for i in range(len(ds)))
    assert hits >= 10  # uniform crops alone would hit it about once in 150


def test_training_set_from_arrays_counts_classes():
    ts = training_set_from_arrays(
        [np.zeros((8, 8), np.uint8)] * 2, [np.eye(8, dtype=np.uint8)] * 2, ["bg", "fg"]
    )
    assert ts.split == "all-for-both"
    assert ts.classes_present().tolist() == [112, 16]  # two images, each counted once


def test_unaccepted_proposals_in_a_reviewed_image_are_ignored_not_background(tmp_path):
    import cv2

    from segdesk.core.document import Document
    from segdesk.core.labelme_io import save_document
    from segdesk.core.shapes import Shape
    from segdesk.ml.data import IGNORE_INDEX, training_set_from_project

    cv2.imwrite(str(tmp_path / "a.png"), np.full((40, 50, 3), 120, np.uint8))
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\ncell\n")
    person = Shape("cell", [[2, 2], [15, 2], [15, 15], [2, 15]])
    proposal = Shape(
        "cell", [[25, 20], [45, 20], [45, 35], [25, 35]], extra={"source": "model", "proposal": True}
    )
    doc = Document("a.png", 40, 50, shapes=[person, proposal], extra=reviewed_extra())
    save_document(doc, tmp_path / "a.json")
    sample = training_set_from_project(tmp_path).train[0]
    mask = sample.mask
    assert mask[8, 8] == 1  # the person's cell trains
    assert mask[28, 35] == IGNORE_INDEX  # the unaccepted proposal neither trains nor teaches background
    assert mask[38, 5] == 0


def _share_of_small_image(image_sampling: str) -> float:
    big = make_sample(np.full((200, 200), 50, np.uint8), np.eye(200, dtype=np.uint8), name="big")
    small = make_sample(np.full((40, 40), 200, np.uint8), np.eye(40, dtype=np.uint8), name="small")
    # scale_to_unit maps a flat image to 0.5; mark the small one by its values instead
    small.image[:] = 0.9
    big.image[:] = 0.1
    ds = PatchDataset(
        [big, small], lambda i, m: (i, m), patch_size=32, length=200, seed=0, image_sampling=image_sampling
    )
    return float(np.mean([float(ds[i][0].mean()) > 0 for i in range(len(ds))]))


def test_every_image_is_drawn_equally_often_whatever_its_size():
    # A 200 x 200 image beside a 40 x 40 one: by area the small one would give 4% of the patches, and
    # a few big images of one kind crowded out every other kind of image (issue 16, DSB 2018).
    assert 0.38 <= _share_of_small_image("equal") <= 0.62
    assert _share_of_small_image("area") < 0.12


def test_unknown_image_sampling_is_refused():
    s = make_sample(np.zeros((8, 8), np.uint8), np.eye(8, dtype=np.uint8))
    with pytest.raises(TrainingError, match="image_sampling"):
        PatchDataset([s], lambda i, m: (i, m), patch_size=8, length=4, image_sampling="pixels")


def test_the_trainer_draws_images_as_its_config_says():
    from segdesk.ml.data import TrainingSet
    from segdesk.ml.training.setup import _make_loader, _seed_everything
    from segdesk.ml.training.train import TrainConfig

    big = make_sample(np.zeros((120, 120), np.uint8), np.eye(120, dtype=np.uint8), name="big")
    small = make_sample(np.zeros((40, 40), np.uint8), np.eye(40, dtype=np.uint8), name="small")
    ds = TrainingSet(["bg", "fg"], [big, small], [small])
    _, equal = _make_loader(ds, TrainConfig(patch_size=32), _seed_everything(0))
    _, area = _make_loader(ds, TrainConfig(patch_size=32, image_sampling="area"), _seed_everything(0))
    assert TrainConfig().image_sampling == "equal"
    np.testing.assert_allclose(equal.weights, [0.5, 0.5])
    np.testing.assert_allclose(area.weights, [0.9, 0.1])
