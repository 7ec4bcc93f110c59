"""UI test guards: settings in a temp folder, no QThread left running, cross-thread Qt warnings fail.

Every test under tests/ui gets these automatically (autouse fixtures).
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QStandardPaths, QThread, QtMsgType, qInstallMessageHandler

import segdesk.ui.pyside_fix  # noqa: F401  - before any Qt call: PySide6 6.12 drops None refs

#: Substrings of Qt messages that mean an object was used from the wrong thread.
CROSS_THREAD_MESSAGES: tuple[str, ...] = (
    "different thread",
    "another thread",
    "outside the GUI thread",
    "QBasicTimer can only be used with threads started with QThread",
    "Destroyed while thread",
    "Cannot send events to objects owned by a different thread",
)

_started_threads: weakref.WeakSet[QThread] = weakref.WeakSet()
_original_start = QThread.start


def _tracking_start(self: QThread, *args: object) -> None:
    _started_threads.add(self)
    _original_start(self, *args)


# Every QThread started during the tests is remembered (weakly) so a leftover one can be found.
QThread.start = _tracking_start  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def settings_in_temp_folder(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """QSettings, QStandardPaths and segdesk's data folder (the demo copy) point into a fresh temp
    folder for each test."""
    root = tmp_path_factory.mktemp("settings")
    monkeypatch.setenv("SEGDESK_DATA_DIR", str(root / "segdesk-data"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(root / "qsettings"))
    if sys.platform.startswith("linux"):
        # QStandardPaths reads these on every call on Linux.
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            monkeypatch.setenv(name, str(root / name.lower()))
    else:
        QStandardPaths.setTestModeEnabled(True)
    return root


@pytest.fixture(autouse=True)
def no_thread_left_running() -> Iterator[None]:
    """Fail the test when a QThread it started is still running afterwards."""
    before = set(map(id, _started_threads))
    yield
    leftover = [t for t in list(_started_threads) if id(t) not in before and t.isRunning()]
    for thread in leftover:
        thread.wait(200)  # a thread finishing right now is not a leak
    running = [t for t in leftover if t.isRunning()]
    if running:
        pytest.fail(f"{len(running)} QThread(s) left running: {running}", pytrace=False)


@pytest.fixture(autouse=True)
def cross_thread_warnings_fail() -> Iterator[list[str]]:
    """Qt warnings about objects used across threads fail the test."""
    caught: list[str] = []

    def handler(mode: QtMsgType, context: object, message: str) -> None:
        if any(s in message for s in CROSS_THREAD_MESSAGES):
            caught.append(message)
        if callable(previous):
            previous(mode, context, message)
        elif mode != QtMsgType.QtDebugMsg:
            sys.stderr.write(f"Qt: {message}\n")

    previous = qInstallMessageHandler(handler)
    try:
        yield caught
    finally:
        qInstallMessageHandler(previous if callable(previous) else None)
    if caught:
        pytest.fail("Qt cross-thread warning(s): " + "; ".join(caught), pytrace=False)
