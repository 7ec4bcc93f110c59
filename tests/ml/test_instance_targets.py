"""Issue 17: instance-aware training sets (boundary classes) from reviewed shapes, and a model that learns them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segdesk.core.document import Document
from segdesk.core.instance_split import SplitSettings, split_instances
from segdesk.core.labelme_io import save_document
from segdesk.core.review import reviewed_extra
from segdesk.core.shapes import Shape
from segdesk.ml.training.instance_targets import instance_training_set_from_project


def _square(label: str, x: int, y: int, s: int, group_id=None) -> Shape:
    return Shape(label, [[x, y], [x + s, y], [x + s, y + s], [x, y + s]], group_id=group_id)


def _project(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.full((60, 80, 3), 120, np.uint8))
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\ncell\ntissue\n")
    cells = [_square("cell", 4 + 8 * k, 4, 7) for k in range(4)]  # four touching cells
    parts = [
        _square("cell", 4, 30, 7, group_id=3),
        _square("cell", 12, 30, 7, group_id=3),
    ]  # one cell in parts
    tissue = [_square("tissue", 40, 25, 35)]
    doc = Document("a.png", 60, 80, shapes=[*tissue, *cells, *parts], extra=reviewed_extra("marked"))
    save_document(doc, tmp_path / "a.json")


def test_project_targets_have_a_boundary_class_for_object_like_classes_only(tmp_path) -> None:
    _project(tmp_path)
    dataset, chosen = instance_training_set_from_project(tmp_path)
    assert chosen == {"cell"}  # many small closed shapes; the one big tissue region is not an object
    assert dataset.class_names == ["_background_", "cell", "tissue", "cell::boundary"]
    mask = dataset.train[0].mask
    assert mask[8, 11] == 3 and mask[8, 12] == 3  # between two touching cells: boundary
    assert mask[8, 8] == 1  # a cell's interior
    assert mask[33, 11] == 1 and mask[33, 12] == 1  # parts of one object (group_id): no boundary between
    assert mask[40, 50] == 2 and not (mask[25:61, 40:76] == 3).any()  # tissue is never split
    chosen_off = instance_training_set_from_project(tmp_path, object_setting={"cell": False})[1]
    assert chosen_off == set()


def test_a_model_trained_on_boundary_targets_splits_touching_discs() -> None:
    torch = pytest.importorskip("torch")
    from segdesk.ml.data import training_set_from_arrays
    from segdesk.ml.inference.infer import Predictor
    from segdesk.ml.training.instance_targets import targets_from_instance_maps
    from segdesk.ml.training.train import TrainConfig, TrainResult, fine_tune

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images, instance_maps = [], []
    for _ in range(3):
        ins = np.zeros((96, 96), np.int32)
        k = 0
        for cy in (24, 70):
            x = int(rng.integers(14, 20))
            for _ in range(2):  # a pair of touching discs per row
                k += 1
                r = int(rng.integers(9, 12))
                disc = np.zeros_like(ins)
                cv2.circle(disc, (x + r, cy), r, 1, -1)
                ins[(disc > 0) & (ins == 0)] = k
                x += 2 * r - 2
        img = np.where(ins > 0, 170, 60).astype(np.uint8)
        images.append(np.dstack([img] * 3))
        instance_maps.append(ins)
    maps, names = targets_from_instance_maps(
        [(i > 0).astype(np.uint8) for i in instance_maps], instance_maps, ["_background_", "disc"], ["disc"]
    )
    ds = training_set_from_arrays(images, maps, names, val_fraction=0)
    cfg = TrainConfig(
        minutes=None,
        max_epochs=12,
        patience=0,
        patch_size=96,
        batch_size=3,
        patches_per_epoch=12,
        device="cpu",
        threads=1,
        warmup_steps=5,
        lr=1e-2,
    )
    result = next(e for e in fine_tune(ds, cfg) if isinstance(e, TrainResult))
    pred = Predictor(result.model, {"classes": result.class_names}, device="cpu", backend="torch").predict(
        images[0], return_probabilities=True
    )
    split = split_instances(
        result.class_names, SplitSettings(object_classes={"disc"}), probabilities=pred.probabilities
    )
    assert len(split.objects) == 4


def test_objects_that_never_touch_learn_no_boundary(tmp_path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.full((60, 80, 3), 120, np.uint8))
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\ncell\n")
    cells = [_square("cell", 4 + 10 * k, 4, 7) for k in range(5)]  # separated by a background gap
    save_document(
        Document("a.png", 60, 80, shapes=cells, extra=reviewed_extra("marked")), tmp_path / "a.json"
    )
    dataset, chosen = instance_training_set_from_project(tmp_path)
    assert chosen == {"cell"}  # an object class (its objects split by components) ...
    assert dataset.class_names == ["_background_", "cell"]  # ... without a boundary class to learn


def test_objects_touching_only_objects_of_other_classes_learn_no_boundary(tmp_path) -> None:
    """A nucleus drawn inside its cell (the demo's layout) touches the cell, not another nucleus: the
    class map keeps the two apart, so neither class needs a boundary class to split its objects."""
    cv2.imwrite(str(tmp_path / "a.png"), np.full((60, 80, 3), 120, np.uint8))
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\ncell\nnucleus\n")
    shapes = []
    for k in range(5):
        shapes.append(_square("cell", 3 + 15 * k, 10, 12))  # cells apart from each other ...
        shapes.append(_square("nucleus", 7 + 15 * k, 14, 4))  # ... each with a nucleus inside, on top
    save_document(
        Document("a.png", 60, 80, shapes=shapes, extra=reviewed_extra("marked")), tmp_path / "a.json"
    )
    dataset, chosen = instance_training_set_from_project(tmp_path)
    assert "nucleus" in chosen  # small closed shapes: an object class; it touches cells only
    assert dataset.class_names == ["_background_", "cell", "nucleus"]
    # touching objects of one class still learn their boundary beside them
    shapes += [_square("nucleus", 10 + 6 * k, 40, 6) for k in range(4)]
    save_document(
        Document("a.png", 60, 80, shapes=shapes, extra=reviewed_extra("marked")), tmp_path / "a.json"
    )
    dataset, chosen = instance_training_set_from_project(tmp_path)
    assert dataset.class_names == ["_background_", "cell", "nucleus", "nucleus::boundary"]


def test_instance_maps_for_the_calibration_are_bounded_held_out_first(monkeypatch) -> None:
    """The maps that travel with the set for the split calibration: held-out samples first, then
    training ones, at most CALIBRATION_IMAGES and CALIBRATION_PIXELS in all (a too-large image is
    passed over for a smaller one)."""
    from segdesk.ml import data
    from segdesk.ml.training import instance_targets

    def sample(name: str, size: int) -> data.Sample:
        mask = np.zeros((size, size), np.uint8)
        mask[2:6, 2:6] = mask[2:6, 6:10] = 1
        return data.Sample(np.zeros((size, size, 3), np.float32), mask, name)

    def instances(s: data.Sample) -> np.ndarray:
        ins = np.zeros(s.mask.shape, np.int32)
        ins[2:6, 2:6], ins[2:6, 6:10] = 1, 2
        return ins

    val = [sample("v0", 20), sample("v1", 20)]
    train = [sample(f"t{i}", 40 if i == 1 else 20) for i in range(10)]
    dataset = data.TrainingSet(["_background_", "cell"], train, val)
    maps = {s.name: instances(s) for s in [*val, *train]}
    out = instance_targets.add_boundary_targets(dataset, maps, ["cell"])
    assert list(out.val_instances) == ["v0", "v1"]
    assert list(out.train_instances) == [f"t{i}" for i in range(6)]  # 8 in all
    assert set(np.unique(out.train_instances["t0"])) == {0, 1, 2}
    monkeypatch.setattr(instance_targets, "CALIBRATION_PIXELS", 5 * 20 * 20)
    out = instance_targets.add_boundary_targets(dataset, maps, ["cell"])
    assert list(out.train_instances) == ["t0", "t2", "t3"]  # t1 (40 x 40) does not fit
