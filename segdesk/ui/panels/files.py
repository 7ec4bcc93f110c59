"""The file list dock: every image of the folder with its status, filtered by name and status."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from PySide6.QtCore import (
    QAbstractListModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRegularExpression,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QVBoxLayout,
    QWidget,
)

from segdesk.core import review
from segdesk.core.errors import SegdeskError

#: The image statuses (core/review.py), plus "problem" for an annotation file that cannot be read.
STATUS_COLORS: dict[str, str] = {
    "unlabeled": "#9e9e9e",
    "in_progress": "#3f7fd0",
    "proposed": "#f0a020",
    "reviewed": "#2e9d4a",
    "elsewhere": "#8e5cc2",
    "problem": "#d32f2f",
}
STATUS_TITLES: dict[str, str] = {**review.TITLES, "problem": "problem"}
STATUS_ROLE = Qt.ItemDataRole.UserRole + 1
FILTER_ROLE = Qt.ItemDataRole.UserRole + 2
_Index = QModelIndex | QPersistentModelIndex


def status_icon(status: str, size: int = 12) -> QIcon:
    """A mark that differs in shape as well as colour (for people who do not tell colours apart):
    a ring unlabeled, a half disc in progress, a disc proposed, a ticked disc reviewed, a square
    labelled elsewhere, a disc problem (red)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = QColor(STATUS_COLORS.get(status, "#9e9e9e"))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    if status == "unlabeled":
        painter.setPen(color)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(1, 1, size - 3, size - 3)
    elif status == "in_progress":
        painter.setPen(color)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(1, 1, size - 3, size - 3)
        painter.setBrush(color)
        painter.drawPie(1, 1, size - 3, size - 3, 90 * 16, 180 * 16)
    elif status == "elsewhere":
        painter.drawRect(2, 2, size - 4, size - 4)
    else:
        painter.drawEllipse(1, 1, size - 2, size - 2)
        if status == "reviewed":
            painter.setPen(QPen(QColor("white"), max(1.5, size / 8)))
            painter.drawPolyline([QPointF(size * 0.28, size * 0.52), QPointF(size * 0.45, size * 0.7),
                                  QPointF(size * 0.74, size * 0.32)])  # fmt: skip
    painter.end()
    return QIcon(pixmap)


class FileListModel(QAbstractListModel):
    """Image names and statuses; a model so that 10,000 images stay cheap."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._names: list[str] = []
        self._statuses: list[str] = []
        self._icons = {s: status_icon(s) for s in STATUS_COLORS}
        #: How many rows have each status (kept up to date, so the summary costs nothing).
        self.counts: Counter[str] = Counter()
        #: row -> why its annotation file cannot be used (the window sets it: the project's problem).
        self.explain: Callable[[int], str | None] | None = None

    def set_files(self, names: list[str], statuses: list[str] | None = None) -> None:
        """``statuses`` may be left out (shown blank) and filled in later with :meth:`set_status`."""
        self.beginResetModel()
        self._names = list(names)
        self._statuses = list(statuses) if statuses is not None else [""] * len(self._names)
        self.counts = Counter(self._statuses)
        self.endResetModel()

    def set_status(self, row: int, status: str) -> None:
        if 0 <= row < len(self._statuses) and self._statuses[row] != status:
            self.counts[self._statuses[row]] -= 1
            self.counts[status] += 1
            self._statuses[row] = status
            index = self.index(row)
            self.dataChanged.emit(index, index)

    def status(self, row: int) -> str:
        return self._statuses[row]

    def _why(self, row: int) -> str | None:
        """The reason ``explain`` gives for a red row (the project's problem text), if any."""
        if self.explain is None:
            return None
        try:
            return self.explain(row)
        except (SegdeskError, OSError, IndexError):
            return None

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._names)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = index.row()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._names[row]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icons.get(self._statuses[row])
        if role == Qt.ItemDataRole.ToolTipRole:
            if self._statuses[row] == "problem":
                return f"{self._names[row]}: {self._why(row) or 'its annotation file cannot be read'}"
            status = self._statuses[row]
            if not status:
                return f"{self._names[row]}: reading..."
            return (
                f"{self._names[row]}: {STATUS_TITLES.get(status, status)} ({review.EXPLAIN.get(status, '')})"
            )
        if role == STATUS_ROLE:
            return self._statuses[row]
        if role == FILTER_ROLE:
            return f"{self._statuses[row]}\x1f{self._names[row]}"
        return None


