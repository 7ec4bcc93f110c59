"""CanvasView: the annotation canvas widget (zoom, pan, tools, selection, clipboard).

Its mouse, wheel and key handling is in :mod:`segdesk.ui.canvas.input`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, get_args

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QPainter,
    QTransform,
    QUndoStack,
)
from PySide6.QtWidgets import QFrame, QGraphicsView, QWidget

from segdesk.core.commands import UNSET, AddShapes, Command, RemoveShapes, SetShapeProps
from segdesk.core.document import Document
from segdesk.core.shape_convert import conversion_command
from segdesk.core.shapes import Shape
from segdesk.ui.canvas.brush import BrushTool
from segdesk.ui.canvas.create_tool import CreateTool
from segdesk.ui.canvas.input import CanvasInput
from segdesk.ui.canvas.items import ShapeItem
from segdesk.ui.canvas.scene import CanvasScene
from segdesk.ui.canvas.tools import EditTool, Tool
from segdesk.ui.undo import DocumentCommand

Mode = Literal["edit", "polygon", "rectangle", "circle", "line", "linestrip", "point", "brush", "eraser"]
MODES: tuple[str, ...] = get_args(Mode)
MIN_ZOOM, MAX_ZOOM = 1e-3, 64.0
DUPLICATE_OFFSET = 10.0

LabelRequester = Callable[[], "tuple[str, int | None, str] | None"]


class CanvasView(CanvasInput, QGraphicsView):
    """Shows one image and its document's shapes; edits go through core commands on an undo stack."""

    selection_changed = Signal(list)
    cursor_moved = Signal(float, float, object)
    zoom_changed = Signal(float)
    shape_created = Signal(int)
    mode_changed = Signal(str)
    message = Signal(str)  # a line for the status bar (what a tool did, or why it did nothing)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene_ = CanvasScene(self)
        self.setScene(self.scene_)
        self.label_requester: LabelRequester | None = None
        self._document: Document | None = None
        self._stack: QUndoStack | None = None
        self._raw: np.ndarray | None = None
        self._label = ""
        self._mode: str = "edit"
        self._tool: Tool = EditTool(self)
        #: Brush and eraser radius in image pixels (kept across mode changes).
        self.brush_radius = 10.0
        self.fill_tolerance = 24  # Ctrl+click with the brush: colours this close to the clicked one
        #: Whether a label's shapes are separate objects (the window's rule; None: none are).
        self.object_label: Callable[[str], bool] | None = None
        self._clipboard: list[Shape] = []
        self._pan_from: QPointF | None = None
        self._space = False
        self._fitted = True
        self._last_selection: list[int] = []
        self._batch_selection = False
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.ContainsItemShape)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scene_.selectionChanged.connect(self._on_selection_changed)

    # --- wiring ---------------------------------------------------------------------------------
    def set_undo_stack(self, stack: QUndoStack) -> None:
        self._stack = stack

    def set_image(
        self,
        display_rgb: np.ndarray,
        *,
        raw: np.ndarray | None = None,
        pyramid: list[np.ndarray] | None = None,
    ) -> None:
        """Show an HxWx3 uint8 image; ``raw`` (original values) feeds the pixel readout; ``pyramid``
        (``layers.make_pyramid``, made off the GUI thread) spares the first paint its resizing."""
        if display_rgb.ndim != 3 or display_rgb.shape[2] != 3 or display_rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 image, got {display_rgb.dtype} {display_rgb.shape}")
        self._tool.cancel()
        self._raw = raw if raw is not None else display_rgb
        self.scene_.set_image(display_rgb, pyramid)
        self.fit_window()

    def set_document(self, document: Document) -> None:
        """Show ``document``'s shapes (items built once) and follow its change notifications."""
        self._tool.cancel()
        if self._document is not None:
            self._document.unsubscribe(self._on_document_changed)
        self._document = document
        document.subscribe(self._on_document_changed, detail=True)
        self.scene_.rebuild(document.shapes)
        self._emit_selection()

    def document(self) -> Document | None:
        return self._document

    # --- modes ----------------------------------------------------------------------------------
    def set_mode(self, mode: Mode) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown canvas mode {mode!r}; expected one of {MODES}")
        self._tool.leave()
        changed = mode != self._mode
        self._mode = mode
        if mode == "edit":
            self._tool = EditTool(self)
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        elif mode in ("brush", "eraser"):
            self._tool = BrushTool(self, erase=mode == "eraser")
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self.select_indices([])
        else:
            self._tool = CreateTool(self, mode)
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self.select_indices([])
        self._restore_cursor()
        if changed:
            self.mode_changed.emit(mode)

    def _restore_cursor(self) -> None:
        if self._space:
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        elif self._mode == "edit":
            self.viewport().unsetCursor()
        else:
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)

    def mode(self) -> str:
        return self._mode

    def set_current_label(self, label: str) -> None:
        self._label = label

    def current_label(self) -> str:
        return self._label

    # --- zoom -----------------------------------------------------------------------------------
    def zoom_factor(self) -> float:
        return float(self.transform().m11())

    def fit_window(self) -> None:
        rect = self.sceneRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self._zoom_done()

    def zoom_100(self) -> None:
        center = self.mapToScene(self.viewport().rect().center())
        self.setTransform(QTransform())
        self.centerOn(center)
        self._fitted = False
        self._zoom_done()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the scene point under ``anchor`` (viewport pixels) in place."""
        current = self.zoom_factor()
        factor = min(max(current * factor, MIN_ZOOM), MAX_ZOOM) / current
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        before = self.mapToScene(anchor.toPoint())
        self.scale(factor, factor)
        after = self.mapFromScene(before)
        shift = after - anchor.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + shift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + shift.y())
        self._fitted = False
        self._zoom_done()

    def _zoom_done(self) -> None:
        self.scene_.set_view_scale(self.zoom_factor())
        self.zoom_changed.emit(self.zoom_factor())

    # --- appearance -----------------------------------------------------------------------------
    def set_label_visible(self, label: str, visible: bool) -> None:
        if visible:
            self.scene_.hidden_labels.discard(label)
        else:
            self.scene_.hidden_labels.add(label)
        self.scene_.refresh_visibility()

    def set_shapes_visible(self, visible: bool) -> None:
        self.scene_.shapes_visible = bool(visible)
        self.scene_.refresh_visibility()

    def shapes_visible(self) -> bool:
        return self.scene_.shapes_visible

    def set_fill_opacity(self, alpha: float) -> None:
        self.scene_.set_fill_opacity(alpha)

    def set_label_list(self, labels: Sequence[str] | None) -> None:
        """Colour labels by their position in this list (labels.txt order), as the label dock does."""
        self.scene_.set_label_order(None if labels is None else list(labels))

    def set_view_adjust(self, brightness: float, contrast: float) -> None:
        """View-only brightness and contrast factors (1.0 = unchanged), as Labelme's dialog."""
        self.scene_.image.set_adjust(brightness, contrast)

    # --- selection ------------------------------------------------------------------------------
    def selected_items(self) -> list[ShapeItem]:
        return sorted(
            (i for i in self.scene_.selectedItems() if isinstance(i, ShapeItem) and i.index >= 0),
            key=lambda i: i.index,
        )

    def selected_indices(self) -> list[int]:
        return [i.index for i in self.selected_items()]

    def select_indices(self, indices: Iterable[int]) -> None:
        items = self.scene_.shape_items
        self.select_items([items[i] for i in indices if 0 <= i < len(items)])

    def select_all(self) -> None:
        """Select every visible shape."""
        self.select_items([i for i in self.scene_.shape_items if i.isVisible()])

    def select_items(self, items: Sequence[ShapeItem]) -> None:
        self._batch_selection = True
        try:
            self.scene_.clearSelection()
            for item in items:
                item.setSelected(True)
        finally:
            self._batch_selection = False
        self._emit_selection()

    def _on_selection_changed(self) -> None:
        if not self._batch_selection:
            self._emit_selection()

    def _emit_selection(self) -> None:
        selection = self.selected_indices()
        if selection != self._last_selection:
            self._last_selection = selection
            self.selection_changed.emit(selection)

    # --- edits ----------------------------------------------------------------------------------
    def push(self, command: Command) -> None:
        """Apply a core command through the undo stack (or directly when there is none)."""
        if self._document is None:
            return
        if self._stack is not None:
            self._stack.push(DocumentCommand(self._document, command))
        else:
            command.do(self._document)

    def delete_selected(self) -> None:
        indices = self.selected_indices()
        if indices:
            self.push(RemoveShapes(indices, text=f"delete {len(indices)} shape(s)"))

    def copy_selected(self) -> None:
        if self._document is not None:
            self._clipboard = [self._document.shapes[i].copy() for i in self.selected_indices()]

    def paste(self) -> None:
        self._add_copies(self._clipboard, 0.0, "paste")

    def duplicate_selected(self) -> None:
        if self._document is not None:
            shapes = [self._document.shapes[i] for i in self.selected_indices()]
            self._add_copies(shapes, DUPLICATE_OFFSET, "duplicate")

    def _add_copies(self, shapes: Sequence[Shape], offset: float, text: str) -> None:
        if self._document is None or not shapes:
            return
        copies = []
        w, h = self.image_size()
        for shape in shapes:
            copy = shape.copy()
            if copy.is_proposal:  # a person placed it: it is theirs now
                copy.extra["proposal"] = False
                copy.extra["edited"] = True
            hi = copy.points.max(axis=0)
            dx = min(offset, max(0.0, (w - 1) - hi[0])) if w else offset
            dy = min(offset, max(0.0, (h - 1) - hi[1])) if h else offset
            copy.points += (dx, dy)
            copies.append(copy)
        start = len(self._document.shapes)
        indices = list(range(start, start + len(copies)))
        self.push(AddShapes(indices, copies, text=f"{text} {len(copies)} shape(s)"))
        self.select_indices(indices)

    def edit_selected_props(
        self, *, label: Any = UNSET, group_id: Any = UNSET, description: Any = UNSET, flags: Any = UNSET
    ) -> None:
        """Set properties of the selected shapes as one undo step (arguments not given stay)."""
        indices = self.selected_indices()
        if indices:
            self.push(
                SetShapeProps(indices, label=label, group_id=group_id, description=description, flags=flags)
            )

    def convert_selected(self, to: str) -> None:
        """Convert the selected shapes to "mask" or "polygon" as one undo step."""
        if self._document is None:
            return
        w, h = self.image_size()
        command = conversion_command(self._document.shapes, self.selected_indices(), to=to, size=(h, w))
        if command is not None:
            self.push(command)

    def ask_label(self) -> str | None:
        """The label for a new shape: asked through ``label_requester`` when set, else the current one."""
        if self.label_requester is None:
            return self._label
        answer = self.label_requester()
        return None if answer is None else answer[0]

    def finish_shape(self, kind: str, points: np.ndarray) -> None:
        """Called by a create tool: ask for a label, add the shape, emit ``shape_created``."""
        if self._document is None:
            return
        label, group_id, description = self._label, None, ""
        if self.label_requester is not None:
            answer = self.label_requester()
            if answer is None:
                return
            label, group_id, description = answer
        shape = Shape(
            label=label,
            points=points,
            shape_type=kind,  # type: ignore[arg-type]
            group_id=group_id,
            description=description,
            extra={"source": "person"},
        )
        index = len(self._document.shapes)
        self.push(AddShapes([index], [shape], text=f"create {kind}"))
        self.shape_created.emit(index)

    # --- geometry helpers for tools -------------------------------------------------------------
    def image_size(self) -> tuple[int, int]:
        rgb = self.scene_.image.rgb
        return (int(rgb.shape[1]), int(rgb.shape[0])) if rgb.size else (0, 0)

    def clamp(self, pos: QPointF) -> np.ndarray:
        """A scene position clamped into the image (Labelme keeps vertices on the pixmap)."""
        w, h = self.image_size()
        x, y = pos.x(), pos.y()
        if w and h:
            x, y = min(max(x, 0.0), w - 1.0), min(max(y, 0.0), h - 1.0)
        return np.array([x, y], dtype=np.float64)

    def shape_item_at(self, pos: QPointF) -> ShapeItem | None:
        """The topmost visible shape whose hit area contains ``pos`` (through the scene index)."""
        for item in self.scene_.items(
            pos, Qt.ItemSelectionMode.IntersectsItemShape, Qt.SortOrder.DescendingOrder
        ):
            if isinstance(item, ShapeItem) and item.index >= 0 and item.isVisible():
                return item
        return None

    def shape_items_near(self, pos: QPointF, radius: float) -> list[ShapeItem]:
        rect = QRectF(pos.x() - radius, pos.y() - radius, 2 * radius, 2 * radius)
        found = self.scene_.items(
            rect, Qt.ItemSelectionMode.IntersectsItemBoundingRect, Qt.SortOrder.DescendingOrder
        )
        return [i for i in found if isinstance(i, ShapeItem) and i.index >= 0 and i.isVisible()]

    # --- document notifications -----------------------------------------------------------------
    def _on_document_changed(self, what: str, detail: Any) -> None:
        if what != "shapes" or self._document is None:
            return
        self._tool.document_changed()
        if detail is None:
            self.scene_.rebuild(self._document.shapes)
        else:
            self.scene_.apply_changes(self._document.shapes, detail)
        self._emit_selection()
