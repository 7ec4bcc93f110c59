"""The Export dialog: a masks export through a job, asking before overwriting, cancel, errors, ONNX."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QWidget

import segdesk.ui.job_functions as job_functions
from segdesk.core.export.masks import STAGING_MARK
from segdesk.core.review import reviewed_extra
from segdesk.ui.actions import create_actions
from segdesk.ui.dialogs.export import ONNX, ExportDialog


def _project(root: Path, n: int = 3) -> Path:
    root.mkdir()
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\n")
    for i in range(n):
        PIL.Image.fromarray(np.full((40, 50, 3), 30 * i, np.uint8)).save(root / f"im{i}.png")
        doc = {
            "version": "5.5.0",
            "flags": {},
            "shapes": [
                {
                    "label": "cell",
                    "points": [[3, 3], [30, 5], [20, 30]],
                    "group_id": None,
                    "description": "",
                    "shape_type": "polygon",
                    "flags": {},
                },
            ],
            "imagePath": f"im{i}.png",
            "imageData": None,
            "imageHeight": 40,
            "imageWidth": 50,
            "segdesk": reviewed_extra(),  # exports take reviewed images only by default
        }
        (root / f"im{i}.json").write_text(json.dumps(doc))
    return root


@pytest.fixture
def dialog(qtbot, tmp_path: Path) -> ExportDialog:
    d = ExportDialog(_project(tmp_path / "proj"))
    qtbot.addWidget(d)
    d.errors = []  # type: ignore[attr-defined]
    d.show_error = d.errors.append  # type: ignore[method-assign]
    return d


def _choose(d: ExportDialog, kind: str, out: Path) -> None:
    d.kind.setCurrentIndex(d.kind.findData(kind))
    d.out_edit.setText(str(out))


def _no_leftovers(folder: Path) -> None:
    assert not [p for p in folder.iterdir() if STAGING_MARK in p.name]


def test_masks_export_runs_off_the_gui_thread(qtbot, dialog: ExportDialog, tmp_path: Path) -> None:
    out = tmp_path / "voc"
    _choose(dialog, "voc", out)
    assert not dialog.ignore_255.isEnabled()  # VOC fixes ignore at 255
    threads: list[str] = []
    real = job_functions.export_masks

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    job_functions.export_masks = spy
    try:
        with qtbot.waitSignal(dialog.export_finished, timeout=20000) as blocker:
            assert dialog.start_export()
            assert dialog.cancel_button.isEnabled() and not dialog.export_button.isEnabled()
    finally:
        job_functions.export_masks = real
    assert blocker.args == [True]
    assert threads and threads[0] != threading.main_thread().name
    assert (out / "SegmentationClass" / "im2.png").is_file() and (out / "class_names.txt").is_file()
    assert "3 image(s)" in dialog.status.text() and dialog.export_button.isEnabled()
    assert not dialog.errors


def test_asks_before_overwriting(qtbot, dialog: ExportDialog, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    out.mkdir()
    (out / "im0.png").write_bytes(b"old")
    _choose(dialog, "index", out)
    asked: list[list[Path]] = []
    dialog.confirm_overwrite = lambda target, existing: asked.append(existing) or False  # type: ignore[method-assign]
    assert not dialog.start_export()
    assert asked == [[out / "im0.png"]] and (out / "im0.png").read_bytes() == b"old"
    dialog.confirm_overwrite = lambda target, existing: True  # type: ignore[method-assign]
    with qtbot.waitSignal(dialog.export_finished, timeout=20000):
        assert dialog.start_export()
    assert (out / "im0.png").read_bytes()[:4] == b"\x89PNG"


def test_cancel_leaves_nothing(qtbot, dialog: ExportDialog, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "cancelled"
    _choose(dialog, "overlay", out)
    gate, reached = threading.Event(), threading.Event()
    real = job_functions.export_masks

    def slow(*args, progress=None, **kwargs):
        def hold(record):
            progress(record)
            if record.done == 1:
                reached.set()
                gate.wait(10)  # hold the worker until the test has pressed Cancel

        return real(*args, progress=hold, **kwargs)

    monkeypatch.setattr(job_functions, "export_masks", slow)
    with qtbot.waitSignal(dialog.export_finished, timeout=20000) as blocker:
        dialog.start_export()
        qtbot.waitUntil(reached.is_set, timeout=10000)
        dialog.cancel_button.click()
        gate.set()
    assert blocker.args == [False]
    assert "Cancelled" in dialog.status.text()
    assert not out.exists() and not dialog.errors
    _no_leftovers(tmp_path)


def test_read_only_destination_is_reported(qtbot, dialog: ExportDialog) -> None:
    _choose(dialog, "index", Path("/sys/segdesk-export-test"))
    with qtbot.waitSignal(dialog.export_finished, timeout=20000) as blocker:
        dialog.start_export()
    assert blocker.args == [False]
    assert (
        dialog.errors and "read-only" in dialog.errors[0] and "/sys/segdesk-export-test" in dialog.errors[0]
    )
    assert "Failed" in dialog.status.text()


def test_export_action_shortcut_is_unique(qtbot) -> None:
    host = QWidget()
    qtbot.addWidget(host)
    actions = create_actions(host)
    shortcut = QKeySequence("Ctrl+Shift+E")
    assert actions["export"].shortcut() == shortcut
    owners = [n for n, a in actions.items.items() if shortcut in a.shortcuts()]
    assert owners == ["export"]


@pytest.mark.slow
def test_onnx_export_shows_the_verification(qtbot, dialog: ExportDialog, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from segdesk.ml.checkpoint import ModelStore
    from segdesk.ml.model import UNet, UNetConfig

    torch.manual_seed(0)
    net = UNet(UNetConfig(base_width=4, depth=2, num_classes=2)).eval()
    ModelStore(dialog.root).add_version(net, {"classes": ["_background_", "cell"]})
    out = tmp_path / "model.onnx"
    _choose(dialog, ONNX, out)
    assert dialog.onnx_box.isVisibleTo(dialog) and not dialog.mask_box.isVisibleTo(dialog)
    with qtbot.waitSignal(dialog.export_finished, timeout=120000) as blocker:
        assert dialog.start_export()
    assert blocker.args == [True], dialog.details.toPlainText() + str(dialog.errors)
    assert out.is_file() and "verified" in dialog.status.text()
    text = dialog.details.toPlainText()
    assert "max |logit difference|" in text and "argmax agreement: 100.0000%" in text


# --- closing (issue 13, defect 1) ---------------------------------------------------------------
def test_close_button_and_esc_close_a_fresh_dialog(qtbot, tmp_path: Path) -> None:
    from PySide6.QtCore import Qt

    d = ExportDialog(_project(tmp_path / "proj"))
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    d.close_button.click()
    assert not d.isVisible()
    d.show()
    qtbot.waitExposed(d)
    d.activateWindow()
    qtbot.keyClick(d, Qt.Key.Key_Escape)
    assert not d.isVisible()
    d.show()
    assert d.close() and not d.isVisible()  # the title bar's close button


def test_close_waits_for_a_running_export(qtbot, dialog: ExportDialog, tmp_path: Path) -> None:
    _choose(dialog, "index", tmp_path / "idx")
    dialog.show()
    with qtbot.waitSignal(dialog.export_finished, timeout=20000):
        assert dialog.start_export()
        dialog.close_button.click()  # cancels, waits, then closes
    assert not dialog.isVisible() and not dialog.runner.is_running("export")


def _window(qtbot):
    from segdesk.ui.main_window import MainWindow
    from segdesk.ui.settings import AppSettings

    win = MainWindow(AppSettings())
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def test_window_export_dialog_closes_and_follows_the_opened_project(qtbot, tmp_path: Path) -> None:
    first, second = _project(tmp_path / "first"), _project(tmp_path / "second", n=2)
    win = _window(qtbot)
    assert win.open_path(first)
    win.acts["export"].trigger()
    dialog = win.export_dialog()
    assert dialog is not None and dialog.isVisible() and dialog.root == first
    assert "first-" in dialog.out_edit.text()
    win.acts["export"].trigger()  # a second Ctrl+Shift+E raises the same dialog
    assert win.export_dialog() is dialog
    assert win.open_path(second)
    assert dialog.root == second and "second-" in dialog.out_edit.text()
    assert dialog.selection_note.text().startswith("2 image(s)")
    dialog.close_button.click()
    qtbot.waitUntil(lambda: win.export_dialog() is None)  # closed and deleted
    win.acts["export"].trigger()
    again = win.export_dialog()
    assert again is not None and again.root == second
    again.close()


# --- reviewed images only (issue 13, defect 10) ---------------------------------------------------
def test_exports_reviewed_images_only_unless_asked(qtbot, dialog: ExportDialog, tmp_path: Path) -> None:
    doc = json.loads((dialog.root / "im1.json").read_text())
    doc["segdesk"] = {"status": "proposed"}  # full of shapes, but nobody reviewed it
    (dialog.root / "im1.json").write_text(json.dumps(doc))
    dialog.set_project_root(dialog.root)
    assert not dialog.include_unreviewed.isChecked()
    assert "2 image(s) will be exported; 1 annotated but not reviewed" in dialog.selection_note.text()
    _choose(dialog, "index", tmp_path / "default")
    with qtbot.waitSignal(dialog.export_finished, timeout=20000):
        assert dialog.start_export()
    assert sorted(p.name for p in (tmp_path / "default").glob("im*.png")) == ["im0.png", "im2.png"]
    assert "nobody reviewed" in dialog.details.toPlainText()
    dialog.include_unreviewed.setChecked(True)
    assert dialog.selection_note.text().startswith("3 image(s)")
    _choose(dialog, "index", tmp_path / "all")
    with qtbot.waitSignal(dialog.export_finished, timeout=20000):
        assert dialog.start_export()
    assert (tmp_path / "all" / "im1.png").is_file()


def test_yolo_export_with_a_validation_share(qtbot, dialog: ExportDialog, tmp_path: Path) -> None:
    out = tmp_path / "yolo"
    _choose(dialog, "index", out)
    assert dialog.val_fraction.isHidden()  # only YOLO splits
    _choose(dialog, "yolo", out)
    assert not dialog.val_fraction.isHidden() and not dialog.ignore_255.isEnabled()
    dialog.val_fraction.setValue(0.35)
    with qtbot.waitSignal(dialog.export_finished, timeout=20000) as blocker:
        assert dialog.start_export()
    assert blocker.args == [True]
    assert (
        len(list((out / "labels" / "val").iterdir())) == 1
        and len(list((out / "labels" / "train").iterdir())) == 2
    )
    assert "val: images/val" in (out / "data.yaml").read_text()
