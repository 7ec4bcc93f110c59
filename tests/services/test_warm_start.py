"""The warm start (issue 16): a new project's run starts from the shipped generalist with a new head for
its own classes, in the app and the CLI alike; on by default with one object class (where it measured
better), ``--warm-start`` forces it, ``--no-warm-start`` builds a fresh model."""

from __future__ import annotations

import argparse
import json
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segdesk.commands.train import add_train_arguments, train_command
from segdesk.core.document import Document
from segdesk.core.errors import ModelError
from segdesk.core.labelme_io import save_document
from segdesk.core.project import Project
from segdesk.core.shapes import Shape
from segdesk.ml import generalist
from segdesk.services import training
from segdesk.services.warm_start import FROM_GENERALIST

CLASSES = ["_background_", "cell", "nucleus"]
# The default width and depth (the generalist's): a run that fixes another one gets a fresh model.
QUICK = {"minutes": None, "max_epochs": 1, "patience": 0, "patch_size": 32, "batch_size": 2,
         "patches_per_epoch": 4, "threads": 1, "device": "cpu"}  # fmt: skip


def _ring(cx: float, cy: float, r: float) -> np.ndarray:
    return np.array([[cx + r * np.cos(a), cy + r * np.sin(a)] for a in np.linspace(0, 6.2, 12)])


def _project(root: Path, classes: list[str] = CLASSES) -> Project:
    (root / "labels.txt").write_text("__ignore__\n" + "\n".join(classes) + "\n")
    for i in range(3):
        image = np.full((48, 64, 3), 230, np.uint8)
        cv2.circle(image, (24 + 6 * i, 24), 14, (200, 120, 160), -1)
        cv2.circle(image, (24 + 6 * i, 24), 5, (90, 40, 130), -1)
        cv2.imwrite(str(root / f"img_{i}.png"), image)
        shapes = [Shape("cell", _ring(24 + 6 * i, 24, 14))]
        if "nucleus" in classes:
            shapes.append(Shape("nucleus", _ring(24 + 6 * i, 24, 5)))
        doc = Document(f"img_{i}.png", 48, 64, shapes=shapes)
        doc.set_status("reviewed")
        save_document(doc, root / f"img_{i}.json")
    return Project(root)


def _meta(root: Path, version: str) -> dict:
    return json.loads((root / ".segdesk/models" / version / "model.json").read_text())


def test_a_new_project_with_other_classes_starts_from_the_generalist(tmp_path: Path) -> None:
    project = _project(tmp_path)
    request = training.request_for(project, warm_start=True)  # forced: 3 classes are not the default
    assert request.base_version is None and request.warm_start
    config = training.resolve_config(QUICK)
    prepared = training.prepare(request, config)
    shipped, _ = generalist.load_generalist()
    assert prepared.warm_start == generalist.NAME and prepared.model_classes == CLASSES
    state, original = prepared.model.state_dict(), shipped.state_dict()
    assert prepared.model.head.out_channels == 3  # a new head for the project's classes
    assert all(torch.equal(state[k], original[k]) for k in original if not k.startswith("head."))
    outcome = training.train(request, config, threading.Event())  # a short fine-tune runs
    meta = _meta(tmp_path, outcome.version)
    assert meta["warm_start"] == generalist.NAME and meta["base_version"] is None
    assert meta["classes"] == CLASSES and meta["config"]["base_width"] == shipped.config.base_width
    assert FROM_GENERALIST in outcome.plan and meta["plan"]["warm_start"] == generalist.NAME
    assert any(FROM_GENERALIST in r for r in meta["plan"]["reasons"])


def test_by_default_the_warm_start_is_on_with_one_object_class_only(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    config = training.resolve_config(QUICK)
    one = training.prepare(training.request_for(_project(tmp_path / "one", ["_background_", "cell"])), config)
    assert one.warm_start == generalist.NAME and one.model.head.out_channels == 2
    assert one.model_classes == ["_background_", "cell"]
    two = training.prepare(training.request_for(_project(tmp_path / "two")), config)
    assert two.model is None and two.warm_start is None


def test_no_warm_start_builds_a_fresh_model(tmp_path: Path) -> None:
    project = _project(tmp_path)
    request = training.request_for(project, warm_start=False)
    prepared = training.prepare(request, training.resolve_config(QUICK))
    assert prepared.model is None and prepared.warm_start is None
    # the CLI's option, through the same service
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    assert parser.parse_args([str(tmp_path), "--no-warm-start"]).warm_start is False
    assert parser.parse_args([str(tmp_path)]).warm_start is None
    assert parser.parse_args([str(tmp_path), "--warm-start"]).warm_start is True
    lines: list[str] = []
    code = train_command(tmp_path, epochs=1, threads=1, device="cpu", patch_size=32, warm_start=False,
                         out=lines.append)  # fmt: skip
    assert code == 0, lines
    assert _meta(tmp_path, "v1")["warm_start"] is None
    assert any("starting from a new model" in line for line in lines)


def test_a_fixed_other_width_gets_a_fresh_model(tmp_path: Path) -> None:
    project = _project(tmp_path)
    request = training.request_for(project, warm_start=True)
    prepared = training.prepare(request, training.resolve_config({**QUICK, "depth": 2}))
    assert prepared.model is None and prepared.warm_start is None


def test_a_damaged_shipped_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "p").mkdir()
    project = _project(tmp_path / "p")
    broken = tmp_path / "generalist" / "model.safetensors"
    broken.parent.mkdir()
    shutil.copy(generalist.generalist_path(), broken)
    broken.write_bytes(broken.read_bytes()[:-100])
    monkeypatch.setattr(generalist, "generalist_path", lambda name=generalist.NAME: broken)
    with pytest.raises(ModelError) as info:
        training.prepare(training.request_for(project, warm_start=True), training.resolve_config(QUICK))
    assert str(broken) in str(info.value)


