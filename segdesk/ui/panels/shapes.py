"""The shapes dock: the shapes of this image; its selection follows the canvas and back."""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractListModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QDockWidget, QListView, QWidget

from segdesk.core.shapes import Shape
from segdesk.ui.panels.labels import swatch_icon

_Index = QModelIndex | QPersistentModelIndex


def shape_text(shape: Shape) -> str:
    text = f"{shape.label}  [{shape.shape_type}]"
    if shape.group_id is not None:
        text += f"  group {shape.group_id}"
    if shape.is_proposal:
        text += "  (proposal)"
    return text


class ShapeListModel(QAbstractListModel):
    """One row per shape; a reset costs nothing, so thousands of shapes stay cheap."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[str, str, bool, str]] = []
        self._icons: dict[str, object] = {}
        self._order: list[str] | None = None

    def set_label_order(self, labels: list[str] | None) -> None:
        """Colour swatches by labels.txt's order, as the canvas does (None: by name)."""
        self._order = None if labels is None else list(labels)
        self._icons.clear()
        if self._rows:
            self.dataChanged.emit(self.index(0), self.index(len(self._rows) - 1))

    def set_shapes(self, shapes: list[Shape]) -> None:
        self.beginResetModel()
        self._rows = [(shape_text(s), s.label, s.is_proposal, s.description or "") for s in shapes]
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        text, label, proposal, description = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == Qt.ItemDataRole.DecorationRole:
            if label not in self._icons:
                self._icons[label] = swatch_icon(label, labels=self._order)
            return self._icons[label]
        if role == Qt.ItemDataRole.ToolTipRole:
            return description or None
        if role == Qt.ItemDataRole.FontRole and proposal:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and proposal:
            return QColor("#a06000")
        return None


class ShapesPanel(QDockWidget):
    """Signals: ``selection_changed(list[int])`` when a person selects rows; ``edit_requested()``."""

    selection_changed = Signal(list)
    edit_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Shapes", parent)
        self.setObjectName("dock_shapes")
        self.model = ShapeListModel(self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWidget(self.view)
        self._syncing = False
        self.view.selectionModel().selectionChanged.connect(self._on_selection)
        self.view.doubleClicked.connect(lambda _i: self.edit_requested.emit())

    def set_shapes(self, shapes: list[Shape], selected: list[int] | None = None) -> None:
        self._syncing = True
        try:
            self.model.set_shapes(shapes)
            self.setWindowTitle(f"Shapes ({len(shapes)})")
        finally:
            self._syncing = False
        self.select_indices(selected or [])

    def selected_indices(self) -> list[int]:
        return sorted(i.row() for i in self.view.selectionModel().selectedRows())

    def select_indices(self, indices: list[int]) -> None:
        """Select rows to match the canvas, without echoing ``selection_changed``."""
        selection = QItemSelection()
        count = self.model.rowCount()
        for i in indices:
            if 0 <= i < count:
                index = self.model.index(i)
                selection.select(index, index)
        self._syncing = True
        try:
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
            self.view.selectionModel().select(selection, flags)
            if indices and 0 <= indices[-1] < count:
                self.view.scrollTo(self.model.index(indices[-1]))
        finally:
            self._syncing = False

    def _on_selection(self, *_args) -> None:
        if not self._syncing:
            self.selection_changed.emit(self.selected_indices())
