"""Issue 17 end to end through the services: reviewed touching discs -> Retrain (the training service,
what the app's training process and ``segdesk train`` run) -> a model with a boundary class whose
proposals are one polygon per disc; a project whose objects never touch trains exactly as before."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from segdesk.core.document import Document
from segdesk.core.instance_settings import write_object_setting
from segdesk.core.labelme_io import save_document
from segdesk.core.model_store import ModelStore
from segdesk.core.project import Project
from segdesk.core.rasterize import shapes_to_label
from segdesk.core.review import reviewed_extra
from segdesk.core.shapes import Shape
from segdesk.services import training
from segdesk.services.model_store import read_info
from segdesk.services.proposals import ProposalSettings, load_predictor, propose_image

torch = pytest.importorskip("torch")

SIZE = 96
#: Small, fixed steps (the plan keeps fixed epochs): 30 epochs x 4 steps of 3 x 96² patches (~10 s).
CONFIG = {"base_width": 8, "depth": 2, "minutes": None, "max_epochs": 30, "patience": 0, "patch_size": 96,
          "batch_size": 3, "patches_per_epoch": 12, "threads": 1, "device": "cpu", "warmup_steps": 5,
          "lr": 1e-2}  # fmt: skip


def disc_pairs(seed: int, gap: int = 0) -> np.ndarray:
    """An instance map with two rows of two discs (4 objects), touching unless ``gap`` > 0 pixels."""
    rng = np.random.default_rng(seed)
    ins = np.zeros((SIZE, SIZE), np.int32)
    k = 0
    for cy in (24, 70):
        x = int(rng.integers(14, 20))
        for _ in range(2):
            k += 1
            r = int(rng.integers(9, 12))
            disc = np.zeros_like(ins)
            cv2.circle(disc, (x + r, cy), r, 1, -1)
            ins[(disc > 0) & (ins == 0)] = k
            x += 2 * r - 2 + gap
    return ins


def _polygon(mask: np.ndarray) -> list[list[float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return max(contours, key=cv2.contourArea)[:, 0, :].astype(float).tolist()


def _project(root: Path, maps: list[np.ndarray]) -> Project:
    (root / "labels.txt").write_text("__ignore__\n_background_\ndisc\n")
    for i, ins in enumerate(maps):
        cv2.imwrite(str(root / f"img_{i}.png"), np.where(ins > 0, 170, 60).astype(np.uint8))
        shapes = [Shape("disc", _polygon(ins == k)) for k in range(1, int(ins.max()) + 1)]
        doc = Document(f"img_{i}.png", SIZE, SIZE, shapes=shapes, extra=reviewed_extra("marked"))
        save_document(doc, root / f"img_{i}.json")
    return Project(root)


def _mask(shape: Shape) -> np.ndarray:
    cls, _ = shapes_to_label((SIZE, SIZE), [shape], {shape.label: 1})
    return cls == 1


def test_retrain_on_touching_discs_learns_a_boundary_and_proposes_one_polygon_per_disc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segdesk.services import split_calibration

    monkeypatch.setattr(split_calibration, "MIN_IMAGES", 1)  # one held-out image with 4 discs
    monkeypatch.setattr(split_calibration, "MIN_OBJECTS", 4)
    torch.manual_seed(0)
    maps = [disc_pairs(s) for s in range(4)]
    project = _project(tmp_path, maps)
    # discs of ~3% of these tiny images are larger than the default's "small" (2%): the person says
    write_object_setting(tmp_path, {"disc": True})
    outcome = training.train(
        training.request_for(project), training.resolve_config(CONFIG), threading.Event()
    )
    meta = json.loads((tmp_path / ".segdesk/models" / outcome.version / "model.json").read_text())
    assert meta["classes"] == ["_background_", "disc", "disc::boundary"]
    split = meta["instances"].pop("split")
    assert meta["instances"] == {
        "object_classes": ["disc"],
        "boundary_classes": ["disc::boundary"],
        "boundary_width": 2,
    }
    # calibrated on the held-out image (never a training image): one setting of the small grid
    assert {"h": split["h"], "grow": split["grow"]} in list(split_calibration.GRID)
    assert (split["images"], split["objects"]) == (1, 4) and split["map"] >= split["default_map"]
    assert meta["metrics"]["val_images"] and meta["metrics"]["val_images"][0] not in meta["images"]
    info = read_info(tmp_path, outcome.version)
    assert info is not None and info.classes == ["_background_", "disc"] and info.object_classes == ["disc"]
    assert all("::boundary" not in name for name in info.class_iou)

    predictor = load_predictor(ModelStore(tmp_path).path(outcome.version), backend="torch")
    image = cv2.imread(str(tmp_path / "img_0.png"), cv2.IMREAD_UNCHANGED)
    result = propose_image(predictor, image, ProposalSettings(), image_path=tmp_path / "img_0.png")
    assert result.split == {"h": split["h"], "grow": split["grow"]}  # the model's own split settings
    discs = [s for s in result.shapes if s.label == "disc"]
    assert len(discs) == 4, [s.label for s in result.shapes]  # two touching pairs: four objects
    for k in range(1, 5):
        assert max(_iou(_mask(s), maps[0] == k) for s in discs) >= 0.9
    assert result.class_names == ["_background_", "disc"]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_a_class_set_not_to_be_objects_learns_no_boundary(tmp_path: Path) -> None:
    project = _project(tmp_path, [disc_pairs(s) for s in range(3)])
    write_object_setting(tmp_path, {"disc": True})
    config = training.resolve_config(CONFIG)
    assert training.prepare(training.request_for(project), config).dataset.class_names[-1] == "disc::boundary"
    write_object_setting(tmp_path, {"disc": False})
    prepared = training.prepare(training.request_for(project), config)
    assert prepared.dataset.class_names == ["_background_", "disc"]


def test_objects_that_never_touch_train_exactly_as_before(tmp_path: Path) -> None:
    """ISBI's case: the same classes and the same class maps as the plain training set."""
    from segdesk.ml.data import training_set_from_project

    project = _project(tmp_path, [disc_pairs(s, gap=6) for s in range(3)])
    write_object_setting(tmp_path, {"disc": True})  # objects, but they never touch
    request = training.request_for(project)
    config = training.resolve_config(CONFIG)
    prepared = training.prepare(request, config)
    plain = training_set_from_project(
        request.root,
        class_names=request.class_names,
        entries=request.entries,
        val_fraction=0.2,
        seed=config.seed,
    )
    assert prepared.dataset.class_names == plain.class_names == ["_background_", "disc"]
    got = {s.name: s.mask for s in [*prepared.dataset.train, *prepared.dataset.val]}
    want = {s.name: s.mask for s in [*plain.train, *plain.val]}
    assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in got)
    assert [s.name for s in prepared.dataset.val] == [s.name for s in plain.val]


