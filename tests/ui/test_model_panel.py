"""Model-assisted annotation end to end: review, Retrain in a QThread, proposals, accept, save, cancel.

A tiny model (base width 4, depth 2) on 80 x 64 images trains in a few seconds on the CPU.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from segdesk.core.commands import MoveShapes
from segdesk.core.review import reviewed_extra
from segdesk.services import model_store as model_index
from segdesk.ui.main_window import MainWindow
from segdesk.ui.settings import AppSettings, use_settings_dir

W, H = 80, 64


def _disc_image(path: Path, cx: int, cy: int, r: int) -> list[list[float]]:
    yy, xx = np.mgrid[0:H, 0:W]
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    rgb = np.full((H, W, 3), 30, np.uint8)
    rgb[inside] = (220, 200, 60)
    Image.fromarray(rgb).save(path)
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    return [[float(cx + r * np.cos(a)), float(cy + r * np.sin(a))] for a in angles]


#: (cx, cy, r) of img_1 .. img_4's disc.
DISCS = [(25, 30, 14), (52, 34, 16), (40, 30, 15), (30, 36, 13)]


def _disc_json(root: Path, i: int, label: str = "cell", segdesk: dict | None = None) -> None:
    """img_<i>.json: its disc as one polygon (written as Labelme writes it)."""
    points = _disc_image(root / f"img_{i}.png", *DISCS[i - 1])
    shape = {"label": label, "points": points, "group_id": None, "description": "",
             "shape_type": "polygon", "flags": {}, "mask": None}  # fmt: skip
    data = {"version": "5.5.0", "flags": {}, "shapes": [shape], "imagePath": f"img_{i}.png",
            "imageData": None, "imageHeight": H, "imageWidth": W,
            "segdesk": segdesk or {"status": "proposed"}}  # fmt: skip
    (root / f"img_{i}.json").write_text(json.dumps(data), encoding="utf-8")


def _make_project(root: Path, *, classes: int = 2) -> Path:
    """img_1, img_2: a labelled disc each, not yet reviewed (status proposed); img_3, img_4: unlabeled."""
    root.mkdir(parents=True)
    for i, disc in enumerate(DISCS, start=1):
        _disc_image(root / f"img_{i}.png", *disc)
        if i <= 2:
            _disc_json(root, i, "cell" if classes == 2 else "_background_")
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\n", encoding="utf-8")
    return root


def _review_new_images(root: Path) -> None:
    """img_3, img_4 labelled and reviewed: images v1 never saw train, so a Retrain's own epochs are
    kept (a Retrain whose starting model did best saves nothing: services.training.save_run)."""
    for i in (3, 4):
        _disc_json(
            root,
            i,
            segdesk={"status": "reviewed", "reviewed": {"how": "marked", "at": "2026-01-01T00:00:00+00:00"}},
        )


@pytest.fixture
def window(qtbot, tmp_path: Path):
    folder = tmp_path / "settings"
    folder.mkdir()
    use_settings_dir(folder)
    win = MainWindow(AppSettings())
    win.assist.export_onnx = False  # the ONNX export has its own tests; it costs seconds here
    win.assist.train_config = _tiny_config()
    win.show()
    qtbot.waitExposed(win)
    yield win
    if win._error_box is not None:  # a window-modal box left open would block the next test's input
        win._error_box.done(0)
    win.session.set_autosave(False)
    win.session.undo_stack.setClean()
    assert win.assist.shutdown(5000)
    win.close()


def _tiny_config(**overrides):
    from segdesk.ml.training.train import TrainConfig

    base = dict(minutes=None, max_epochs=25, patience=0, patch_size=64, batch_size=4, patches_per_epoch=8,
                base_width=4, depth=2, lr=2e-2, warmup_steps=2, device="cpu", threads=1, val_tile=64,
                progress_interval_s=0.05)  # fmt: skip
    base.update(overrides)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with img_1, img_2 reviewed and a model v1, trained once (without Qt) for the module."""
    import threading

    from segdesk.core.project import Project
    from segdesk.ui import job_functions

    root = _make_project(tmp_path_factory.mktemp("trained") / "p")
    for name in ("img_1.json", "img_2.json"):
        path = root / name
        path.write_text(path.read_text(encoding="utf-8").replace('"proposed"', _REVIEWED), encoding="utf-8")
    snapshot = job_functions.snapshot_training(Project(root), None)
    outcome = job_functions.train_job(snapshot, _tiny_config(), export_onnx=False)(
        threading.Event(), lambda _r: None
    )
    assert outcome.version == "v1" and outcome.promoted
    return root


