"""The canvas scene: a tiled image layer and one ShapeItem per shape of the document."""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainterPath
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene

from segdesk.core.document import ShapesChange
from segdesk.core.shapes import Shape
from segdesk.ui.canvas.items import (
    CLOSED_TYPES,
    FILL_MIN_SCALE,
    PICK_PX,
    POLYLINE_TYPES,
    ShapeItem,
    StyleCache,
)
from segdesk.ui.canvas.layers import ImageLayer
from segdesk.ui.canvas.overview import OverviewLayer
from segdesk.ui.convert import points_to_paths

#: With more shapes than this the overview layer is used at any zoom.
MANY_SHAPES = 300
#: Shapes drawn by the overview get their new bounds this long after the last zoom step.
PAD_DELAY_MS = 150


#: Paths made ahead (on the open loader's thread) for shapes about to be shown: (points, path).
_PREBUILT: weakref.WeakKeyDictionary[Shape, tuple[np.ndarray, QPainterPath]] = weakref.WeakKeyDictionary()


def prebuild_paths(shapes: Sequence[Shape]) -> None:
    """Make the outline paths of ``shapes`` now (any thread), for the canvas to use when it shows them.

    Building 2,000 paths costs ~60-80 ms; the open loader does it beside the decode instead of the
    GUI thread. A shape whose points change before it is shown gets a new path.
    """
    lines = [s for s in shapes if s.shape_type in POLYLINE_TYPES]
    built = points_to_paths([s.points for s in lines], [s.shape_type in CLOSED_TYPES for s in lines])
    for shape, path in zip(lines, built, strict=True):
        _PREBUILT[shape] = (shape.points, path)


def _paths_for(shapes: Sequence[Shape]) -> dict[int, QPainterPath]:
    """index -> outline path of each polyline shape: made ahead when it still fits, else now."""
    paths: dict[int, QPainterPath] = {}
    missing: list[int] = []
    for i, shape in enumerate(shapes):
        if shape.shape_type not in POLYLINE_TYPES:
            continue
        ready = _PREBUILT.pop(shape, None)
        if ready is not None and ready[0] is shape.points:
            paths[i] = ready[1]
        else:
            missing.append(i)
    built = points_to_paths(
        [shapes[i].points for i in missing], [shapes[i].shape_type in CLOSED_TYPES for i in missing]
    )
    paths.update(zip(missing, built, strict=True))
    return paths


