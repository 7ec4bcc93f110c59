"""Cached layers of the canvas: the image as tiles (the shapes' overview is in ``overview.py``).

Both draw from pixmaps made for the current zoom and blit them 1:1 in device pixels, so a repaint
costs a few image copies however many tiles or shapes there are.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PySide6.QtCore import QPoint, QRectF, Qt, QTimer
from PySide6.QtGui import QPainter, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QStyleOptionGraphicsItem, QWidget

from segdesk.ui.convert import rgb_to_qimage

if TYPE_CHECKING:
    pass

#: Image tiles stay far below Qt's 32767-pixel limit and keep each upload small.
TILE = 2048
IMAGE_Z = -1000.0
#: Deferred renders (after a zoom step) run in slices this long between events.
REFINE_SLICE_S = 0.012
#: Image tiles get their exact (INTER_AREA) resize this long after the last zoom step.
IMAGE_REFINE_MS = 120


def device_origin(transform: QTransform) -> tuple[int, int]:
    return round(transform.dx()), round(transform.dy())


def make_pyramid(rgb: np.ndarray, *, smallest: int = 256) -> list[np.ndarray]:
    """Halvings (INTER_AREA) of the whole image, level 1 first, down to ``smallest`` pixels a side.

    Thread-safe (numpy and OpenCV only, which release the GIL): the open loader makes it beside the
    decode, so the first paint of a huge image only resizes small levels.
    """
    levels: list[np.ndarray] = []
    prev = rgb
    while min(prev.shape[:2]) // 2 >= smallest:
        size = (prev.shape[1] // 2, prev.shape[0] // 2)
        prev = cv2.resize(np.ascontiguousarray(prev), size, interpolation=cv2.INTER_AREA)
        levels.append(prev)
    return levels


def view_lut(brightness: float, contrast: float, mean: float) -> np.ndarray | None:
    """A 256-entry uint8 table: brightness and contrast factors as Labelme applies them (1 = as is).

    Brightness scales values; contrast scales their distance from the image's mean grey (as PIL's
    ImageEnhance does). None when both are neutral.
    """
    if abs(brightness - 1.0) < 1e-6 and abs(contrast - 1.0) < 1e-6:
        return None
    v = np.arange(256, dtype=np.float64) * brightness
    v = (v - mean * brightness) * contrast + mean * brightness
    return np.clip(np.round(v), 0, 255).astype(np.uint8)


class ImageTile(QGraphicsItem):
    """One tile of the image.

    Zoomed out it keeps one pixmap resized (INTER_AREA) to its exact device size at the current
    zoom and blits it unscaled; zoomed in it draws its full-resolution pixmap through the view's
    transform without smoothing (pixels stay visible). Pixmaps are made lazily, for tiles shown.
    """

    def __init__(self, layer: ImageLayer, x0: int, y0: int, w: int, h: int) -> None:
        super().__init__()
        self.layer = layer
        self.x0, self.y0, self.w, self.h = x0, y0, w, h
        self._rect = QRectF(x0, y0, w, h)
        self._full: QPixmap | None = None
        self._scaled: tuple[float, QPixmap] | None = None
        self._levels: list[np.ndarray] = []
        self._level_pixmaps: dict[int, QPixmap] = {}
        self.setZValue(IMAGE_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def boundingRect(self) -> QRectF:
        return self._rect

    def invalidate(self) -> None:
        self._full, self._scaled, self._levels = None, None, []
        self._level_pixmaps = {}
        self.update()

    def _pixels(self) -> np.ndarray:
        arr = self.layer.rgb[self.y0 : self.y0 + self.h, self.x0 : self.x0 + self.w]
        if self.layer.lut is not None:
            arr = cv2.LUT(np.ascontiguousarray(arr), self.layer.lut)
        return arr

    def full_pixmap(self) -> QPixmap:
        if self._full is None:
            self._full = QPixmap.fromImage(rgb_to_qimage(self._pixels()))
        return self._full

    def _level(self, k: int) -> np.ndarray:
        """Pyramid level ``k`` (half size per level), made once, so a zoom step resizes little."""
        while len(self._levels) <= k:
            if not self._levels:
                self._levels.append(self._pixels())
                continue
            made = self.layer.pyramid_crop(len(self._levels), self.x0, self.y0, self.w, self.h)
            if made is not None:
                self._levels.append(made)
                continue
            prev = self._levels[-1]
            size = (max(1, prev.shape[1] // 2), max(1, prev.shape[0] // 2))
            self._levels.append(cv2.resize(prev, size, interpolation=cv2.INTER_AREA))
        return self._levels[k]

    def scaled_pixmap(self, scale: float) -> QPixmap:
        if self._scaled is None or self._scaled[0] != scale:
            # Sizes from rounded scene edges so neighbouring tiles meet without seams.
            w = max(1, round((self.x0 + self.w) * scale) - round(self.x0 * scale))
            h = max(1, round((self.y0 + self.h) * scale) - round(self.y0 * scale))
            k = max(0, min(int(math.floor(math.log2(1.0 / scale))), 12))
            source = self._level(k)
            while k > 0 and (source.shape[1] < w or source.shape[0] < h):
                k -= 1
                source = self._level(k)
            small = cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA)
            self._scaled = (scale, QPixmap.fromImage(rgb_to_qimage(small)))
        return self._scaled[1]

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        transform = painter.worldTransform()
        scale = transform.m11()
        if scale >= 1.0 or transform.isRotating() or abs(transform.m22() - scale) > 1e-9:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)
            painter.drawPixmap(self._rect, self.full_pixmap(), QRectF(0, 0, self.w, self.h))
            return
        if self._scaled is None or self._scaled[0] != scale:
            if self._scaled is not None or self.layer.refining:
                # Mid-zoom: the last zoom's pixmap (or a small pyramid level) scaled by the painter;
                # the exact resize follows once the zoom rests.
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
                if self._scaled is not None:
                    old = self._scaled[1]
                    painter.drawPixmap(self._rect, old, QRectF(0, 0, old.width(), old.height()))
                else:
                    painter.drawPixmap(self._rect, *self._level_pixmap(scale))
                self.layer.refine_later(self, scale)
                return
        pix = self.scaled_pixmap(scale)
        ox, oy = device_origin(transform)
        painter.save()
        painter.resetTransform()
        painter.drawPixmap(QPoint(round(self.x0 * scale) + ox, round(self.y0 * scale) + oy), pix)
        painter.restore()

    def _level_pixmap(self, scale: float) -> tuple[QPixmap, QRectF]:
        # Level 1 at least: converting a full-resolution tile would cost the step what it saves.
        k = max(1, min(int(math.floor(math.log2(1.0 / scale))), 12))
        pixmap = self._level_pixmaps.get(k)
        if pixmap is None:
            pixmap = self._level_pixmaps[k] = QPixmap.fromImage(rgb_to_qimage(self._level(k)))
        return pixmap, QRectF(0, 0, pixmap.width(), pixmap.height())


class ImageLayer:
    """The displayed image as tiles, with a view-only brightness / contrast table."""

    def __init__(self, scene: QGraphicsScene) -> None:
        self.scene = scene
        self.rgb = np.zeros((0, 0, 3), dtype=np.uint8)
        self.lut: np.ndarray | None = None
        self.tiles: list[ImageTile] = []
        self._pending: dict[ImageTile, float] = {}
        self.pyramid: list[np.ndarray] = []
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(IMAGE_REFINE_MS)
        self._timer.timeout.connect(self._refine_some)
        self._mean = 128.0
        self._adjust = (1.0, 1.0)

    @property
    def refining(self) -> bool:
        """Tiles wait for their exact resize (a zoom step just happened)."""
        return bool(self._pending)

    def refine_later(self, tile: ImageTile, scale: float) -> None:
        """Resize ``tile`` exactly for ``scale`` once the zoom has rested for a moment."""
        if self._pending.get(tile) != scale:  # a new zoom step: wait for the zoom to rest again
            self._pending[tile] = scale
            self._timer.start(IMAGE_REFINE_MS)

    def finish_refining(self, budget_s: float = 1e9) -> None:
        """Make the exact pixmaps of tiles waiting for one (for ``budget_s``, then go on later)."""
        deadline = time.perf_counter() + budget_s
        while self._pending and time.perf_counter() < deadline:
            tile = next(iter(self._pending))
            scale = self._pending.pop(tile)
            if tile.scene() is not None:
                tile.scaled_pixmap(scale)
                tile.update()
        if self._pending:
            self._timer.start(0)

    def _refine_some(self) -> None:
        self.finish_refining(REFINE_SLICE_S)

    def pyramid_crop(self, k: int, x0: int, y0: int, w: int, h: int) -> np.ndarray | None:
        """This tile's part of pyramid level ``k`` when it was made beforehand (LUT applied)."""
        if not 0 < k <= len(self.pyramid):
            return None
        level = self.pyramid[k - 1]
        crop = level[y0 >> k : (y0 + h) >> k, x0 >> k : (x0 + w) >> k]
        if crop.size == 0:
            return None
        if self.lut is not None:
            crop = cv2.LUT(np.ascontiguousarray(crop), self.lut)
        return crop

    def set_image(self, rgb: np.ndarray, pyramid: list[np.ndarray] | None = None) -> None:
        """Show ``rgb``; ``pyramid`` (``make_pyramid(rgb)``, made off the GUI thread) saves resizing."""
        self.pyramid = list(pyramid or [])
        self._pending = {}
        for tile in self.tiles:
            self.scene.removeItem(tile)
        self.rgb = rgb
        h, w = rgb.shape[:2]
        sample = rgb[:: max(1, h // 256), :: max(1, w // 256)]
        self._mean = float(sample.mean()) if sample.size else 128.0
        self.lut = view_lut(*self._adjust, self._mean)
        self.tiles = []
        for y0 in range(0, h, TILE):
            for x0 in range(0, w, TILE):
                tile = ImageTile(self, x0, y0, min(TILE, w - x0), min(TILE, h - y0))
                self.scene.addItem(tile)
                self.tiles.append(tile)

    def set_adjust(self, brightness: float, contrast: float) -> None:
        self._adjust = (float(brightness), float(contrast))
        self.lut = view_lut(*self._adjust, self._mean)
        for tile in self.tiles:
            tile.invalidate()
