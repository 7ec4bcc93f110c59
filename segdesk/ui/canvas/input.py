"""The canvas's input handling: mouse, wheel and keys go to the active tool, else pan and zoom.

A mixin of :class:`segdesk.ui.canvas.view.CanvasView` (it comes before QGraphicsView in the bases, so
``super()`` reaches Qt's handlers); it uses the view's tool, raw pixels and zoom.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent, QResizeEvent, QWheelEvent

from segdesk.ui.canvas.brush import BrushTool


class CanvasInput:
    """Pan (middle button, or Space + left), wheel zoom, T toggles shapes, the cursor readout."""

    _pan_from: QPointF | None
    _space: bool
    _fitted: bool

    def _scene_pos(self, event: QMouseEvent) -> QPointF:
        return self.mapToScene(event.position().toPoint())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space
        ):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if self._tool.press(event, self._scene_pos(event)):
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            event.accept()
            return
        pos = self._scene_pos(event)
        self._emit_cursor(pos)
        if self._tool.move(event, pos):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            self._restore_cursor()
            event.accept()
            return
        if self._tool.release(event, self._scene_pos(event)):
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._tool.double_click(event, self._scene_pos(event)):
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self._tool.wheel(event):
            event.accept()
            return
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.2**steps, event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if self._tool.key_press(event):
            event.accept()
            return
        if event.key() == Qt.Key.Key_T and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.set_shapes_visible(not self.shapes_visible())
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._pan_from = None
            self._restore_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave and isinstance(self._tool, BrushTool):
            self._tool.hide_ring()  # the size ring follows the cursor; without it, it goes
        return super().viewportEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit_window()

    def _emit_cursor(self, pos: QPointF) -> None:
        x, y = pos.x(), pos.y()
        value: Any = None
        raw = self._raw
        if raw is not None:
            col, row = int(math.floor(x)), int(math.floor(y))
            if 0 <= row < raw.shape[0] and 0 <= col < raw.shape[1]:
                value = np.asarray(raw[row, col]).tolist()
        self.cursor_moved.emit(float(x), float(y), value)