#: The JSON text after "status": of a file a person marked reviewed.
_REVIEWED = '"reviewed", "reviewed": {"how": "marked", "at": "2026-01-01T00:00:00+00:00"}'


def _copy_of(trained: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(trained, target)
    return target


def _review_through_the_window(qtbot, win: MainWindow, indices: list[int]) -> None:
    for index in indices:
        win.session.go_to(index)
        assert win.session.current.document.status == "in_progress"  # the person's disc, not reviewed
        qtbot.mouseClick(win.model_panel.reviewed_button, Qt.MouseButton.LeftButton)
        assert win.session.entry_status(index) == "reviewed"


def _train(qtbot, win: MainWindow, timeout: int = 60000):
    with qtbot.waitSignal(win.assist.training_finished, timeout=timeout) as blocker:
        qtbot.mouseClick(win.model_panel.retrain_button, Qt.MouseButton.LeftButton)
        assert win.assist.runner.is_running("train")
        assert not win.model_panel.retrain_button.isEnabled()
    return blocker.args[0]


def test_retrain_then_proposals_accept_edit_save_with_provenance(qtbot, window: MainWindow, tmp_path: Path):
    win = window
    root = _make_project(tmp_path / "p")
    win.open_path(root)
    assert "No model yet" in win.model_panel.info.text()
    _review_through_the_window(qtbot, win, [0, 1])
    progress: list[object] = []
    win.assist.runner.job_started.connect(
        lambda name: name == "train" and win.assist.runner.job("train").progress.connect(progress.append)
    )
    outcome = _train(qtbot, win)
    assert outcome is not None and outcome.promoted and outcome.version == "v1"
    assert model_index.current_version(root) == "v1"
    assert "Model v1" in win.model_panel.info.text()
    assert progress and progress[-1].history  # the chart got epochs
    assert win.model_panel.chart.history
    # Opening an unlabeled image predicts it in the background (auto-predict).
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=30000) as applied:
        win.session.go_to(2)
    assert applied.args[0] > 0
    document = win.session.current.document
    proposals = [i for i, s in enumerate(document.shapes) if s.is_proposal]
    assert proposals and document.shapes[0].extra["model_version"] == "v1"
    assert win.model_panel.accept_button.isEnabled()
    # Editable: moving one makes it the person's (edited) shape; undo would restore the proposal.
    win.canvas.push(MoveShapes([proposals[0]], 1.0, 0.0))
    assert document.shapes[proposals[0]].extra["edited"] is True
    assert not document.shapes[proposals[0]].is_proposal
    # Accept the rest with the one key, then save.
    win.canvas.setFocus()
    QTest.keyClick(win.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert not document.proposals
    win.acts["save"].trigger()
    data = json.loads((root / "img_3.json").read_text(encoding="utf-8"))
    assert data["segdesk"]["status"] == "in_progress"  # saving never reviews
    assert not (root / ".segdesk" / "corrections.csv").exists()  # nor measures the effort
    win.acts["mark_reviewed"].trigger()
    data = json.loads((root / "img_3.json").read_text(encoding="utf-8"))
    assert data["segdesk"]["status"] == "reviewed" and data["segdesk"]["reviewed"]["how"] == "marked"
    extras = [s["segdesk"] for s in data["shapes"]]
    assert all(e["source"] == "model" and e["model_version"] == "v1" for e in extras)
    assert all(0.0 <= e["confidence"] <= 1.0 and e.get("proposal") is False for e in extras)
    assert any(e.get("edited") for e in extras)
    # The correction-effort meter recorded this image.
    csv_text = (root / ".segdesk" / "corrections.csv").read_text(encoding="utf-8")
    assert "img_3.png" in csv_text and "cell" in csv_text
    assert "proposals" in win.model_panel.effort.text()


def test_threshold_revectorizes_without_the_model_and_reviewed_images_get_none(
    qtbot, window: MainWindow, tmp_path: Path, trained: Path
):
    win = window
    root = _copy_of(trained, tmp_path / "p")
    win.open_path(root)
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=30000):
        win.session.go_to(3)
    document = win.session.current.document
    before = len(document.proposals)
    assert before > 0
    started: list[str] = []
    win.assist.runner.job_started.connect(started.append)
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=5000) as applied:
        win.model_panel.threshold.setValue(0.99)  # almost nothing is that sure
    assert applied.args[0] <= before
    assert "predict" not in started  # re-vectorized from the kept prediction
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=5000):
        win.model_panel.threshold.setValue(0.0)
    # Enter on a selected proposal accepts that one only.
    win.canvas.select_indices([len(document.shapes) - 1])
    win.canvas.setFocus()
    QTest.keyClick(win.canvas, Qt.Key.Key_Return)
    assert not document.shapes[-1].is_proposal
    assert len(document.proposals) == len(document.shapes) - 1
    assert win.assist.result is not None and win.assist.result.settings.threshold == 0.0
    # A reviewed image keeps the person's shapes: Predict does nothing to it.
    win.session.go_to(0)
    shapes_before = [s.label for s in win.session.current.document.shapes]
    win.model_panel.predict_button.click()
    assert not win.assist.runner.is_running("predict")
    assert [s.label for s in win.session.current.document.shapes] == shapes_before
    # The toggle takes the review back (the image then no longer trains) and gives it again.
    assert win.model_panel.reviewed_button.isChecked()
    win.model_panel.reviewed_button.click()
    assert win.session.entry_status(0) == "in_progress" and not win.model_panel.reviewed_button.isChecked()
    win.model_panel.reviewed_button.click()
    assert win.session.entry_status(0) == "reviewed"


