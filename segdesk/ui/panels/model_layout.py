"""Layout helpers of the Model dock: a scroll area sized by its content, a history list of a few rows."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize
from PySide6.QtWidgets import QListWidget, QScrollArea


class FittedScrollArea(QScrollArea):
    """Sized by its content's width plus a scroll bar: scrolls vertically, never clips sideways."""

    _hints: tuple[QSize, QSize] | None = None

    def _bar(self) -> int:
        return self.verticalScrollBar().sizeHint().width()

    def sizeHint(self) -> QSize:
        hint = self.widget().sizeHint()
        return QSize(hint.width() + self._bar(), hint.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self.widget().minimumSizeHint().width() + self._bar(), 120)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # The content's size changes when it is polished or shows more rows: tell the dock, but only
        # then (a label changing its text on every mouse move must not re-lay out the window).
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            hints = (self.sizeHint(), self.minimumSizeHint())
            if hints != self._hints:
                self._hints = hints
                self.updateGeometry()
        return super().eventFilter(watched, event)


class HistoryList(QListWidget):
    """Asks for a few rows only: it takes the dock's spare height (stretch), so the rest never scrolls."""

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), 5 * self.fontMetrics().height() + 2 * self.frameWidth())
