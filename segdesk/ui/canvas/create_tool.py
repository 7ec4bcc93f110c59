"""The create tool: draw one shape type (polygon, rectangle, circle, line, line strip, point).

A drag or the points so far only preview (one item off the document); the finished shape goes to
the view (``finish_shape``), which asks for its label and pushes one command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent

from segdesk.core.shapes import Shape
from segdesk.ui.canvas.items import ShapeItem
from segdesk.ui.canvas.tools import Tool

if TYPE_CHECKING:
    from segdesk.ui.canvas.view import CanvasView

TWO_POINT_KINDS = ("rectangle", "circle", "line")


class CreateTool(Tool):
    """Draw one shape type. Polygon: click vertices, close on the first vertex, Enter or a double-click;
    Backspace removes the last point; Esc cancels. Rectangle / circle / line: two clicks or one drag."""

    def __init__(self, view: CanvasView, kind: str) -> None:
        super().__init__(view)
        self.kind = kind
        self.points: list[tuple[float, float]] = []
        self._cursor: tuple[float, float] | None = None
        self._pressed_at: tuple[float, float] | None = None
        self._preview: ShapeItem | None = None

    @property
    def drawing(self) -> bool:
        return bool(self.points)

    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        p = self.view.clamp(pos)
        xy = (float(p[0]), float(p[1]))
        if self.kind in ("point", "points"):
            self._finish([xy])
        elif self.kind in TWO_POINT_KINDS:
            if not self.points:
                self.points = [xy]
                self._pressed_at = xy
            else:
                self._finish([self.points[0], xy])
        elif self.kind == "polygon" and len(self.points) >= 3 and self._near_first(xy):
            self._finish(list(self.points))
        else:
            self.points.append(xy)
        self._cursor = xy
        self._update_preview()
        return True

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        p = self.view.clamp(pos)
        self._cursor = (float(p[0]), float(p[1]))
        if self.points:
            self._update_preview()
        return False

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        start, self._pressed_at = self._pressed_at, None
        if self.kind in TWO_POINT_KINDS and start is not None and len(self.points) == 1:
            p = self.view.clamp(pos)
            if np.hypot(p[0] - start[0], p[1] - start[1]) > self.tolerance:
                self._finish([self.points[0], (float(p[0]), float(p[1]))])  # press-drag-release
        return True

    def double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self.kind not in ("polygon", "linestrip"):
            return False
        if not self.points:
            return True
        # A real double-click is press, release, double-click, release: its press already added
        # this point. Add it only when it is not there yet.
        p = self.view.clamp(pos)
        if np.hypot(p[0] - self.points[-1][0], p[1] - self.points[-1][1]) > self.tolerance:
            self.points.append((float(p[0]), float(p[1])))
        self.finish_current()
        return True

    def key_press(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.points:
            self.finish_current()
            return True
        if key == Qt.Key.Key_Backspace and self.points:
            self.points.pop()
            self._update_preview()
            return True
        if key == Qt.Key.Key_Escape and self.points:
            self.cancel()
            return True
        return False

    def document_changed(self) -> None:
        """Points being drawn do not refer to other shapes: keep drawing."""

    def finish_current(self) -> None:
        """Finish a polygon / linestrip with the points so far when there are enough."""
        needed = {"polygon": 3, "linestrip": 2}.get(self.kind)
        if needed is not None and len(self.points) >= needed:
            self._finish(list(self.points))

    def cancel(self) -> None:
        self.points = []
        self._pressed_at = None
        if self._preview is not None:
            self.view.scene().removeItem(self._preview)
            self._preview = None

    def _near_first(self, xy: tuple[float, float]) -> bool:
        x0, y0 = self.points[0]
        return bool(np.hypot(xy[0] - x0, xy[1] - y0) <= self.tolerance)

    def _finish(self, points: list[tuple[float, float]]) -> None:
        self.cancel()
        pts = np.asarray(points, dtype=np.float64)
        if self.kind in TWO_POINT_KINDS and np.allclose(pts[0], pts[1]):
            return
        if self.kind == "rectangle" and (pts[0, 0] == pts[1, 0] or pts[0, 1] == pts[1, 1]):
            return
        self.view.finish_shape(self.kind, pts)

    def _update_preview(self) -> None:
        if not self.points:
            self.cancel()
            return
        pts = list(self.points)
        if self._cursor is not None and self._cursor != pts[-1]:
            pts.append(self._cursor)
        kind = self.kind if len(pts) >= 2 or self.kind == "point" else "points"
        if self.kind == "polygon" and len(pts) < 3:
            kind = "linestrip"
        if self._preview is None or self._preview.shape_data.shape_type != kind:
            if self._preview is not None:
                self.view.scene().removeItem(self._preview)
            label = self.view.current_label() or ""
            shape = Shape(label=label, points=np.asarray(pts), shape_type=kind)  # type: ignore[arg-type]
            self._preview = ShapeItem(shape, -1, self.view.scene_.styles, self.view.scene_.pad)
            self._preview.show_handles = True
            self._preview.setZValue(1e6)
            self._preview.setFlag(ShapeItem.GraphicsItemFlag.ItemIsSelectable, False)
            self.view.scene().addItem(self._preview)
        else:
            self._preview.shape_data.points = np.asarray(pts, dtype=np.float64)
            self._preview.rebuild()
