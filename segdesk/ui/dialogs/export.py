"""File > Export: masks, a VOC folder, COCO JSON, previews, or the model as ONNX.

The export runs as a Job (segdesk.ui.job_runner) off the GUI thread with a progress bar and Cancel; its
job functions are in segdesk.ui.job_functions (masks: segdesk.core; ONNX: segdesk.ml through
segdesk.services), its option groups in dialogs/export_options.py. Existing files are only replaced
after the person agrees; a cancelled or failed export leaves nothing behind (the core stages
everything in a hidden folder).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from segdesk.core.errors import SegdeskError
from segdesk.core.export.masks import (
    FORMAT_TITLES,
    FORMATS,
    ExportProgress,
    existing_outputs,
    export_selection,
)
from segdesk.core.export.writers import ExportReport
from segdesk.core.project import Project
from segdesk.ui.dialogs.export_options import MaskOptions, OnnxOptions
from segdesk.ui.dialogs.job_widgets import JobDialog, job_widgets
from segdesk.ui.job_functions import masks_job
from segdesk.ui.job_runner import Job, JobRunner

ONNX = "onnx"
JOB_NAME = "export"
#: Formats whose ignore value is fixed by the format itself (VOC: 255; COCO and instances: left out).
_FIXED_IGNORE = ("voc", "coco", "instance", "overlay", "yolo")


class ExportDialog(JobDialog):
    """Choose what to export and where; run it with progress; show the result.

    ``export_finished(ok)`` is emitted when a run ends (True only for a successful, verified one).
    """

    export_finished = Signal(bool)
    JOB_NAME, WHAT = JOB_NAME, "export"

    def __init__(
        self, project_root: str | Path, parent: QWidget | None = None, *, runner: JobRunner | None = None
    ):
        super().__init__(parent)
        self.root = Path(project_root)
        self.setWindowTitle(f"Export - {self.root.name}")
        self.runner = runner if runner is not None else JobRunner(self)
        self.job: Job | None = None
        self.result: Any = None
        self._build()
        self._on_kind_changed()
        self._update_selection()

    # --- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.kind = QComboBox()
        for fmt in FORMATS:
            self.kind.addItem(FORMAT_TITLES[fmt], fmt)
        self.kind.addItem("Model as ONNX (current checkpoint)", ONNX)
        self.kind.currentIndexChanged.connect(self._on_kind_changed)

        masks, onnx = MaskOptions(), OnnxOptions()
        self.mask_box, self.onnx_box = masks, onnx
        self.include_unreviewed, self.selection_note = masks.include_unreviewed, masks.selection_note
        self.with_proposals, self.ignore_255 = masks.with_proposals, masks.ignore_255
        self.val_fraction = masks.val_fraction
        self.include_unreviewed.toggled.connect(self._update_selection)
        self.opset, self.fp16 = onnx.opset, onnx.fp16

        self.out_edit = QLineEdit()
        self.browse = QPushButton("Browse...")
        self.browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(self.browse)

        job = job_widgets(
            "Export",
            "Exports read the saved annotation files.",
            on_go=self.start_export,
            on_cancel=self.cancel_job,
            on_close=self.reject,
        )
        self.progress, self.status, self.details = job.progress, job.status, job.details
        self.export_button, self.cancel_button, self.close_button = job.go, job.cancel, job.close
        buttons = job.buttons

        form = QFormLayout()
        form.addRow("Export", self.kind)
        form.addRow("To", out_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.mask_box)
        layout.addWidget(self.onnx_box)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.details)
        layout.addLayout(buttons)
        self.setMinimumWidth(480)

    # --- state --------------------------------------------------------------------------------
    def set_project_root(self, project_root: str | Path) -> None:
        """Follow another project (the window opened another folder): its paths, its images.

        A running export keeps writing what it was started with; the next one uses the new folder.
        """
        self.root = Path(project_root)
        self.setWindowTitle(f"Export - {self.root.name}")
        if self.out_edit.text().strip() == getattr(self, "_suggested", ""):
            self.out_edit.clear()  # the old project's suggested name: suggest the new one's
        self._on_kind_changed()
        if not self.runner.is_running(JOB_NAME):
            self.result = None
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.details.clear()
            self.status.setText("Exports read the saved annotation files.")
        self._update_selection()

    def _update_selection(self) -> None:
        """Say how many images the mask export takes, by the same rule as the export itself."""
        try:
            selection = export_selection(
                Project(self.root), include_unreviewed=self.include_unreviewed.isChecked()
            )
        except (SegdeskError, OSError) as exc:
            self.selection_note.setText(str(exc))
            return
        text = f"{len(selection.entries)} image(s) will be exported"
        if selection.left_out:
            text += f"; {selection.left_out} annotated but not reviewed are left out"
        self.selection_note.setText(text + ".")

    @property
    def kind_value(self) -> str:
        return str(self.kind.currentData())

    def _default_out(self) -> Path:
        if self.kind_value == ONNX:
            return self.root.parent / f"{self.root.name}-model.onnx"
        return self.root.parent / f"{self.root.name}-{self.kind_value}"

    def _on_kind_changed(self) -> None:
        onnx = self.kind_value == ONNX
        self.mask_box.setVisible(not onnx)
        self.onnx_box.setVisible(onnx)
        self.ignore_255.setEnabled(self.kind_value not in _FIXED_IGNORE)
        self.val_fraction.setVisible(self.kind_value == "yolo")
        current = self.out_edit.text().strip()
        # Follow the kind with the suggested name, unless the person typed a path of their own.
        if not current or current == getattr(self, "_suggested", ""):
            self._suggested = str(self._default_out())
            self.out_edit.setText(self._suggested)

    def _browse(self) -> None:
        start = self.out_edit.text().strip() or str(self.root.parent)
        if self.kind_value == ONNX:
            path, _ = QFileDialog.getSaveFileName(self, "Export the model to", start, "ONNX model (*.onnx)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export into folder", start)
        if path:
            self.out_edit.setText(path)

    def _set_running(self, running: bool) -> None:
        for w in (self.kind, self.out_edit, self.browse, self.mask_box, self.onnx_box, self.export_button):
            w.setEnabled(not running)
        if not running:
            self.ignore_255.setEnabled(self.kind_value not in _FIXED_IGNORE)
        self.cancel_button.setEnabled(running)

    # --- asking (separate so tests can answer) ------------------------------------------------
    def confirm_overwrite(self, target: Path, existing: list[Path]) -> bool:
        names = "\n".join(p.name for p in existing[:5]) + ("\n..." if len(existing) > 5 else "")
        answer = QMessageBox.question(
            self,
            "Replace existing files?",
            f"{len(existing)} file(s) in {target} would be replaced:\n{names}\n\nReplace them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def show_error(self, text: str) -> None:
        QMessageBox.critical(self, "Export failed", text)

    # --- running ------------------------------------------------------------------------------
    def start_export(self) -> bool:
        """Start the export job; False when nothing was started (no path, declined, a job runs)."""
        if self.runner.is_running(JOB_NAME):
            return False
        text = self.out_edit.text().strip()
        if not text:
            self.status.setText("Choose where to export to.")
            return False
        out = Path(text).expanduser()
        try:
            fn = self._onnx_fn(out) if self.kind_value == ONNX else self._masks_fn(out)
        except Exception as exc:
            self.show_error(str(exc))
            return False
        if fn is None:
            return False
        self.result = None
        self.details.clear()
        self.progress.setRange(0, 0)  # busy until the first progress record
        self.status.setText("Exporting...")
        self._set_running(True)
        self.job = self.runner.start(JOB_NAME, fn, connect=self._connect_job)
        return True

    def _masks_fn(self, out: Path) -> Callable[..., Any] | None:
        fmt = self.kind_value
        val_fraction = self.val_fraction.value() if fmt == "yolo" else 0.0
        existing = existing_outputs(
            self.root,
            out,
            fmt=fmt,  # type: ignore[arg-type]
            include_unreviewed=self.include_unreviewed.isChecked(),
            val_fraction=val_fraction,
        )
        if existing and not self.confirm_overwrite(out, existing):
            self.status.setText("Nothing exported: the files exist.")
            return None
        return masks_job(
            self.root,
            out,
            fmt=fmt,
            include_unreviewed=self.include_unreviewed.isChecked(),
            with_proposals=self.with_proposals.isChecked(),
            ignore_value=255 if self.ignore_255.isChecked() else 0,
            overwrite=bool(existing),
            val_fraction=val_fraction,
        )

    def _onnx_fn(self, out: Path) -> Callable[..., Any] | None:
        if out.suffix.lower() != ".onnx":
            out = out.with_name(out.name + ".onnx")
            self.out_edit.setText(str(out))
        if out.exists() and not self.confirm_overwrite(out.parent, [out]):
            self.status.setText("Nothing exported: the file exists.")
            return None
        from segdesk.ui import job_functions

        return job_functions.export_onnx_job(
            self.root, out, fp16=self.fp16.isChecked(), opset=self.opset.value()
        )

    def _on_progress(self, record: object) -> None:
        if isinstance(record, ExportProgress):
            self.progress.setRange(0, max(1, record.total))
            self.progress.setValue(record.done)
            self.status.setText(f"{record.done} of {record.total}: {record.message}")
        else:
            self.status.setText(str(record))

    def _on_succeeded(self, result: object) -> None:
        self.result = result
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        ok = True
        if isinstance(result, ExportReport):
            self.status.setText(f"Done: {result.summary()}")
            lines = [f"skipped {s}" for s in result.skipped] + [f"note: {n}" for n in result.notes]
            self.details.setPlainText("\n".join(lines))
        else:  # the ONNX outcome from job_functions.export_onnx_job
            ok = bool(getattr(result, "ok", False))
            verdict = "verified" if ok else "written, but verification FAILED"
            self.status.setText(f"{getattr(result, 'path', '')}: {verdict}")
            self.details.setPlainText(
                f"checked on {getattr(result, 'sample', '?')}\n"
                f"max |logit difference| to torch: {getattr(result, 'max_abs_diff', float('nan')):.2e}\n"
                f"argmax agreement: {getattr(result, 'argmax_agreement', float('nan')):.4%}\n"
                f"{getattr(result, 'summary', '')}"
            )
        self._ok = ok

    def _on_failed(self, message: str) -> None:
        self._ok = False
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText("Failed: nothing was written.")
        self.details.setPlainText(message)
        self.show_error(message)

    def _on_cancelled(self) -> None:
        self._ok = False
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText("Cancelled: nothing was written.")

    def _on_finished(self) -> None:
        self._set_running(False)
        self.export_finished.emit(bool(getattr(self, "_ok", False)))

    # --- closing ------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        self._update_selection()  # statuses change while the dialog is hidden
        super().showEvent(event)


def open_export_dialog(
    parent: QWidget, project: Any, *, runner: JobRunner | None = None
) -> ExportDialog | None:
    """Show the Export dialog for ``project`` (a Project or None), non-modal; None without a folder.

    Pass the window's JobRunner so that closing the window cancels a running export too.
    """
    if project is None:
        QMessageBox.information(parent, "Export", "Open a folder of images first (Ctrl+U).")
        return None
    dialog = ExportDialog(Path(project.root), parent, runner=runner)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    dialog.show()
    return dialog


__all__ = ["ONNX", "ExportDialog", "masks_job", "open_export_dialog"]
