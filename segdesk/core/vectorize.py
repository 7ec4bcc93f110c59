"""Class maps and masks to Labelme shapes: one shape per connected component.

Contours come from ``cv2.findContours`` (8-connected components, ``RETR_CCOMP``): their vertices are
the centres of the component's border pixels. Labelme rasterizes a polygon with Pillow, fill plus a
1-pixel outline through the vertices, which covers exactly those border pixels, so an unsimplified
contour rasterizes back to the component pixel for pixel; ``approxPolyDP`` with ``tolerance``
pixels then trades a thin band along the border for far fewer vertices, as long as Labelme's raster
of the simplified outline keeps ``min_iou`` (0.99) IoU with the component (else the tolerance is
halved, down to the exact contour).

Holes (the documented choice):

- a hole smaller than ``min_area`` pixels is filled (the polygon covers it);
- a hole filled by other classes stays a plain polygon: shapes are ordered largest outline first, so
  the enclosed components are drawn later and win (Labelme's "later shapes win");
- a component with a real hole (background or ignore, ``min_area`` pixels or more) becomes a Labelme
  ``mask`` shape (bounding-box points + the bool crop), which rasterizes back exactly. So does a
  component too thin to make a polygon with area (a 1-pixel line).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import PIL.Image
import PIL.ImageDraw

from segdesk.core.rasterize import class_map_dtype
from segdesk.core.shapes import Shape

#: Components below this many pixels are dropped by default.
DEFAULT_MIN_AREA = 10
#: A simplified outline must rasterize back to at least this IoU with its component, else the
#: tolerance is halved (down to the exact contour).
DEFAULT_MIN_IOU = 0.99


@dataclass
class Component:
    """One 8-connected component of a mask.

    ``outer`` is its (simplified) outline, (N, 2) float64 x, y at pixel centres; ``holes`` the
    (simplified) outlines of its holes (traced on the component's own pixels around each hole).
    ``bbox`` is (x, y, w, h); ``mask`` the bool crop of the component inside it; ``filled_area`` the
    pixels inside the outline (component plus holes) and ``hole_pixels`` the bool crop of its holes;
    ``needs_mask`` is True when a polygon would not reproduce it (a hole of ``min_area`` pixels or
    more that nothing else covers, or an outline without area).
    """

    outer: np.ndarray
    holes: list[np.ndarray]
    area: int
    filled_area: int
    bbox: tuple[int, int, int, int]
    mask: np.ndarray
    needs_mask: bool = False
    hole_pixels: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool), repr=False)


def _area(points: np.ndarray) -> float:
    """Absolute area (shoelace) of an (N, 2) polygon; cv2's C loop, fast for many small calls."""
    if len(points) < 3:
        return 0.0
    return float(abs(cv2.contourArea(np.asarray(points, dtype=np.float32).reshape(-1, 1, 2))))


def _rasterize_like_labelme(polygon: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray:
    """The bool (h, w) crop Labelme's Pillow polygon (fill + outline) covers at (x, y)."""
    # Vertices are integer pixel centres, so shifting by the integer crop origin changes no pixel.
    image = PIL.Image.new("L", (w, h), 0)
    shifted = polygon - (x, y)
    PIL.ImageDraw.Draw(image).polygon(shifted.ravel().tolist(), outline=1, fill=1)
    return np.asarray(image) != 0


def _fit_polygon(
    contour: np.ndarray,
    target: np.ndarray,
    covered: np.ndarray,
    origin: tuple[int, int],
    *,
    tolerance: float,
    min_iou: float,
) -> np.ndarray:
    """The simplest polygon (tolerance, then halved ...) whose raster keeps ``min_iou`` with ``target``.

    ``target`` is the component's bool crop at ``origin`` (x, y); ``covered`` marks hole pixels that
    later shapes draw over, which count neither way. Filled small holes do count as errors, so the
    IoU bounds the whole round trip. The exact contour is the last resort.
    """
    exact = contour.reshape(-1, 2).astype(np.float64)
    h, w = target.shape
    target, care = np.pad(target, 1), ~np.pad(covered, 1)
    eps = float(tolerance)
    while eps >= 0.25:
        approx = cv2.approxPolyDP(contour, eps, True).reshape(-1, 2).astype(np.float64)
        if len(approx) >= 3 and _area(approx) >= 1.0:
            raster = _rasterize_like_labelme(approx, origin[0] - 1, origin[1] - 1, w + 2, h + 2)
            union = np.count_nonzero((raster | target) & care)
            if union and np.count_nonzero(raster & target) / union >= min_iou:
                return approx
        eps /= 2.0
    return exact


def mask_to_components(
    mask: np.ndarray,
    *,
    tolerance: float = 1.0,
    min_area: float = DEFAULT_MIN_AREA,
    min_iou: float = DEFAULT_MIN_IOU,
    keep_holes: np.ndarray | None = None,
) -> list[Component]:
    """The 8-connected components of a bool mask with ``min_area`` pixels or more, as outlines.

    Each outline is simplified with ``approxPolyDP(tolerance)``; when Labelme's raster of the
    result would keep less than ``min_iou`` IoU with the component (small holes it fills count as
    errors, holes that later shapes cover do not), the tolerance is halved until it does, the exact
    contour being the last resort.

    ``keep_holes`` (bool HxW, default ``~mask``) marks the hole pixels that must stay holes; a hole
    region of such pixels with ``min_area`` pixels or more makes ``needs_mask`` True.
    """
    binary = np.ascontiguousarray(np.asarray(mask) != 0).astype(np.uint8)
    if binary.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {binary.shape}")
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if n <= 1 or hierarchy is None:
        return []
    hier = hierarchy[0]
    holes: dict[int, list[np.ndarray]] = {}
    for i, h in enumerate(hier):
        if h[3] >= 0:
            holes.setdefault(int(h[3]), []).append(contours[i])
    keep_holes = binary == 0 if keep_holes is None else np.asarray(keep_holes, dtype=bool)
    out: list[Component] = []
    for i, contour in enumerate(contours):
        if hier[i][3] >= 0:
            continue
        x0, y0 = contour[0, 0]
        label_id = int(labels[y0, x0])
        if stats[label_id, cv2.CC_STAT_AREA] < max(min_area, 1):
            continue
        comp = _component(contour, labels, label_id, stats[label_id], keep_holes, min_area=min_area)
        x, y, w, h = comp.bbox
        covered = comp.hole_pixels & ~keep_holes[y : y + h, x : x + w]
        comp.outer = _fit_polygon(contour, comp.mask, covered, (x, y), tolerance=tolerance, min_iou=min_iou)
        comp.needs_mask = comp.needs_mask or _area(comp.outer) < 1.0
        comp.holes = [_simplify_ring(c, tolerance) for c in holes.get(i, [])]
        out.append(comp)
    return out


def _component(
    contour: np.ndarray,
    labels: np.ndarray,
    label_id: int,
    stat: np.ndarray,
    keep_holes: np.ndarray,
    *,
    min_area: float,
) -> Component:
    """A component's crop, holes and filled area; outlines are set by the caller."""
    x, y, w, h, area = (int(v) for v in stat)
    crop = labels[y : y + h, x : x + w] == label_id
    filled = np.zeros((h, w), dtype=np.uint8)
    cv2.drawContours(filled, [contour], 0, 1, thickness=cv2.FILLED, offset=(-x, -y))
    hole_pixels = filled.astype(bool) & ~crop
    kept = hole_pixels & keep_holes[y : y + h, x : x + w]
    return Component(
        outer=np.empty((0, 2)),
        holes=[],
        area=area,
        filled_area=int(np.count_nonzero(filled)),
        bbox=(x, y, w, h),
        mask=crop,
        needs_mask=_has_big_hole(kept, min_area),
        hole_pixels=hole_pixels,
    )


def _simplify_ring(contour: np.ndarray, tolerance: float) -> np.ndarray:
    if tolerance <= 0:
        return contour.reshape(-1, 2).astype(np.float64)
    return cv2.approxPolyDP(contour, float(tolerance), True).reshape(-1, 2).astype(np.float64)


def _has_big_hole(hole: np.ndarray, min_area: float) -> bool:
    if not hole.any():
        return False
    if min_area <= 1:
        return True
    # Holes are 4-connected regions of the complement of an 8-connected component.
    _, _, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=4)
    return bool((stats[1:, cv2.CC_STAT_AREA] >= min_area).any())


def mask_to_polygons(
    mask: np.ndarray,
    *,
    tolerance: float = 1.0,
    min_area: float = DEFAULT_MIN_AREA,
    min_iou: float = DEFAULT_MIN_IOU,
) -> list[np.ndarray]:
    """The simplified outer outline, (N, 2) float64, of each component with ``min_area`` pixels or more.

    Holes are not in these rings; use :func:`mask_to_components` for holes and exact masks.
    """
    comps = mask_to_components(mask, tolerance=tolerance, min_area=min_area, min_iou=min_iou)
    return [c.outer for c in comps]


def _component_shape(
    comp: Component, label: str, extra: dict[str, Any], confidence: np.ndarray | None
) -> Shape:
    extra = copy.deepcopy(extra)
    if confidence is not None:
        x, y, w, h = comp.bbox
        values = confidence[y : y + h, x : x + w][comp.mask]
        extra["confidence"] = round(float(values.mean()), 4)
    if comp.needs_mask:
        x, y, w, h = comp.bbox
        # Labelme places a mask crop at out[y1:y2+1, x1:x2+1]: inclusive corner coordinates.
        points = np.array([[x, y], [x + w - 1, y + h - 1]], dtype=np.float64)
        return Shape(label=label, points=points, shape_type="mask", mask=comp.mask.copy(), extra=extra)
    return Shape(label=label, points=comp.outer, shape_type="polygon", extra=extra)


def class_map_to_shapes(
    class_map: np.ndarray,
    class_names: Sequence[str],
    *,
    tolerance: float = 1.0,
    min_area: float = DEFAULT_MIN_AREA,
    min_iou: float = DEFAULT_MIN_IOU,
    background: int = 0,
    ignore_value: int | None = 255,
    confidence: np.ndarray | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> list[Shape]:
    """Labelme shapes for a class-index map: one polygon (or mask shape) per connected component.

    Value i is labelled ``class_names[i]``; ``background`` and ``ignore_value`` make no shapes.
    ``confidence`` (HxW float) adds each shape's mean confidence to ``Shape.extra["confidence"]``;
    ``provenance`` is copied into every ``Shape.extra``. Shapes are ordered largest outline first so
    that rasterizing them (later shapes win) rebuilds the map. Raises ValueError for a value with no
    class name or a confidence map of another size.
    """
    class_map = np.asarray(class_map)
    if class_map.ndim != 2:
        raise ValueError(f"class map must be 2-D, got shape {class_map.shape}")
    if confidence is not None and np.shape(confidence) != class_map.shape:
        raise ValueError(f"confidence shape {np.shape(confidence)} differs from class map {class_map.shape}")
    present = [int(v) for v in np.unique(class_map) if int(v) != background and int(v) != ignore_value]
    for v in present:
        if not 0 <= v < len(class_names):
            raise ValueError(f"class map value {v} has no class name ({len(class_names)} classes)")
    # Hole pixels that no other shape will draw over must stay holes.
    keep = ~np.isin(class_map, present)
    extra = dict(provenance or {})
    found: list[tuple[int, Shape]] = []
    for v in present:
        binary = class_map == v
        comps = mask_to_components(
            binary, tolerance=tolerance, min_area=min_area, min_iou=min_iou, keep_holes=keep
        )
        for comp in comps:
            found.append((comp.filled_area, _component_shape(comp, class_names[v], extra, confidence)))
    found.sort(key=lambda item: -item[0])
    return [shape for _, shape in found]


def probability_to_class_map(
    probs: np.ndarray, threshold: float = 0.5, *, background: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(class map, confidence) from (C, H, W) class probabilities.

    Each pixel takes its most probable class; a foreground pixel whose probability is below
    ``threshold`` becomes ``background``. The class map is uint8 (uint16 past 256 classes); the
    confidence is the float32 probability of the chosen class (before thresholding).
    """
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"probabilities must be (C, H, W), got shape {probs.shape}")
    cls = np.argmax(probs, axis=0)
    conf = np.take_along_axis(probs, cls[None], axis=0)[0].astype(np.float32)
    cls[(cls != background) & (conf < threshold)] = background
    return cls.astype(class_map_dtype(probs.shape[0])), conf


__all__ = [
    "DEFAULT_MIN_AREA",
    "DEFAULT_MIN_IOU",
    "Component",
    "class_map_to_shapes",
    "mask_to_components",
    "mask_to_polygons",
    "probability_to_class_map",
]
