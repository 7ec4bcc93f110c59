"""The main window: composes the canvas, the docks, the actions and the session, and wires them.

Decisions live elsewhere: loading / saving / navigation in :mod:`segdesk.ui.session`, drawing and
editing in :mod:`segdesk.ui.canvas`, persistence in :mod:`segdesk.ui.settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
)

from segdesk.core.document import Document
from segdesk.ui import file_changed
from segdesk.ui.actions import build_menus, create_actions
from segdesk.ui.canvas import CanvasView
from segdesk.ui.current_image import CurrentImage, message_label, no_images_message
from segdesk.ui.label_editing import LabelEditing
from segdesk.ui.model_assist import ModelAssist
from segdesk.ui.object_setting import ObjectSetting
from segdesk.ui.panels.files import FilesPanel
from segdesk.ui.panels.labels import LabelsPanel
from segdesk.ui.panels.model import ModelPanel
from segdesk.ui.panels.shapes import ShapesPanel
from segdesk.ui.review_flow import train_count_text
from segdesk.ui.session import Session
from segdesk.ui.settings import AppSettings
from segdesk.ui.statusbar import StatusFields, describe_channels
from segdesk.ui.window_dialogs import WindowDialogs, ask_unsaved, fill_recent_menu

if TYPE_CHECKING:
    from segdesk.ui.dialogs.export import ExportDialog
    from segdesk.ui.dialogs.view_adjust import ViewAdjustDialog

IMAGE_FILTER = "Images and annotations (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.json);;All files (*)"


class MainWindow(QMainWindow):
    """segdesk's annotation window."""

    def __init__(self, settings: AppSettings | None = None) -> None:
        super().__init__()
        self.setObjectName("main_window")
        self.settings = settings or AppSettings()
        self.session = Session(self, autosave=self.settings.autosave())
        self.session.ask_unsaved = lambda name: ask_unsaved(self, name)
        self.session.ask_changed = lambda name: file_changed.ask_changed(self, name)
        self.canvas = CanvasView()
        self.canvas.set_undo_stack(self.session.undo_stack)
        self.canvas.label_requester = self._ask_new_label
        self.canvas.set_fill_opacity(self.settings.fill_opacity())
        self.message = message_label()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(self.message)
        self.setCentralWidget(self.stack)
        self.files_panel = FilesPanel(self)
        self.files_panel.model.explain = lambda row: (  # a red row's tooltip: why, as opening it says
            self.session.project.problem(self.session.entries[row]) if self.session.project else None
        )
        self.labels_panel = LabelsPanel(self)
        self.shapes_panel = ShapesPanel(self)
        for dock in (self.files_panel, self.labels_panel, self.shapes_panel):
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.model_panel = ModelPanel(self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.model_panel)
        self.assist = ModelAssist(self.model_panel, self.session, self.canvas, self)
        self.objects = ObjectSetting(
            self.labels_panel, self.session, lambda text: self._show_error(text), self
        )
        self.objects.changed.connect(self.assist.prediction.settings_edited)  # a class never split: at once
        self.canvas.object_label = self.objects.brush_objects  # the brush never joins touching objects
        self.labels = LabelEditing(
            self,
            self.session,
            self.canvas,
            self.settings,
            labels_changed=lambda: self._refresh_labels(),
            status=lambda text: self.statusBar().showMessage(text, 3000),
            error=lambda text: self._show_error(text),
        )
        self.label_dialog, self.label_check = self.labels.dialog, self.labels.check
        self._label_order: list[str] | None = None
        self.acts = create_actions(self)
        self.acts["autosave"].setChecked(self.session.autosave())
        self.recent_menu = build_menus(self, self.acts)
        docks_menu = self.menuBar().findChild(type(self.recent_menu), "menu_docks")
        for dock in (self.files_panel, self.labels_panel, self.shapes_panel, self.model_panel):
            docks_menu.addAction(dock.toggleViewAction())
        self.status = StatusFields(self.statusBar(), self, canvas=self.canvas)
        self.dialogs = WindowDialogs(self, self.canvas, self.settings, self.session, self.assist.runner)
        self._document: Document | None = None
        self.last_error = ""
        self._error_box: QMessageBox | None = None
        self.setAcceptDrops(True)
        self._connect()
        self._show_message("Open a folder of images (Ctrl+U) or drop one here.")
        self._update_title()
        self._default_size()
        self._restore_state()

    # --- wiring -----------------------------------------------------------------------------
    def _connect(self) -> None:
        a, s, c = self.acts, self.session, self.canvas
        a["open_dir"].triggered.connect(self.choose_folder)
        a["open"].triggered.connect(self.choose_file)
        self.message.linkActivated.connect(self.open_path)
        a["save"].triggered.connect(lambda: s.save(by_person=True))
        a["autosave"].toggled.connect(self._set_autosave)
        a["quit"].triggered.connect(self.close)
        a["prev_image"].triggered.connect(lambda: self.step(-1))
        a["next_image"].triggered.connect(lambda: self.step(1))
        a["undo"].triggered.connect(s.undo_stack.undo)
        a["redo"].triggered.connect(s.undo_stack.redo)
        s.undo_stack.canUndoChanged.connect(a["undo"].setEnabled)
        s.undo_stack.canRedoChanged.connect(a["redo"].setEnabled)
        a["undo"].setEnabled(False)
        a["redo"].setEnabled(False)
        a.mode_group.triggered.connect(lambda action: c.set_mode(action.data()))
        c.mode_changed.connect(lambda mode: a.mode_action(mode).setChecked(True))
        a["edit_label"].triggered.connect(self.edit_label)
        a["to_mask"].triggered.connect(lambda: c.convert_selected("mask"))
        a["to_polygons"].triggered.connect(lambda: c.convert_selected("polygon"))
        a["duplicate"].triggered.connect(c.duplicate_selected)
        a["copy"].triggered.connect(c.copy_selected)
        a["paste"].triggered.connect(c.paste)
        a["delete"].triggered.connect(c.delete_selected)
        a["toggle_shapes"].toggled.connect(lambda on: c.set_shapes_visible(on))
        a["fit_window"].triggered.connect(c.fit_window)
        a["zoom_100"].triggered.connect(c.zoom_100)
        a["zoom_in"].triggered.connect(lambda: c.zoom_by(1.25))
        a["zoom_out"].triggered.connect(lambda: c.zoom_by(0.8))
        a["view_adjust"].triggered.connect(self.show_view_adjust)
        a["fill_opacity"].triggered.connect(self.show_fill_opacity)
        a["shortcuts"].triggered.connect(lambda: self.dialogs.show_shortcuts(a.by_category()))
        a["about"].triggered.connect(self.dialogs.show_about)
        a["export"].triggered.connect(self.show_export)
        a["import_masks"].triggered.connect(self.dialogs.show_import_masks)
        a["training_settings"].triggered.connect(self.dialogs.show_training_settings)
        self.model_panel.training_settings_requested.connect(a["training_settings"].trigger)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        m = self.assist
        self.model_panel.bind_overlay_action(a["confidence_overlay"])
        for name, slot in (
            ("predict", m.predict_current),
            ("accept_all", m.accept_all),
            ("accept_selected", m.accept_selected),
            ("reject_all", m.reject_all),
            ("mark_reviewed", m.mark_reviewed),
            ("review_next", lambda: m.mark_reviewed() and self.step(1)),
            ("unreview", m.unreview),
            ("next_uncertain", m.next_uncertain),
            ("retrain", m.retrain),
        ):
            a[name].triggered.connect(slot)
        self.settings.remember_widgets("model", self.model_panel.remembered_widgets())
        m.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        m.error.connect(self._show_error)
        m.review_status.connect(self.status.set_review)
        self.files_panel.counts_changed.connect(
            lambda counts: self.model_panel.set_train_count(train_count_text(counts))
        )

        s.folder_opened.connect(self._on_folder_opened)
        s.image_loaded.connect(self._on_image_loaded)
        s.dirty_changed.connect(lambda _dirty: self._update_title())
        s.entry_status_changed.connect(self.files_panel.set_status)
        s.saved.connect(lambda path: self.statusBar().showMessage(f"Saved {Path(path).name}", 3000))
        s.loading_started.connect(
            lambda path: self.statusBar().showMessage(f"Opening {Path(path).name}...", 2000)
        )
        s.failed.connect(self._show_error)
        s.statuses_read.connect(self._refresh_labels)

        self.files_panel.image_activated.connect(self._go_to_listed)
        self.labels_panel.visibility_changed.connect(lambda label, on: c.set_label_visible(label, on))
        self.labels_panel.label_chosen.connect(self.labels.choose)
        self.shapes_panel.selection_changed.connect(c.select_indices)
        self.shapes_panel.edit_requested.connect(self.edit_label)
        c.selection_changed.connect(self.shapes_panel.select_indices)
        c.cursor_moved.connect(self._on_cursor)
        c.zoom_changed.connect(self.status.set_zoom)

    # --- opening ----------------------------------------------------------------------------
    def open_path(self, path: str | Path) -> bool:
        """Open a folder, an image or a Labelme JSON file."""
        return self.session.open_path(path)

    def choose_folder(self) -> None:
        start = str(self.settings.last_folder() or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open folder", start)
        if folder:
            self.open_path(folder)

    def choose_file(self) -> None:
        start = str(self.settings.last_folder() or Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open image or annotation", start, IMAGE_FILTER)
        if path:
            self.open_path(path)

    def step(self, direction: int) -> bool:
        """Previous (-1) / next (+1) image among those the file list shows."""
        target = self.files_panel.neighbour(self.session.index, direction)
        if target is None:
            self.statusBar().showMessage("First image" if direction < 0 else "Last image", 2000)
            return False
        return self.session.go_to(target)

    def _go_to_listed(self, row: int) -> None:
        """A click in the file list; when the person stays (Cancel), the list shows the image again."""
        if not self.session.go_to(row):
            self.files_panel.set_current(self.session.index)

    def _on_folder_opened(self, folder: Path) -> None:
        self.settings.set_last_folder(folder)
        self.label_check.reset()
        self._forget_previous_project()
        export = self.export_dialog()
        if export is not None:
            export.set_project_root(folder)
        self.files_panel.set_files(self.session.image_names())  # statuses follow as they are read
        if not self.session.entries:
            self._show_message(no_images_message(folder))
        self._update_title()

    def _forget_previous_project(self) -> None:
        """Another folder: nothing of the previous one may stay on screen (its shapes, labels, ...)."""
        if self._document is not None:
            self._document.unsubscribe(self._on_document_changed)
            self._document = None
        self.shapes_panel.set_shapes([])
        self.labels_panel.show_all()  # hidden labels were the previous folder's choice
        self._refresh_labels()
        self.status.clear()
        self.statusBar().clearMessage()  # "Marked ... reviewed" was about the previous folder
        if not self.assist.runner.is_running("train"):  # a running job keeps reporting its progress
            self.model_panel.show_training_progress(0.0, "", [])

    def _on_image_loaded(self, current: CurrentImage) -> None:
        if self._document is not None:
            self._document.unsubscribe(self._on_document_changed)
        self._document = current.document
        self.files_panel.set_current(current.index)
        if current.error is not None or current.document is None:
            self._show_message(current.error or "This image cannot be shown.")
            self.shapes_panel.set_shapes([])
            self._refresh_labels()
            self.status.set_image_size(None, None)
            self._update_title()
            return
        self.stack.setCurrentWidget(self.canvas)
        if not isinstance(QApplication.focusWidget(), QLineEdit):
            self.canvas.setFocus()  # keys go to the image, not to a list that happened to have it
        self.canvas.set_image(current.display, raw=current.raw, pyramid=current.pyramid)
        self.canvas.set_document(current.document)
        for label in self.labels_panel.hidden_labels():
            self.canvas.set_label_visible(label, False)
        self.canvas.set_shapes_visible(self.acts["toggle_shapes"].isChecked())
        if self.dialogs.view_adjust is not None:
            self.canvas.set_view_adjust(*self.dialogs.view_adjust.value())
        current.document.subscribe(self._on_document_changed)
        self._on_document_changed("shapes")
        height, width = current.display.shape[:2]
        self.status.set_image_size(width, height, describe_channels(current.raw, current.pages))
        self.status.set_zoom(self.canvas.zoom_factor())
        self._update_title()

    def _on_document_changed(self, what: str) -> None:
        if what != "shapes" or self._document is None:
            return
        self.shapes_panel.set_shapes(self._document.shapes, self.canvas.selected_indices())
        self._refresh_labels()

    def _refresh_labels(self) -> None:
        used = [] if self._document is None else [s.label for s in self._document.shapes]
        fixed = self.session.has_labels_file()
        order = self.label_check.listed()  # colours by labels.txt, as exports and models do
        if order != self._label_order:
            self._label_order = order
            self.canvas.set_label_list(order)
            self.shapes_panel.model.set_label_order(order)
            self.label_dialog.label_order = order
        self.labels_panel.set_labels(self.session.known_labels(), used, fixed_by_file=fixed, order=order)

    # --- labels -----------------------------------------------------------------------------
    def _ask_new_label(self) -> tuple[str, int | None, str] | None:
        """The canvas asks this when a shape is finished; None cancels the shape."""
        return self.labels.ask_new_label()

    def edit_label(self) -> None:
        """Change label, group id, description, flags of the selected shapes (only fields changed)."""
        self.labels.edit_selected()

    # --- view -------------------------------------------------------------------------------
    def show_view_adjust(self) -> None:
        self.dialogs.show_view_adjust()

    def show_fill_opacity(self) -> None:
        self.dialogs.show_fill_opacity()

    def show_export(self) -> None:
        self.dialogs.show_export()

    def export_dialog(self) -> ExportDialog | None:
        """The Export dialog while it is open (it deletes itself when closed)."""
        return self.dialogs.export_dialog()

    @property
    def _view_adjust(self) -> ViewAdjustDialog | None:
        return self.dialogs.view_adjust

    def _on_cursor(self, x: float, y: float, value: object) -> None:
        current = self.session.current
        shape = (0, 0) if current is None or current.display is None else current.display.shape[:2]
        self.status.set_cursor(x, y, value, width=shape[1], height=shape[0])

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)

    def _show_error(self, text: str) -> None:
        # Window-modal but not blocking: an error while starting up must not stall the start. One
        # box at a time, so a failing autosave does not pile up a box per edit.
        self.last_error = text
        self.statusBar().showMessage(text, 10000)
        if self._error_box is None:
            box = QMessageBox(QMessageBox.Icon.Warning, "segdesk", text, QMessageBox.StandardButton.Ok, self)
            box.finished.connect(lambda _result: setattr(self, "_error_box", None))
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self._error_box = box
        self._error_box.setText(text)
        self._error_box.open()

    def _update_title(self) -> None:
        current = self.session.current
        parts = []
        if current is not None:
            parts.append(f"{current.image_path.name}[*]")
        if self.session.project is not None:
            parts.append(str(self.session.project.root))
        self.setWindowTitle(" - ".join([*parts, "segdesk"]))
        self.setWindowModified(self.session.is_dirty())

    def _set_autosave(self, on: bool) -> None:
        self.session.set_autosave(on)
        self.settings.set_autosave(on)

    def _fill_recent_menu(self) -> None:
        fill_recent_menu(self.recent_menu, self.settings, self.open_path)

    # --- Qt overrides -----------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.session.leave_current():
            event.ignore()
            return
        if not self.assist.shutdown():  # cancel training / prediction; the last good model stays
            self._show_error("A background job is still finishing (saving a model); close again in a moment.")
            event.ignore()
            return
        self.settings.set_window_geometry(self.saveGeometry())
        self.settings.set_window_state(self.saveState())
        self.settings.sync()
        event.accept()

    def _default_size(self) -> None:
        screen = QApplication.primaryScreen()
        if screen is None:
            self.resize(1400, 900)
            return
        room = screen.availableGeometry()  # a laptop screen may be smaller than 1400 x 900
        self.resize(min(1400, int(room.width() * 0.95)), min(900, int(room.height() * 0.95)))

    def _restore_state(self) -> None:
        geometry, state = self.settings.window_geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is None or not self.restoreState(state):
            docks = [self.files_panel, self.labels_panel, self.shapes_panel]
            self.resizeDocks(docks, [300, 320, 300], Qt.Orientation.Horizontal)
            self.resizeDocks(docks, [260, 180, 420], Qt.Orientation.Vertical)
