"""Screenshots of the brush for the docs (a plain script, not a test).

docs/screenshots/brush_stroke.png: a brush stroke under way between two cells of the demo image (the
stroke in the label's colour, the round cursor showing the size).
docs/screenshots/brush_merged.png: after release: the two cells and the stroke are one filled mask.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/shoot_brush.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

OUT = REPO / "docs" / "screenshots"


def main() -> None:
    import numpy as np
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from segdesk.core.shapes import bounding_box
    from segdesk.ui.main_window import MainWindow
    from segdesk.ui.settings import AppSettings, use_settings_dir

    app = QApplication.instance() or QApplication([])

    def pump(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.005)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        use_settings_dir(work / "settings")
        os.environ["SEGDESK_DATA_DIR"] = str(work / "data")
        folder = work / "demo"
        folder.mkdir()
        for name in ("cells_01.jpg", "cells_01.json", "labels.txt"):
            shutil.copy(REPO / "resources" / "demo" / name, folder / name)
        win = MainWindow(AppSettings())
        win.session.set_autosave(False)
        win.resize(1400, 900)
        win.show()
        win.open_path(folder / "cells_01.json")
        pump(0.5)
        view = win.canvas
        shapes = list(win.session.document.shapes)
        # Two neighbouring cells: the stroke joins them.
        centres = [np.asarray(bounding_box(s)).reshape(2, 2).mean(axis=0) for s in shapes]
        cells = [i for i, s in enumerate(shapes) if s.label == "cell"]
        a, b = min(
            ((i, j) for i in cells for j in cells if i < j),
            key=lambda ij: np.hypot(*(centres[ij[0]] - centres[ij[1]])),
        )
        mid = (centres[a] + centres[b]) / 2
        view.zoom_by(1.6, view.mapFromScene(QPointF(*mid)).toPointF())
        view.centerOn(QPointF(*mid))
        win.acts["mode_brush"].trigger()
        view.set_current_label("cell")
        view.brush_radius = 9.0
        pump(0.3)
        vp = view.viewport()
        path = [centres[a] + (centres[b] - centres[a]) * t for t in np.linspace(0.0, 1.0, 25)]
        QTest.mousePress(
            vp,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            view.mapFromScene(QPointF(*path[0])),
        )
        for p in path[1:18]:
            QTest.mouseMove(vp, view.mapFromScene(QPointF(*p)))
        pump(0.3)
        OUT.mkdir(parents=True, exist_ok=True)
        win.grab().save(str(OUT / "brush_stroke.png"))
        for p in path[18:]:
            QTest.mouseMove(vp, view.mapFromScene(QPointF(*p)))
        QTest.mouseRelease(
            vp,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            view.mapFromScene(QPointF(*path[-1])),
        )
        QTest.mouseMove(vp, view.mapFromScene(QPointF(*(path[-1] + (40, 30)))))
        pump(0.3)
        win.grab().save(str(OUT / "brush_merged.png"))
        kinds = [s.shape_type for s in win.session.document.shapes]
        print(f"shapes {len(shapes)} -> {len(kinds)}, masks {kinds.count('mask')}; wrote {OUT}/brush_*.png")
        win.session.undo_stack.setClean()
        win.close()


if __name__ == "__main__":
    main()
