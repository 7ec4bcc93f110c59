"""Walk through the real window as a new user would, and save a screenshot at every step.

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/walkthrough.py [--out DIR] [--seconds 20] [--docs]

Steps: open the person's copy of the demo project; correct an unlabeled image (draw the cell the model
does not know yet); R (mark reviewed and go to the next image); Retrain with a short budget (its plan is
answered automatically and logged); accept the new model's proposals and mark reviewed; export masks;
switch to a folder of files labelled in another tool, where Retrain asks the real question whether to
use them (that box is shot too). Each step checks what it should have done and stops with an error if
not. ``--docs`` also copies the shots the README uses into docs/screenshots/.

Runs in a fresh settings and data folder (nothing of the person's own is touched). Training runs in a
child process (spawn), hence the ``__main__`` guard.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
#: The shots the README and docs show (walkthrough name -> docs/screenshots name).
DOC_SHOTS = {
    "03_reviewed_and_next.png": "review_and_next.png",
    "06_proposals.png": "proposals.png",
    "08_labelled_elsewhere_question.png": "labelled_elsewhere_question.png",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "segdesk-walkthrough")
    parser.add_argument("--seconds", type=float, default=20.0, help="Retrain's time budget")
    parser.add_argument("--docs", action="store_true", help="refresh docs/screenshots from the shots")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="segdesk-walk-"))
    from segdesk.ui.resources import DATA_DIR_ENV

    os.environ[DATA_DIR_ENV] = str(work / "data")
    from PySide6.QtWidgets import QApplication

    from segdesk.ui.settings import use_settings_dir

    use_settings_dir(work / "settings")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    QApplication.setApplicationName("segdesk")
    walk = Walk(app, args.out, work, args.seconds)
    try:
        walk.run()
    finally:
        walk.close()
    if args.docs:
        for name, target in DOC_SHOTS.items():
            shutil.copyfile(args.out / name, REPO / "docs" / "screenshots" / target)
            print(f"docs/screenshots/{target} <- {name}")
    return 0


class Walk:
    def __init__(self, app, out: Path, work: Path, seconds: float) -> None:
        from segdesk.ui.main_window import MainWindow
        from segdesk.ui.model_assist import with_train_config
        from segdesk.ui.settings import AppSettings

        self.app, self.out, self.work = app, out, work
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.png"):
            old.unlink()
        self.win = MainWindow(AppSettings())
        self.win.resize(1500, 950)
        self.win.show()
        self.win.raise_()
        self.win.activateWindow()
        self.win.assist.export_onnx = False
        with_train_config(self.win.assist, minutes=seconds / 60.0)
        self.questions: list[str] = []
        self.win.assist.ask = self._auto_answer
        self.settle(0.5)

    # --- plumbing -------------------------------------------------------------------------------
    def settle(self, seconds: float = 0.2) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.01)

    def wait(self, what: str, done: Callable[[], bool], timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while not done():
            if time.monotonic() > end:
                raise SystemExit(f"walkthrough: timed out waiting for {what}")
            self.app.processEvents()
            time.sleep(0.02)

    def shot(self, name: str, widget=None) -> Path:
        self.settle(0.3)
        path = self.out / name
        (widget or self.win).grab().save(str(path))
        print(f"shot {path}")
        return path

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            raise SystemExit(f"walkthrough: {what} (last error: {self.win.last_error!r})")
        print(f"  ok: {what}")

    def _auto_answer(self, title: str, text: str, buttons) -> str:
        from segdesk.ui import review_flow

        self.questions.append(f"{title}: {text}")
        print(f"  asked: {title}: {text.splitlines()[0]} -> {buttons[0]}")
        return review_flow.START if review_flow.START in buttons else buttons[0]

    def status_on_disk(self, index: int) -> str:
        session = self.win.session
        return session.project.status(session.entries[index])

    def close(self) -> None:
        win = self.win
        win.session.set_autosave(False)
        win.session.undo_stack.setClean()
        win.assist.shutdown(5000)
        win.close()

    # --- the walk -------------------------------------------------------------------------------
    def run(self) -> None:
        from segdesk.ui.resources import prepare_demo_project

        win = self.win
        demo = prepare_demo_project()
        self.check(demo is not None and self.work in demo.parents, f"the demo is a copy in {demo}")
        self.check(win.open_path(demo), "the demo copy opens")
        self.wait("statuses", lambda: not win.session.scanning())
        counts = win.files_panel.model.counts
        self.check(counts["reviewed"] == 3, "its 3 labelled images are reviewed")
        self.shot("01_demo_open.png")

        # Correct an unlabeled image: draw a cell (no model yet, so nothing is proposed).
        win.session.go_to(3)
        self.draw_cell()
        self.check(win.session.document.status == "in_progress", "a drawn shape makes it in progress")
        win.session.flush()
        self.check(self.status_on_disk(3) == "in_progress", "autosave keeps it in progress (not reviewed)")
        self.shot("02_corrected_in_progress.png")

        # R: mark reviewed and go to the next image.
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        win.canvas.setFocus()
        QTest.keyClick(win.canvas, Qt.Key.Key_R)
        self.check(
            self.status_on_disk(3) == "reviewed" and win.session.index == 4,
            "R reviewed cells_04, shows cells_05",
        )
        self.shot("03_reviewed_and_next.png")

        # Retrain with a short budget; the open image is not saved by it.
        finished: list[object] = []
        win.assist.training_finished.connect(finished.append)
        win.acts["retrain"].trigger()
        self.check(win.assist.runner.is_running("train"), "Retrain started")
        self.check(
            "4 image(s) will train" in win.model_panel.train_status.text(), "it lists the 4 images it uses"
        )
        self.shot("04_retrain_running.png")
        self.wait("training", lambda: bool(finished), timeout=600)
        self.check(finished[0] is not None, f"training finished: {win.model_panel.train_status.text()}")
        self.shot("05_retrain_plan_done.png")

        # Accept: the new model proposes on cells_05; accept all, mark reviewed.
        applied: list[object] = []
        win.assist.proposals_applied.connect(lambda *a: applied.append(a))
        if not win.session.document.proposals:
            win.assist.predict_current()
        # the new model loads, then predicts (auto-predict may already have started it): wait for the result
        self.wait(
            "proposals",
            lambda: bool(applied) or bool(win.session.document.proposals) or bool(win.last_error),
            timeout=180,
        )
        proposed = len(win.session.document.proposals)
        print(f"  {proposed} proposal(s) on cells_05; {win.model_panel.health.text() or 'model useful'}")
        self.shot("06_proposals.png")
        if proposed:
            win.assist.accept_all()
            win.session.flush()
            self.check(self.status_on_disk(4) != "reviewed", "accepting does not review")
            win.acts["mark_reviewed"].trigger()
            self.check(self.status_on_disk(4) == "reviewed", "Mark reviewed does")
        else:  # a short budget on a busy machine: the panel says the model is not useful yet
            self.check(bool(win.model_panel.health.text()), "no proposals, and the panel says why")
            self.check(
                self.status_on_disk(4) == "unlabeled", "nothing to accept: cells_05 is not reviewed empty"
            )

        # Export masks of the reviewed images.
        self.export()

        # Switch folders: files labelled in another tool; Retrain asks the real question.
        other = self.labelme_folder()
        self.check(win.open_path(other), "another folder opens")
        self.wait("statuses", lambda: not win.session.scanning())
        self.check(win.files_panel.model.counts["elsewhere"] == 2, "its Labelme files are labelled elsewhere")
        self.check(
            win.shapes_panel.model.rowCount() == len(win.session.document.shapes),
            "no shapes of the demo stay",
        )
        self.shot("07_switched_folder.png")
        self.ask_for_real()

    def draw_cell(self) -> None:
        """Draw a polygon around the biggest bright blob of the image, labelled cell, as a person would."""
        import cv2
        import numpy as np

        from tests.ui.window_helpers import click_image, type_label

        win = self.win
        gray = np.asarray(win.session.current.display).mean(axis=2).astype(np.uint8)
        _t, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)  # cells: darker
        n, _labels, stats, cents = cv2.connectedComponentsWithStats(binary)
        binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
        n, _labels, stats, cents = cv2.connectedComponentsWithStats(binary)
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        cx, cy = cents[biggest]
        rx, ry = stats[biggest, cv2.CC_STAT_WIDTH] / 2, stats[biggest, cv2.CC_STAT_HEIGHT] / 2
        points = [
            (cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 10, endpoint=False)
        ]
        win.canvas.fit_window()
        win.acts.mode_action("polygon").trigger()
        answered = type_label("cell")
        for x, y in points:
            click_image(win.canvas, x, y)
            self.settle(0.02)
        click_image(win.canvas, *points[0])
        self.wait("the label dialog", lambda: answered == [True], timeout=10)
        win.acts.mode_action("edit").trigger()
        self.check(win.session.document.shapes[-1].label == "cell", "a cell polygon was drawn")

    def export(self) -> None:
        win = self.win
        win.show_export()
        dialog = win.export_dialog()
        self.check(dialog is not None and dialog.isVisible(), "the Export dialog opens")
        out = self.work / "export"
        dialog.out_edit.setText(str(out))
        done: list[object] = []
        dialog.export_finished.connect(done.append)
        dialog.export_button.click()
        self.wait("the export", lambda: bool(done), timeout=120)
        self.shot("06b_export_done.png", dialog)
        self.check("Done" in dialog.status.text(), f"exported: {dialog.status.text()}")
        dialog.close_button.click()
        self.settle(0.3)
        self.check(win.export_dialog() is None or not win.export_dialog().isVisible(), "Close closes it")

    def labelme_folder(self) -> Path:
        """Two demo images with their cells as Labelme saves them (no segdesk key)."""
        folder = self.work / "from_labelme"
        folder.mkdir()
        demo = self.win.session.project.root
        for stem in ("cells_01", "cells_02"):
            shutil.copyfile(demo / f"{stem}.jpg", folder / f"{stem}.jpg")
            data = json.loads((demo / f"{stem}.json").read_text(encoding="utf-8"))
            data.pop("segdesk", None)
            for shape in data["shapes"]:
                shape.pop("segdesk", None)
            (folder / f"{stem}.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
        return folder

    def ask_for_real(self) -> None:
        """Retrain in the Labelme folder with the real question box: shoot it, answer "Leave them out"."""
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication, QMessageBox

        from segdesk.ui import review_flow

        win = self.win
        seen: list[str] = []

        def answer() -> None:
            box = QApplication.activeModalWidget()
            if not isinstance(box, QMessageBox):
                QTimer.singleShot(50, answer)
                return
            seen.append(box.text())
            box.adjustSize()
            self.settle(0.3)
            self.shot("08_labelled_elsewhere_question.png", box)
            for button in box.buttons():
                if button.text() == review_flow.NOT_ELSEWHERE:
                    button.click()

        win.assist.ask = review_flow.message_box_ask(win)
        QTimer.singleShot(50, answer)
        win.acts["retrain"].trigger()
        self.check(bool(seen) and "labelled elsewhere for training?" in seen[0], "Retrain asked about them")
        self.check(not win.assist.runner.is_running("train"), "left out, nothing to train: nothing started")
        self.check(self.status_on_disk(0) == "elsewhere", "and the files were not changed")
        self.settle(0.3)
        box = QApplication.activeModalWidget()
        if box is not None:  # the "no reviewed images" message
            self.shot("09_nothing_to_train.png")
            box.close()


if __name__ == "__main__":
    raise SystemExit(main())
