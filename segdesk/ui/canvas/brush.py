"""Brush and eraser: paint or erase the current label's pixels, one undo step per stroke.

A stroke is painted into a uint8 image-size canvas (``core.mask_edit.paint_segment``, which touches
only each segment's box) and previewed by one path item that repaints only the new segment; on
release ``core.mask_edit.apply_stroke`` turns it into one command: painting merges the stroke with
the label's shapes it touches into one Labelme mask shape (for a class of separate objects, only the
ones under the stroke's two ends), erasing cuts it out of them.
Shift+click fills the closed hole under the cursor; Ctrl+click paints (erases) the region of colours
like the clicked pixel's (``core.mask_edit.similar_region``: a first object without drawing its
outline), ``{`` / ``}`` change how alike. ``[`` / ``]`` or Shift+wheel change the size; a circle
follows the cursor at the brush's size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPainterPath, QPen, QWheelEvent
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from segdesk.core.mask_edit import apply_stroke, edit_command, hole_at, paint_segment, similar_region
from segdesk.ui.canvas.tools import Tool

if TYPE_CHECKING:
    from segdesk.ui.canvas.view import CanvasView

MIN_RADIUS, MAX_RADIUS = 1.0, 500.0
MIN_TOLERANCE, MAX_TOLERANCE = 1, 128
#: ``[`` / ``]`` and one Shift+wheel notch change the radius by this factor.
SIZE_STEP = 1.25
PREVIEW_Z = 2e6


class StrokePreview(QGraphicsItem):
    """The stroke so far as one round-capped path; each new segment repaints only its own box."""

    def __init__(self, color: QColor, radius: float) -> None:
        super().__init__()
        self.path = QPainterPath()
        self.pen = QPen(color, 2.0 * radius, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        self.pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        self.radius = radius
        self._rect = QRectF()
        self.setZValue(PREVIEW_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def add(self, a: QPointF, b: QPointF) -> None:
        if self.path.isEmpty():
            self.path.moveTo(a)
        self.path.lineTo(b)
        r = self.radius + 1.0
        seg = QRectF(a, b).normalized().adjusted(-r, -r, r, r)
        self.prepareGeometryChange()
        self._rect = self._rect.united(seg) if not self._rect.isNull() else seg
        self.update(seg)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setPen(self.pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path)


class BrushTool(Tool):
    """Paint (or, with ``erase``, erase) the current label with a round brush."""

    def __init__(self, view: CanvasView, *, erase: bool = False) -> None:
        super().__init__(view)
        self.erase = erase
        self._canvas: np.ndarray | None = None
        self._box: list[int] | None = None  # x0, y0, x1, y1 touched so far
        self._last: QPointF | None = None
        self._first: QPointF | None = None  # where the stroke was pressed (its ends decide a join)
        self._preview: StrokePreview | None = None
        self._ring = QGraphicsEllipseItem()
        pen = QPen(QColor(255, 255, 255), 1.5)
        pen.setCosmetic(True)
        self._ring.setPen(pen)
        self._ring.setZValue(PREVIEW_Z + 1)
        self._ring.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._ring.setVisible(False)
        view.scene().addItem(self._ring)

    @property
    def radius(self) -> float:
        return self.view.brush_radius

    @property
    def stroking(self) -> bool:
        return self._canvas is not None

    # --- size and cursor ------------------------------------------------------------------------
    def set_radius(self, radius: float) -> None:
        self.view.brush_radius = float(min(max(radius, MIN_RADIUS), MAX_RADIUS))
        self._place_ring(self._ring.rect().center() if self._ring.isVisible() else None)

    def _place_ring(self, pos: QPointF | None) -> None:
        if pos is None:
            return
        r = self.radius
        self._ring.setRect(QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r))
        self._ring.setVisible(True)

    # --- mouse ----------------------------------------------------------------------------------
    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self.view.document() is None:
            return False
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            if not self.erase:
                self.fill_hole(pos)
            return True
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.fill_similar(pos)
            return True
        w, h = self.view.image_size()
        if not w:
            return True
        self._canvas = np.zeros((h, w), dtype=np.uint8)
        self._box = None
        label = self.view.current_label()
        rgb = self.view.scene_.styles.style(label).rgb if label and not self.erase else (255, 255, 255)
        self._preview = StrokePreview(QColor(*rgb, 150), self.radius)
        self.view.scene().addItem(self._preview)
        self._last = self._first = pos
        self._paint(pos, pos)
        return True

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        self._place_ring(pos)
        if self._canvas is None or self._last is None:
            return False
        self._paint(self._last, pos)
        self._last = pos
        return True

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self._canvas is None:
            return False
        canvas, box, first = self._canvas, self._box, self._first
        self.cancel()
        if box is None:
            return True
        x0, y0, x1, y1 = box
        ends = [(p.x(), p.y()) for p in (first, pos) if p is not None]
        self._apply(canvas[y0:y1, x0:x1].astype(bool), (x0, y0), ends)
        return True

    def wheel(self, event: QWheelEvent) -> bool:
        if not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            return False
        delta = event.angleDelta()
        steps = (delta.y() or delta.x()) / 120.0  # some platforms turn Shift+wheel horizontal
        if steps:
            self.set_radius(self.radius * SIZE_STEP**steps)
        return True

    def key_press(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_BracketRight:
            self.set_radius(self.radius * SIZE_STEP)
            return True
        if event.key() == Qt.Key.Key_BracketLeft:
            self.set_radius(self.radius / SIZE_STEP)
            return True
        if event.key() in (Qt.Key.Key_BraceLeft, Qt.Key.Key_BraceRight):
            step = 1.5 if event.key() == Qt.Key.Key_BraceRight else 1 / 1.5
            tolerance = round(min(max(self.view.fill_tolerance * step, MIN_TOLERANCE), MAX_TOLERANCE))
            self.view.fill_tolerance = tolerance
            self.view.message.emit(f"Ctrl+click fills colours within {tolerance} of the clicked one")
            return True
        if event.key() == Qt.Key.Key_Escape and self.stroking:
            self.cancel()
            return True
        return False

    def cancel(self) -> None:
        self._canvas, self._box, self._last, self._first = None, None, None, None
        if self._preview is not None:
            self.view.scene().removeItem(self._preview)
            self._preview = None

    def hide_ring(self) -> None:
        self._ring.setVisible(False)

    def leave(self) -> None:
        """The tool is put away (another mode): drop the stroke and the size ring."""
        self.cancel()
        if self._ring.scene() is not None:
            self._ring.scene().removeItem(self._ring)

    def document_changed(self) -> None:
        """Shapes changed under the stroke (an undo): the stroke is applied to what is there then."""

    # --- edits ----------------------------------------------------------------------------------
    def _paint(self, a: QPointF, b: QPointF) -> None:
        assert self._canvas is not None and self._preview is not None
        box = paint_segment(self._canvas, (a.x(), a.y()), (b.x(), b.y()), self.radius)
        self._preview.add(a, b)
        if box is None:
            return
        if self._box is None:
            self._box = list(box)
        else:
            self._box = [
                min(self._box[0], box[0]),
                min(self._box[1], box[1]),
                max(self._box[2], box[2]),
                max(self._box[3], box[3]),
            ]

    def _label(self) -> str | None:
        """The label to paint (asked once when none is chosen); the eraser without one: every label."""
        label = self.view.current_label()
        if label or self.erase:
            return label
        label = self.view.ask_label()
        if label:
            self.view.set_current_label(label)
        return label

    def _objects(self, label: str | None) -> bool:
        """Whether ``label``'s shapes are separate objects (the window's rule; painting then never
        joins touching ones by itself, ``core.mask_edit.apply_stroke``)."""
        rule = self.view.object_label
        return bool(label and not self.erase and rule is not None and rule(label))

    def _apply(
        self, stroke: np.ndarray, origin: tuple[int, int], ends: list[tuple[float, float]], *, text: str = ""
    ) -> bool:
        """Paint (erase) ``stroke`` at ``origin`` as one undo step named ``text`` (default: a brush
        stroke, an erase); False when nothing changed."""
        document = self.view.document()
        label = self._label()
        if document is None or label is None or not stroke.any():
            return False
        w, h = self.view.image_size()
        target = label if label or not self.erase else None
        edit = apply_stroke(
            document.shapes, stroke, origin, (h, w), label=target, erase=self.erase,
            objects=self._objects(target), ends=ends,
        )  # fmt: skip
        if edit.empty:
            return False
        text = text or ("erase" if self.erase else "brush stroke")
        self.view.push(edit_command(edit, len(document.shapes), text=text))
        return True

    def fill_similar(self, pos: QPointF) -> bool:
        """Paint (or erase) the region of colours like the one at ``pos``; False when nothing changed."""
        if self.view.document() is None:
            return False
        found = similar_region(self.view.scene_.image.rgb, (pos.x(), pos.y()), self.view.fill_tolerance)
        if isinstance(found, str):
            self.view.message.emit(found)
        if not isinstance(found, tuple):
            return False
        crop, origin = found
        text = "erase similar" if self.erase else "fill similar"
        if not self._apply(crop, origin, [(pos.x(), pos.y())], text=text):
            return False
        tolerance = self.view.fill_tolerance
        self.view.message.emit(
            f"{int(crop.sum())} px within {tolerance} of the clicked colour ({{ / }} to change)"
        )
        return True

    def fill_hole(self, pos: QPointF) -> bool:
        """Fill the closed hole of the current label's shapes at ``pos``; False when there is none."""
        document = self.view.document()
        label = self.view.current_label()
        if document is None or not label:
            return False
        w, h = self.view.image_size()
        found = hole_at(document.shapes, (pos.x(), pos.y()), (h, w), label=label)
        if found is None:
            return False
        edit = apply_stroke(
            document.shapes, found[0], found[1], (h, w), label=label, objects=self._objects(label)
        )
        self.view.push(edit_command(edit, len(document.shapes), text="fill hole"))
        return True
