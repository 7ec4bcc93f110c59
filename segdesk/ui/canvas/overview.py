"""The shapes' overview layer: unselected shapes drawn into device-pixel tiles at the current zoom."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QRegion
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from segdesk.ui.canvas.layers import REFINE_SLICE_S, device_origin

if TYPE_CHECKING:
    from segdesk.ui.canvas.scene import CanvasScene

OVERVIEW_Z = -500.0
#: The overview is drawn in square tiles of this many device pixels, at most this many kept.
OVERVIEW_TILE = 256
OVERVIEW_MAX_TILES = 1024
#: After a zoom step, tiles of the new zoom are rendered (in slices) from this long after the step,
#: so that a burst of wheel steps renders once.
REFINE_DELAY_MS = 40


class OverviewLayer(QGraphicsItem):
    """Unselected shapes drawn into device-pixel tiles at the current zoom, blitted on repaint.

    Tiles are rendered lazily when first exposed, so panning draws only the shapes newly exposed.
    A zoom step does not redraw every shape at once: the tiles of the previous zoom are drawn scaled
    (a few image copies) while the tiles of the new zoom are rendered in slices of at most
    ``REFINE_SLICE_S`` between events, so wheel steps are never queued behind a full redraw and the
    shapes are sharp again a moment after the last step. Shapes it draws carry ``ItemHasNoContents`` so
    the view skips them; a selected shape paints itself on top. Edits mark scene rectangles dirty and
    only those parts of existing tiles are redrawn.
    """

    def __init__(self, scene: CanvasScene) -> None:
        super().__init__()
        self.canvas = scene
        self._tiles: dict[tuple[int, int], QImage] = {}
        self._scale = 0.0
        #: The previous zoom's tiles and scale: drawn scaled where the new ones are not ready yet.
        self._old: dict[tuple[int, int], QImage] = {}
        self._old_scale = 0.0
        self._wanted: list[tuple[int, int]] = []
        self._dirty: list[QRectF] = []
        self._rect = QRectF()
        self._refine = QTimer()
        self._refine.setSingleShot(True)
        self._refine.setInterval(REFINE_DELAY_MS)
        self._refine.timeout.connect(self._refine_some)
        self.setZValue(OVERVIEW_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        # exposedRect tells which tiles the view needs.
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def boundingRect(self) -> QRectF:
        return self._rect

    def set_rect(self, rect: QRectF) -> None:
        """The image's rectangle (kept here: asking the scene would recurse into its items)."""
        self.prepareGeometryChange()
        self._rect = QRectF(rect)
        self.invalidate_all()

    def invalidate_all(self) -> None:
        self._tiles.clear()
        self._old.clear()
        self._dirty.clear()
        self._wanted = []
        self._refine.stop()
        self.update()

    def mark_dirty(self, rect: QRectF) -> None:
        if self._tiles and not rect.isEmpty():
            self._dirty.append(QRectF(rect))
        if self._old:  # the stale zoom's tiles would show the shape as it was: drop them there
            for key in [k for k in self._old if self._old_rect(*k).intersects(rect)]:
                del self._old[key]
        self.update(rect)

    def drop(self) -> None:
        """Free the tiles (the overview is off)."""
        self.invalidate_all()

    def tile_count(self) -> int:
        return len(self._tiles)

    def refining(self) -> bool:
        """True while tiles of the current zoom are still being rendered after a zoom step."""
        return bool(self._wanted)

    def finish_refining(self) -> None:
        """Render every tile still wanted now (tests, screenshots)."""
        while self._wanted:
            self._refine_some(budget_s=1e9)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if not self.canvas.overview_active:
            return
        transform = painter.worldTransform()
        scale = transform.m11()
        if scale != self._scale:
            self._zoomed(scale)
        if self._dirty:
            self._redraw_dirty()
        exposed = option.exposedRect.intersected(self._rect)
        if exposed.isEmpty():
            return
        t = OVERVIEW_TILE
        i0, j0 = int(exposed.left() * scale // t), int(exposed.top() * scale // t)
        i1, j1 = int(math.ceil(exposed.right() * scale / t)), int(math.ceil(exposed.bottom() * scale / t))
        ox, oy = device_origin(transform)
        missing: list[tuple[int, int]] = []
        painter.save()
        painter.resetTransform()
        for j in range(max(j0, 0), j1):
            for i in range(max(i0, 0), i1):
                image = self._tiles.get((i, j))
                if image is None and not self._old:
                    image = self._tile(i, j)  # nothing to stand in: draw it now
                if image is None:
                    missing.append((i, j))
                else:
                    painter.drawImage(QPoint(ox + i * t, oy + j * t), image)
        painter.restore()
        if missing:
            self._draw_stand_in(painter, missing)
            wanted = set(self._wanted)
            self._wanted += [k for k in missing if k not in wanted]
            if not self._refine.isActive():
                self._refine.start()

    # --- zoom changes ---------------------------------------------------------------------------
    def _zoomed(self, scale: float) -> None:
        """Keep the finished tiles of the last zoom as stand-ins; start a new set for ``scale``."""
        if self._tiles and (not self._old or len(self._tiles) >= len(self._old) or not self._wanted):
            self._old, self._old_scale = self._tiles, self._scale
        self._tiles = {}
        self._dirty.clear()
        self._wanted = []
        self._scale = scale

    def _old_rect(self, i: int, j: int) -> QRectF:
        size = OVERVIEW_TILE / self._old_scale
        return QRectF(i * size, j * size, size, size)

    def _draw_stand_in(self, painter: QPainter, missing: list[tuple[int, int]]) -> None:
        """Draw the old zoom's tiles, scaled, into the new tiles not rendered yet."""
        transform = painter.worldTransform()
        ox, oy = device_origin(transform)
        t = OVERVIEW_TILE
        clip = QRegion()
        bounds = QRectF()
        for i, j in missing:
            clip = clip.united(QRegion(ox + i * t, oy + j * t, t, t))
            bounds = bounds.united(self._tile_rect(i, j))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.resetTransform()
        painter.setClipRegion(clip)  # in device pixels, as the tiles
        painter.setTransform(transform)
        for (i, j), image in self._old.items():
            target = self._old_rect(i, j)
            if target.intersects(bounds):
                painter.drawImage(target, image)
        painter.restore()

    def _refine_some(self, budget_s: float = REFINE_SLICE_S) -> None:
        """Render wanted tiles of the current zoom for at most ``budget_s``; go on later if needed."""
        deadline = time.perf_counter() + budget_s
        done = QRectF()
        while self._wanted and time.perf_counter() < deadline:
            i, j = self._wanted.pop(0)
            if (i, j) not in self._tiles:
                self._tile(i, j)
                done = done.united(self._tile_rect(i, j))
        if self._wanted:
            self._refine.start(0)
        else:
            self._old.clear()
        if not done.isEmpty():
            self.update(done)

    # --- tiles ----------------------------------------------------------------------------------
    def _tile_rect(self, i: int, j: int) -> QRectF:
        size = OVERVIEW_TILE / self._scale
        return QRectF(i * size, j * size, size, size)

    def _tile(self, i: int, j: int) -> QImage:
        image = self._tiles.get((i, j))
        if image is None:
            while len(self._tiles) >= OVERVIEW_MAX_TILES:
                self._tiles.pop(next(iter(self._tiles)))  # the oldest
            image = QImage(OVERVIEW_TILE, OVERVIEW_TILE, QImage.Format.Format_ARGB32_Premultiplied)
            image.fill(Qt.GlobalColor.transparent)
            rect = self._tile_rect(i, j)
            self._draw_items(image, i, j, self.canvas.overview_items(rect), None)
            self._tiles[(i, j)] = image
        return image

    def _redraw_dirty(self) -> None:
        dirty, self._dirty = self._dirty, []
        for (i, j), image in self._tiles.items():
            tile_rect = self._tile_rect(i, j)
            for rect in dirty:
                pad = 4.0 / self._scale  # cosmetic pens reach beyond the shapes' own bounds
                clip = rect.adjusted(-pad, -pad, pad, pad).intersected(tile_rect)
                if not clip.isEmpty():
                    self._draw_items(image, i, j, self.canvas.overview_items(clip), clip)

    def _draw_items(self, image: QImage, i: int, j: int, items: list, clip: QRectF | None) -> None:
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.translate(-i * OVERVIEW_TILE, -j * OVERVIEW_TILE)
        painter.scale(self._scale, self._scale)
        if clip is not None:
            painter.setClipRect(clip)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            painter.fillRect(clip, QColor(0, 0, 0, 0))
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        for item in items:
            item.draw(painter, self._scale)
        painter.end()
