"""Render the README screenshots of the main window offscreen: ``python scripts/make_screenshots.py``.

Writes docs/screenshots/main_window.png (the demo project, shapes shown, one selected),
main_window_polygon.png (drawing a polygon) and label_dialog.png, all from QWidget.grab().
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from segdesk.ui.main_window import MainWindow  # noqa: E402
from segdesk.ui.resources import demo_project_dir  # noqa: E402
from segdesk.ui.settings import AppSettings, use_settings_dir  # noqa: E402

OUT = REPO / "docs" / "screenshots"


def _settle(app: QApplication, rounds: int = 5) -> None:
    for _ in range(rounds):
        app.processEvents()


def main() -> int:
    demo = Path(sys.argv[1]) if len(sys.argv) > 1 else demo_project_dir()
    if demo is None:
        print("no demo project found; pass a folder", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    use_settings_dir(tempfile.mkdtemp(prefix="segdesk-shots-"))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    QApplication.setApplicationName("segdesk")
    window = MainWindow(AppSettings())
    window.session.set_autosave(False)  # screenshots never touch the demo files
    window.resize(1400, 900)
    window.show()
    _settle(app)
    window.open_path(demo)
    # The image with the most shapes makes the best picture.
    best = max(range(len(window.session.entries)), key=lambda i: _shape_count(window, i))
    window.session.go_to(best)
    window.resize(1400, 900)
    _settle(app)
    window.canvas.fit_window()
    canvas = window.canvas
    height, width = window.session.current.display.shape[:2]
    if window.session.document is not None and window.session.document.shapes:
        canvas.select_indices([0])
    # A cursor over the image fills the status bar's position and value fields.
    QTest.mouseMove(canvas.viewport(), canvas.mapFromScene(QPointF(0.62 * width, 0.41 * height)))
    _settle(app)
    window.grab().save(str(OUT / "main_window.png"))

    canvas.select_indices([])
    canvas.set_mode("polygon")
    points = [(0.30, 0.30), (0.55, 0.25), (0.62, 0.55), (0.40, 0.62)]
    for fx, fy in points:
        pos = canvas.mapFromScene(QPointF(fx * width, fy * height))
        QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    QTest.mouseMove(canvas.viewport(), canvas.mapFromScene(QPointF(0.33 * width, 0.50 * height)))
    _settle(app)
    window.grab().save(str(OUT / "main_window_polygon.png"))
    QTest.keyClick(canvas.viewport(), Qt.Key.Key_Escape)

    dialog = window.label_dialog
    dialog.set_values("cell", 3, "touching the border", known_labels=window.session.known_labels())
    dialog.show()
    _settle(app)
    dialog.grab().save(str(OUT / "label_dialog.png"))
    dialog.hide()
    window.session.undo_stack.setClean()
    window.close()
    print("\n".join(str(p) for p in sorted(OUT.glob("*.png"))))
    return 0


def _shape_count(window: MainWindow, index: int) -> int:
    try:
        return len(window.session.project.load(window.session.entries[index]).shapes)
    except Exception:
        return 0


if __name__ == "__main__":
    sys.exit(main())
