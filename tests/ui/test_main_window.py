"""The main window end to end: real keys and mouse on the canvas, the docks, the dialogs, settings."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from segdesk.ui.main_window import MainWindow
from segdesk.ui.settings import AppSettings, use_settings_dir
from tests.ui.window_helpers import (
    answer_modal,
    click_image,
    labelme_read,
    make_project,
    move_mouse,
    read_json,
    shown_window,
    type_label,
)


@pytest.fixture
def settings_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "settings"
    folder.mkdir()
    use_settings_dir(folder)
    return folder


@pytest.fixture
def window(qtbot, settings_dir: Path):
    yield from shown_window(qtbot)


def _key(window: MainWindow, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    # The offscreen platform does not hand activation back after a dialog closes; a desktop does.
    if QApplication.activeWindow() is not window:
        window.activateWindow()
        QApplication.processEvents()
    QTest.keyClick(window.canvas.viewport(), key, modifier)


def test_open_folder_lists_every_image_with_its_status(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=3)
    assert window.open_path(root)
    panel = window.files_panel
    assert [panel.model.index(r).data() for r in range(3)] == ["img_1.png", "img_2.png", "img_3.png"]
    assert [panel.model.status(r) for r in range(3)] == ["elsewhere", "proposed", "unlabeled"]
    assert "img_1.png" in window.windowTitle()
    assert window.stack.currentWidget() is window.canvas
    assert len(window.session.document.shapes) == 2
    assert window.status.size.text().startswith("160 x 120")

    panel.status_combo.setCurrentIndex(panel.status_combo.findData("unlabeled"))
    assert panel.visible_rows() == [2]
    panel.status_combo.setCurrentIndex(0)
    QTest.keyClicks(panel.filter_edit, "_2")
    assert panel.visible_rows() == [1]
    panel.filter_edit.clear()
    assert panel.visible_rows() == [0, 1, 2]
    QTest.keyClicks(panel.filter_edit, "ad")  # typed into the filter, not taken as A / D
    assert panel.filter_edit.text() == "ad" and window.session.index == 0
    panel.filter_edit.clear()


def test_open_an_image_or_a_json_file_opens_its_folder_at_it(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=3)
    assert window.open_path(root / "img_3.png")
    assert window.session.index == 2
    assert window.open_path(root / "img_2.json")
    assert window.session.index == 1
    assert window.session.document.shapes[0].is_proposal


def test_draw_polygon_label_it_save_and_labelme_reads_it(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=2, with_json=False)
    window.open_path(root)
    _key(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # Labelme's Ctrl+N
    assert window.canvas.mode() == "polygon"
    assert window.acts.mode_action("polygon").isChecked()
    answered = type_label("zebra", group_id="7")
    for x, y in [(20, 20), (100, 20), (100, 90), (20, 90)]:
        click_image(window.canvas, x, y)
    click_image(window.canvas, 20, 20)  # close on the first vertex
    assert answered == [True]
    shapes = window.session.document.shapes
    assert len(shapes) == 1 and shapes[0].label == "zebra" and shapes[0].group_id == 7
    assert np.allclose(shapes[0].points, [[20, 20], [100, 20], [100, 90], [20, 90]], atol=1.0)
    assert window.isWindowModified()
    assert window.shapes_panel.model.rowCount() == 1
    assert "zebra" in window.labels_panel.labels() and window.labels_panel.count_of("zebra") == 1

    _key(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not window.isWindowModified()
    data = read_json(root / "img_1.json")
    assert data["imagePath"] == "img_1.png"
    assert data["shapes"][0]["label"] == "zebra" and data["shapes"][0]["group_id"] == 7
    assert data["segdesk"] == {"status": "in_progress"}  # one drawn shape does not review the image
    assert window.files_panel.model.status(0) == "in_progress"
    oracle = labelme_read(root / "img_1.json")
    assert oracle["shapes"][0]["label"] == "zebra"
    assert np.allclose(oracle["shapes"][0]["points"], [[20, 20], [100, 20], [100, 90], [20, 90]], atol=1.0)

    # Reopen: what was saved comes back.
    window.open_path(root / "img_1.png")
    assert window.session.document.shapes[0].label == "zebra"


def test_cancelling_the_label_dialog_drops_the_new_shape(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=1, with_json=False)
    window.open_path(root)
    _key(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # Labelme's Ctrl+R
    assert window.canvas.mode() == "rectangle"

    def cancel(dialog) -> None:
        QTest.keyClick(dialog.label_edit, Qt.Key.Key_Escape)

    answered = answer_modal(cancel)
    click_image(window.canvas, 30, 30)
    click_image(window.canvas, 80, 70)
    assert answered == [True]
    assert window.session.document.shapes == []
    assert not window.isWindowModified()


def test_change_label_through_the_dialog_and_undo(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=1)
    window.open_path(root)
    _key(window, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    click_image(window.canvas, 35, 30)  # inside the "cat" polygon
    assert window.canvas.selected_indices() == [0]
    assert window.shapes_panel.selected_indices() == [0]
    answered = type_label("lion")
    _key(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert answered == [True]
    assert window.session.document.shapes[0].label == "lion"
    assert window.session.document.shapes[1].label == "dog"
    assert window.isWindowModified()
    assert "lion" in window.session.known_labels()
    _key(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.session.document.shapes[0].label == "cat"
    assert not window.isWindowModified()
    _key(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.session.document.shapes[0].label == "lion"


def test_shapes_dock_and_canvas_share_the_selection(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=1)
    window.open_path(root)
    view = window.shapes_panel.view
    rect = view.visualRect(window.shapes_panel.model.index(1))
    QTest.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center()
    )
    assert window.canvas.selected_indices() == [1]
    click_image(window.canvas, 35, 30)
    assert window.shapes_panel.selected_indices() == [0]
    _key(window, Qt.Key.Key_Delete)
    assert [s.label for s in window.session.document.shapes] == ["dog"]
    assert window.shapes_panel.model.rowCount() == 1
    assert window.labels_panel.count_of("cat") == 0


def test_labels_dock_colours_counts_order_and_visibility(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=1)
    (root / "labels.txt").write_text("__ignore__\n_background_\ndog\nbird\ncat\n", encoding="utf-8")
    window.open_path(root)
    panel = window.labels_panel
    labels = panel.labels()
    assert labels.index("dog") < labels.index("bird") < labels.index("cat")
    assert panel.count_of("cat") == 1 and panel.count_of("bird") == 0
    item = panel._item("cat")
    first = item.icon().pixmap(14, 14).toImage().pixelColor(7, 7)
    assert first == panel._item("cat").icon().pixmap(14, 14).toImage().pixelColor(7, 7)
    assert first != panel._item("dog").icon().pixmap(14, 14).toImage().pixelColor(7, 7)
    calls = []
    window.canvas.set_label_visible = lambda label, visible: calls.append((label, visible))
    item.setCheckState(Qt.CheckState.Unchecked)
    assert calls == [("cat", False)]
    assert panel.hidden_labels() == {"cat"}


def test_shortcuts_follow_labelme_and_are_listed(window: MainWindow) -> None:
    from segdesk.ui.dialogs.shortcuts import ShortcutsDialog

    expected = {
        "mode_polygon": "Ctrl+N",
        "mode_rectangle": "Ctrl+R",
        "mode_edit": "Ctrl+J",
        "edit_label": "Ctrl+E",
        "duplicate": "Ctrl+D",
        "delete": "Del",
        "toggle_shapes": "T",
        "open_dir": "Ctrl+U",
        "open": "Ctrl+O",
        "save": "Ctrl+S",
        "undo": "Ctrl+Z",
        "redo": "Ctrl+Shift+Z",
        "fit_window": "Ctrl+F",
        "zoom_100": "Ctrl+0",
        "prev_image": "A",
        "next_image": "D",
        "copy": "Ctrl+C",
        "paste": "Ctrl+V",
        "quit": "Ctrl+Q",
    }
    for name, key in expected.items():
        assert window.acts[name].shortcut().toString() == key, name
    dialog = ShortcutsDialog(window.acts.by_category(), window)
    texts = {
        dialog.table.item(r, 1).text(): dialog.table.item(r, 2).text() for r in range(dialog.table.rowCount())
    }
    assert len(texts) >= len(window.acts.items)
    assert "Ctrl+N" in texts["Create polygon"]
    assert texts["Next image"].startswith("D")
    dialog.close()


def test_toggle_shapes_with_t(window: MainWindow, tmp_path: Path) -> None:
    window.open_path(make_project(tmp_path / "p", n=1))
    calls = []
    window.canvas.set_shapes_visible = calls.append
    _key(window, Qt.Key.Key_T)
    _key(window, Qt.Key.Key_T)
    assert calls == [False, True]


def test_status_bar_shows_position_value_and_zoom(window: MainWindow, tmp_path: Path) -> None:
    window.open_path(make_project(tmp_path / "p", n=1))
    move_mouse(window.canvas, 40.5, 30.5)
    text = window.status.position.text()
    assert text.startswith("x 40, y 30"), text
    expected = window.session.current.raw[30, 40]
    assert f"({expected[0]}, {expected[1]}, {expected[2]})" in text
    assert window.status.zoom.text().endswith("%")
    window.canvas.zoom_100()
    assert window.status.zoom.text() == "100 %"


def test_unreadable_and_oversized_images_give_a_message_not_a_crash(
    window: MainWindow, tmp_path: Path
) -> None:
    root = make_project(tmp_path / "p", n=1, with_json=False)
    (root / "img_2.png").write_bytes(b"this is not a png")
    from PIL import Image

    Image.new("L", (40000, 2)).save(root / "img_3.png")
    window.open_path(root)
    assert window.session.go_to(1)
    assert window.stack.currentWidget() is window.message
    assert "img_2.png" in window.message.text()
    assert window.session.go_to(2)
    assert "32767" in window.message.text() and "40000" in window.message.text()
    assert window.session.go_to(0)
    assert window.stack.currentWidget() is window.canvas


def test_the_parent_of_image_folders_links_to_each_of_them(window: MainWindow, tmp_path: Path) -> None:
    root = tmp_path / "scans"
    make_project(root / "day1", n=2)
    make_project(root / "odd <&> #1", n=1, with_json=False)
    window.open_path(root)
    assert window.stack.currentWidget() is window.message
    text = window.message.text()
    assert "Its subfolders hold 3 images: day1 (2 images), odd &lt;&amp;&gt; #1 (1)" in text
    assert window.message.textFormat() != Qt.TextFormat.PlainText and "<a href=" in text
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]*)"', text)]
    assert hrefs == [str(root / "day1"), str(root / "odd <&> #1")]
    window.message.linkActivated.emit(hrefs[1])  # what a click on the link sends (seen under Xvfb)
    assert window.session.image_names() == ["img_1.png"]
    assert window.stack.currentWidget() is window.canvas
    assert window.files_panel.summary.text().startswith("1 image:")


def test_broken_json_is_reported_and_never_overwritten(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=2, with_json=False)
    broken = root / "img_1.json"
    broken.write_text('{"shapes": [', encoding="utf-8")
    window.open_path(root)
    assert window.stack.currentWidget() is window.message
    assert "img_1.json" in window.message.text()
    assert window.files_panel.model.status(0) == "problem"
    _key(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    window.step(1)
    assert broken.read_text(encoding="utf-8") == '{"shapes": ['


def test_drop_a_folder_opens_it(window: MainWindow, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=2)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(root))])
    event = QDropEvent(
        QPointF(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    assert window.session.project is not None and Path(window.session.project.root) == root
    assert window.files_panel.model.rowCount() == 2


def test_settings_persist_between_windows(qtbot, settings_dir: Path, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=1)
    first = MainWindow(AppSettings())
    qtbot.addWidget(first)
    first.show()
    first.open_path(root)
    first.acts["autosave"].setChecked(False)
    first.resize(700, 500)
    panel = first.model_panel
    panel.threshold.setValue(0.75)
    panel.auto_predict.setChecked(False)
    panel.min_area.setValue(40)
    panel.overlay_check.setChecked(True)
    panel.overlay_mode.setCurrentIndex(panel.overlay_mode.count() - 1)
    panel.overlay_opacity.setValue(35)
    first.close()

    settings = AppSettings()
    assert settings.last_folder() == root
    assert settings.recent_folders()[0] == root
    assert settings.autosave() is False
    second = MainWindow(settings)
    qtbot.addWidget(second)
    assert second.acts["autosave"].isChecked() is False
    assert second.session.autosave() is False
    assert second.size().width() == 700
    again = second.model_panel
    assert again.threshold.value() == 0.5 and again.min_area.value() == 16  # no folder: the defaults
    second.open_path(root)  # the proposal settings are the project's (.segdesk/proposals.json)
    assert again.threshold.value() == 0.75 and again.min_area.value() == 40
    assert not again.auto_predict.isChecked()
    assert again.overlay_check.isChecked() and again.overlay_opacity.value() == 35
    assert again.overlay_mode.currentIndex() == again.overlay_mode.count() - 1
    assert again.settings().threshold == 0.75  # what the proposals use


def test_a_stored_option_that_no_longer_fits_is_ignored(qtbot, settings_dir: Path) -> None:
    from PySide6.QtCore import QSettings

    raw = QSettings()
    raw.setValue("model/threshold", "2.5")  # out of range
    raw.setValue("model/min_area", "not a number")
    raw.setValue("model/overlay_mode", "a mode that does not exist")
    raw.sync()
    window = MainWindow(AppSettings())
    qtbot.addWidget(window)
    panel = window.model_panel
    assert panel.threshold.value() == 0.5 and panel.min_area.value() == 16
    assert panel.overlay_mode.currentIndex() == 0


def test_view_adjust_and_fill_opacity_reach_the_canvas(window: MainWindow, tmp_path: Path) -> None:
    window.open_path(make_project(tmp_path / "p", n=1))
    calls = []
    window.canvas.set_view_adjust = lambda b, c: calls.append((b, c))
    window.show_view_adjust()
    window._view_adjust.brightness.setValue(150)
    assert calls[-1] == (1.5, 1.0)
    window._view_adjust.close()


def test_fill_opacity_dialog_reaches_the_canvas_and_persists(window: MainWindow, tmp_path: Path) -> None:
    window.open_path(make_project(tmp_path / "p", n=1))
    calls = []
    window.canvas.set_fill_opacity = calls.append

    def slide(dialog) -> None:
        dialog.slider.setValue(70)
        dialog.reject()

    answered = answer_modal(slide)
    window.acts["fill_opacity"].trigger()
    assert answered == [True]
    assert calls[-1] == pytest.approx(0.7)
    assert AppSettings().fill_opacity() == pytest.approx(0.7)


def test_recent_folders_menu(window: MainWindow, tmp_path: Path) -> None:
    first, second = make_project(tmp_path / "a", n=1), make_project(tmp_path / "b", n=1)
    window.open_path(first)
    window.open_path(second)
    window._fill_recent_menu()
    texts = [a.text() for a in window.recent_menu.actions() if a.text()]
    assert texts[:2] == [str(second), str(first)]
    next(a for a in window.recent_menu.actions() if a.text() == str(first)).trigger()
    assert Path(window.session.project.root) == first


def _mask_b64(mask: np.ndarray) -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_every_labelme_shape_type_loads_shows_and_saves(window: MainWindow, tmp_path: Path) -> None:
    from tests.ui.window_helpers import make_image, polygon_shape, write_json

    root = tmp_path / "types"
    root.mkdir()
    image = make_image(root / "all.png")
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:15, 5:25] = True
    shapes = [
        polygon_shape("poly", [[10, 10], [40, 10], [25, 40]]),
        polygon_shape("rect", [[50, 10], [80, 40]], shape_type="rectangle"),
        polygon_shape("circ", [[110, 25], [120, 25]], shape_type="circle"),
        polygon_shape("line", [[10, 60], [60, 70]], shape_type="line"),
        polygon_shape("strip", [[70, 60], [90, 80], [110, 60]], shape_type="linestrip"),
        polygon_shape("pt", [[130, 70]], shape_type="point"),
        polygon_shape("pts", [[10, 100], [20, 105]], shape_type="points"),
        polygon_shape("blob", [[100, 90], [129, 109]], shape_type="mask", mask=_mask_b64(mask)),
    ]
    path = write_json(image, shapes)
    window.open_path(path)
    assert window.stack.currentWidget() is window.canvas
    types = [s.shape_type for s in window.session.document.shapes]
    assert types == ["polygon", "rectangle", "circle", "line", "linestrip", "point", "points", "mask"]
    assert window.shapes_panel.model.rowCount() == 8
    assert "[mask]" in window.shapes_panel.model.index(7).data()
    _key(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    oracle = labelme_read(path)
    assert [s["shape_type"] for s in oracle["shapes"]] == types
    assert [s["label"] for s in oracle["shapes"]] == [s["label"] for s in shapes]


def test_big_folders_read_statuses_in_the_background(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segdesk.ui import session as session_module

    monkeypatch.setattr(session_module, "SCAN_FIRST_S", 0.0)  # as if the folder were huge
    root = make_project(tmp_path / "p", n=3)
    window.open_path(root)
    assert window.session.scanning()
    assert "not read yet" in window.files_panel.summary.text()
    assert window.session.document is not None  # the first image does not wait for the scan
    qtbot.waitUntil(lambda: not window.session.scanning(), timeout=5000)
    assert [window.files_panel.model.status(r) for r in range(3)] == ["elsewhere", "proposed", "unlabeled"]
    assert "not read yet" not in window.files_panel.summary.text()
    assert window.labels_panel.labels()[:2] == ["cat", "dog"]


def test_label_dialog_completes_known_labels_and_allows_new_ones(qtbot) -> None:
    from PySide6.QtWidgets import QDialogButtonBox

    from segdesk.ui.dialogs.label_dialog import LabelDialog

    dialog = LabelDialog()
    qtbot.addWidget(dialog)
    dialog.set_values(
        "", None, "", {"occluded": True}, known_labels=["cell", "nucleus"], flag_names=["truncated"]
    )
    dialog.show()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()  # an empty label cannot be accepted
    assert dialog.completer.model().stringList() == ["cell", "nucleus"]
    QTest.keyClicks(dialog.label_edit, "nuc")
    assert dialog.completer.completionCount() == 1 and dialog.completer.currentCompletion() == "nucleus"
    assert "New label" in dialog.new_note.text()
    dialog.label_edit.setText("nucleus")
    assert dialog.new_note.text() == "" and ok.isEnabled()
    assert dialog.labels_list.currentItem().text() == "nucleus"
    dialog.label_edit.setText("nucleus::boundary")  # reserved for a model's object boundaries
    assert not ok.isEnabled() and "reserved" in dialog.new_note.text()
    dialog.accept()
    assert dialog.result() != dialog.DialogCode.Accepted
    dialog.labels_list.setCurrentRow(0)  # picking from the list fills the field
    assert dialog.label_edit.text() == "cell"
    assert set(dialog._flag_boxes) == {"truncated", "occluded"}
    dialog._flag_boxes["truncated"].setChecked(True)
    QTest.keyClicks(dialog.group_edit, "12x")  # the validator keeps digits only
    result = dialog.result_value()
    assert result.label == "cell" and result.group_id == 12
    assert result.flags == {"truncated": True, "occluded": True}


def test_duplicate_copy_paste_and_zoom_shortcuts(window: MainWindow, tmp_path: Path) -> None:
    window.open_path(make_project(tmp_path / "p", n=1))
    ctrl = Qt.KeyboardModifier.ControlModifier
    _key(window, Qt.Key.Key_J, ctrl)
    click_image(window.canvas, 35, 30)
    _key(window, Qt.Key.Key_D, ctrl)  # Labelme's duplicate
    assert [s.label for s in window.session.document.shapes] == ["cat", "dog", "cat"]
    _key(window, Qt.Key.Key_C, ctrl)
    _key(window, Qt.Key.Key_V, ctrl)
    assert len(window.session.document.shapes) == 4
    assert window.shapes_panel.model.rowCount() == 4 and window.labels_panel.count_of("cat") == 3
    _key(window, Qt.Key.Key_Z, ctrl)
    _key(window, Qt.Key.Key_Z, ctrl)
    assert [s.label for s in window.session.document.shapes] == ["cat", "dog"]
    fit = window.canvas.zoom_factor()
    _key(window, Qt.Key.Key_Equal, ctrl)  # zoom in
    assert window.canvas.zoom_factor() == pytest.approx(fit * 1.25)
    _key(window, Qt.Key.Key_0, ctrl)
    assert window.canvas.zoom_factor() == pytest.approx(1.0)
    _key(window, Qt.Key.Key_F, ctrl)
    assert window.canvas.zoom_factor() == pytest.approx(fit)
    assert window.status.zoom.text() == f"{fit * 100:.0f} %"


def test_ctrl_u_ctrl_o_and_f1_open_their_dialogs(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QFileDialog

    root = make_project(tmp_path / "p", n=2)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(root)))
    _key(window, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
    assert window.session.project is not None and Path(window.session.project.root) == root
    chosen = (str(root / "img_2.json"), "")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: chosen))
    _key(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert window.session.index == 1
    seen = []
    answered = answer_modal(lambda dialog: (seen.append(dialog.objectName()), dialog.reject()))
    _key(window, Qt.Key.Key_F1)
    assert answered == [True] and seen == ["shortcuts_dialog"]


def test_a_multi_page_tiff_shows_its_first_page_and_says_so(window: MainWindow, tmp_path: Path) -> None:
    """A z-stack opens on its first page (as in Labelme); the status bar says "page 1 of 3"."""
    import PIL.Image

    folder = tmp_path / "stacks"
    folder.mkdir()
    frames = [PIL.Image.fromarray(np.full((20, 30), 60 * k, np.uint8)) for k in range(3)]
    frames[0].save(folder / "stack.tif", save_all=True, append_images=frames[1:])
    window.open_path(folder)
    assert window.session.current.pages == 3
    assert window.status.size.text() == "30 x 20 gray uint8, page 1 of 3"
