"""A dialog that runs one job (Export, Import masks): its bottom (a progress bar, a status line, a
details box, Go / Cancel / Close) and its job's wiring (signals, cancel, closing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton

from segdesk.ui.job_runner import Job, JobRunner


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


class JobDialog(QDialog):
    """The job side of such a dialog. Subclasses set ``JOB_NAME`` and ``WHAT`` ("export"), create
    ``runner``, ``job``, ``status`` and ``cancel_button``, and define the ``_on_progress``,
    ``_on_succeeded``, ``_on_failed``, ``_on_cancelled`` and ``_on_finished`` slots."""

    JOB_NAME = "job"
    WHAT = "job"
    runner: JobRunner
    job: Job | None
    status: QLabel
    cancel_button: QPushButton

    def _connect_job(self, job: Job) -> None:
        job.progress.connect(self._on_progress)  # type: ignore[attr-defined]
        job.succeeded.connect(self._on_succeeded)  # type: ignore[attr-defined]
        job.failed.connect(self._on_failed)  # type: ignore[attr-defined]
        job.cancelled.connect(self._on_cancelled)  # type: ignore[attr-defined]
        job.finished.connect(self._on_finished)  # type: ignore[attr-defined]

    def cancel_job(self) -> None:
        if self.runner.is_running(self.JOB_NAME):
            self.runner.cancel(self.JOB_NAME)
            self.status.setText("Cancelling...")
            self.cancel_button.setEnabled(False)

    def _stop_job(self) -> bool:
        """Cancel this dialog's running job and wait for it; False while it still runs. Only this
        dialog's job: the runner may be the window's, running training too."""
        job = self.job
        if job is None or not job.is_running():
            return True
        self.cancel_job()
        if job.wait(15000):
            return True
        self.status.setText(f"Still finishing the {self.WHAT}; close again in a moment.")
        return False

    def _closing(self) -> None:
        """Called once the dialog may close (its job stopped)."""

    def reject(self) -> None:
        """Close, Esc and the title bar's close all end here (QDialog.closeEvent calls reject)."""
        if self._stop_job():
            self._closing()
            super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        # QDialog.closeEvent calls reject() and ignores the event while the dialog stays visible.
        # (Calling close() from reject() instead recursed into a close already in progress, so the
        # dialog never closed.)
        if not self._stop_job():
            event.ignore()
            return
        self._closing()
        super().closeEvent(event)


__all__ = ["JobDialog", "JobWidgets", "job_widgets"]
