"""UI responsiveness benchmarks of issue 5 (a plain script, not collected by pytest).

1. ``gap``: the worst gap between ticks of a 16 ms QTimer on the GUI thread while "Retrain on my
   labels" runs in its QThread (goal <= 100 ms), for the app's torch thread count and for others.
2. ``startup``: process start -> main window shown, in a subprocess (goal <= 1.0 s).
3. ``proposals``: opening an unlabeled 512 x 512 image -> proposals drawn, with the default model
   (goal <= 300 ms), first (model loading in the background already) and later images.

Data: ISBI 2012 membrane images from ../shared/data (cells = mask 255) made into a project.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_ui_training.py --seconds 30
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from tests.benchmarks.shared_data import SHARED  # noqa: E402

DATA = SHARED / "data" / "isbi2012_membrane"


def make_project(root: Path, *, reviewed: int = 4, unlabeled: int = 6) -> Path:
    from segdesk.core.document import Document
    from segdesk.core.labelme_io import save_document
    from segdesk.core.vectorize import class_map_to_shapes

    root.mkdir(parents=True)
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\n", encoding="utf-8")
    for i in range(reviewed + unlabeled):
        shutil.copy(DATA / "images" / f"{i}.png", root / f"{i:02d}.png")
        if i < reviewed:
            mask = np.array(Image.open(DATA / "masks" / f"{i}.png")) > 127
            shapes = class_map_to_shapes(mask.astype(np.uint8), ["_background_", "cell"], tolerance=1.0)
            doc = Document(image_path=f"{i:02d}.png", image_height=512, image_width=512, shapes=shapes)
            doc.set_status("reviewed")
            save_document(doc, root / f"{i:02d}.json")
    return root


class GapMeter:
    """Ticks a 16 ms QTimer and records the time between ticks."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(16)
        self.timer.timeout.connect(self.tick)

    def tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self.last) * 1000)
        if self.gaps[-1] > 50:
            self.slow.append((self.last - self.t0, self.gaps[-1]))
        self.last = now

    def start(self) -> None:
        self.gaps.clear()
        self.slow: list[tuple[float, float]] = []
        self.last = self.t0 = time.perf_counter()
        self.timer.start()

    def stop(self) -> dict[str, float]:
        self.timer.stop()
        g = np.array(self.gaps[1:] or [0.0])
        return {
            "slow": ", ".join(f"{g:.0f} ms at {t:.1f}s" for t, g in self.slow[:12]),
            "max": float(g.max()),
            "p99": float(np.percentile(g, 99)),
            "mean": float(g.mean()),
            "n": len(g),
        }


def wait_for(app, condition, timeout_s: float) -> bool:
    end = time.perf_counter() + timeout_s
    while time.perf_counter() < end:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.002)
    return False


