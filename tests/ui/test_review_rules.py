"""Reviewed means a person said so (issue 13): nothing but the explicit act reviews an image.

Autosave, Ctrl+S, the confidence threshold (up and down), switching the model, Reject all and one
drawn shape leave the status alone; Mark reviewed, R (mark reviewed and next) and Un-review change it.
Retrain reads the files on disk and never saves or changes the open image. Also defect 9 (the effort
meter and an undone Reject all) and defect 11 (a model that is not useful yet says so).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from segdesk.core.commands import AddShapes
from segdesk.core.project import Project
from segdesk.core.review import reviewed_extra
from segdesk.core.shapes import Shape
from segdesk.services.proposals import PredictionResult
from segdesk.services.proposals import derive_shapes as proposal_shapes
from segdesk.ui import review_flow
from segdesk.ui.main_window import MainWindow
from tests.ui.window_helpers import make_image, polygon_shape, quiet_window, write_json

W, H = 96, 80
CLASSES = ["_background_", "cell"]
SIZE = {"imageHeight": H, "imageWidth": W}


def _tiny_model(root: Path, version_metrics: dict | None = None) -> None:
    torch = pytest.importorskip("torch")
    from segdesk.ml.checkpoint import ModelStore
    from segdesk.ml.model import UNet, UNetConfig

    torch.manual_seed(0)
    net = UNet(UNetConfig(base_width=4, depth=2, num_classes=2)).eval()
    ModelStore(root).add_version(net, {"classes": CLASSES, "metrics": version_metrics or {"miou": 0.5}})


def _project(root: Path, n: int = 3) -> Path:
    """``n`` unlabeled images, labels.txt and an untrained tiny model v1 (no training)."""
    root.mkdir(parents=True)
    for i in range(1, n + 1):
        make_image(root / f"img_{i}.png", width=W, height=H, seed=i)
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\n", encoding="utf-8")
    _tiny_model(root)
    return root


@pytest.fixture
def window(qtbot, tmp_path: Path):
    def no_question(title: str, text: str, buttons) -> str:
        raise AssertionError(f"unexpected question: {title}: {text}")

    for win in quiet_window(qtbot, tmp_path):
        win.assist.ask = no_question
        yield win


def _result(win: MainWindow, boxes: int = 2) -> PredictionResult:
    """A prediction of the image on screen: ``boxes`` confident cells (0.9 sure)."""
    conf = np.full((H, W), 0.99, np.float32)
    class_map = np.zeros((H, W), np.uint8)
    for k in range(boxes):
        class_map[10:30, 5 + 30 * k : 25 + 30 * k] = 1
        conf[10:30, 5 + 30 * k : 25 + 30 * k] = 0.9
    version, settings = win.assist.info.version, win.model_panel.settings()
    shapes = proposal_shapes(class_map, conf, CLASSES, settings, model_version=version)
    path = win.session.current.image_path
    return PredictionResult(path, version, CLASSES, class_map, conf, 0.1, shapes=shapes, settings=settings)


def _on_disk(root: Path, index: int = 1) -> str:
    return Project(root).status(Project(root).entries()[index - 1])


def _flush(win: MainWindow) -> None:
    win.session.flush()  # the autosave a pause would trigger


def _open_with_proposals(qtbot, win: MainWindow, root: Path, boxes: int = 2) -> None:
    assert win.open_path(root)
    win.assist.apply_prediction(_result(win, boxes))
    assert len(win.session.document.proposals) == boxes


def test_autosave_save_accept_and_reject_all_never_review(qtbot, window: MainWindow, tmp_path: Path):
    win, root = window, _project(tmp_path / "p")
    _open_with_proposals(qtbot, win, root)
    assert win.session.autosave()
    _flush(win)
    assert _on_disk(root) == "proposed"
    win.assist.reject_all()  # nothing left on the image: before issue 13 this saved it "reviewed"
    _flush(win)
    assert _on_disk(root) == "unlabeled" and not win.model_panel.reviewed_button.isChecked()
    win.session.undo_stack.undo()
    win.assist.accept_all()
    _flush(win)
    assert _on_disk(root) == "in_progress"
    win.acts["save"].trigger()  # Ctrl+S: the Labelme habit of saving work in progress
    assert _on_disk(root) == "in_progress"
    assert win.files_panel.model.status(0) == "in_progress"
    assert win.status.review.text() == "in progress"
    assert "0 image(s) will train" in win.model_panel.train_count.text()


def test_one_drawn_shape_does_not_review(qtbot, window: MainWindow, tmp_path: Path):
    win, root = window, _project(tmp_path / "p")
    assert win.open_path(root)
    win.canvas.push(AddShapes([0], [Shape("cell", [[5, 5], [40, 5], [20, 30]], extra={"source": "person"})]))
    _flush(win)
    assert _on_disk(root) == "in_progress"
    assert json.loads((root / "img_1.json").read_text())["segdesk"] == {"status": "in_progress"}


def test_threshold_up_and_down_hides_without_reviewing(qtbot, window: MainWindow, tmp_path: Path):
    win, root = window, _project(tmp_path / "p")
    _open_with_proposals(qtbot, win, root)
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=5000) as applied:
        win.model_panel.threshold.setValue(0.95)  # above every proposal's 0.9
    assert applied.args[0] == 0
    _flush(win)
    assert _on_disk(root) == "unlabeled"  # not "reviewed with 0 shapes"
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=5000) as applied:
        win.model_panel.threshold.setValue(0.5)
    assert applied.args[0] == 2  # the hidden proposals come back from the kept prediction
    _flush(win)
    assert _on_disk(root) == "proposed"


def test_switching_the_model_does_not_review(qtbot, window: MainWindow, tmp_path: Path):
    win, root = window, _project(tmp_path / "p")
    _tiny_model(root)  # v2, current
    _open_with_proposals(qtbot, win, root)
    win.assist.use_version("v1")  # double-click in the history
    qtbot.waitUntil(lambda: not win.assist.runner.is_running("predict"), timeout=30000)
    _flush(win)
    assert _on_disk(root) in ("proposed", "unlabeled")


def test_mark_reviewed_r_and_unreview_are_the_only_way(qtbot, window: MainWindow, tmp_path: Path):
    win, root = window, _project(tmp_path / "p")
    _open_with_proposals(qtbot, win, root)
    win.assist.accept_all()
    win.acts["mark_reviewed"].trigger()
    data = json.loads((root / "img_1.json").read_text())
    assert data["segdesk"]["status"] == "reviewed" and data["segdesk"]["reviewed"]["how"] == "marked"
    assert win.model_panel.reviewed_button.isChecked() and win.status.review.text() == "reviewed"
    assert "1 image(s) will train" in win.model_panel.train_count.text()
    assert "1 will train" in win.files_panel.summary.text()
    win.acts["unreview"].trigger()
    assert (
        _on_disk(root) == "in_progress"
        and "reviewed" not in json.loads((root / "img_1.json").read_text())["segdesk"]
    )
    # R: mark reviewed and go to the next image.
    win.canvas.setFocus()
    QTest.keyClick(win.canvas, Qt.Key.Key_R)
    assert _on_disk(root) == "reviewed" and win.session.index == 1
    tip = win.files_panel.model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    assert "reviewed" in tip and "it trains" in tip


def test_retrain_leaves_the_open_document_and_its_file_untouched(qtbot, window: MainWindow, tmp_path: Path):
    from segdesk.ui.model_assist import with_train_config

    win, root = window, _project(tmp_path / "p")
    shape = polygon_shape("cell", [[5, 5], [40, 5], [40, 30], [5, 30]])
    write_json(root / "img_2.png", [shape], segdesk=reviewed_extra(), **SIZE)  # the one that trains
    win.session.set_autosave(False)
    _open_with_proposals(qtbot, win, root)
    win.assist.accept_all()  # unsaved edits on img_1
    assert win.session.is_dirty()
    before_doc = [s.label for s in win.session.document.shapes]
    assert not (root / "img_1.json").exists()
    questions: list[str] = []

    def ask(title: str, text: str, buttons) -> str:
        questions.append(text)
        return review_flow.START

    win.assist.ask = ask
    with_train_config(win.assist, minutes=None, max_epochs=1, patience=0, patch_size=32, batch_size=2,
                      patches_per_epoch=2, base_width=4, depth=2, device="cpu", threads=1, val_tile=32)  # fmt: skip
    with qtbot.waitSignal(win.assist.training_finished, timeout=120000) as done:
        win.acts["retrain"].trigger()
        assert "1 image(s) will train: img_2.png" in win.model_panel.train_status.text()
    assert done.args[0] is not None, win.last_error
    assert len(questions) == 1 and "img_1.png has unsaved edits: they are NOT included" in questions[0]
    assert not (root / "img_1.json").exists()  # never saved by Retrain
    assert win.session.is_dirty() and [s.label for s in win.session.document.shapes] == before_doc
    assert win.session.document.status != "reviewed"


def test_labelled_elsewhere_train_only_once_confirmed(qtbot, window: MainWindow, tmp_path: Path):
    win, root = window, _project(tmp_path / "p")
    for i in (1, 2):  # Labelme's files: shapes, no segdesk key
        write_json(root / f"img_{i}.png", [polygon_shape("cell", [[5, 5], [40, 5], [20, 30]])], **SIZE)
    assert win.open_path(root)
    assert win.files_panel.model.status(0) == "elsewhere" and win.status.review.text() == "labelled elsewhere"
    asked: list[str] = []
    answers = [review_flow.NOT_ELSEWHERE]
    win.assist.ask = lambda title, text, buttons: (asked.append(text), answers.pop(0))[1]
    win.acts["retrain"].trigger()
    assert "Use the 2 image(s) labelled elsewhere for training?" in asked[0]
    assert "img_1.png" in asked[0] and "img_2.png" in asked[0]
    assert "no reviewed images" in win.last_error and not win.assist.runner.is_running("train")
    assert _on_disk(root) == "elsewhere"
    # One by one: Mark reviewed on the image.
    win.acts["mark_reviewed"].trigger()
    assert _on_disk(root, 1) == "reviewed" and _on_disk(root, 2) == "elsewhere"
    # All at once from the prompt: recorded as confirmed.
    plan = review_flow.plan_retrain(Project(root), lambda *_q: review_flow.USE_ELSEWHERE, unsaved=None)
    assert plan is not None and [e.name for e in plan.entries] == ["img_1.png", "img_2.png"]
    assert json.loads((root / "img_2.json").read_text())["segdesk"]["reviewed"]["how"] == "confirmed"


def test_confirming_keeps_the_open_image_confirmed(qtbot, window: MainWindow, tmp_path: Path):
    win, root = window, _project(tmp_path / "p")
    for i in (1, 2):
        write_json(root / f"img_{i}.png", [polygon_shape("cell", [[5, 5], [40, 5], [20, 30]])], **SIZE)
    win.session.set_autosave(False)
    assert win.open_path(root)
    win.canvas.push(
        AddShapes([1], [Shape("cell", [[50, 50], [90, 50], [70, 70]], extra={"source": "person"})])
    )
    answers = [review_flow.USE_ELSEWHERE, review_flow.CANCEL]  # then cancel at "unsaved edits"
    win.assist.ask = lambda title, text, buttons: answers.pop(0)
    win.acts["retrain"].trigger()
    assert not answers and not win.assist.runner.is_running("train")
    assert _on_disk(root, 1) == _on_disk(root, 2) == "reviewed"
    assert win.session.document.status == "reviewed" and win.files_panel.model.status(1) == "reviewed"
    assert win.session.is_dirty()  # the edit is still only on screen
    win.acts["save"].trigger()  # saving the open image keeps the confirmation
    data = json.loads((root / "img_1.json").read_text())
    assert data["segdesk"]["reviewed"]["how"] == "confirmed" and len(data["shapes"]) == 2


def test_reviewed_without_shapes_is_asked_about(tmp_path: Path):
    root = tmp_path / "p"
    root.mkdir()
    for i in (1, 2):
        make_image(root / f"img_{i}.png", width=W, height=H, seed=i)
    write_json(
        root / "img_1.png",
        [polygon_shape("cell", [[5, 5], [40, 5], [20, 30]])],
        segdesk=reviewed_extra(),
        **SIZE,
    )
    write_json(root / "img_2.png", [], segdesk=reviewed_extra(), **SIZE)
    (root / "labels.txt").write_text("_background_\n", encoding="utf-8")  # "cell" is not listed
    asked: list[tuple[str, str]] = []

    def answer(choice: str):
        def ask(title: str, text: str, buttons) -> str:
            asked.append((title, text))
            return choice if choice in buttons else review_flow.START

        return ask

    plan = review_flow.plan_retrain(Project(root), answer(review_flow.AS_BACKGROUND), unsaved=None)
    assert plan is not None and [e.name for e in plan.entries] == ["img_1.png", "img_2.png"]
    assert "Train them as all background" in asked[0][1] and "img_2.png" in asked[0][1]
    assert "labels not in labels.txt" in asked[1][1] and "cell" in asked[1][1]
    plan = review_flow.plan_retrain(Project(root), answer(review_flow.SKIP_EMPTY), unsaved=None)
    assert plan is not None and [e.name for e in plan.entries] == ["img_1.png"]
    assert review_flow.plan_retrain(Project(root), answer(review_flow.CANCEL), unsaved=None) is None


def test_undone_reject_all_leaves_no_effort_record(qtbot, window: MainWindow, tmp_path: Path):
    """Defect 9: the meter kept a Reject all result after it was undone."""
    win, root = window, _project(tmp_path / "p")
    _open_with_proposals(qtbot, win, root, boxes=3)
    csv_path = root / ".segdesk" / "corrections.csv"
    meter = win.model_panel.effort.text()
    win.canvas.select_indices([0])
    win.assist.accept_selected()
    win.assist.reject_all()
    _flush(win)
    win.session.undo_stack.undo()  # the Reject all is undone
    _flush(win)
    assert not csv_path.exists() and win.model_panel.effort.text() == meter
    win.assist.accept_all()
    win.acts["mark_reviewed"].trigger()  # the person's verdict is what is measured
    rows = csv_path.read_text().splitlines()
    assert len(rows) == 2 and rows[1].split(",")[4] == "1.0000"  # all 3 accepted unchanged
    assert win.model_panel.effort.text() != meter and "100%" in win.model_panel.effort.text()


def test_a_model_that_finds_nothing_says_it_is_not_useful_yet(qtbot, window: MainWindow, tmp_path: Path):
    """Defect 11: mIoU 0.5 from the background alone is not a useful model."""
    from segdesk.ui import job_functions

    win, root = window, tmp_path / "p"
    root.mkdir()
    make_image(root / "img_1.png", width=W, height=H)
    _tiny_model(root, {"miou": 0.58, "iou": {"_background_": 0.97, "cell": 0.0}})
    assert win.open_path(root)
    health = win.model_panel.health
    assert not health.isHidden() and "Not useful yet" in health.text()
    assert "cell" in health.text() and "Retrain again" in health.text()
    outcome = job_functions.TrainOutcome(
        "v1", True, "no current model", 0.58, None, None, 3, 1.0, "budget", 1, "held-out"
    )
    win.assist.apply_training_outcome(outcome)
    assert "Not useful yet: v1 finds no cell" in win.model_panel.train_status.text()
    assert "now current" not in win.model_panel.train_status.text()
    _tiny_model(root, {"miou": 0.7, "iou": {"_background_": 0.9, "cell": 0.5}})  # v2: finds cells
    win.assist.refresh_model()
    assert health.isHidden()
