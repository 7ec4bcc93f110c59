"""One rule, one place: the app's path and the command line give the same proposals and train alike."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segdesk.commands.predict import predict_command
from segdesk.commands.train import make_config
from segdesk.core.document import Document
from segdesk.core.labelme_io import load_document, save_document
from segdesk.core.project import Project
from segdesk.core.shapes import Shape
from segdesk.ml.checkpoint import ModelStore
from segdesk.ml.inference.export import cached_onnx
from segdesk.services import training
from segdesk.services.proposals import ProposalSettings
from segdesk.ui import job_functions
from tests.ml._infer_helpers import CLASSES, blob_image, fresh_copy, trained_tiny_model
from tests.services._instance_model import instance_model_project

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three images, one model version with its ONNX export (as training leaves it)."""
    root = tmp_path_factory.mktemp("project")
    for i in range(3):
        image, _ = blob_image(90, 110, seed=10 + i, count=5)
        cv2.imwrite(str(root / f"img_{i}.png"), image)
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\n", encoding="utf-8")
    store = ModelStore(root)
    version = store.add_version(fresh_copy(trained_tiny_model()), {"classes": CLASSES})
    cached_onnx(store.path(version))
    return root


def _copy(project: Path, dest: Path) -> Path:
    shutil.copytree(project, dest)
    return dest


def _described(shapes: list[Shape]) -> list[tuple[str, list[list[float]], float, str]]:
    return [
        (
            s.label,
            np.asarray(s.points).round(6).tolist(),
            round(float(s.extra["confidence"]), 6),
            s.extra["model_version"],
        )  # fmt: skip
        for s in shapes
    ]


@pytest.fixture(scope="module")
def instance_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three images of touching discs and a model with a boundary class (issue 17), ONNX export too."""
    return instance_model_project(tmp_path_factory.mktemp("instances"))


def test_same_model_and_image_give_identical_proposals_in_the_app_and_the_cli(
    project: Path, tmp_path: Path
) -> None:
    _same_in_the_app_and_the_cli(project, tmp_path)


def test_a_model_that_separates_objects_gives_identical_files_in_the_app_and_the_cli(
    instance_project: Path, tmp_path: Path
) -> None:
    written = _same_in_the_app_and_the_cli(instance_project, tmp_path)
    for document in written:
        cells = [s for s in document.shapes if s.label == "cell"]
        assert len(cells) == 4  # two pairs of touching discs: four objects, in both files
        assert all(s.label == "cell" for s in document.shapes)  # never a "cell::boundary" shape
        assert all(0 < s.extra["confidence"] <= 1 for s in cells)


def _same_in_the_app_and_the_cli(project: Path, tmp_path: Path) -> list[Document]:
    cli_root = _copy(project, tmp_path / "cli")
    app_root = _copy(project, tmp_path / "app")
    lines: list[str] = []
    assert predict_command(cli_root, write=True, out=lines.append) == 0, lines

    model = ModelStore(app_root).current_path()
    entries = Project(app_root).entries()
    settings = ProposalSettings()  # the panel's defaults
    batch = job_functions.batch_job(app_root, list(enumerate(entries)), model, settings, write=True)
    outcome = batch(threading.Event(), lambda _status: None)
    assert outcome.written == (0, 1, 2)

    for entry in entries:
        cli_doc = load_document(cli_root / entry.json_path.name)
        app_doc = load_document(entry.json_path)
        assert cli_doc.shapes and _described(cli_doc.shapes) == _described(app_doc.shapes)
        assert cli_doc.status == app_doc.status == "proposed"
        assert cli_doc.extra == app_doc.extra  # status and what made the proposals (for --resume)
        # the Predict button's job (the open image) makes the same shapes again
        image = cv2.imread(str(entry.image_path), cv2.IMREAD_UNCHANGED)
        one = job_functions.predict_job(image, entry.image_path, model, settings)(threading.Event(), print)
        assert _described(one.shapes) == _described(cli_doc.shapes)
    # what the app wrote counts as done for a resumed `segdesk predict --write --resume`
    lines.clear()
    assert predict_command(app_root, write=True, resume=True, out=lines.append) == 0
    assert "3 already up to date" in lines[-1], lines
    assert "::boundary" not in " ".join(lines)
    return [load_document(entry.json_path) for entry in entries]


def test_the_same_reviewed_set_gives_the_same_training_configuration(project: Path, tmp_path: Path) -> None:
    root = _copy(project, tmp_path / "p")
    image, truth = blob_image(90, 110, seed=10, count=5)
    contours, _ = cv2.findContours(truth, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    shapes = [Shape("cell", c[:, 0, :].astype(float)) for c in contours if len(c) >= 3]
    document = Document("img_0.png", 90, 110, shapes=shapes)
    document.set_status("reviewed")
    save_document(document, root / "img_0.json")

    app = job_functions.snapshot_training(Project(root), ModelStore(root).current())
    cli = training.request_for(Project(root))
    assert app == cli and [e.image_path.name for e in app.entries] == ["img_0.png"]
    assert app.base_version == "v1" and app.class_names == ("_background_", "cell")
    # What the app's training process resolves (no overrides) is what `segdesk train DIR` runs.
    assert training.resolve_config(None) == make_config()
    assert make_config().minutes == training.DEFAULT_MINUTES
    assert training.niceness(interactive=True) > 0 == training.niceness(interactive=False)
