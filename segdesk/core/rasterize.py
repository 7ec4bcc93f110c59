"""Shapes to class and instance maps, pixel-identical to Labelme's ``shapes_to_label``.

Labelme (``labelme.utils.shape.shape_to_mask``) draws every shape with Pillow into a new full-size
image and then indexes the whole output with that full-size mask; at 4000x3000 with 2,000 shapes
that is 15 s of allocation. segdesk draws each shape with the *same* Pillow calls, on the *same*
coordinates, into one reused full-size canvas, reads back only the shape's bounding-box crop and
clears it again. Nothing is translated or rounded differently, so the pixels are Labelme's.

Shapes are accepted as segdesk :class:`~segdesk.core.shapes.Shape` objects or as Labelme-style
dicts (``{"label", "points", "shape_type", "group_id", "mask"}`` with ``mask`` a bool array), so
tests can feed one list to both implementations.

labels.txt follows labelme2voc: an optional first line ``__ignore__`` (value -1, written as 255 in
uint8 maps), then ``_background_`` (value 0), then one class per line (1, 2, ...).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import PIL.ImageDraw

from segdesk.core.document import Document
from segdesk.core.errors import ProjectError
from segdesk.core.shapes import FOUR_CORNER_TYPES, Shape

IGNORE_LABEL = "__ignore__"
BACKGROUND_LABEL = "_background_"

#: Labelme's defaults in ``shape_to_mask``.
LINE_WIDTH = 10
POINT_SIZE = 5

# Margin (pixels) added around a shape's geometric bounds when reading back its crop. Pillow rounds
# coordinates and draws a 1-pixel outline; 2 pixels covers both with room to spare.
_MARGIN = 2

#: Coordinates beyond +-2**30 pixels are refused (Pillow draws with 32-bit integers): no image is
#: that large. A circle that covers the whole image is filled whatever its radius.
MAX_COORDINATE = float(2**30)

ShapeLike = Shape | Mapping[str, Any]


def coordinate_problem(points: Any) -> str | None:
    """Why these points cannot be rasterized (not finite, beyond ``MAX_COORDINATE``), or None."""
    pts = np.asarray(points, dtype=np.float64)
    if not np.isfinite(pts).all():
        return "coordinates must be finite numbers"
    if pts.size and float(np.abs(pts).max()) > MAX_COORDINATE:
        return f"a coordinate is beyond +-{int(MAX_COORDINATE)} pixels"
    return None


@dataclass(frozen=True)
class _Fields:
    label: str
    points: np.ndarray
    shape_type: str
    group_id: Any
    mask: Any


def _fields(shape: ShapeLike) -> _Fields:
    if isinstance(shape, Shape):
        return _Fields(shape.label, shape.points, shape.shape_type, shape.group_id, shape.mask)
    shape_type = shape.get("shape_type") or "polygon"
    points = np.asarray(shape["points"], dtype=np.float64).reshape(-1, 2)
    return _Fields(shape["label"], points, shape_type, shape.get("group_id"), shape.get("mask"))


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


class _Canvas:
    """One reused full-size 'L' Pillow image; each shape is drawn, its crop read, the crop cleared."""

    def __init__(self, height: int, width: int, *, line_width: int, point_size: int) -> None:
        self.height, self.width = height, width
        self.line_width, self.point_size = line_width, point_size
        self.image = PIL.Image.new("L", (width, height), 0)
        self.draw = PIL.ImageDraw.Draw(self.image)

    def _box(self, x0: float, y0: float, x1: float, y1: float, margin: int) -> tuple[int, int, int, int]:
        left = max(0, math.floor(x0) - margin)
        top = max(0, math.floor(y0) - margin)
        right = min(self.width, math.ceil(x1) + margin + 1)
        bottom = min(self.height, math.ceil(y1) + margin + 1)
        return left, top, right, bottom

    def render(self, f: _Fields) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Draw one non-mask shape as Labelme does; the (rows, cols) slices and the bool crop."""
        pts = f.points
        _require(bool(np.isfinite(pts).all()), "points: coordinates must be finite")
        if f.shape_type != "circle":  # a circle's second point may be far away: see below
            problem = coordinate_problem(pts)
            _require(problem is None, f"points: {problem}")
        # Labelme passes a list of (x, y) tuples; Pillow flattens any coordinate sequence to the same
        # doubles, so the flat list (much faster to build) draws the same pixels.
        flat = pts.ravel().tolist()
        xy = list(zip(flat[0::2], flat[1::2], strict=True))
        draw, kind = self.draw, f.shape_type
        if kind == "circle":
            _require(len(xy) == 2, "circle: expected 2 points")
            (cx, cy), (px, py) = xy
            _require(max(abs(cx), abs(cy)) <= MAX_COORDINATE, f"circle: {coordinate_problem(pts)}")
            d = math.hypot(cx - px, cy - py)  # no overflow for huge radii
            if d > MAX_COORDINATE and self._covered(cx, cy, d):
                box = (0, 0, self.width, self.height)
                if _empty(box):
                    return None
                draw.rectangle(((0, 0), (self.width, self.height)), outline=1, fill=1)
                return self._take(box)
            _require(d <= MAX_COORDINATE, f"circle: radius {d:.3g} is beyond {int(MAX_COORDINATE)} pixels")
            box = self._box(cx - d, cy - d, cx + d, cy + d, _MARGIN)
            if _empty(box):
                return None
            draw.ellipse(((cx - d, cy - d), (cx + d, cy + d)), outline=1, fill=1)
        elif kind == "rectangle":
            # Labelme wants exactly 2 points; a 4-corner rectangle from other tools has the same extent.
            _require(len(xy) >= 2, "rectangle: expected 2 points")
            xs, ys = [p[0] for p in xy], [p[1] for p in xy]
            box = self._box(min(xs), min(ys), max(xs), max(ys), _MARGIN)
            if _empty(box):
                return None
            draw.rectangle(((min(xs), min(ys)), (max(xs), max(ys))), outline=1, fill=1)
        elif kind in ("line", "linestrip"):
            _require(len(xy) >= 2, f"{kind}: expected at least 2 points")
            box = self._bounds_box(pts, self.line_width + _MARGIN)
            if _empty(box):
                return None
            draw.line(xy=flat, fill=1, width=self.line_width)
        elif kind in ("point", "points"):
            # Labelme's shape_to_mask rejects "points"; segdesk draws each point as a "point".
            _require(len(xy) >= 1, f"{kind}: expected at least 1 point")
            r = self.point_size
            box = self._bounds_box(pts, r + _MARGIN)
            if _empty(box):
                return None
            for cx, cy in xy:
                draw.ellipse(((cx - r, cy - r), (cx + r, cy + r)), outline=1, fill=1)
        elif kind == "polygon" or kind in FOUR_CORNER_TYPES:
            _require(len(xy) > 2, f"{kind}: expected at least 3 points, got {len(xy)}")
            box = self._bounds_box(pts, _MARGIN)
            if _empty(box):
                return None
            draw.polygon(xy=flat, outline=1, fill=1)
        else:
            raise ValueError(f"shape_type={kind!r} is not supported")
        return self._take(box)

    def _covered(self, cx: float, cy: float, d: float) -> bool:
        """Whether a circle of radius ``d`` around (cx, cy) covers every pixel of the canvas."""
        far_x = max(abs(cx), abs(cx - self.width))
        far_y = max(abs(cy), abs(cy - self.height))
        return math.hypot(far_x, far_y) < d

    def _bounds_box(self, pts: np.ndarray, margin: int) -> tuple[int, int, int, int]:
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return self._box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]), margin)

    def _take(self, box: tuple[int, int, int, int]) -> tuple[tuple[slice, slice], np.ndarray]:
        crop = np.asarray(self.image.crop(box)) != 0
        self.image.paste(0, box)
        left, top, right, bottom = box
        return (slice(top, bottom), slice(left, right)), crop