def test_cancel_during_training_stops_quickly_and_keeps_the_old_model(
    qtbot, window: MainWindow, tmp_path: Path, trained: Path
):
    win = window
    root = _copy_of(trained, tmp_path / "p")
    win.open_path(root)
    assert model_index.versions(root) == ["v1"]
    win.assist.train_config = _tiny_config(max_epochs=100000, patches_per_epoch=64)
    epochs: list[object] = []
    with qtbot.waitSignal(win.assist.runner.job_started, timeout=5000):
        win.model_panel.retrain_button.click()
    job = win.assist.runner.job("train")
    job.progress.connect(epochs.append)
    qtbot.waitUntil(lambda: any(getattr(p, "phase", "") == "training" for p in epochs), timeout=20000)
    start = time.monotonic()
    with qtbot.waitSignal(win.assist.training_finished, timeout=5000) as finished:
        win.model_panel.cancel_button.click()
    assert time.monotonic() - start < 2.0
    assert finished.args[0] is None
    assert "cancelled" in win.model_panel.train_status.text()
    qtbot.waitUntil(lambda: not win.assist.runner.is_running(), timeout=5000)
    assert model_index.versions(root) == ["v1"] and model_index.current_version(root) == "v1"


def test_failures_are_messages_not_crashes(qtbot, window: MainWindow, tmp_path: Path):
    win = window
    root = _make_project(tmp_path / "p")
    win.open_path(root)
    win.model_panel.retrain_button.click()  # nothing reviewed yet
    assert "no reviewed images" in win.last_error
    assert not win.assist.runner.is_running()
    one = _make_project(tmp_path / "one", classes=1)
    win.open_path(one)
    _review_through_the_window(qtbot, win, [0, 1])
    outcome = _train(qtbot, win)
    assert outcome is None
    assert "only" in win.last_error and "class" in win.last_error
    assert model_index.versions(one) == []


def test_a_damaged_model_file_is_a_message(qtbot, window: MainWindow, tmp_path: Path, trained: Path):
    win = window
    root = _copy_of(trained, tmp_path / "p")
    (root / ".segdesk" / "models" / "v1" / "model.safetensors").write_bytes(b"not a model at all")
    win.model_panel.auto_predict.setChecked(False)
    win.open_path(root)
    win.session.go_to(2)
    with qtbot.waitSignal(
        win.assist.runner.job_finished, timeout=10000, check_params_cb=lambda n: n == "predict"
    ):
        win.model_panel.predict_button.click()
    assert "Prediction failed" in win.last_error and "model.safetensors" in win.last_error
    assert not win.session.current.document.shapes


def test_history_switches_back_to_an_earlier_version(
    qtbot, window: MainWindow, tmp_path: Path, trained: Path
):
    win = window
    root = _copy_of(trained, tmp_path / "p")
    _review_new_images(root)
    win.open_path(root)
    win.assist.train_config = _tiny_config(max_epochs=2)
    texts: list[str] = []
    show = win.model_panel.show_training_progress
    win.model_panel.show_training_progress = lambda f, text, h=None: (texts.append(text), show(f, text, h))
    outcome = _train(qtbot, win)
    assert outcome is not None, win.last_error
    # defect 5: a fine-tune starts by validating v1, which has no training loss: never "loss nan"
    # (the exact sequence depends on progress throttling; test_training_service checks each record)
    # (a line may carry the plan's line above the epoch line)
    epochs = [t.split("\n")[-1] for t in texts]
    assert any(t.startswith("epoch ") for t in epochs) and not [t for t in texts if "nan" in t.lower()], texts
    assert model_index.versions(root) == ["v1", "v2"]
    assert win.model_panel.history.count() == 2
    win.assist.use_version("v1")
    assert model_index.current_version(root) == "v1"
    assert "Model v1" in win.model_panel.info.text()


