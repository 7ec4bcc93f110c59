"""Helpers for the main-window tests: small generated projects and real input on the canvas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

W, H = 160, 120


def make_image(path: Path, *, width: int = W, height: int = H, seed: int = 0) -> Path:
    """A small RGB image with a gradient, so that pixel values differ across the image."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None]
    rgb = np.stack([x + 0 * y, y + 0 * x, np.full((height, width), rng.integers(0, 255))], axis=-1)
    Image.fromarray(rgb.astype(np.uint8)).save(path)
    return path


def polygon_shape(label: str, points: list[list[float]], **extra: object) -> dict:
    shape = {
        "label": label,
        "points": points,
        "group_id": None,
        "description": "",
        "shape_type": "polygon",
        "flags": {},
        "mask": None,
    }
    shape.update(extra)
    return shape


def write_json(image: Path, shapes: list[dict], **file_extra: object) -> Path:
    """A Labelme 5 JSON beside ``image``."""
    data = {
        "version": "5.5.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": image.name,
        "imageData": None,
        "imageHeight": H,
        "imageWidth": W,
    }
    data.update(file_extra)
    path = image.with_suffix(".json")
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def make_project(root: Path, *, n: int = 3, with_json: bool = True) -> Path:
    """``img_1.png`` .. ``img_n.png``; img_1 has two person polygons (cat, dog), img_2 a proposal."""
    root.mkdir(parents=True, exist_ok=True)
    images = [make_image(root / f"img_{i}.png", seed=i) for i in range(1, n + 1)]
    if with_json:
        write_json(
            images[0],
            [
                polygon_shape("cat", [[10, 10], [60, 12], [50, 50], [12, 45]]),
                polygon_shape("dog", [[90, 60], [140, 60], [140, 100], [90, 100]]),
            ],
        )
        if n > 1:
            proposal = polygon_shape(
                "cat", [[20, 20], [70, 20], [70, 70]], segdesk={"source": "model", "proposal": True}
            )
            write_json(images[1], [proposal], segdesk={"status": "proposed"})
    return root


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def viewport_point(canvas, x: float, y: float) -> QPoint:
    """The viewport position of image pixel coordinates (x, y)."""
    return canvas.mapFromScene(QPointF(x, y))


def click_image(canvas, x: float, y: float, *, button=Qt.MouseButton.LeftButton, modifier=None) -> None:
    mods = modifier if modifier is not None else Qt.KeyboardModifier.NoModifier
    QTest.mouseClick(canvas.viewport(), button, mods, viewport_point(canvas, x, y))


def move_mouse(canvas, x: float, y: float) -> None:
    QTest.mouseMove(canvas.viewport(), viewport_point(canvas, x, y))


def answer_modal(action: Callable[[object], None], *, timeout_ms: int = 5000) -> list[bool]:
    """Run ``action(dialog)`` on the next modal dialog that opens (from inside its event loop)."""
    done: list[bool] = []
    waited = [0]

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            waited[0] += 20
            if waited[0] < timeout_ms:
                QTimer.singleShot(20, poll)
            return
        action(dialog)
        done.append(True)

    QTimer.singleShot(0, poll)
    return done


def type_label(text: str, *, group_id: str | None = None) -> list[bool]:
    """Answer the label dialog as a person would: type the label (and group id), press Enter."""

    def act(dialog) -> None:
        edit = dialog.label_edit
        edit.setFocus()
        edit.selectAll()
        QTest.keyClick(edit, Qt.Key.Key_Backspace)
        QTest.keyClicks(edit, text)
        if group_id is not None:
            dialog.group_edit.setFocus()
            dialog.group_edit.selectAll()
            QTest.keyClicks(dialog.group_edit, group_id)
            dialog.label_edit.setFocus()
        for _ in range(3):  # a completion popup takes the first Enter, as for a person
            if not dialog.isVisible():
                break
            target = dialog.completer.popup() if dialog.completer.popup().isVisible() else edit
            QTest.keyClick(target, Qt.Key.Key_Return)

    return answer_modal(act)


def labelme_read(json_path: Path) -> dict:
    """Load ``json_path`` with labelme's own LabelFile in a subprocess (labelme brings PyQt5)."""
    code = (
        "import json, sys\n"
        "from labelme import LabelFile\n"
        "lf = LabelFile(sys.argv[1])\n"
        "print(json.dumps({'shapes': [{'label': s['label'], 'points': s['points'], "
        "'shape_type': s['shape_type'], 'group_id': s['group_id']} for s in lf.shapes], "
        "'imagePath': lf.imagePath}))\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(json_path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def shown_window(qtbot):
    """Yield a shown MainWindow; afterwards leave nothing to save or ask about and close it.

    Use from a fixture after redirecting settings (``use_settings_dir``).
    """
    from segdesk.ui.main_window import MainWindow
    from segdesk.ui.settings import AppSettings

    win = MainWindow(AppSettings())
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    yield win
    # Close while any patched dialog is still in place.
    win.session.set_autosave(False)
    win.session.undo_stack.setClean()
    win.close()
    win.deleteLater()


def quiet_window(qtbot, tmp_path: Path):
    """A shown MainWindow with settings in ``tmp_path``, no proposal on opening an image and no ONNX
    export after a Retrain (what most window tests want); shut down cleanly afterwards."""
    from segdesk.ui.settings import use_settings_dir

    folder = tmp_path / "settings"
    folder.mkdir()
    use_settings_dir(folder)
    for win in shown_window(qtbot):
        win.model_panel.auto_predict.setChecked(False)
        win.assist.export_onnx = False
        yield win
        assert win.assist.shutdown(5000)