def _empty(box: tuple[int, int, int, int]) -> bool:
    return box[2] <= box[0] or box[3] <= box[1]


def _mask_region(f: _Fields, height: int, width: int) -> tuple[tuple[slice, slice], np.ndarray]:
    """A mask shape placed as Labelme places it: ``out[y1:y2+1, x1:x2+1] = mask``, int-truncated."""
    _require(isinstance(f.mask, np.ndarray), "mask: a mask shape needs a mask array")
    _require(len(f.points) == 2, "mask: expected 2 points (the bounding box)")
    (x1, y1), (x2, y2) = np.asarray(f.points).astype(int)
    region = (slice(int(y1), int(y2) + 1), slice(int(x1), int(x2) + 1))
    target_shape = np.empty((height, width), dtype=bool)[region].shape
    # Same broadcasting (and the same error for a wrong-sized crop) as Labelme's slice assignment.
    crop = np.broadcast_to(np.asarray(f.mask).astype(bool), target_shape)
    return region, crop


def _iter_masks(
    img_shape: Sequence[int], shapes: Sequence[ShapeLike], *, line_width: int, point_size: int
) -> Iterator[tuple[int, _Fields, tuple[slice, slice], np.ndarray]]:
    """(index, fields, region, bool crop) for each shape that touches the image, in order."""
    height, width = int(img_shape[0]), int(img_shape[1])
    canvas: _Canvas | None = None
    for i, shape in enumerate(shapes):
        f = _fields(shape)
        try:
            if f.shape_type == "mask":
                yield i, f, *_mask_region(f, height, width)
                continue
            if canvas is None:
                canvas = _Canvas(height, width, line_width=line_width, point_size=point_size)
            drawn = canvas.render(f)
        except ValueError as exc:
            raise ValueError(f"shapes[{i}] ({f.label!r}): {exc}") from exc
        if drawn is not None:
            yield i, f, *drawn