def test_predict_all_unlabeled_and_next_most_uncertain(
    qtbot, window: MainWindow, tmp_path: Path, trained: Path
):
    win = window
    root = _copy_of(trained, tmp_path / "p")
    win.model_panel.auto_predict.setChecked(False)
    win.open_path(root)  # on img_1 (reviewed)
    with qtbot.waitSignal(win.assist.batch_finished, timeout=30000) as done:
        win.model_panel.predict_all_button.click()
    outcome = done.args[0]
    assert sorted(outcome.written) == [2, 3] and len(outcome.scores) == 2
    for name in ("img_3.json", "img_4.json"):
        data = json.loads((root / name).read_text(encoding="utf-8"))
        assert data["segdesk"]["status"] == "proposed"
        assert data["shapes"] and all(s["segdesk"]["proposal"] for s in data["shapes"])
    assert win.files_panel.model.status(2) == "proposed"
    win.model_panel.uncertain_button.click()  # ranked by the batch: goes to the least sure image
    assert win.session.index == outcome.scores[0][0]


def test_closing_the_window_during_training_cancels_and_keeps_the_model(qtbot, tmp_path: Path, trained: Path):
    folder = tmp_path / "settings"
    folder.mkdir()
    use_settings_dir(folder)
    win = MainWindow(AppSettings())
    win.assist.export_onnx = False
    win.assist.train_config = _tiny_config(max_epochs=100000, patches_per_epoch=64)
    win.show()
    qtbot.waitExposed(win)
    root = _copy_of(trained, tmp_path / "p")
    win.open_path(root)
    seen: list[object] = []
    win.assist.runner.job_started.connect(
        lambda name: win.assist.runner.job(name).progress.connect(seen.append)
    )
    win.model_panel.retrain_button.click()
    qtbot.waitUntil(lambda: any(getattr(p, "phase", "") == "training" for p in seen), timeout=20000)
    start = time.monotonic()
    assert win.close()
    assert time.monotonic() - start < 2.0
    assert not win.assist.runner.is_running("train") or win.assist.runner.job("train").wait(0)
    assert model_index.versions(root) == ["v1"] and model_index.current_version(root) == "v1"


def test_a_diverging_run_is_a_clear_message_and_keeps_the_model(
    qtbot, window: MainWindow, tmp_path: Path, trained: Path
):
    win = window
    root = _copy_of(trained, tmp_path / "p")
    win.open_path(root)
    # An absurd learning rate makes the loss overflow within a few steps (in the training process).
    win.assist.train_config = _tiny_config(lr=1e30, warmup_steps=0, max_epochs=50)
    outcome = _train(qtbot, win)
    assert outcome is None
    assert "Training failed" in win.last_error and "the loss became" in win.last_error
    assert "lower the learning rate" in win.last_error
    assert model_index.versions(root) == ["v1"] and model_index.current_version(root) == "v1"


def test_retrain_ignores_unaccepted_proposals_in_a_reviewed_image(tmp_path: Path):
    """The app's training set is the engine's: a proposal nobody accepted teaches nothing."""
    import threading

    from segdesk.core.project import Project
    from segdesk.ml.data import IGNORE_INDEX
    from segdesk.ui import job_functions

    root = _make_project(tmp_path / "p")
    data = json.loads((root / "img_1.json").read_text(encoding="utf-8"))
    proposal = dict(data["shapes"][0], points=[[60, 5], [75, 5], [75, 20], [60, 20]],
                    segdesk={"source": "model", "proposal": True})  # fmt: skip
    data["shapes"].append(proposal)
    data["segdesk"] = reviewed_extra()
    (root / "img_1.json").write_text(json.dumps(data), encoding="utf-8")
    from segdesk.services import training

    snapshot = job_functions.snapshot_training(Project(root), None)
    dataset = training.prepare(snapshot, training.default_config(), threading.Event()).dataset
    mask = (dataset.train + dataset.val)[0].mask
    assert mask[30, 25] == 1  # the person's disc
    assert mask[12, 67] == IGNORE_INDEX  # under the unaccepted proposal
    assert mask[60, 5] == 0


