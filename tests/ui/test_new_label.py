"""A label missing from labels.txt: asked about, added at the end on request, coloured apart (issue 13, defect 8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segdesk.core.colors import MIN_DISTANCE, label_color
from segdesk.core.errors import ProjectError
from segdesk.core.labels_file import append_label
from segdesk.ui.dialogs.label_dialog import LabelResult
from segdesk.ui.main_window import MainWindow
from segdesk.ui.settings import use_settings_dir
from tests.ui.window_helpers import make_project, shown_window

LABELS_TXT = "__ignore__\n_background_\ncat\ndog\n"


@pytest.fixture
def window(qtbot, tmp_path: Path):
    folder = tmp_path / "settings"
    folder.mkdir()
    use_settings_dir(folder)
    yield from shown_window(qtbot)


class Script:
    """Stands in for the label dialog (typed labels, in turn) and the labels.txt question."""

    def __init__(self, window: MainWindow, typed: list[str], answers: list[str]) -> None:
        self.typed, self.answers, self.asked = list(typed), list(answers), []
        window.label_dialog.ask = self.dialog  # type: ignore[method-assign]
        window.label_check.ask = self.question

    def dialog(self, *_args, **_kwargs) -> LabelResult | None:
        return LabelResult(self.typed.pop(0)) if self.typed else None

    def question(self, label: str, listed: list[str]) -> str:
        self.asked.append(label)
        return self.answers.pop(0)


def _open(window: MainWindow, tmp_path: Path, *, labels_txt: bool = True) -> Path:
    root = make_project(tmp_path / "p", n=1)
    if labels_txt:
        (root / "labels.txt").write_text(LABELS_TXT)
    assert window.open_path(root)
    return root


def _distance(a, b) -> float:
    return float(np.linalg.norm(np.subtract(a, b, dtype=float)))


def test_adding_a_new_label_appends_it_to_labels_txt(window: MainWindow, tmp_path: Path) -> None:
    root = _open(window, tmp_path)
    script = Script(window, ["bird"], ["add"])
    assert window._ask_new_label()[0] == "bird"
    assert script.asked == ["bird"]
    assert (root / "labels.txt").read_text() == LABELS_TXT + "bird\n"  # old lines and numbers kept
    assert "bird" in window.labels_panel.labels()
    item = window.labels_panel._item("bird")
    assert item is not None and not item.toolTip()  # not flagged "not in labels.txt" any more
    script = Script(window, ["bird"], [])
    assert window._ask_new_label()[0] == "bird" and script.asked == []  # listed now: not asked


def test_change_label_asks_again_and_keep_is_asked_once(window: MainWindow, tmp_path: Path) -> None:
    root = _open(window, tmp_path)
    script = Script(window, ["cta", "cat"], ["change"])  # a typo, corrected
    assert window._ask_new_label()[0] == "cat" and script.asked == ["cta"]
    script = Script(window, ["zebra", "zebra"], ["keep"])
    assert window._ask_new_label()[0] == "zebra"
    assert window._ask_new_label()[0] == "zebra"
    assert script.asked == ["zebra"]  # once per label and folder
    assert (root / "labels.txt").read_text() == LABELS_TXT
    script = Script(window, ["cta"], ["change"])
    assert window._ask_new_label() is None  # the person cancelled the second dialog


def test_without_labels_txt_any_label_goes(window: MainWindow, tmp_path: Path) -> None:
    root = _open(window, tmp_path, labels_txt=False)
    script = Script(window, ["anything"], [])
    assert window._ask_new_label()[0] == "anything" and script.asked == []
    assert not (root / "labels.txt").exists()


def test_colours_follow_labels_txt_and_an_unlisted_label_stands_apart(
    window: MainWindow, tmp_path: Path
) -> None:
    _open(window, tmp_path)
    listed = ["__ignore__", "_background_", "cat", "dog"]
    styles = window.canvas.scene_.styles
    assert styles.label_order == listed
    assert styles.style("cat").rgb == label_color("cat", listed)
    for name in ("cta", "dog2", "kat", "bird"):
        rgb = styles.style(name).rgb
        assert (
            min(_distance(rgb, styles.style(n).rgb) for n in ("cat", "dog", "_background_")) >= MIN_DISTANCE
        )
    # The labels and shapes docks draw the same colour as the canvas.
    icon = window.labels_panel._item("cat").icon().pixmap(14, 14).toImage()
    colour = icon.pixelColor(7, 7)
    assert (colour.red(), colour.green(), colour.blue()) == label_color("cat", listed)
    from PySide6.QtCore import Qt

    model = window.shapes_panel.model
    row = next(i for i in range(model.rowCount()) if model.index(i).data().startswith("cat"))
    icon = model.index(row).data(Qt.ItemDataRole.DecorationRole).pixmap(14, 14).toImage()
    colour = icon.pixelColor(7, 7)
    assert (colour.red(), colour.green(), colour.blue()) == label_color("cat", listed)


def test_append_label_keeps_the_file_and_refuses_bad_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("__ignore__\n_background_\ncat")  # no final newline
    assert append_label(path, "dog") and path.read_text() == "__ignore__\n_background_\ncat\ndog\n"
    assert not append_label(path, "cat")
    for bad in ("", " cat", "a\nb"):
        with pytest.raises(ProjectError) as info:
            append_label(path, bad)
        assert "labels.txt" in str(info.value)


@pytest.mark.parametrize(("press", "expected"), [("escape", "change"), ("Add", "add"), ("Use", "keep")])
def test_the_real_question_box(qtbot, window: MainWindow, press: str, expected: str) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from segdesk.ui.label_check import ask_add_label
    from tests.ui.window_helpers import answer_modal

    def act(box) -> None:
        assert (
            box.objectName() == "new_label_question" and "'cta' is not in labels.txt (cat, dog)" in box.text()
        )
        if press == "escape":
            QTest.keyClick(box, Qt.Key.Key_Escape)
        else:
            next(b for b in box.buttons() if b.text().startswith(press)).click()

    done = answer_modal(act)
    assert ask_add_label(window, "cta", ["__ignore__", "_background_", "cat", "dog"]) == expected
    assert done == [True]