def test_the_default_follows_the_measured_rule() -> None:
    """On only in the generalist's own form: ``_background_`` and one object class that is not thin."""
    from segdesk.ml.data import training_set_from_arrays
    from segdesk.services.warm_start import helps

    image = np.zeros((96, 96), np.uint8)
    blobs, lines = np.zeros((96, 96), np.uint8), np.zeros((96, 96), np.uint8)
    for k in range(3):
        cv2.circle(blobs, (20 + 28 * k, 48), 10, 1, -1)
        cv2.line(lines, (5, 10 + 30 * k), (90, 20 + 30 * k), 1, 2)

    def data(mask: np.ndarray, names: list[str]):
        return training_set_from_arrays([image] * 3, [mask] * 3, names)

    assert helps(data(blobs, ["_background_", "nucleus"]))
    assert not helps(data(lines, ["_background_", "crack"]))  # thin: ISBI / rods measured worse
    assert not helps(data(blobs, ["interior", "membrane"]))  # no background class (ISBI's form)
    assert not helps(data(blobs, ["_background_", "cell", "nucleus"]))  # several object classes
    assert helps(data(1 - blobs, ["_background_", "cell"]))  # objects that fill most of the image too


def test_a_distributed_run_follows_the_same_warm_start_rule(tmp_path: Path) -> None:
    """``train --distributed``: rank 0 plans through the service, so its plan carries the warm start
    the service decided; every rank starts from the same generalist and the saved meta records it."""
    from segdesk.commands.distributed import _plan
    from segdesk.commands.train import finish_training
    from segdesk.ml.checkpoint import ModelStore
    from segdesk.ml.training.train import TrainResult, fine_tune

    _project(tmp_path, ["_background_", "cell"])
    config = training.resolve_config(QUICK)
    dataset, plan = _plan(tmp_path, config, (False, False), 0.2)
    assert plan["warm_start"] == generalist.NAME and plan["base_version"] is None
    a, _ = generalist.warm_model(dataset.class_names, seed=config.seed)
    b, _ = generalist.warm_model(dataset.class_names, seed=config.seed)
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    result = [e for e in fine_tune(dataset, config, model=a, model_classes=dataset.class_names)][-1]
    assert isinstance(result, TrainResult)
    lines: list[str] = []
    version = finish_training(result, dataset, ModelStore(tmp_path), None, lines.append, plan["warm_start"])
    assert _meta(tmp_path, version)["warm_start"] == generalist.NAME


def test_an_instance_project_with_one_object_class_starts_warm_with_its_boundary_class(
    tmp_path: Path,
) -> None:
    """The derived ``::boundary`` class does not count as an object class (issue 17): touching discs
    are the generalist's form; the new head gets all three classes."""
    from segdesk.core.instance_settings import write_object_setting
    from tests.services.test_instance_training import _project as disc_project
    from tests.services.test_instance_training import disc_pairs

    project = disc_project(tmp_path, [disc_pairs(s) for s in range(3)])
    write_object_setting(tmp_path, {"disc": True})
    config = training.resolve_config(QUICK)  # the generalist's width and depth
    prepared = training.prepare(training.request_for(project), config)
    assert prepared.dataset.class_names == ["_background_", "disc", "disc::boundary"]
    assert prepared.warm_start == generalist.NAME
    assert prepared.model_classes == ["_background_", "disc", "disc::boundary"]
    assert prepared.model.head.out_channels == 3
    # the person's "not an object": no boundary class, still the warm start's form (2 classes)
    write_object_setting(tmp_path, {"disc": False})
    plain = training.prepare(training.request_for(project), config)
    assert plain.model_classes == ["_background_", "disc"] and plain.warm_start == generalist.NAME


def test_two_object_classes_with_boundary_classes_stay_cold() -> None:
    """Two object classes are two, boundary classes or not: the rule is not fooled by the folding."""
    from segdesk.ml.data import Sample, TrainingSet
    from segdesk.services.warm_start import helps

    mask = np.zeros((64, 64), np.uint8)
    cv2.circle(mask, (20, 20), 10, 1, -1)
    cv2.circle(mask, (44, 44), 10, 2, -1)
    image = np.repeat((mask[..., None] * 0.4).astype(np.float32), 3, axis=2)
    names = ["_background_", "cell", "nucleus", "cell::boundary", "nucleus::boundary"]
    one = TrainingSet(
        ["_background_", "cell", "cell::boundary"], [Sample(image, np.minimum(mask, 1), "a")], []
    )
    two = TrainingSet(names, [Sample(image, mask, "a")], [])
    assert helps(one) and not helps(two)


def test_one_class_only_is_said_before_any_model_is_planned_or_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reviewed images fully covered by one label: the error comes from reading them, not after the
    plan was printed and the generalist loaded."""
    from segdesk.core.errors import TrainingError

    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\ncell\n")
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"img_{i}.png"), np.full((32, 40, 3), 100 + i, np.uint8))
        doc = Document(f"img_{i}.png", 32, 40, shapes=[Shape("cell", [[0, 0], [40, 0], [40, 32], [0, 32]])])
        doc.set_status("reviewed")
        save_document(doc, tmp_path / f"img_{i}.json")
    monkeypatch.setattr(training, "starting_model", lambda *a, **k: pytest.fail("a model was chosen"))
    with pytest.raises(TrainingError, match="contain only cell; label at least two classes"):
        training.prepare(training.request_for(Project(tmp_path)), training.resolve_config(QUICK))
