"""Model > Training settings (issue 16: every part of the plan can be overridden, in the app too):
the dialog saves the project's settings, the next Retrain's request carries them, and a damaged
settings file is named, never silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLabel, QMessageBox

from segdesk.core.project import Project
from segdesk.core.review import reviewed_extra
from segdesk.core.training_settings import TrainingSettings, load_settings, save_settings, settings_path
from segdesk.ui.dialogs.training_settings import TrainingSettingsDialog, plan_words
from segdesk.ui.job_functions import snapshot_training
from segdesk.ui.main_window import MainWindow
from tests.ui.window_helpers import answer_modal, make_image, polygon_shape, quiet_window, write_json


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    for i in (1, 2, 3):
        image = make_image(root / f"img_{i}.png", seed=i)
        cell = polygon_shape("cell", [[20, 20], [90, 25], [80, 90], [25, 80]])
        write_json(image, [cell], segdesk=reviewed_extra())
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\n", encoding="utf-8")
    return root


@pytest.fixture
def window(qtbot, tmp_path: Path):
    yield from quiet_window(qtbot, tmp_path)


def test_the_dialog_shows_auto_and_gives_back_what_was_set(qtbot) -> None:
    dialog = TrainingSettingsDialog(TrainingSettings(scale=0.5, min_steps=0), last_plan="trained with x")
    qtbot.addWidget(dialog)
    boxes = dialog.boxes
    assert boxes["scale"].value() == 0.5 and boxes["min_steps"].value() == 0  # 0 steps is a value
    assert boxes["patch_size"].text() == "auto" and boxes["minutes"].text() == "2 (default)"
    assert boxes["min_steps"].text() != "auto"
    assert dialog.value() == TrainingSettings(scale=0.5, min_steps=0)
    boxes["patch_size"].setValue(8)  # under the least patch: raised to it
    boxes["minutes"].setValue(5)
    assert dialog.value() == TrainingSettings(minutes=5, scale=0.5, patch_size=16, min_steps=0)
    dialog.reset()
    assert dialog.value() == TrainingSettings() and boxes["min_steps"].text() == "auto"
    boxes["minutes"].stepUp()  # up from "2 (default)" is 2, not the least value allowed (0.5)
    boxes["patch_size"].stepUp()  # up from auto: what the current model's plan chose
    assert dialog.value() == TrainingSettings(minutes=2, patch_size=128)
    planned = TrainingSettingsDialog(TrainingSettings(), plan={"patch_size": 256, "scale": 0.5})
    qtbot.addWidget(planned)
    planned.boxes["patch_size"].stepBy(2)
    planned.boxes["scale"].stepUp()
    assert planned.value() == TrainingSettings(patch_size=272, scale=0.5)
    # the app can do what segdesk train's options do: hold out more, no warm start, odds as trained
    planned.boxes["val_fraction"].setValue(0.0)  # 0 is a value (check on the training images)
    planned.choices["warm_start"].setCurrentIndex(2)
    planned.choices["prior_correction"].setCurrentIndex(1)
    chosen = planned.value()
    assert (chosen.val_fraction, chosen.warm_start, chosen.prior_correction) == (0.0, False, False)
    again = TrainingSettingsDialog(chosen)
    qtbot.addWidget(again)
    assert again.value() == chosen and again.choices["warm_start"].currentText() == "from random weights"
    assert boxes["val_fraction"].text() == "0.2 (default)" and boxes["minutes"].minimum() == 0.0
    assert dialog.findChild(QLabel, "last_plan").text() == "trained with x"
    assert plan_words({"scale": 1.0, "patch_size": 128, "base_width": 8, "min_steps": 300, "x": 1}) == (
        "working scale 1x, patches 128, width 8, at least 300 steps"
    )


def test_the_menu_saves_the_projects_settings_and_the_next_retrain_uses_them(
    window: MainWindow, tmp_path: Path
) -> None:
    root = _project(tmp_path / "p")
    action = window.acts["training_settings"]
    said: list[str] = []
    done = answer_modal(lambda box: (said.append(box.text()), box.done(0)))
    action.trigger()  # no folder yet: said, not silently ignored
    assert done == [True] and said[0].startswith("Open a folder first")
    window.open_path(root)
    model_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Model")
    assert action in model_menu.actions()

    def choose(dialog) -> None:
        assert isinstance(dialog, TrainingSettingsDialog)
        dialog.boxes["scale"].setValue(0.5)
        dialog.boxes["minutes"].setValue(4)
        dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()

    done = answer_modal(choose)
    action.trigger()
    assert done == [True]
    assert load_settings(root) == TrainingSettings(minutes=4, scale=0.5)
    button = window.model_panel.settings_button  # the dock says the project fixes parts of the plan
    assert (
        button.text() == "Settings (yours) ..." and "time cap 4 min, working scale 0.5x" in button.toolTip()
    )
    request = snapshot_training(Project(root), None)  # what Retrain hands to the training process
    assert request.settings == TrainingSettings(minutes=4, scale=0.5)

    # Cancel changes nothing (the Model dock's "Settings ..." opens the same dialog); a damaged file
    # is named in the dialog, and OK replaces it.
    done = answer_modal(lambda d: d.reject())
    window.model_panel.settings_button.click()
    assert done == [True] and load_settings(root) == TrainingSettings(minutes=4, scale=0.5)
    settings_path(root).write_text('{"scale": "big"}')
    seen: list[str] = []

    def read_and_reset(dialog) -> None:
        seen.append(dialog.findChild(QLabel, "settings_problem").text())
        dialog.reset()
        dialog.accept()

    done = answer_modal(read_and_reset)
    action.trigger()
    assert done == [True] and 'training.json: scale: must be a number, not "big"' in seen[0]
    assert load_settings(root) == TrainingSettings() and settings_path(root).read_text().strip() == "{}"
    assert button.text() == "Settings ..."
    save_settings(root, TrainingSettings(depth=3))
    window.open_path(root)  # read again when a folder opens
    assert button.text() == "Settings (yours) ..." and "depth 3" in button.toolTip()


def test_retrain_with_a_damaged_settings_file_names_it(window: MainWindow, tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    save_settings(root, TrainingSettings(depth=3))
    settings_path(root).write_text('{"depth": 9}')
    window.open_path(root)
    errors: list[str] = []
    window.assist.error.connect(errors.append)
    window.acts["retrain"].trigger()
    assert errors and "training.json: depth: must be from 1 to 6, not 9" in errors[0]
    assert not window.assist.ctx.runner.is_running("train")
    box = QApplication.activeModalWidget()  # the window's error box says it too
    assert isinstance(box, QMessageBox) and "training.json: depth" in box.text()
    box.done(0)
