"""Start the whole app in a subprocess (a second QApplication in one process aborts) and close it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.ui.window_helpers import make_project

REPO = Path(__file__).resolve().parents[2]

# Runs the console entry point, then reports which heavy modules the start pulled in.
_RUNNER = (
    "import sys\n"
    "from segdesk.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "heavy = sorted(m for m in ('torch', 'segdesk.ml', 'onnxruntime', 'albumentations') if m in sys.modules)\n"
    "print('HEAVY=' + ','.join(heavy))\n"
    "sys.exit(rc)\n"
)


def _run(args: list[str], settings: Path, *, smoke_env: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SEGDESK_SETTINGS_DIR=str(settings))
    if smoke_env:
        env["SEGDESK_SMOKE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", _RUNNER, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_app_opens_a_folder_shows_the_window_and_exits_cleanly(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", n=2)
    settings = tmp_path / "settings"
    proc = _run([str(root), "--quit-after-show"], settings)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "HEAVY=\n" in proc.stdout, proc.stdout
    assert "window shown after" in proc.stderr
    assert "img_1.png" in proc.stderr  # the title names the image that was opened
    # Closing saved the window state and the folder; the next start without a path reopens it.
    ini = next(settings.rglob("*.ini"))
    assert str(root.name) in ini.read_text(encoding="utf-8")
    again = _run([], settings, smoke_env=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert str(root) in again.stderr


def test_app_with_a_missing_path_still_starts(tmp_path: Path) -> None:
    proc = _run([str(tmp_path / "nope"), "--quit-after-show"], tmp_path / "settings")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cannot open" in proc.stderr


def test_many_signals_do_not_crash_the_app(tmp_path: Path) -> None:
    """PySide6 6.12.0 drops a reference to True per emit; 100,000 emits abort Python without the guard."""
    code = (
        "import segdesk.ui.pyside_fix\n"
        "from PySide6.QtCore import QObject, Signal\n"
        "class O(QObject):\n"
        "    moved = Signal(float, float, object)\n"
        "o = O()\n"
        "o.moved.connect(lambda x, y, v: None)\n"
        "for i in range(100_000):\n"
        "    o.moved.emit(1.0, 2.0, None)\n"
        "print('done')\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "done"


def test_first_start_without_a_path_opens_a_copy_of_the_demo_project(tmp_path: Path) -> None:
    """Issue 13, defect 12: the shipped demo is copied to the user's data folder and the copy opens."""
    from segdesk.ui.resources import demo_project_dir, user_demo_dir

    demo = demo_project_dir()
    assert demo is not None and any(demo.glob("*.json")), "resources/demo is part of the repository"
    copy = user_demo_dir()  # SEGDESK_DATA_DIR: a temp folder (tests/ui/conftest.py)
    assert tmp_path.parent in copy.parents or "segdesk-data" in str(copy)
    before = {p.name: p.stat().st_mtime_ns for p in demo.iterdir()}
    proc = _run([], tmp_path / "fresh-settings", smoke_env=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert str(copy) in proc.stderr and str(demo) not in proc.stderr
    assert sorted(p.name for p in copy.glob("*.json")) == sorted(p.name for p in demo.glob("*.json"))
    assert {p.name: p.stat().st_mtime_ns for p in demo.iterdir()} == before  # the shipped files untouched
