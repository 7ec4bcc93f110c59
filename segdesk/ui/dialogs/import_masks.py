"""File > Import masks: masks made elsewhere (Cellpose, ilastik, a dataset's PNGs), YOLO labels or a
COCO file (CVAT, Roboflow) become the open project's annotations, one Labelme JSON beside each image,
as ``segdesk import-masks`` / ``import-yolo`` / ``import-coco`` write them (the same core functions).

The dialog looks at the source off the GUI thread (import_sources.py) and proposes what it holds; the
person names the classes. Images without a mask stay unlabelled by default, and images that have an
annotation are left as they are unless the person asks to replace them. Imported images are marked
reviewed (the person chose these masks): they train at the next Retrain, and the dialog says so. The
import runs as a Job with progress and Cancel; nothing is written when a mask does not fit (every
problem listed), and a cancelled import says how far it got.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from segdesk.core.errors import SegdeskError
from segdesk.core.import_masks import ImportReport, parse_labels_spec
from segdesk.ui.dialogs.import_sources import REPLACE_WARNING, Source, done_text, look_at, stopped_text
from segdesk.ui.dialogs.job_widgets import JobDialog, job_widgets
from segdesk.ui.job_functions import ImportProgress, import_masks_job
from segdesk.ui.job_runner import Job, JobRunner

JOB_NAME = "import"
LOOK_JOB = "import-look"
#: The placeholder a suggested class list holds until the person names the class.
PLACEHOLDER = "NAME"
REVIEWED_NOTE = "Imported images are marked reviewed: they train at the next Retrain."


class ImportMasksDialog(JobDialog):
    """Choose a masks folder and what its values mean; import with progress.

    ``imported`` is emitted when an import ended after writing (done or cancelled half-way), so the
    window re-reads the folder.
    """

    imported = Signal()
    JOB_NAME, WHAT = JOB_NAME, "import"

    def __init__(
        self, project_root: str | Path, parent: QWidget | None = None, *, runner: JobRunner | None = None
    ):
        super().__init__(parent)
        self.root = Path(project_root)
        self.setWindowTitle(f"Import masks - {self.root.name}")
        self.runner = runner if runner is not None else JobRunner(self)
        self.job: Job | None = None
        self._looked: Source | None = None
        self._look_job: Job | None = None
        self._look_again = False
        self.result: ImportReport | None = None
        self._last: ImportProgress | None = None
        self._build()
        self._on_mode_changed()

    # --- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("a folder of masks named like the images, or a COCO .json")
        self.folder_edit.editingFinished.connect(self.look)
        self.browse = QPushButton("Folder...")
        self.browse.clicked.connect(self._browse)
        self.browse_coco = QPushButton("COCO file...")
        self.browse_coco.clicked.connect(self._browse_coco)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse)
        folder_row.addWidget(self.browse_coco)
        self.sample_note = QLabel("")
        self.sample_note.setWordWrap(True)

        self.classes_mode = QRadioButton("a value (or colour) per class")
        self.objects_mode = QRadioButton("a value per object (instance maps), or a mask file per object")
        self.classes_mode.setChecked(True)
        self.mode = QButtonGroup(self)
        for button in (self.classes_mode, self.objects_mode):
            self.mode.addButton(button)
            button.toggled.connect(self._on_mode_changed)
        self.labels_edit = QLineEdit()
        self.labels_edit.setPlaceholderText("0=_background_,255=cell  or  #ff0000=building,#00ff00=tree")
        self.labels_edit.setToolTip(
            "value=class, separated by commas; colours as #rrggbb. 0 (black) is the background unless named; "
            "__ignore__ marks regions left out of training."
        )
        self.object_edit = QLineEdit()
        self.object_edit.setPlaceholderText("the objects' class, e.g. nucleus")
        self.skip_unmasked = QCheckBox("stay unlabelled")
        self.skip_unmasked.setChecked(True)
        self.existing = QComboBox()
        self.existing.addItem("are left as they are", "keep")
        self.existing.addItem("get the masks' shapes instead of theirs", "replace")

        job = job_widgets(
            "Import",
            REVIEWED_NOTE,
            on_go=self.start_import,
            on_cancel=self.cancel_job,
            on_close=self.reject,
        )
        self.progress, self.status, self.details = job.progress, job.status, job.details
        self.import_button, self.cancel_button, self.close_button = job.go, job.cancel, job.close
        buttons = job.buttons

        modes = QVBoxLayout()
        modes.addWidget(self.classes_mode)
        modes.addWidget(self.objects_mode)
        form = QFormLayout()
        form.addRow("Masks", folder_row)
        form.addRow("", self.sample_note)
        form.addRow("Masks hold", modes)
        form.addRow("Classes", self.labels_edit)
        form.addRow("Object class", self.object_edit)
        form.addRow("Images without a mask", self.skip_unmasked)
        form.addRow("Images with an annotation", self.existing)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.details)
        layout.addLayout(buttons)
        self._inputs: tuple[QWidget, ...] = (
            self.folder_edit,
            self.browse,
            self.browse_coco,
            self.classes_mode,
            self.objects_mode,
            self.labels_edit,
            self.object_edit,
            self.skip_unmasked,
            self.existing,
            self.import_button,
        )
        self.setMinimumWidth(560)

    def _browse(self) -> None:
        start = self.folder_edit.text().strip() or str(self.root.parent)
        folder = QFileDialog.getExistingDirectory(self, "Folder of masks", start)
        if folder:
            self.set_masks_folder(folder)

    def _browse_coco(self) -> None:
        start = self.folder_edit.text().strip() or str(self.root.parent)
        path, _ = QFileDialog.getOpenFileName(self, "COCO instances file", start, "COCO JSON (*.json)")
        if path:
            self.set_masks_folder(path)

    def _path(self) -> Path | None:
        text = self.folder_edit.text().strip()
        return Path(text).expanduser() if text else None

    def _source(self) -> Source | None:
        """What the chosen folder or file holds, once looked at (None before, or while looking)."""
        return self._looked if self._looked is not None and self._looked.path == self._path() else None

    def set_masks_folder(self, folder: str | Path) -> None:
        self.folder_edit.setText(str(folder))
        self.look()

    def look(self) -> None:
        """Look at the chosen folder or file off the GUI thread (a COCO file of hundreds of MB, big
        TIFF masks: the window must not freeze), then say what it holds."""
        path = self._path()
        if path is None:
            return
        self._looked = None  # the folder may have changed since: look again
        self.sample_note.setText(f"Looking at {path.name} ...")
        self._on_mode_changed()
        if self.runner.is_running(LOOK_JOB):
            self._look_again = True
            return
        root = self.root
        self._look_job = self.runner.start(
            LOOK_JOB, lambda _c, _r: look_at(path, root), connect=self._connect_look
        )

    def _connect_look(self, job: Job) -> None:
        job.succeeded.connect(self._on_looked)
        job.failed.connect(self._on_looked)
        job.finished.connect(self._after_look)

    def _after_look(self) -> None:
        if self._look_again:
            self._look_again = False
            self.look()

    def _on_looked(self, source: object) -> None:
        if isinstance(source, str):  # the look failed: why
            self.sample_note.setText(source)
            return
        if not isinstance(source, Source) or source.path != self._path():
            return  # the text changed meanwhile: the next look says
        self._looked = source
        self.sample_note.setText(source.note)
        if source.kind in ("classes", "objects"):
            (self.objects_mode if source.kind == "objects" else self.classes_mode).setChecked(True)
        if source.labels and (source.kind == "yolo" or not self.labels_edit.text().strip()):
            self.labels_edit.setText(source.labels)
        self._on_mode_changed()

    def _on_mode_changed(self) -> None:
        source, running = self._source(), self.runner.is_running(JOB_NAME)
        kind = source.kind if source is not None else "classes"
        masks = kind in ("classes", "objects", "unknown") and not running
        objects = self.objects_mode.isChecked()
        for w in (self.classes_mode, self.objects_mode, self.skip_unmasked):
            w.setEnabled(masks)  # a COCO file names its classes and objects; YOLO files are per image
        self.labels_edit.setEnabled((kind == "yolo" or (masks and not objects)) and not running)
        self.object_edit.setEnabled(masks and objects)

    def _set_running(self, running: bool) -> None:
        for w in self._inputs:
            w.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if not running:
            self._on_mode_changed()

    # --- running ------------------------------------------------------------------------------
    def _problem(self) -> str | None:
        """What must be given before importing (None when the inputs are complete)."""
        source = self._source()
        if self._path() is not None and source is None:
            return "Still looking at the folder; a moment."
        if source is not None and source.kind == "coco":
            return None  # the file is checked whole by the import, every problem listed
        if source is None or not source.path.is_dir():
            return "Choose the folder of masks or YOLO labels, or a COCO file."
        if source.path.resolve() == self.root.resolve():
            return "The masks must be in another folder than the images."
        if source.kind == "yolo":
            names = self.labels_edit.text().strip()
            return None if names and PLACEHOLDER not in names else "Name the classes by id: cell,debris"
        if self.objects_mode.isChecked():
            return None if self.object_edit.text().strip() else "Name the objects' class."
        labels = self.labels_edit.text().strip()
        if not labels:
            return "Say which class each mask value is, e.g. 0=_background_,255=cell."
        if PLACEHOLDER in {part.partition("=")[2].strip() for part in labels.split(",")}:
            return f"Name the classes: replace {PLACEHOLDER}."
        try:
            parse_labels_spec(labels)
        except SegdeskError as exc:
            return str(exc).removeprefix("--labels: ")
        return None

    def confirm_replace(self, annotated: int) -> bool:
        """Ask before an import replaces annotations (their own shapes are lost); tests answer it."""
        text = f"{annotated} image(s) of this folder have an annotation. {REPLACE_WARNING} Replace them?"
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self, "Replace annotations?", text, buttons.Yes | buttons.No, buttons.No
        )
        return answer == buttons.Yes

    def start_import(self) -> bool:
        """Start the import job; False when nothing was started (inputs missing, a job runs)."""
        if self.runner.is_running(JOB_NAME):
            return False
        problem = self._problem()
        if problem is not None:
            self.status.setText(problem)
            return False
        source = self._source()
        assert source is not None  # _problem said so
        objects = self.objects_mode.isChecked() and source.kind != "yolo"
        replace = self.existing.currentData() == "replace"
        annotated = len(list(self.root.glob("*.json"))) if replace else 0
        if annotated and not self.confirm_replace(annotated):
            self.status.setText("Nothing imported: the annotations stay as they are.")
            return False
        fn = import_masks_job(
            self.root,
            source.path,
            labels=None if objects else self.labels_edit.text().strip(),
            object_label=self.object_edit.text().strip() if objects else None,
            yolo=source.kind == "yolo",
            skip_unmasked=self.skip_unmasked.isChecked(),
            skip_annotated=not replace,
            overwrite=replace,
        )
        self.result, self._last = None, None
        self.details.clear()
        self.progress.setRange(0, 0)  # busy until the first image is written
        self.status.setText("Checking every mask before writing anything...")
        self._set_running(True)
        self.job = self.runner.start(JOB_NAME, fn, connect=self._connect_job)
        return True

    def _on_progress(self, record: object) -> None:
        if isinstance(record, ImportProgress):
            self._last = record
            self.progress.setRange(0, max(1, record.total))
            self.progress.setValue(record.done)
            self.status.setText(f"Imported {record.done} of {record.total} image(s)")

    def _on_succeeded(self, result: object) -> None:
        self.result = result if isinstance(result, ImportReport) else None
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        if self.result is None:
            return
        status, details = done_text(self.result)
        self.status.setText(f"{status} {REVIEWED_NOTE}")
        self.details.setPlainText(details)

    def _on_failed(self, message: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText(stopped_text(self._last, cancelled=False))
        self.details.setPlainText(message)

    def _on_cancelled(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText(stopped_text(self._last, cancelled=True))

    def _on_finished(self) -> None:
        self._set_running(False)
        if self.result is not None or (self._last is not None and self._last.done):
            self.imported.emit()

    # --- closing ------------------------------------------------------------------------------
    def _closing(self) -> None:
        """A look still running reports to nobody once the dialog is gone."""
        job, self._look_job = self._look_job, None
        if job is not None and job.is_running():
            job.succeeded.disconnect(self._on_looked)
            job.failed.disconnect(self._on_looked)
            job.finished.disconnect(self._after_look)


__all__ = ["ImportMasksDialog"]