def shape_crops(
    img_shape: Sequence[int], shapes: Sequence[ShapeLike]
) -> Iterator[tuple[int, tuple[slice, slice], np.ndarray]]:
    """(index, (rows, cols) slices, bool crop) of each shape, drawn as Labelme draws it.

    The crops are what :func:`shape_to_mask` would set, without a full-size output per shape.
    """
    for i, _, region, crop in _iter_masks(img_shape, shapes, line_width=LINE_WIDTH, point_size=POINT_SIZE):
        yield i, region, crop


def shape_to_mask(
    img_shape: Sequence[int],
    shape: ShapeLike,
    *,
    line_width: int = LINE_WIDTH,
    point_size: int = POINT_SIZE,
) -> np.ndarray:
    """The bool HxW mask of one shape, drawn exactly as Labelme's ``shape_to_mask``.

    Also handles ``mask`` shapes (placed as ``shapes_to_label`` places them) and ``points``
    (each point drawn as a Labelme ``point``). Raises ValueError for bad geometry.
    """
    out = np.zeros((int(img_shape[0]), int(img_shape[1])), dtype=bool)
    for _, _, region, crop in _iter_masks(img_shape, [shape], line_width=line_width, point_size=point_size):
        out[region] |= crop
    return out


def shapes_to_label(
    img_shape: Sequence[int],
    shapes: Sequence[ShapeLike],
    label_name_to_value: Mapping[str, int],
) -> tuple[np.ndarray, np.ndarray]:
    """(class map, instance map), int32 HxW, pixel-identical to ``labelme.utils.shapes_to_label``.

    Later shapes win. Shapes sharing (label, group_id) share an instance id; a shape without a
    group_id is its own instance. Instance ids start at 1 in order of first appearance.
    Raises ValueError for a label missing from ``label_name_to_value`` or bad geometry.
    """
    height, width = int(img_shape[0]), int(img_shape[1])
    cls = np.zeros((height, width), dtype=np.int32)
    ins = np.zeros_like(cls)
    for i, shape in enumerate(shapes):
        label = _fields(shape).label
        if label not in label_name_to_value:
            raise ValueError(f"shapes[{i}]: label {label!r} is not in label_name_to_value")
    # Instance ids are assigned for every shape (even one outside the image), as Labelme does.
    ids = _instance_ids(shapes)
    for i, f, region, crop in _iter_masks(img_shape, shapes, line_width=LINE_WIDTH, point_size=POINT_SIZE):
        cls[region][crop] = label_name_to_value[f.label]
        ins[region][crop] = ids[i]
    return cls, ins


