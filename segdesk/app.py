"""Start the desktop app: ``main(["PATH"])`` opens a folder, an image or a Labelme JSON file.

Without a path it opens the last folder, or on first start the person's own copy of the demo project
(``ui.resources.prepare_demo_project``: the shipped files are never opened, so never written). Nothing here imports
torch or segdesk.ml, so the window shows quickly; the model panel loads them later, in a worker.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

_T0 = time.perf_counter()

#: Set to close the app as soon as the window is shown (smoke tests, start-up timing).
SMOKE_ENV = "SEGDESK_SMOKE"


def _frozen_guards() -> None:
    """Make a PyInstaller build behave: windowed builds have no stdout / stderr."""
    if not getattr(sys, "frozen", False):
        return
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
    # Qt finds its plugins inside the bundle; a system-wide QT_PLUGIN_PATH would load wrong ones.
    os.environ.pop("QT_PLUGIN_PATH", None)


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="segdesk", description="Open the segdesk annotation window.")
    parser.add_argument("path", nargs="?", help="a folder of images, an image or a Labelme JSON file")
    parser.add_argument("--quit-after-show", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--settings-dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation offscreen (window, demo project, one prediction) and exit",
    )
    return parser.parse_args(list(argv))


def start_path(arg: str | None, last_folder: Path | None) -> Path | None:
    """What to open: the argument, else the last folder if it still exists, else the person's copy
    of the demo project (made on first use; OSError when the data folder cannot be written)."""
    from segdesk.ui.resources import prepare_demo_project

    if arg:
        return Path(arg).expanduser()
    if last_folder is not None and last_folder.is_dir():
        return last_folder
    return prepare_demo_project()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app; ``argv`` are the arguments after the program name. Returns the exit code."""
    multiprocessing.freeze_support()
    _frozen_guards()
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.self_test:
        from segdesk.selftest import run_self_test  # loads torch: only on request

        return run_self_test(settings_dir=args.settings_dir)
    quit_after_show = args.quit_after_show or os.environ.get(SMOKE_ENV) == "1"

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import segdesk.ui.pyside_fix  # noqa: F401  - before any Qt work: PySide6 6.12 drops references
    from segdesk import __version__
    from segdesk.ui.settings import AppSettings, use_settings_dir

    QApplication.setApplicationName("segdesk")
    QApplication.setOrganizationName("segdesk")
    QApplication.setApplicationVersion(__version__)
    use_settings_dir(args.settings_dir)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "segdesk"])

    from segdesk.ui.main_window import MainWindow

    settings = AppSettings()
    window = MainWindow(settings)
    window.show()
    try:
        target = start_path(args.path, settings.last_folder())
    except OSError as exc:
        from segdesk.ui.resources import DATA_DIR_ENV, user_demo_dir

        target = None
        window.session.failed.emit(
            f"The demo project could not be copied to {user_demo_dir()}: {exc}. "
            f"Open a folder of your own, or set {DATA_DIR_ENV} to a folder you can write."
        )
    if target is not None:
        opened = window.open_path(target)
        if not opened and args.path:
            print(f"segdesk: cannot open {args.path}", file=sys.stderr)
    if quit_after_show:
        app.processEvents()
        shown_ms = (time.perf_counter() - _T0) * 1000.0
        print(f"segdesk: window shown after {shown_ms:.0f} ms: {window.windowTitle()}", file=sys.stderr)
        # close() goes through closeEvent, so the smoke test also covers saving settings on exit.
        QTimer.singleShot(0, window.close)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
