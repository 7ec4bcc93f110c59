"""A / D navigation, autosave, the unsaved prompt and closing: no edit is ever lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from segdesk.core.shapes import Shape
from segdesk.ui.main_window import MainWindow
from segdesk.ui.session import AUTOSAVE_DELAY_MS
from segdesk.ui.settings import use_settings_dir
from tests.ui.window_helpers import (
    click_image,
    make_image,
    make_project,
    polygon_shape,
    read_json,
    shown_window,
    write_json,
)


@pytest.fixture
def window(qtbot, tmp_path: Path):
    folder = tmp_path / "settings"
    folder.mkdir()
    use_settings_dir(folder)
    yield from shown_window(qtbot)


class Answers:
    """Stands in for the Save / Discard / Cancel question: gives queued answers, records questions."""

    def __init__(self) -> None:
        self.queue: list[QMessageBox.StandardButton] = []
        self.asked: list[str] = []

    def __call__(self, _parent, _title, text, *_args, **_kwargs) -> QMessageBox.StandardButton:
        self.asked.append(text)
        return self.queue.pop(0)


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Answers:
    fake = Answers()
    monkeypatch.setattr(QMessageBox, "question", staticmethod(fake))
    return fake


def _key(window: MainWindow, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    # The offscreen platform does not hand activation back after a dialog closes; a desktop does.
    if QApplication.activeWindow() is not window:
        window.activateWindow()
        QApplication.processEvents()
    QTest.keyClick(window.canvas.viewport(), key, modifier)


def _delete_first_shape(window: MainWindow) -> None:
    _key(window, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    click_image(window.canvas, 35, 30)  # inside "cat"
    assert window.canvas.selected_indices() == [0]
    _key(window, Qt.Key.Key_Delete)
    assert [s.label for s in window.session.document.shapes] == ["dog"]


def _labels_on_disk(path: Path) -> list[str]:
    return [s["label"] for s in read_json(path)["shapes"]]


def test_title_mark_follows_the_undo_clean_state(window: MainWindow, tmp_path: Path) -> None:
    window.open_path(make_project(tmp_path / "p", n=1))
    assert not window.isWindowModified() and "[*]" in window.windowTitle()
    _delete_first_shape(window)
    assert window.isWindowModified()
    _key(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not window.isWindowModified()
    _key(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert window.isWindowModified()


def test_d_with_autosave_saves_then_moves_and_a_goes_back(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=3)
    window.open_path(root)
    assert window.session.autosave()
    _delete_first_shape(window)
    _key(window, Qt.Key.Key_D)
    assert window.session.index == 1
    assert _labels_on_disk(root / "img_1.json") == ["dog"]
    assert "segdesk" not in read_json(root / "img_1.json")  # autosave never reviews: still Labelme's file
    assert window.files_panel.model.status(0) == "elsewhere"
    assert not window.isWindowModified()
    _key(window, Qt.Key.Key_D)
    assert window.session.index == 2
    _key(window, Qt.Key.Key_D)  # the last image: stays
    assert window.session.index == 2
    _key(window, Qt.Key.Key_A)
    _key(window, Qt.Key.Key_A)
    assert window.session.index == 0
    assert [s.label for s in window.session.document.shapes] == ["dog"]
    # Visiting without editing writes nothing.
    assert not (root / "img_3.json").exists()


def test_navigation_follows_the_file_filter(window: MainWindow, tmp_path: Path) -> None:
    window.open_path(make_project(tmp_path / "p", n=3))
    combo = window.files_panel.status_combo
    combo.setCurrentIndex(combo.findData("unlabeled"))
    _key(window, Qt.Key.Key_D)
    assert window.session.index == 2


def test_autosave_writes_shortly_after_an_edit(qtbot, window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=1)
    window.open_path(root)
    _delete_first_shape(window)
    assert _labels_on_disk(root / "img_1.json") == ["cat", "dog"]
    qtbot.waitUntil(lambda: _labels_on_disk(root / "img_1.json") == ["dog"], timeout=AUTOSAVE_DELAY_MS * 10)
    assert not window.isWindowModified()


def test_autosave_keeps_an_image_with_open_proposals_proposed(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=2, with_json=False)
    proposal = polygon_shape(
        "cat", [[20, 20], [70, 20], [70, 70]], segdesk={"source": "model", "proposal": True}
    )
    person = polygon_shape("dog", [[90, 60], [140, 60], [140, 100], [90, 100]])
    path = write_json(root / "img_1.png", [proposal, person], segdesk={"status": "proposed"})
    window.open_path(root)
    _key(window, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    click_image(window.canvas, 115, 80)  # inside "dog"
    _key(window, Qt.Key.Key_Delete)
    _key(window, Qt.Key.Key_D)  # autosave: a proposal is still open, so the image stays "proposed"
    data = read_json(path)
    assert data["segdesk"]["status"] == "proposed" and [s["label"] for s in data["shapes"]] == ["cat"]
    assert window.files_panel.model.status(0) == "proposed"
    _key(window, Qt.Key.Key_A)
    _key(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # Ctrl+S saves, never reviews
    assert read_json(path)["segdesk"]["status"] == "proposed"
    assert window.files_panel.model.status(0) == "proposed"


@pytest.mark.parametrize("answer", ["cancel", "discard", "save"])
def test_d_with_autosave_off_asks(window: MainWindow, tmp_path: Path, answers: Answers, answer: str) -> None:
    root = make_project(tmp_path / "p", n=2)
    window.open_path(root)
    window.acts["autosave"].setChecked(False)
    _delete_first_shape(window)
    buttons = QMessageBox.StandardButton
    answers.queue.append({"cancel": buttons.Cancel, "discard": buttons.Discard, "save": buttons.Save}[answer])
    _key(window, Qt.Key.Key_D)
    assert len(answers.asked) == 1 and "img_1.png" in answers.asked[0]
    if answer == "cancel":
        assert window.session.index == 0 and window.isWindowModified()
        assert [s.label for s in window.session.document.shapes] == ["dog"]
    else:
        assert window.session.index == 1 and not window.isWindowModified()
        expected = ["dog"] if answer == "save" else ["cat", "dog"]
        assert _labels_on_disk(root / "img_1.json") == expected


def test_closing_with_unsaved_edits_loses_nothing(qtbot, window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=1)
    window.open_path(root)
    _delete_first_shape(window)
    assert window.close()
    assert _labels_on_disk(root / "img_1.json") == ["dog"]


def test_closing_with_autosave_off_asks_and_cancel_keeps_the_window(
    window: MainWindow, tmp_path: Path, answers: Answers
) -> None:
    root = make_project(tmp_path / "p", n=1)
    window.open_path(root)
    window.acts["autosave"].setChecked(False)
    _delete_first_shape(window)
    answers.queue.append(QMessageBox.StandardButton.Cancel)
    assert not window.close()
    assert window.isVisible() and window.isWindowModified()
    answers.queue.append(QMessageBox.StandardButton.Save)
    assert window.close()
    assert _labels_on_disk(root / "img_1.json") == ["dog"]


def test_opening_another_folder_saves_first(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=1)
    other = make_project(tmp_path / "q", n=1, with_json=False)
    window.open_path(root)
    _delete_first_shape(window)
    assert window.open_path(other)
    assert _labels_on_disk(root / "img_1.json") == ["dog"]
    assert window.session.undo_stack.count() == 0


def test_save_failure_is_reported_and_the_edit_kept(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "p", n=2)
    window.open_path(root)
    _delete_first_shape(window)
    from segdesk.core.errors import AnnotationWriteError

    def fail(entry, document, **_check):
        raise AnnotationWriteError(entry.json_path, None, "disk full")

    monkeypatch.setattr(window.session.project, "save", fail)
    _key(window, Qt.Key.Key_D)
    assert window.session.index == 0 and window.isWindowModified()
    assert "disk full" in window.last_error and "img_1.json" in window.last_error
    _key(window, Qt.Key.Key_D)  # fails again: still one message box, not two
    boxes = [w for w in window.findChildren(QMessageBox) if w.isVisible()]
    assert len(boxes) == 1 and "disk full" in boxes[0].text()


def test_images_sharing_a_json_file_never_save_over_each_other(window: MainWindow, tmp_path: Path) -> None:
    """a.jpg and a.png map to one a.json: once a.jpg's shapes are saved there, a.png shows why it
    cannot be labelled instead of a.jpg's shapes, and nothing of a.png's is written over them."""
    root = tmp_path / "p"
    root.mkdir()
    make_image(root / "a.jpg", seed=1)
    make_image(root / "a.png", seed=2)
    window.open_path(root)
    assert window.session.current.image_path.name == "a.jpg"
    window.session.document.shapes.append(Shape("cat", [[10, 10], [60, 12], [50, 50]]))
    assert window.session.save()
    assert read_json(root / "a.json")["imagePath"] == "a.jpg"
    assert window.files_panel.model.status(1) == "problem"  # a.png's row changed with the save
    model = window.files_panel.model
    tip = model.data(model.index(1), Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("a.png: a.json is the annotation of a.jpg") and "rename a.png" in tip
    _key(window, Qt.Key.Key_D)
    assert window.session.index == 1 and window.session.document is None
    assert "rename a.png" in str(window.session.current.error)
    assert read_json(root / "a.json")["imagePath"] == "a.jpg"
    assert _labels_on_disk(root / "a.json") == ["cat"]
