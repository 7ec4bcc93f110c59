"""Scene items: one item per shape (cached path and bounds), shared pens and brushes per label."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from segdesk.core.shapes import FOUR_CORNER_TYPES, Shape
from segdesk.ui.convert import points_to_path, rgba_to_qimage

#: Below this view scale shapes are drawn as outlines only (no fill, no vertex dots).
FILL_MIN_SCALE = 0.35
#: Vertex handle size in device pixels.
HANDLE_PX = 8.0
#: Pick tolerance around vertices and edges, in device pixels.
PICK_PX = 6.0
POINT_RADIUS_PX = 4.0
CLOSED_TYPES = ("polygon", "rectangle", *FOUR_CORNER_TYPES, "circle")
#: Shape types drawn as a polyline through their points (closed for polygons).
POLYLINE_TYPES = ("polygon", *FOUR_CORNER_TYPES, "line", "linestrip")


def _fallback_color(label: str) -> tuple[int, int, int]:
    """A stable colour per label (used until segdesk.core.colors exists)."""
    digest = hashlib.md5(label.encode("utf-8")).digest()
    color = QColor.fromHsv(digest[0] * 360 // 256, 160 + digest[1] % 80, 200 + digest[2] % 56)
    return (color.red(), color.green(), color.blue())


def label_rgb(label: str, labels: list[str] | None = None) -> tuple[int, int, int]:
    """The label's colour from segdesk.core.colors (Labelme's palette; labels.txt order if given)."""
    try:
        from segdesk.core.colors import label_color
    except ImportError:
        return _fallback_color(label)
    value = label_color(label, labels)
    if isinstance(value, str):
        color = QColor(value)
        return (color.red(), color.green(), color.blue())
    r, g, b = (int(v) for v in tuple(value)[:3])
    return (r, g, b)


@dataclass
class LabelStyle:
    pen: QPen
    proposal_pen: QPen
    thin_pen: QPen
    thin_proposal_pen: QPen
    selected_pen: QPen
    brush: QBrush
    proposal_brush: QBrush
    rgb: tuple[int, int, int]


def _cosmetic(color: QColor, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(color, width, style)
    pen.setCosmetic(True)
    return pen


class StyleCache:
    """Pens and brushes shared by every item of one label (cosmetic: width in device pixels)."""

    def __init__(self) -> None:
        self.fill_opacity = 0.3
        self.label_order: list[str] | None = None
        #: Width of the hit band around outlines, in scene units at the current zoom (the scene sets it).
        self.pick_band = PICK_PX
        self._styles: dict[str, LabelStyle] = {}
        self.handle_pen = _cosmetic(QColor(255, 255, 255), 1.0)
        self.handle_brush = QBrush(QColor(0, 120, 255))
        self.hover_brush = QBrush(QColor(255, 80, 0))

    def set_fill_opacity(self, alpha: float) -> None:
        self.fill_opacity = float(min(max(alpha, 0.0), 1.0))
        self._styles.clear()

    def set_label_order(self, labels: list[str] | None) -> None:
        self.label_order = None if labels is None else list(labels)
        self._styles.clear()

    def style(self, label: str) -> LabelStyle:
        style = self._styles.get(label)
        if style is None:
            style = self._styles[label] = self._make(label)
        return style

    def _make(self, label: str) -> LabelStyle:
        rgb = label_rgb(label, self.label_order)
        color = QColor(*rgb)
        fill = QColor(*rgb, int(round(255 * self.fill_opacity)))
        light = QColor(*rgb, int(round(255 * self.fill_opacity * 0.4)))
        return LabelStyle(
            pen=_cosmetic(color, 2.0),
            proposal_pen=_cosmetic(color, 2.0, Qt.PenStyle.DashLine),
            thin_pen=_cosmetic(color, 1.0),
            thin_proposal_pen=_cosmetic(color, 1.0, Qt.PenStyle.DashLine),
            selected_pen=_cosmetic(QColor(255, 255, 255), 3.0),
            brush=QBrush(fill),
            proposal_brush=QBrush(light),
            rgb=rgb,
        )


# Made once: combining Qt enum flags in Python costs ~35 us, 70 ms for a 2,000-shape file.
_PLAIN_FLAGS = QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
_OVERVIEW_FLAGS = _PLAIN_FLAGS | QGraphicsItem.GraphicsItemFlag.ItemHasNoContents


class ShapeItem(QGraphicsItem):
    """One shape. Caches its path and bounds; draws handles only while selected.

    ``pad`` (scene units, shared through the scene) widens the bounds so cosmetic pens and handles
    stay inside them at the current zoom.
    """

    def __init__(
        self,
        shape: Shape,
        index: int,
        styles: StyleCache,
        pad: float,
        *,
        in_overview: bool = False,
        path: QPainterPath | None = None,
    ) -> None:
        super().__init__()
        self.shape_data = shape
        self.index = index
        self.styles = styles
        self.pad = pad
        self.hover_vertex: int | None = None
        self.show_handles = False
        #: Drawn by the scene's overview layer instead of by itself (zoomed out, not selected).
        self.in_overview = in_overview
        self._preview: np.ndarray | None = None
        self._mask_image: QImage | None = None
        self.setFlags(_OVERVIEW_FLAGS if in_overview else _PLAIN_FLAGS)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._path = path if path is not None else self._make_path(shape.points)
        self._rect = self._path.boundingRect()

    # --- geometry -----------------------------------------------------------------------------
    @property
    def points(self) -> np.ndarray:
        """The points drawn now: a drag preview or the shape's own."""
        return self._preview if self._preview is not None else self.shape_data.points

    @property
    def closed(self) -> bool:
        return self.shape_data.shape_type in CLOSED_TYPES

    def rebuild(self, shape: Shape | None = None) -> None:
        """Recompute the cached path after the shape (or its drag preview) changed."""
        self.prepareGeometryChange()
        if shape is not None:
            self.shape_data = shape
        self._mask_image = None
        self._path = self._make_path(self.points)
        self._rect = self._path.boundingRect()
        self.update()

    def _make_path(self, pts: np.ndarray) -> QPainterPath:
        kind = self.shape_data.shape_type
        path = QPainterPath()
        if len(pts) == 0:
            return path
        if kind == "mask" and self.shape_data.mask is not None and len(pts) >= 2:
            return _mask_outline(self.shape_data.mask, pts[:2].min(axis=0))
        if kind in ("rectangle", "mask") and len(pts) >= 2:
            path.addRect(QRectF(QPointF(*pts[0]), QPointF(*pts[1])).normalized())
        elif kind == "circle" and len(pts) >= 2:
            r = float(np.hypot(*(pts[1] - pts[0])))
            path.addEllipse(QPointF(*pts[0]), r, r)
        elif kind in ("point", "points"):
            for x, y in pts:
                path.addRect(QRectF(float(x), float(y), 0.0, 0.0))
        else:
            path = points_to_path(pts, closed=kind in CLOSED_TYPES)
        return path

    def set_preview(self, points: np.ndarray | None) -> None:
        """Show ``points`` instead of the shape's own (during a vertex drag); None ends it."""
        self._preview = None if points is None else np.asarray(points, dtype=np.float64)
        self.rebuild()

    def set_pad(self, pad: float) -> None:
        if pad != self.pad:
            self.prepareGeometryChange()
            self.pad = pad

    def boundingRect(self) -> QRectF:
        p = self.pad
        return self._rect.adjusted(-p, -p, p, p)

    def path(self) -> QPainterPath:
        return self._path

    def shape(self) -> QPainterPath:
        """Hit area: the filled area of closed shapes, a band around lines and points."""
        band_px = min(self.pad, self.styles.pick_band)  # the zoom's band, within the bounds
        stroker = QPainterPathStroker()
        stroker.setWidth(max(band_px, 1e-6))
        band = stroker.createStroke(self._path)
        if self.closed:
            filled = QPainterPath(self._path)
            filled.setFillRule(Qt.FillRule.WindingFill)
            filled.addPath(band)
            return filled
        if self.shape_data.shape_type in ("point", "points"):
            for x, y in self.points:
                band.addEllipse(QPointF(float(x), float(y)), band_px, band_px)
        return band

    # --- painting -----------------------------------------------------------------------------
    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        scale = option.levelOfDetailFromTransform(painter.worldTransform())
        if self.isSelected():
            painter.setPen(self.styles.style(self.shape_data.label).selected_pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(self._path)
        self.draw(painter, scale)
        if self.isSelected() or self.show_handles:
            self._paint_handles(painter)
        elif self.hover_vertex is not None:
            self._paint_handles(painter, only=self.hover_vertex)

    def draw(self, painter: QPainter, scale: float) -> None:
        """Draw the shape (no handles) at view ``scale``; also used by the overview layer.

        Zoomed out (``scale < FILL_MIN_SCALE``) shapes are thin outlines without fill.
        """
        shape = self.shape_data
        style = self.styles.style(shape.label)
        proposal = shape.is_proposal
        detailed = scale >= FILL_MIN_SCALE
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if shape.shape_type == "mask" and shape.mask is not None:
            self._paint_mask(painter, style)
        elif self.closed and detailed:
            painter.setBrush(style.proposal_brush if proposal else style.brush)
        if detailed:
            painter.setPen(style.proposal_pen if proposal else style.pen)
        else:
            painter.setPen(style.thin_proposal_pen if proposal else style.thin_pen)
        painter.drawPath(self._path)
        if shape.shape_type in ("point", "points"):
            self._paint_dots(painter, style, scale)
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def _paint_mask(self, painter: QPainter, style: LabelStyle) -> None:
        mask = self.shape_data.mask
        if self._mask_image is None:
            rgba = np.zeros((*mask.shape[:2], 4), dtype=np.uint8)
            rgba[mask.astype(bool)] = (*style.rgb, int(round(255 * max(self.styles.fill_opacity, 0.15))))
            self._mask_image = rgba_to_qimage(rgba)
        x0, y0 = self.points[:2].min(axis=0)
        painter.drawImage(QPointF(float(x0), float(y0)), self._mask_image)
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def _paint_dots(self, painter: QPainter, style: LabelStyle, scale: float) -> None:
        r = POINT_RADIUS_PX / max(scale, 1e-9)
        painter.setBrush(style.pen.color())
        for x, y in self.points:
            painter.drawEllipse(QPointF(float(x), float(y)), r, r)

    def _paint_handles(self, painter: QPainter, only: int | None = None) -> None:
        """Vertex handles in device pixels (``only``: just that one, the hovered vertex)."""
        transform = painter.worldTransform()
        painter.save()
        painter.resetTransform()
        painter.setPen(self.styles.handle_pen)
        last: QPointF | None = None
        points = self.points
        indexed = enumerate(points) if only is None else [(only, points[only])]
        for i, (x, y) in indexed:
            p = transform.map(QPointF(float(x), float(y)))
            hover = i == self.hover_vertex
            # Zoomed out, vertices crowd: skip handles that would overlap the previous one.
            if not hover and last is not None and (p - last).manhattanLength() < HANDLE_PX * 1.5:
                continue
            last = p
            painter.setBrush(self.styles.hover_brush if hover else self.styles.handle_brush)
            size = HANDLE_PX * (1.5 if hover else 1.0)
            painter.drawRect(QRectF(p.x() - size / 2, p.y() - size / 2, size, size))
        painter.restore()

    # --- picking ------------------------------------------------------------------------------
    def nearest_vertex(self, pos: QPointF, tolerance: float) -> int | None:
        """Index of the vertex within ``tolerance`` (scene units) of ``pos``, if any."""
        pts = self.points
        if len(pts) == 0:
            return None
        d = np.hypot(pts[:, 0] - pos.x(), pts[:, 1] - pos.y())
        i = int(np.argmin(d))
        return i if d[i] <= tolerance else None

    def nearest_edge(self, pos: QPointF, tolerance: float) -> tuple[int, tuple[float, float]] | None:
        """(index to insert at, projected point) of the edge within ``tolerance`` of ``pos``."""
        if self.shape_data.shape_type not in ("polygon", "linestrip"):
            return None
        pts = self.points
        a = pts
        b = np.roll(pts, -1, axis=0)
        if self.shape_data.shape_type == "linestrip":
            a, b = pts[:-1], pts[1:]
        if len(a) == 0:
            return None
        p = np.array([pos.x(), pos.y()])
        ab = b - a
        denom = np.maximum((ab**2).sum(axis=1), 1e-12)
        t = np.clip(((p - a) * ab).sum(axis=1) / denom, 0.0, 1.0)
        proj = a + ab * t[:, None]
        d = np.hypot(*(proj - p).T)
        i = int(np.argmin(d))
        if d[i] > tolerance:
            return None
        return i + 1, (float(proj[i, 0]), float(proj[i, 1]))


def _mask_outline(mask: np.ndarray, origin: np.ndarray) -> QPainterPath:
    """The mask's outer and hole contours as one path (odd-even fill), in image coordinates.

    A mask shape is drawn by its outline, not its bounding box: proposals with holes are mask shapes,
    and boxes around them would bury the image under rectangles.
    """
    contours, _ = cv2.findContours(
        np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE
    )
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    offset = np.asarray(origin, dtype=np.float64) + 0.5  # contour points are pixel centres
    for contour in contours:
        pts = contour.reshape(-1, 2).astype(np.float64) + offset
        if len(pts) == 1:
            path.addRect(QRectF(pts[0, 0] - 0.5, pts[0, 1] - 0.5, 1.0, 1.0))
            continue
        path.addPath(points_to_path(pts, closed=True))
    if path.isEmpty():
        x, y = (float(v) for v in origin)
        path.addRect(QRectF(x, y, float(mask.shape[1]), float(mask.shape[0])))
    return path
