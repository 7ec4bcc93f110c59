"""Render the README screenshots of the main window offscreen: ``python scripts/make_screenshots.py``.

Writes docs/screenshots/main_window.png (the demo project, shapes shown, one selected),
main_window_polygon.png (drawing a polygon) and label_dialog.png, all from QWidget.grab().

``--overlay`` also writes confidence_overlay.png: proposals on an unlabeled ISBI 2012 image with the
confidence overlay on, after a short Retrain (``--seconds``) on a few reviewed ISBI images
(``--data``, default /work/shared/data/isbi2012_membrane; needs torch, takes a few minutes).
"""

from __future__ import annotations

import argparse
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="the project to shoot (default: the bundled demo)")
    parser.add_argument("--overlay", action="store_true", help="also shoot the confidence overlay")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "isbi2012_membrane",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget for --overlay")
    args = parser.parse_args()
    demo = Path(args.folder) if args.folder else demo_project_dir()
    if demo is None:
        print("no demo project found; pass a folder", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    use_settings_dir(tempfile.mkdtemp(prefix="segdesk-shots-"))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    QApplication.setApplicationName("segdesk")
    shoot_demo(app, demo)
    if args.overlay:
        shoot_confidence_overlay(app, args.data, args.seconds)
    print("\n".join(str(p) for p in sorted(OUT.glob("*.png"))))
    return 0


def shoot_demo(app: QApplication, demo: Path) -> None:
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


def shoot_confidence_overlay(app: QApplication, data: Path, seconds: float) -> None:
    """Train briefly on reviewed ISBI images, open an unlabeled one, show the overlay, hover an unsure spot."""
    import numpy as np

    from segdesk.ui.model_assist import with_train_config

    if not (data / "images").is_dir():
        raise SystemExit(f"{data}: no ISBI images here; pass --data")
    from tests.benchmarks import bench_ui_training as bench  # the benchmarks' ISBI project maker

    bench.DATA = data
    work = Path(tempfile.mkdtemp(prefix="segdesk-overlay-"))
    root = bench.make_project(work / "isbi", reviewed=5, unlabeled=3)
    window = MainWindow(AppSettings())
    window.resize(1400, 900)
    window.show()
    window.open_path(root)
    with_train_config(window.assist, minutes=seconds / 60)
    done: list[object] = []
    window.assist.training_finished.connect(done.append)
    window.assist.retrain()
    if not bench.wait_for(app, lambda: bool(done), seconds * 3 + 300) or done[0] is None:
        raise SystemExit(f"training did not finish: {window.last_error or done}")
    bench.wait_for(app, lambda: not window.assist.runner.is_running(), 120)
    window.model_panel.overlay_check.setChecked(True)
    index = next(
        i for i in range(len(window.session.entries)) if window.session.entry_status(i) == "unlabeled"
    )
    predicted: list[str] = []
    window.assist.runner.job_finished.connect(predicted.append)
    window.session.go_to(index)
    if not bench.wait_for(app, lambda: "predict" in predicted, 120) or window.assist.result is None:
        raise SystemExit(f"no prediction: {window.last_error}")
    _settle(app, 20)
    window.canvas.fit_window()
    # Hover the least sure pixel near the middle: the panel reads out class and confidence there.
    conf = window.assist.result.confidence
    h, w = conf.shape
    middle = conf[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    y, x = np.unravel_index(int(np.argmin(middle)), middle.shape)
    canvas = window.canvas
    QTest.mouseMove(canvas.viewport(), canvas.mapFromScene(QPointF(x + w // 4 + 0.5, y + h // 4 + 0.5)))
    _settle(app, 5)
    window.grab().save(str(OUT / "confidence_overlay.png"))
    window.session.set_autosave(False)
    window.session.undo_stack.setClean()
    window.assist.shutdown(10000)
    window.close()


def _shape_count(window: MainWindow, index: int) -> int:
    try:
        return len(window.session.project.load(window.session.entries[index]).shapes)
    except Exception:
        return 0


if __name__ == "__main__":
    sys.exit(main())
