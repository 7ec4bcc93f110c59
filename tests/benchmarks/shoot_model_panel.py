"""Screenshots of the Model dock for the docs (a plain script, not a test).

docs/screenshots/model_panel_training.png: the panel while Retrain runs (progress, ETA, live chart).
docs/screenshots/proposals.png: proposals on an unlabeled ISBI image after training.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/shoot_model_panel.py --seconds 90
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.benchmarks.bench_ui_training import make_project, wait_for  # noqa: E402

OUT = REPO / "docs" / "screenshots"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=90.0)
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    from segdesk.ui.main_window import MainWindow
    from segdesk.ui.model_assist import with_train_config
    from segdesk.ui.settings import AppSettings, use_settings_dir

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        use_settings_dir(work / "settings")
        root = make_project(work / "isbi", reviewed=5, unlabeled=3)
        win = MainWindow(AppSettings())
        win.resize(1400, 900)
        win.show()
        win.open_path(root)
        wait_for(app, lambda: False, 0.5)
        with_train_config(win.assist, minutes=args.seconds / 60)
        done: list[object] = []
        win.assist.training_finished.connect(done.append)
        win.assist.retrain()
        start = time.perf_counter()
        wait_for(app, lambda: time.perf_counter() - start > args.seconds * 0.7, args.seconds)
        win.grab().save(str(OUT / "model_panel_training.png"))
        wait_for(app, lambda: bool(done), args.seconds * 3 + 300)
        wait_for(app, lambda: not win.assist.runner.is_running(), 120)
        applied: list[int] = []
        win.assist.proposals_applied.connect(applied.append)
        index = next(i for i in range(len(win.session.entries)) if win.session.entry_status(i) == "unlabeled")
        win.session.go_to(index)
        wait_for(app, lambda: bool(applied), 60)
        win.canvas.select_indices([0])
        wait_for(app, lambda: False, 0.3)
        win.grab().save(str(OUT / "proposals.png"))
        print(f"saved screenshots; training result {done[0]}; {applied} proposals")
        win.session.set_autosave(False)
        win.session.undo_stack.setClean()
        win.assist.shutdown(10000)
        win.close()


if __name__ == "__main__":
    main()