def bench_gap_and_proposals(seconds: float, threads_list: list[int], work: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from segdesk.ui.main_window import MainWindow
    from segdesk.ui.model_assist import with_train_config
    from segdesk.ui.settings import AppSettings, use_settings_dir

    app = QApplication.instance() or QApplication([])
    use_settings_dir(work / "settings")
    root = make_project(work / "project")
    win = MainWindow(AppSettings())
    win.resize(1400, 900)
    win.show()
    win.open_path(root)
    win.assist.error.connect(lambda text: print(f"app error: {text}"))
    wait_for(app, lambda: False, 0.5)
    meter = GapMeter()
    for threads in threads_list:
        with_train_config(win.assist, minutes=seconds / 60, threads=threads)
        done: list[object] = []
        win.assist.training_finished.connect(done.append)
        t0 = time.perf_counter()
        meter.start()
        win.assist.retrain()
        phases: dict[str, float] = {}
        job = win.assist.runner.job("train")
        job.progress.connect(lambda s, ph=phases, t=t0: ph.setdefault(s.phase, time.perf_counter() - t))
        wait_for(app, lambda d=done: bool(d), seconds * 4 + 300)
        gaps = meter.stop()
        win.assist.training_finished.disconnect()
        outcome = done[0]
        print(
            f"gap  threads={threads}: worst {gaps['max']:.1f} ms, p99 {gaps['p99']:.1f} ms, mean "
            f"{gaps['mean']:.1f} ms over {gaps['n']} ticks; run {time.perf_counter() - t0:.1f} s "
            f"(phases at {', '.join(f'{k} {v:.1f}s' for k, v in phases.items())}); "
            f"result {getattr(outcome, 'version', None)} mIoU {getattr(outcome, 'miou', float('nan')):.3f}\n"
            f"     gaps > 50 ms: {gaps['slow'] or 'none'}; torch in the GUI process: {'torch' in sys.modules}"
        )
    # Proposals on unlabeled 512 x 512 images with the trained default-size model.
    wait_for(app, lambda: not win.assist.runner.is_running("warm_up"), 120)
    applied: list[float] = []
    win.assist.proposals_applied.connect(lambda n: applied.append(time.perf_counter()))
    first_unlabeled = next(
        i for i in range(len(win.session.entries)) if win.session.entry_status(i) == "unlabeled"
    )
    for k, index in enumerate(range(first_unlabeled, len(win.session.entries))):
        applied.clear()
        t0 = time.perf_counter()
        win.session.go_to(index)
        ok = wait_for(app, lambda: bool(applied), 60)
        # The items exist once proposals_applied fired; one synchronous paint draws them (an extra
        # processEvents() here would paint twice and count both).
        win.canvas.viewport().repaint()
        t1 = time.perf_counter()
        n = len(win.session.current.document.proposals)
        result = win.assist.result
        model_ms = result.elapsed_s * 1000 if result is not None else float("nan")
        print(
            f"proposals image {index} ({'first' if k == 0 else 'next'}): "
            f"{(t1 - t0) * 1000:.0f} ms to drawn ({n} shapes, worker {model_ms:.0f} ms){'' if ok else ' TIMEOUT'}"
        )
        win.session.undo_stack.setClean()  # no autosave of the proposals between images
    print(f"torch in the GUI process after the proposals: {'torch' in sys.modules}")
    proposals_during_training(app, win, threads_list[-1], first_unlabeled)
    win.session.set_autosave(False)
    win.assist.shutdown(10000)
    win.close()


def proposals_during_training(app: object, win: object, threads: int, first_unlabeled: int) -> None:
    """Open the unlabeled images again while a Retrain runs: proposals compete with training for cores."""
    from segdesk.ui.model_assist import with_train_config

    with_train_config(win.assist, minutes=5, threads=threads)
    phases: list[str] = []
    win.assist.runner.job_started.connect(
        lambda n: (
            n == "train" and win.assist.runner.job("train").progress.connect(lambda s: phases.append(s.phase))
        )
    )
    win.assist.retrain()
    wait_for(app, lambda: "training" in phases, 120)
    wait_for(app, lambda: False, 3.0)  # well into training
    applied: list[float] = []
    win.assist.proposals_applied.connect(lambda n: applied.append(time.perf_counter()))
    times = []
    for index in range(first_unlabeled, len(win.session.entries)):
        applied.clear()
        t0 = time.perf_counter()
        win.session.go_to(index)
        wait_for(app, lambda: bool(applied), 60)
        win.canvas.viewport().repaint()
        times.append((time.perf_counter() - t0) * 1000)
        win.session.undo_stack.setClean()
    still = win.assist.runner.is_running("train")
    win.assist.cancel_training()
    wait_for(app, lambda: not win.assist.runner.is_running("train"), 30)
    print(
        f"proposals while Retrain runs ({threads} training threads, niceness "
        f"{__import__('segdesk.services.training', fromlist=['x']).APP_NICENESS}): "
        f"{', '.join(f'{t:.0f}' for t in times)} ms (training still running: {still})"
    )


def bench_startup(work: Path, runs: int = 3) -> None:
    root = make_project(work / "startup_project", reviewed=1, unlabeled=1)
    code = "import sys\nfrom segdesk.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SEGDESK_SETTINGS_DIR=str(work / "st_settings"))
    for run in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(root), "--quit-after-show"],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        shown = None
        for line in proc.stderr:  # type: ignore[union-attr]
            if "window shown after" in line:
                shown = (time.perf_counter() - t0) * 1000
                inner = re.search(r"after (\d+) ms", line)
                break
        proc.wait(60)
        print(
            f"startup run {run + 1}: process start -> window shown {shown:.0f} ms "
            f"(the app's own clock: {inner.group(1) if inner else '?'} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0, help="training budget per run")
    parser.add_argument("--threads", default="1", help="comma-separated torch thread counts to compare")
    parser.add_argument("--only", default="gap,startup")
    parser.add_argument("--work", type=Path, default=None, help="keep the generated project here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        if "startup" in args.only:
            bench_startup(work)
        if "gap" in args.only:
            bench_gap_and_proposals(args.seconds, [int(t) for t in args.threads.split(",")], work)


if __name__ == "__main__":
    main()
