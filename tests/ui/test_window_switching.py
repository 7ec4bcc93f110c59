"""Switching folders and images leaves no trace of what was shown before (issue 13, defects 2 and 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QApplication, QMessageBox

from segdesk.ui.main_window import MainWindow
from segdesk.ui.settings import use_settings_dir
from tests.ui.window_helpers import make_project, shown_window


@pytest.fixture
def window(qtbot, tmp_path: Path):
    folder = tmp_path / "settings"
    folder.mkdir()
    use_settings_dir(folder)
    yield from shown_window(qtbot)


def _dirty_the_first_project(window: MainWindow, tmp_path: Path) -> None:
    """Project A on screen with everything a person sees filled in: shapes, labels, coordinates, training."""
    assert window.open_path(make_project(tmp_path / "a", n=2))
    assert set(window.labels_panel.labels()) >= {"cat", "dog"}
    window.labels_panel.set_visible("cat", False)  # the person hid a label in A
    assert window.canvas.scene_.hidden_labels == {"cat"}
    assert window.shapes_panel.model.rowCount() == 2
    # The canvas reports the cursor (a real mouse move depends on where earlier tests left the cursor).
    window.canvas.cursor_moved.emit(30.0, 30.0, (1, 2, 3))
    assert window.status.position.text().startswith("x ")
    window.model_panel.show_training_progress(
        1.0, "New model v3 (held-out mIoU 0.812) is now current", [(1, 0.5, 0.6)]
    )


@pytest.mark.parametrize("other", ["unlabelled", "empty"])
def test_switching_folders_forgets_the_previous_project(
    window: MainWindow, tmp_path: Path, other: str
) -> None:
    _dirty_the_first_project(window, tmp_path)
    target = tmp_path / "b"
    if other == "unlabelled":
        make_project(target, n=1, with_json=False)
    else:
        target.mkdir()
    assert window.open_path(target)
    QApplication.processEvents()
    assert window.shapes_panel.model.rowCount() == 0 and window.shapes_panel.windowTitle() == "Shapes (0)"
    assert not {"cat", "dog"} & set(window.labels_panel.labels())
    assert not window.labels_panel.hidden_labels() and not window.canvas.scene_.hidden_labels
    assert window.status.position.text() == ""
    assert window.model_panel.train_status.text() == "" and window.model_panel.chart.history == []
    if other == "empty":
        assert window.status.size.text() == ""
    else:
        assert window.status.size.text().startswith("160 x 120")


def test_cancel_on_the_unsaved_question_keeps_the_file_list_on_the_shown_image(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "p", n=3)
    assert window.open_path(root)
    window.acts["autosave"].setChecked(False)
    window.canvas.select_indices([0])
    window.canvas.delete_selected()
    assert window.session.is_dirty()
    asked: list[str] = []

    def cancel(*args, **_kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", staticmethod(cancel))
    panel = window.files_panel
    target = panel.proxy.mapFromSource(panel.model.index(2))
    # A click as the list handles it: select the row, then emit clicked.
    panel.view.selectionModel().setCurrentIndex(target, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    panel.view.clicked.emit(target)
    assert asked and "img_1.png" in asked[0]
    assert window.session.index == 0 and window.session.is_dirty()
    selected = [panel.proxy.mapToSource(i).row() for i in panel.view.selectionModel().selectedRows()]
    assert selected == [0] and panel.proxy.mapToSource(panel.view.currentIndex()).row() == 0