class _FilterModel(QSortFilterProxyModel):
    """Filters on "status<US>name" with one regular expression.

    No Python ``filterAcceptsRow`` override: it runs once per row per change, and PySide 6.12 on
    Python 3.11 miscounts references of the bools such overrides return (a crash after thousands).
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.status = ""  # "" = any
        self.text = ""
        self.setFilterRole(FILTER_ROLE)

    def set_status(self, status: str) -> None:
        self.status = status
        self._apply()

    def set_text(self, text: str) -> None:
        self.text = text
        self._apply()

    def _apply(self) -> None:
        status = re.escape(self.status) if self.status else "[^\x1f]*"
        pattern = f"^{status}\x1f.*{re.escape(self.text)}"
        options = QRegularExpression.PatternOption.CaseInsensitiveOption
        self.setFilterRegularExpression(QRegularExpression(pattern, options))


class FilesPanel(QDockWidget):
    """Dock listing the folder's images; emits ``image_activated(row)`` when a person picks one."""

    image_activated = Signal(int)
    counts_changed = Signal(object)  # Counter of statuses, after each change

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Files", parent)
        self.setObjectName("dock_files")
        self.model = FileListModel(self)
        self.proxy = _FilterModel(self)
        self.proxy.setSourceModel(self.model)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by name")
        self.filter_edit.setClearButtonEnabled(True)
        # Click to type: on start the focus must not land here, or A / D would filter, not navigate.
        self.filter_edit.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.status_combo = QComboBox()
        self.status_combo.addItem("All", "")
        for status in STATUS_COLORS:
            title = STATUS_TITLES[status]
            self.status_combo.addItem(status_icon(status), title[:1].upper() + title[1:], status)
        # Sized by a short entry, not "Labelled elsewhere": the dock stays as narrow as before.
        self.status_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.status_combo.setMinimumContentsLength(9)
        self.view = QListView()
        self.view.setModel(self.proxy)
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary = QLabel()
        self.summary.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.status_combo)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.summary)
        self.setWidget(body)

        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.status_combo.currentIndexChanged.connect(
            lambda _i: self.proxy.set_status(self.status_combo.currentData())
        )
        self.view.clicked.connect(self._on_clicked)
        self.view.activated.connect(self._on_clicked)

    def set_files(self, names: list[str], statuses: list[str] | None = None) -> None:
        self.model.set_files(names, statuses)
        self._update_summary()

    def set_status(self, row: int, status: str) -> None:
        self.model.set_status(row, status)
        self._update_summary()

    def set_current(self, row: int) -> None:
        """Highlight ``row`` without emitting ``image_activated``."""
        proxy_index = self.proxy.mapFromSource(self.model.index(row))
        selection = self.view.selectionModel()
        if not proxy_index.isValid():
            selection.clearSelection()
            return
        selection.setCurrentIndex(proxy_index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.view.scrollTo(proxy_index)

    def visible_rows(self) -> list[int]:
        """Source rows that pass the filters, in list order (A / D walk these)."""
        return [self.proxy.mapToSource(self.proxy.index(r, 0)).row() for r in range(self.proxy.rowCount())]

    def neighbour(self, row: int, step: int) -> int | None:
        """The next (step=1) or previous (-1) image after ``row`` among the filtered rows."""
        rows = self.visible_rows()
        if not rows:
            return None
        if row in rows:
            pos = rows.index(row) + step
            return rows[pos] if 0 <= pos < len(rows) else None
        later = [r for r in rows if (r > row if step > 0 else r < row)]
        if not later:
            return None
        return later[0] if step > 0 else later[-1]

    def _on_clicked(self, proxy_index: QModelIndex) -> None:
        self.image_activated.emit(self.proxy.mapToSource(proxy_index).row())

    def _update_summary(self) -> None:
        counts, total = self.model.counts, self.model.rowCount()
        shown = [f"{counts[s]} {STATUS_TITLES[s]}" for s in review.STATUSES if counts[s] or s == "reviewed"]
        text = f"{total} image{'s' if total != 1 else ''}: " + ", ".join(shown)
        if counts["problem"]:
            text += f", {counts['problem']} with a problem"
        if counts[""]:
            text += f" ({counts['']} not read yet)"
        text += f". {counts['reviewed']} will train"
        self.summary.setText(text)
        self.summary.setToolTip("Only images you marked reviewed train the model (R: mark reviewed and next)")
        self.counts_changed.emit(counts)
