"""Canvas tools: the Tool interface and the edit tool (select, move, vertex edits); the create tool
(polygon, rectangle, circle, line, ...) is in ``create_tool.py``, the brush in ``brush.py``.

Tools get mouse positions in scene (image) coordinates from the view and turn gestures into core
commands through the view. A drag only previews (item offset or preview points); the one command is
pushed on release.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent

from segdesk.core.commands import InsertVertex, MoveShapes, MoveVertex, RemoveVertex
from segdesk.ui.canvas.items import PICK_PX, ShapeItem

if TYPE_CHECKING:
    from segdesk.ui.canvas.view import CanvasView


class Tool:
    """Base: every handler returns True when it used the event."""

    def __init__(self, view: CanvasView) -> None:
        self.view = view

    @property
    def tolerance(self) -> float:
        """Pick tolerance in scene units at the current zoom."""
        return PICK_PX / max(self.view.zoom_factor(), 1e-9)

    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def key_press(self, event: QKeyEvent) -> bool:
        return False

    def wheel(self, event: QWheelEvent) -> bool:
        """A wheel event the tool uses (e.g. Shift+wheel for the brush size); else the view zooms."""
        return False

    def cancel(self) -> None:
        """Drop any gesture in progress (mode change, new image or document)."""

    def leave(self) -> None:
        """The tool is put away for another one."""
        self.cancel()

    def document_changed(self) -> None:
        """The document changed under the tool (an undo, a model's result ...)."""
        self.cancel()


class EditTool(Tool):
    """Select by click / Ctrl+click / rubber band, move shapes, drag / insert / delete vertices."""

    def __init__(self, view: CanvasView) -> None:
        super().__init__(view)
        self._drag: str | None = None
        self._item: ShapeItem | None = None
        self._vertex = -1
        self._start = QPointF()
        self._start_points: np.ndarray | None = None
        self._moving: list[ShapeItem] = []
        self._delta = (0.0, 0.0)
        self._hover: tuple[ShapeItem, int] | None = None

    # --- picking ------------------------------------------------------------------------------
    def _vertex_at(self, pos: QPointF) -> tuple[ShapeItem, int] | None:
        """The vertex under the cursor: of a selected shape first, else of the topmost shape near it
        (as Labelme, a vertex of an unselected shape is highlighted and dragged, not the shape)."""
        for item in self.view.selected_items():
            vertex = item.nearest_vertex(pos, self.tolerance)
            if vertex is not None and item.shape_data.shape_type != "mask":
                return item, vertex
        best: tuple[float, ShapeItem, int] | None = None
        for item in self.view.shape_items_near(pos, self.tolerance):  # topmost first
            if item.shape_data.shape_type == "mask":
                continue  # a mask's two points are its bounding box, not vertices
            vertex = item.nearest_vertex(pos, self.tolerance)
            if vertex is not None:
                x, y = item.points[vertex]
                d = float(np.hypot(x - pos.x(), y - pos.y()))
                if best is None or d < best[0]:  # ties: the topmost shape
                    best = (d, item, vertex)
        return None if best is None else (best[1], best[2])

    def _edge_at(self, pos: QPointF) -> tuple[ShapeItem, int, tuple[float, float]] | None:
        candidates = self.view.selected_items() + self.view.shape_items_near(pos, self.tolerance)
        for item in candidates:
            edge = item.nearest_edge(pos, self.tolerance)
            if edge is not None:
                return item, edge[0], edge[1]
        return None

    # --- mouse --------------------------------------------------------------------------------
    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        hit = self._vertex_at(pos)
        if hit is not None:
            item, vertex = hit
            if not item.isSelected() and not ctrl:
                self.view.select_items([item])
            if shift:
                self.remove_vertex(item, vertex)
            else:
                self._begin_vertex_drag(item, vertex, pos)
            return True
        if shift and self._insert_vertex_at(pos, drag=True):
            return True
        item = self.view.shape_item_at(pos)
        if item is None:
            return False  # the view starts a rubber band
        if ctrl:
            item.setSelected(not item.isSelected())
            return True
        if not item.isSelected():
            self.view.select_items([item])
        self._drag = "move"
        self._start = pos
        self._moving = self.view.selected_items()
        self._delta = (0.0, 0.0)
        return True

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._drag == "vertex" and self._item is not None and self._start_points is not None:
            preview = self._start_points.copy()
            preview[self._vertex] = self.view.clamp(pos)
            self._item.set_preview(preview)
            return True
        if self._drag == "move":
            self._delta = self._bounded_delta(pos.x() - self._start.x(), pos.y() - self._start.y())
            for item in self._moving:
                item.setPos(*self._delta)
            return True
        if event.buttons() == Qt.MouseButton.NoButton:
            self._update_hover(pos)
        return False

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self._drag is None:
            return False
        drag, self._drag = self._drag, None
        if drag == "vertex" and self._item is not None and self._start_points is not None:
            item, vertex = self._item, self._vertex
            new = item.points[vertex].copy()
            old = self._start_points[vertex]
            item.set_preview(None)
            if not np.array_equal(new, old):
                self.view.push(MoveVertex(item.index, vertex, old, new))
        elif drag == "move":
            dx, dy = self._delta
            moving, self._moving = self._moving, []
            if dx or dy:
                self.view.push(MoveShapes([i.index for i in moving], dx, dy))
            for item in moving:
                item.setPos(0.0, 0.0)
        self._item, self._start_points = None, None
        return True

    def double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        return self._insert_vertex_at(pos, drag=False)

    # --- keys ---------------------------------------------------------------------------------
    def key_press(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            if self._hover is not None and RemoveVertex.allowed(self._hover[0].shape_data):
                self.remove_vertex(*self._hover)
            else:
                self.view.delete_selected()
            return True
        steps = {
            Qt.Key.Key_Left: (-1, 0),
            Qt.Key.Key_Right: (1, 0),
            Qt.Key.Key_Up: (0, -1),
            Qt.Key.Key_Down: (0, 1),
        }
        if key in steps and self.view.selected_indices():
            step = 10.0 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1.0
            dx, dy = steps[key]
            self.view.push(MoveShapes(self.view.selected_indices(), dx * step, dy * step, mergeable=True))
            return True
        if key == Qt.Key.Key_Escape and self.view.selected_indices():
            self.view.select_indices([])
            return True
        return False

    def cancel(self) -> None:
        if self._item is not None:
            self._item.set_preview(None)
        for item in self._moving:
            item.setPos(0.0, 0.0)
        self._drag, self._item, self._start_points, self._moving = None, None, None, []
        self._set_hover(None)

    # --- helpers ------------------------------------------------------------------------------
    def _begin_vertex_drag(self, item: ShapeItem, vertex: int, pos: QPointF) -> None:
        self._drag = "vertex"
        self._item, self._vertex, self._start = item, vertex, pos
        self._start_points = item.shape_data.points.copy()

    def _insert_vertex_at(self, pos: QPointF, *, drag: bool) -> bool:
        hit = self._edge_at(pos)
        if hit is None:
            return False
        item, at, xy = hit
        index = item.index
        self.view.push(InsertVertex(index, at, xy))
        item = self.view.scene_.item_at(index)
        self.view.select_items([item])
        if drag:
            self._begin_vertex_drag(item, at, pos)
        return True

    def remove_vertex(self, item: ShapeItem, vertex: int) -> None:
        if RemoveVertex.allowed(item.shape_data):
            self._set_hover(None)
            self.view.push(RemoveVertex(item.index, vertex))

    def _bounded_delta(self, dx: float, dy: float) -> tuple[float, float]:
        """Keep moved shapes inside the image, as Labelme does."""
        w, h = self.view.image_size()
        if not self._moving or w == 0:
            return dx, dy
        pts = np.concatenate([i.shape_data.points for i in self._moving])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        dx = float(np.clip(dx, -lo[0], (w - 1) - hi[0])) if hi[0] - lo[0] <= w - 1 else 0.0
        dy = float(np.clip(dy, -lo[1], (h - 1) - hi[1])) if hi[1] - lo[1] <= h - 1 else 0.0
        if any(i.shape_data.shape_type == "mask" for i in self._moving):
            dx, dy = float(round(dx)), float(round(dy))  # a mask's pixels stay on the pixel grid
        return dx, dy

    def _update_hover(self, pos: QPointF) -> None:
        hit = self._vertex_at(pos)
        self._set_hover(hit)
        if hit is not None:
            self.view.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        elif self.view.shape_item_at(pos) is not None:
            self.view.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
        else:
            self.view.viewport().unsetCursor()

    def _set_hover(self, hit: tuple[ShapeItem, int] | None) -> None:
        if hit == self._hover:
            return
        if self._hover is not None:
            self._hover[0].hover_vertex = None
            self._hover[0].update()
            self.view.scene_.sync_overview_item(self._hover[0])
        self._hover = hit
        if hit is not None:
            hit[0].hover_vertex = hit[1]
            self.view.scene_.sync_overview_item(hit[0])  # an overview shape paints itself meanwhile
            hit[0].update()
