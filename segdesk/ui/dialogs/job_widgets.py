"""The bottom of a dialog that runs one job (Export, Import masks): a progress bar, a status line,
a details box, and Go / Cancel / Close buttons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton


@dataclass
class JobWidgets:
    progress: QProgressBar
    status: QLabel
    details: QPlainTextEdit
    go: QPushButton
    cancel: QPushButton
    close: QPushButton
    buttons: QHBoxLayout


def job_widgets(
    go_text: str,
    status: str,
    *,
    on_go: Callable[[], object],
    on_cancel: Callable[[], None],
    on_close: Callable[[], None],
) -> JobWidgets:
    """The widgets, connected: Go is the default button, Cancel is off until a job runs."""
    progress = QProgressBar()
    progress.setRange(0, 1)
    progress.setValue(0)
    label = QLabel(status)
    label.setWordWrap(True)
    details = QPlainTextEdit()
    details.setReadOnly(True)
    details.setMaximumHeight(110)
    go, cancel, close = QPushButton(go_text), QPushButton("Cancel"), QPushButton("Close")
    go.setDefault(True)
    go.clicked.connect(on_go)
    cancel.clicked.connect(on_cancel)
    cancel.setEnabled(False)
    close.clicked.connect(on_close)
    buttons = QHBoxLayout()
    buttons.addStretch(1)
    for b in (go, cancel, close):
        buttons.addWidget(b)
    return JobWidgets(progress, label, details, go, cancel, close, buttons)


__all__ = ["JobWidgets", "job_widgets"]