class CanvasScene(QGraphicsScene):
    """Holds the image layer, the overview layer and one ShapeItem per shape (parallel to
    ``document.shapes``)."""

    items_changed = Signal()

    def __init__(self, parent: object | None = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self.setBackgroundBrush(QColor(40, 40, 40))
        self.styles = StyleCache()
        self.image = ImageLayer(self)
        self.overview = OverviewLayer(self)
        self.addItem(self.overview)
        self.overview_active = False
        self.view_scale = 1.0
        self.shape_items: list[ShapeItem] = []
        self.pad = PICK_PX
        self.hidden_labels: set[str] = set()
        self.shapes_visible = True
        self.selectionChanged.connect(self.sync_overview)
        self._pad_timer = QTimer(self)
        self._pad_timer.setSingleShot(True)
        self._pad_timer.setInterval(PAD_DELAY_MS)
        self._pad_timer.timeout.connect(self._sync_pads)

    # --- image --------------------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray, pyramid: list[np.ndarray] | None = None) -> None:
        self.image.set_image(rgb, pyramid)
        h, w = rgb.shape[:2]
        self.setSceneRect(QRectF(0, 0, w, h))
        self.overview.set_rect(QRectF(0, 0, w, h))
        self.sync_overview()

    # --- zoom-dependent drawing ---------------------------------------------------------------
    def set_view_scale(self, scale: float) -> None:
        """Adapt to the view's zoom: item bounds padding and whether the overview image is used."""
        self.view_scale = scale
        pad = PICK_PX * 2.0 ** math.ceil(math.log2(1.0 / max(scale, 1e-6)))
        self.styles.pick_band = pad
        if pad != self.pad:
            self.pad = pad
            # New bounds re-index every item (tens of ms at 2,000 shapes). Shapes that paint
            # themselves need them now; those the overview draws only for picking, once the zoom
            # rests (a burst of wheel steps re-indexes once).
            for item in self.shape_items:
                if not item.in_overview:
                    item.set_pad(pad)
            self._pad_timer.start()
        self.sync_overview()

    def _sync_pads(self) -> None:
        for item in self.shape_items:
            item.set_pad(self.pad)

    def _overview_wanted(self, count: int | None = None) -> bool:
        count = len(self.shape_items) if count is None else count
        zoomed_out = self.view_scale < FILL_MIN_SCALE or count > MANY_SHAPES
        return zoomed_out

    def sync_overview(self) -> None:
        """Hand unselected shapes to the overview image (or back to themselves) as needed."""
        active = self._overview_wanted()
        if active != self.overview_active:
            self.overview_active = active
            if not active:
                self.overview.drop()
            self.overview.invalidate_all()
        for item in self.shape_items:
            self.sync_overview_item(item)

    def sync_overview_item(self, item: ShapeItem) -> None:
        """Hand one shape to the overview, or back to itself while selected or hovered."""
        want = self.overview_active and not item.isSelected() and item.hover_vertex is None
        if item.index >= 0 and item.in_overview != want:
            if not want:
                item.set_pad(self.pad)
            item.in_overview = want
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, want)
            self.overview.mark_dirty(item.sceneBoundingRect())
            item.update()

    def overview_items(self, region: QRectF | None) -> list[ShapeItem]:
        """The shapes the overview draws (all, or those touching ``region``), in stacking order."""
        if region is None:
            candidates = self.shape_items
        else:
            found = self.items(region, Qt.ItemSelectionMode.IntersectsItemBoundingRect)
            candidates = sorted(
                (i for i in found if isinstance(i, ShapeItem) and i.index >= 0), key=lambda i: i.index
            )
        return [i for i in candidates if i.in_overview and i.isVisible()]

    def _dirty(self, item: ShapeItem) -> None:
        if item.in_overview:
            self.overview.mark_dirty(item.sceneBoundingRect())

    # --- items --------------------------------------------------------------------------------
    def _make_item(self, shape: Shape, index: int, path: QPainterPath | None = None) -> ShapeItem:
        item = ShapeItem(shape, index, self.styles, self.pad, in_overview=self.overview_active, path=path)
        if not self._visible(shape):
            item.setVisible(False)
        return item

    def _visible(self, shape: Shape) -> bool:
        return self.shapes_visible and shape.label not in self.hidden_labels

    def rebuild(self, shapes: Sequence[Shape]) -> None:
        """Replace every shape item (a new document)."""
        for item in self.shape_items:
            self.removeItem(item)
        self.shape_items = []
        self.overview.invalidate_all()
        self.overview_active = self._overview_wanted(len(shapes))
        if not self.overview_active:
            self.overview.drop()
        paths = _paths_for(shapes)
        for index, shape in enumerate(shapes):
            item = self._make_item(shape, index, paths.get(index))
            self.shape_items.append(item)
            self.addItem(item)
        self.sync_overview()
        self.items_changed.emit()

    def apply_changes(self, shapes: Sequence[Shape], changes: Sequence[ShapesChange]) -> None:
        """Update only the items the changes touched, in order."""
        for change in changes:
            if change.kind == "removed":
                for index in reversed(change.indices):
                    item = self.shape_items.pop(index)
                    self._dirty(item)
                    self.removeItem(item)
            elif change.kind == "added":
                for index in change.indices:
                    item = self._make_item(shapes[index], index)
                    self.shape_items.insert(index, item)
                    self.addItem(item)
                    self._dirty(item)
            else:
                for index in change.indices:
                    self._update_item(self.shape_items[index], shapes[index], change.geometry)
        for i, item in enumerate(self.shape_items):
            item.index = i
        if len(self.shape_items) != len(shapes):
            self.rebuild(shapes)
            return
        self.sync_overview()
        self.items_changed.emit()

    def _update_item(self, item: ShapeItem, shape: Shape, geometry: bool) -> None:
        self._dirty(item)
        item.setPos(0.0, 0.0)
        if geometry or item.shape_data is not shape or shape.shape_type == "mask":
            item.rebuild(shape)
        else:
            item.update()
        item.setVisible(self._visible(shape))
        self._dirty(item)

    def item_at(self, index: int) -> ShapeItem:
        return self.shape_items[index]

    # --- appearance ---------------------------------------------------------------------------
    def refresh_visibility(self) -> None:
        for item in self.shape_items:
            visible = self._visible(item.shape_data)
            if item.isVisible() != visible:
                item.setVisible(visible)
                self._dirty(item)

    def set_fill_opacity(self, alpha: float) -> None:
        self.styles.set_fill_opacity(alpha)
        self.restyle()

    def set_label_order(self, labels: list[str] | None) -> None:
        self.styles.set_label_order(labels)
        self.restyle()

    def restyle(self) -> None:
        """Redraw everything after a colour or opacity change."""
        for item in self.shape_items:
            if item.shape_data.shape_type == "mask":
                item.rebuild()
            item.update()
        self.overview.invalidate_all()
