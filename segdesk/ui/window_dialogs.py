"""The window's secondary dialogs: view adjust (one, kept), fill opacity, shortcuts, about, export;
the unsaved-changes question and the Open recent menu."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from segdesk import __version__
from segdesk.ui.dialogs.shortcuts import ShortcutsDialog
from segdesk.ui.dialogs.view_adjust import OpacityDialog, ViewAdjustDialog
from segdesk.ui.job_runner import JobRunner
from segdesk.ui.session import Session, UnsavedAnswer
from segdesk.ui.settings import AppSettings

if TYPE_CHECKING:
    from segdesk.ui.dialogs.export import ExportDialog


class WindowDialogs:
    """Opens the dialogs over ``window``; the export dialog runs its jobs on the window's ``runner``."""

    def __init__(
        self, window: QWidget, canvas: Any, settings: AppSettings, session: Session, runner: JobRunner
    ) -> None:
        self.window, self.canvas, self.settings = window, canvas, settings
        self.session, self.runner = session, runner
        self.view_adjust: ViewAdjustDialog | None = None
        self._export: ExportDialog | None = None
        session.folder_opened.connect(lambda _folder: self.show_training_settings_state())

    def show_training_settings_state(self) -> None:
        """The Model dock's Settings button says whether the project fixes parts of the plan."""
        from segdesk.core.errors import SegdeskError
        from segdesk.core.training_settings import load_settings

        project, panel = self.session.project, getattr(self.window, "model_panel", None)
        if panel is None:
            return
        try:
            fixed = load_settings(project.root).describe() if project is not None else ""
        except SegdeskError as exc:
            fixed = f"none: {exc}"
        panel.set_training_settings(fixed)

    def show_view_adjust(self) -> None:
        if self.view_adjust is None:
            self.view_adjust = ViewAdjustDialog(self.window)
            self.view_adjust.adjusted.connect(self.canvas.set_view_adjust)
        self.view_adjust.show()
        self.view_adjust.raise_()

    def show_fill_opacity(self) -> None:
        dialog = OpacityDialog(self.window, alpha=self.settings.fill_opacity())
        dialog.changed.connect(self.canvas.set_fill_opacity)
        dialog.changed.connect(self.settings.set_fill_opacity)
        dialog.exec()

    def show_shortcuts(self, by_category: Any) -> None:
        ShortcutsDialog(by_category, self.window).exec()

    def show_about(self) -> None:
        QMessageBox.about(
            self.window,
            "About segdesk",
            f"segdesk {__version__}\nImage segmentation on Labelme files, with a model that learns "
            "from your corrections.",
        )

    def show_export(self) -> None:
        from segdesk.ui.dialogs.export import open_export_dialog

        dialog = self.export_dialog()
        if dialog is not None and dialog.isVisible():
            dialog.raise_()
            dialog.activateWindow()
            return
        self._export = open_export_dialog(self.window, self.session.project, runner=self.runner)

    def show_import_masks(self) -> None:
        """File > Import masks, window-modal: nobody edits the images whose files it writes."""
        from PySide6.QtCore import Qt

        from segdesk.ui.dialogs.import_masks import ImportMasksDialog

        project = self.session.project
        if project is None:
            QMessageBox.information(
                self.window,
                "Import masks",
                "Open the folder of images first (Ctrl+U): masks go beside its images.",
            )
            return
        if not self.session.leave_current():  # the open image's edits are saved (or dropped) first
            return
        dialog = ImportMasksDialog(project.root, self.window, runner=self.runner)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.imported.connect(self._reread_folder)
        dialog.open()

    def _reread_folder(self) -> None:
        """After an import: the statuses, labels and the image shown as the files now are."""
        project = self.session.project
        if project is not None:
            self.session.open_folder(project.root, select=max(self.session.index, 0))

    def show_training_settings(self) -> None:
        """Model > Training settings: the project's fixed plan parts, saved for every later Retrain."""
        from segdesk.core.errors import SegdeskError
        from segdesk.core.training_settings import TrainingSettings, load_settings, save_settings
        from segdesk.services.model_store import current_version, read_info
        from segdesk.ui.dialogs.training_settings import TrainingSettingsDialog, plan_words

        project = self.session.project
        if project is None:
            QMessageBox.information(
                self.window,
                "Training settings",
                "Open a folder first: training settings belong to a project.",
            )
            return
        problem = ""
        try:
            settings = load_settings(project.root)
        except SegdeskError as exc:
            settings, problem = TrainingSettings(), str(exc)
        try:
            current = current_version(project.root)
            info = read_info(project.root, current) if current else None
        except SegdeskError:
            info = None
        words = plan_words(info.plan) if info is not None else ""
        last = f"The current model ({info.version}) was trained with {words}." if info and words else ""
        plan = info.plan if info is not None else None
        dialog = TrainingSettingsDialog(
            settings, last_plan=last, plan=plan, problem=problem, parent=self.window
        )
        if not dialog.exec():
            return
        try:
            save_settings(project.root, dialog.value())
        except SegdeskError as exc:
            QMessageBox.warning(self.window, "Training settings", str(exc))
        self.show_training_settings_state()

    def export_dialog(self) -> ExportDialog | None:
        """The Export dialog while it is open (it deletes itself when closed)."""
        dialog = self._export
        if dialog is not None and not shiboken6.isValid(dialog):
            self._export = dialog = None
        return dialog


def ask_unsaved(parent: QWidget, name: str) -> UnsavedAnswer:
    """Save / Discard / Cancel for an image with unsaved edits (autosave off)."""
    buttons = QMessageBox.StandardButton
    answer = QMessageBox.question(
        parent,
        "Unsaved changes",
        f"{name} has unsaved changes. Save them?",
        buttons.Save | buttons.Discard | buttons.Cancel,
        buttons.Save,
    )
    return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")  # type: ignore[return-value]


def fill_recent_menu(menu: QMenu, settings: AppSettings, open_path: Callable[[Path], object]) -> None:
    """Open recent: the remembered folders (newest first), or "(none)"; and Clear."""
    menu.clear()
    for folder in settings.recent_folders():
        action = menu.addAction(str(folder))
        action.triggered.connect(lambda _checked=False, f=folder: open_path(f))
    if menu.isEmpty():
        menu.addAction("(none)").setEnabled(False)
    else:
        menu.addSeparator()
        menu.addAction("Clear", settings.clear_recent_folders)