def test_every_distributed_rank_reads_rank_0s_instance_targets(tmp_path: Path) -> None:
    """``train --distributed``: rank 0 plans through the training service; another rank reads the same
    images and must get the same boundary class and the same class maps."""
    from segdesk.commands.distributed import _dataset_of, _plan

    _project(tmp_path, [disc_pairs(s) for s in range(4)])
    write_object_setting(tmp_path, {"disc": True})
    rank0, plan = _plan(tmp_path, training.resolve_config(CONFIG), (True, False), 0.2)
    assert plan["classes"] == ["_background_", "disc", "disc::boundary"]
    other = _dataset_of(tmp_path, plan)
    assert other.class_names == rank0.class_names
    for mine, theirs in zip([*rank0.train, *rank0.val], [*other.train, *other.val], strict=True):
        assert mine.name == theirs.name and np.array_equal(mine.mask, theirs.mask)
    assert (np.concatenate([s.mask.ravel() for s in other.train]) == 2).any()  # the boundary is taught


def test_a_model_that_has_not_learnt_the_boundary_yet_is_not_called_useless() -> None:
    """The promotion check (a present class predicted nowhere = useless) leaves the boundary class out:
    a first short Retrain that finds the discs but no boundary yet still proposes (as components)."""
    from segdesk.ml.data import training_set_from_arrays
    from segdesk.ml.metrics import ConfusionMatrix
    from segdesk.ml.training.instance_targets import targets_from_instance_maps
    from segdesk.ml.training.promotion import judge

    maps = [disc_pairs(s) for s in range(4)]
    targets, names = targets_from_instance_maps(
        [(m > 0).astype(np.uint8) for m in maps], maps, ["_background_", "disc"], ["disc"]
    )
    images = [np.dstack([np.where(m > 0, 170, 60).astype(np.uint8)] * 3) for m in maps]
    ds = training_set_from_arrays(images, targets, names, val_fraction=0.5)
    cm = ConfusionMatrix(len(names))
    for s in ds.val:
        cm.update(s.mask, np.where(s.mask == 2, 1, s.mask).astype(np.uint8))  # boundary predicted as disc
    verdict = judge(cm, ds.val, names)
    assert verdict.useful and not verdict.missing, verdict.message()
    cm = ConfusionMatrix(len(names))
    for s in ds.val:
        cm.update(s.mask, np.zeros_like(s.mask))  # the discs themselves missed: still useless
    assert judge(cm, ds.val, names).missing == ["disc"]


def test_segdesk_train_learns_the_same_boundary_class(tmp_path: Path) -> None:
    """``segdesk train`` prepares through the same service: the saved model separates the discs too."""
    from segdesk.commands.train import train_command

    _project(tmp_path, [disc_pairs(s) for s in range(4)])
    write_object_setting(tmp_path, {"disc": True})
    lines: list[str] = []
    rc = train_command(
        tmp_path, device="cpu", base_width=4, depth=2, patch_size=96, batch_size=3, epochs=2, out=lines.append
    )
    assert rc == 0, lines
    version = ModelStore(tmp_path).versions()[-1]
    meta = json.loads((tmp_path / ".segdesk/models" / version / "model.json").read_text())
    assert meta["classes"] == ["_background_", "disc", "disc::boundary"] and meta["instances"][
        "object_classes"
    ] == ["disc"]
    # too few objects to choose split settings, even with the training images: the defaults, and why
    assert meta["instances"]["split"] == {"skipped": "16 held-out and training objects (fewer than 30)"}
    assert (
        "touching objects split with the default settings (16 held-out and training objects (fewer than 30))"
        in lines
    )


def test_segdesk_train_names_the_object_classes_not_their_boundary_classes(tmp_path: Path) -> None:
    from segdesk.commands.train import announce

    project = _project(tmp_path, [disc_pairs(s) for s in range(4)])
    write_object_setting(tmp_path, {"disc": True})
    prepared = training.prepare(training.request_for(project), training.resolve_config(CONFIG))
    lines: list[str] = []
    announce(prepared.dataset, None, lines.append)
    assert "classes: _background_, disc (separate objects: disc)" in lines[0], lines
    assert "::boundary" not in "\n".join(lines)