def _instance_ids(shapes: Sequence[ShapeLike]) -> list[int]:
    instances: dict[tuple[str, Any], int] = {}
    ids = []
    for shape in shapes:
        f = _fields(shape)
        key = (f.label, object() if f.group_id is None else f.group_id)
        ids.append(instances.setdefault(key, len(instances) + 1))
    return ids


def class_map_dtype(n_values: int) -> type[np.unsignedinteger]:
    """uint8 when every value (classes and the ignore value) fits, else uint16."""
    return np.uint8 if n_values <= 256 else np.uint16


def document_to_class_map(
    document: Document,
    class_names: Sequence[str],
    *,
    ignore_value: int = 255,
    include_proposals: bool = True,
) -> np.ndarray:
    """The class-index map of a document: class i = ``class_names[i]`` (0 = ``_background_``).

    Shapes labelled ``__ignore__`` or with a label not in ``class_names`` become ``ignore_value``,
    as labelme2voc writes them (-1 there, 255 in its PNGs). uint8 when the classes and the ignore
    value fit, else uint16. Raises ValueError when the image size is unknown or ``ignore_value``
    collides with a class index.
    """
    if document.image_height is None or document.image_width is None:
        raise ValueError(f"{document.image_path}: image size unknown (imageHeight/imageWidth)")
    if 0 <= ignore_value < len(class_names):
        raise ValueError(f"ignore_value {ignore_value} collides with class {class_names[ignore_value]!r}")
    dtype = class_map_dtype(max(len(class_names), ignore_value + 1))
    if ignore_value > np.iinfo(dtype).max or ignore_value < 0:
        raise ValueError(f"ignore_value {ignore_value} does not fit in {np.dtype(dtype).name}")
    values = {name: i for i, name in enumerate(class_names) if name != IGNORE_LABEL}
    shapes = [s for s in document.shapes if include_proposals or not s.is_proposal]
    out = np.zeros((document.image_height, document.image_width), dtype=dtype)
    img_shape = out.shape
    for _, f, region, crop in _iter_masks(img_shape, shapes, line_width=LINE_WIDTH, point_size=POINT_SIZE):
        out[region][crop] = values.get(f.label, ignore_value)
    return out


# --- labels.txt -----------------------------------------------------------------------------------
def parse_labels_txt(path: str | Path) -> list[str]:
    """The label names of a labels.txt, in file order (blank lines skipped, names stripped).

    Raises ProjectError naming the file and line for an unreadable file or a repeated name.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(path, None, f"cannot read labels: {exc}") from exc
    labels: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if name in labels:
            raise ProjectError(path, f"line {lineno}", f"label {name!r} is listed twice")
        labels.append(name)
    return labels


def class_names_from_labels(labels: Sequence[str]) -> list[str]:
    """labelme2voc's class names: ``_background_`` first, then the other labels, no ``__ignore__``."""
    rest = [name for name in labels if name not in (IGNORE_LABEL, BACKGROUND_LABEL)]
    return [BACKGROUND_LABEL, *rest]


def class_name_to_value(labels: Sequence[str]) -> dict[str, int]:
    """labelme2voc's ``class_name_to_id``: ``__ignore__`` -> -1, ``_background_`` -> 0, others 1, 2 ...

    For a canonical labels.txt (``__ignore__``, ``_background_``, classes...) this is exactly the
    line index minus one, as labelme2voc computes it; a file without ``_background_`` gets it as 0.
    """
    mapping = {name: i for i, name in enumerate(class_names_from_labels(labels))}
    if IGNORE_LABEL in labels:
        mapping[IGNORE_LABEL] = -1
    return mapping


__all__ = [
    "BACKGROUND_LABEL",
    "IGNORE_LABEL",
    "class_map_dtype",
    "class_name_to_value",
    "class_names_from_labels",
    "document_to_class_map",
    "parse_labels_txt",
    "shape_to_mask",
    "shapes_to_label",
]
