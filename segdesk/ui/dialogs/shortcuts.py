"""Help > Keyboard shortcuts: every action of the window with its shortcuts."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: Keys the canvas handles itself (no QAction), listed so that the window is complete.
CANVAS_KEYS: tuple[tuple[str, str, str], ...] = (
    ("Canvas", "Close the polygon being drawn", "Enter / click the first vertex"),
    ("Canvas", "Remove the last point while drawing", "Backspace"),
    ("Canvas", "Cancel the shape being drawn", "Esc"),
    ("Canvas", "Select more shapes", "Ctrl + click, rubber band"),
    ("Canvas", "Zoom at the cursor", "Mouse wheel"),
    ("Canvas", "Pan", "Middle button drag, Space + drag"),
)


def shortcut_rows(actions: list[tuple[str, QAction]]) -> list[tuple[str, str, str]]:
    """(category, action, shortcuts) for every action, then the canvas's own keys."""
    rows = []
    for category, action in actions:
        keys = ", ".join(
            s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts() if not s.isEmpty()
        )
        rows.append((category, action.text().replace("&", "").rstrip("."), keys or "-"))
    return rows + list(CANVAS_KEYS)


class ShortcutsDialog(QDialog):
    """A read-only table of shortcuts."""

    def __init__(self, actions: list[tuple[str, QAction]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcuts_dialog")
        rows = shortcut_rows(actions)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Shortcut"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 620)