def test_retrain_in_a_child_process_saves_and_exports_the_fast_cpu_model(tmp_path: Path, trained: Path):
    """What the app runs: training, saving and the ONNX export happen in a child process."""
    import threading

    from segdesk.core.project import Project
    from segdesk.ui import job_functions

    root = _copy_of(trained, tmp_path / "p")
    _review_new_images(root)
    snapshot = job_functions.snapshot_training(Project(root), "v1")
    phases: list[str] = []
    outcome = job_functions.train_in_child(snapshot, _tiny_config(max_epochs=2), export_onnx=True)(
        threading.Event(), lambda status: phases.append(status.phase)
    )
    assert outcome.version == "v2" and outcome.onnx_error is None
    assert (root / ".segdesk" / "models" / "v2" / "model.onnx").is_file()
    assert phases[0] == "loading" and "training" in phases and phases[-1] == "exporting"


def _described(shapes) -> list[tuple[str, list, object]]:
    return [(s.label, np.asarray(s.points).tolist(), s.extra.get("model_version")) for s in shapes]


def test_hiding_is_never_deleting_across_images_and_model_switches(
    qtbot, window: MainWindow, tmp_path: Path, trained: Path
):
    """Issue 13: threshold and model switches re-derive from the kept prediction; what a setting hid
    comes back when it is relaxed, after visiting another image and after switching models and back."""
    import shutil

    win = window
    root = _copy_of(trained, tmp_path / "p")
    models = root / ".segdesk" / "models"
    shutil.copytree(models / "v1", models / "v2")  # the same weights under another version name
    win.open_path(root)  # v2 is not current: v1 stays
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=30000):
        win.session.go_to(3)
    first = _described(win.session.current.document.proposals)
    assert first and {m for _, _, m in first} == {"v1"}
    started: list[str] = []
    win.assist.runner.job_started.connect(started.append)
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=5000):
        win.model_panel.min_area.setValue(1_000_000)  # hides every proposal
    assert win.session.current.document.proposals == []
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=5000):
        win.model_panel.min_area.setValue(16)
    assert _described(win.session.current.document.proposals) == first
    # another image and back: the kept prediction still answers a setting
    win.model_panel.auto_predict.setChecked(False)
    win.session.go_to(2)
    win.session.go_to(3)
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=5000):
        win.model_panel.tolerance.setValue(2.0)
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=5000):
        win.model_panel.tolerance.setValue(1.0)
    assert _described(win.session.current.document.proposals) == first
    assert "predict" not in started
    # another model predicts; switching back re-derives v1's proposals without running the model
    with qtbot.waitSignal(win.assist.proposals_applied, timeout=30000):
        win.assist.use_version("v2")
    assert {m for _, _, m in _described(win.session.current.document.proposals)} == {"v2"}
    started.clear()
    win.assist.use_version("v1")
    assert "predict" not in started
    assert _described(win.session.current.document.proposals) == first


def test_predict_all_reproposes_images_whose_proposals_came_from_an_older_model(
    qtbot, window: MainWindow, tmp_path: Path, trained: Path
):
    """Defect 6: after a model switch, Predict all skipped images that still carried v1's proposals."""
    import shutil

    win = window
    root = _copy_of(trained, tmp_path / "p")
    models = root / ".segdesk" / "models"
    win.model_panel.auto_predict.setChecked(False)
    win.open_path(root)  # on img_1 (reviewed)
    with qtbot.waitSignal(win.assist.batch_finished, timeout=30000) as done:
        win.model_panel.predict_all_button.click()
    assert sorted(done.args[0].written) == [2, 3]
    reviewed = [(root / n).read_bytes() for n in ("img_1.json", "img_2.json")]
    shutil.copytree(models / "v1", models / "v2")
    win.assist.use_version("v2")
    # the first batch's thread winds down after its result arrived; a click before that is ignored
    qtbot.waitUntil(lambda: not win.assist.runner.is_running("batch"), timeout=10000)
    with qtbot.waitSignal(win.assist.batch_finished, timeout=30000) as again:
        win.model_panel.predict_all_button.click()
    assert sorted(again.args[0].written) == [2, 3]
    for name in ("img_3.json", "img_4.json"):
        shapes = json.loads((root / name).read_text(encoding="utf-8"))["shapes"]
        assert shapes and {s["segdesk"]["model_version"] for s in shapes} == {"v2"}
    assert [(root / n).read_bytes() for n in ("img_1.json", "img_2.json")] == reviewed
