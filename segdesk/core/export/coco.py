"""COCO instance segmentation, written as Labelme's ``labelme2coco`` example writes it.

Per image, shapes with the same (label, group_id) form one instance (a shape without group_id is its
own instance), as labelme2coco groups them. An instance whose shapes are all polygons, rectangles,
circles or oriented rectangles is written as polygons (a rectangle as its 4 corners, a circle as
labelme2coco's polygon); an instance with a mask, line, linestrip or point shape is written as the
compressed RLE of its rasterized mask (what ``pycocotools.mask.encode`` writes), since COCO polygons
need at least 3 vertices. ``area`` and ``bbox`` come from the rasterized mask (Labelme's drawing), as
labelme2coco computes them with pycocotools.

Categories are labelme2coco's: every label of the label list except ``__ignore__``, id = class value
(``_background_`` is 0). Shapes with ``__ignore__`` or a label outside the list are left out.

Two deliberate differences from labelme2coco: image and annotation ids start at 1 (pycocotools'
``COCOeval`` treats id 0 as "unmatched"), and a rectangle becomes 4 corners (labelme2coco's
``if``/``if``/``else`` overwrites them with the 2 raw points, a polygon COCO readers reject).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import segdesk
from segdesk.core.rasterize import LINE_WIDTH, POINT_SIZE, _iter_masks
from segdesk.core.shapes import FOUR_CORNER_TYPES, Shape

#: Shape types written as COCO polygons; anything else is written as RLE.
POLYGON_TYPES = frozenset({"polygon", "rectangle", "circle", *FOUR_CORNER_TYPES})


def coco_skeleton(description: str) -> dict[str, Any]:
    """labelme2coco's top-level keys, with empty images / categories / annotations."""
    now = _dt.datetime.now()
    return {
        "info": {
            "description": description,
            "url": None,
            "version": segdesk.__version__,
            "year": now.year,
            "contributor": None,
            "date_created": now.strftime("%Y-%m-%d %H:%M:%S.%f"),
        },
        "licenses": [{"url": None, "id": 0, "name": None}],
        "type": "instances",
        "images": [],
        "categories": [],
        "annotations": [],
    }


def coco_categories(class_names: Sequence[str]) -> list[dict[str, Any]]:
    """One category per class, id = class value (labelme2coco's)."""
    return [{"supercategory": None, "id": i, "name": name} for i, name in enumerate(class_names)]


def circle_polygon(center: Sequence[float], edge: Sequence[float]) -> list[float]:
    """labelme2coco's polygon for a circle: enough vertices that the chord error is under 1 pixel."""
    (x1, y1), (x2, y2) = center, edge
    r = math.hypot(x2 - x1, y2 - y1)
    # labelme2coco: N > pi / arccos(1 - x / r) with x = 1 px; below r = 0.5 arccos is undefined.
    n = 12 if r <= 0.5 else max(int(np.pi / np.arccos(1 - 1 / r)), 12)
    i = np.arange(n)
    x = x1 + r * np.sin(2 * np.pi / n * i)
    y = y1 + r * np.cos(2 * np.pi / n * i)
    return np.stack((x, y), axis=1).flatten().tolist()


def shape_polygon(shape: Shape) -> list[float]:
    """A polygon-like shape as a flat COCO polygon [x1, y1, x2, y2, ...]."""
    pts = np.asarray(shape.points, dtype=np.float64)
    if shape.shape_type == "rectangle":
        (x1, y1), (x2, y2) = pts.min(axis=0), pts.max(axis=0)
        return [float(v) for v in (x1, y1, x2, y1, x2, y2, x1, y2)]
    if shape.shape_type == "circle":
        return circle_polygon(pts[0], pts[1])
    return pts.flatten().tolist()


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """A bool HxW mask as COCO compressed RLE (``{"size": [h, w], "counts": str}``).

    Byte-for-byte what ``pycocotools.mask.encode`` returns (decoded to str): run lengths in column-
    major order starting with a run of zeros, each stored as the difference to the run two before
    in a LEB128-like 6-bit code with characters 48..111.
    """
    m = np.asarray(mask, dtype=bool)
    h, w = m.shape
    flat = m.flatten(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    if not flat.size:
        counts = [0]
    out = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return {"size": [int(h), int(w)], "counts": "".join(out)}


def rle_decode(rle: dict[str, Any]) -> np.ndarray:
    """A COCO RLE (compressed ``counts`` text, or the uncompressed list) as a bool HxW mask: the
    inverse of :func:`rle_encode`. ValueError when the counts do not fill ``size`` exactly."""
    size, counts = rle.get("size"), rle.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v >= 0 for v in size)):
        raise ValueError(f"size {size!r} is not [height, width]")
    h, w = size
    if isinstance(counts, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts):
            raise ValueError("uncompressed counts must be whole numbers >= 0")
        runs = counts
    elif isinstance(counts, str):
        runs = _rle_runs(counts)
    else:
        raise ValueError("counts must be text (compressed) or a list of numbers")
    if any(r < 0 for r in runs) or sum(runs) != h * w:
        raise ValueError(f"the runs cover {sum(runs)} pixels, the size {h}x{w} holds {h * w}")
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True  # runs alternate, starting with background
    flat = np.repeat(values, runs)
    return flat.reshape((w, h)).T.copy()  # column-major, as COCO stores it


def _rle_runs(text: str) -> list[int]:
    """The run lengths of a compressed counts text (pycocotools' rleFrString)."""
    runs: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            if p >= len(text):
                raise ValueError("compressed counts end inside a number")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"character {text[p]!r} is not in a compressed counts text")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


def mask_bbox(mask: np.ndarray) -> list[float]:
    """[x, y, width, height] of a mask's pixels, as ``pycocotools.mask.toBbox`` gives it."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    x0, x1, y0, y1 = int(cols[0]), int(cols[-1]), int(rows[0]), int(rows[-1])
    return [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]


def image_annotations(
    shapes: Sequence[Shape],
    image_shape: tuple[int, int],
    category_of: dict[str, int],
    *,
    image_id: int,
    first_id: int,
) -> tuple[list[dict[str, Any]], int]:
    """The annotations of one image (ids from ``first_id``) and how many empty instances were dropped."""
    kept = [s for s in shapes if s.label in category_of]
    # Instances in order of first appearance; shapes drawn as crops (not full-size masks per shape).
    members: dict[tuple[str, Any], list[int]] = {}
    for i, shape in enumerate(kept):
        key = (shape.label, object() if shape.group_id is None else shape.group_id)
        members.setdefault(key, []).append(i)
    pieces: dict[int, tuple[tuple[slice, slice], np.ndarray]] = {}
    height, width = image_shape
    for i, _f, (rows, cols), crop in _iter_masks(
        image_shape, kept, line_width=LINE_WIDTH, point_size=POINT_SIZE
    ):
        # Clip as numpy's slicing did when the crop was cut (a mask shape may reach past the image).
        r0, r1, _ = rows.indices(height)
        c0, c1, _ = cols.indices(width)
        if r1 > r0 and c1 > c0:
            pieces[i] = ((slice(r0, r1), slice(c0, c1)), crop)
    annotations: list[dict[str, Any]] = []
    dropped = 0
    for key, indices in members.items():
        box, mask = _union([pieces[i] for i in indices if i in pieces])
        area = int(mask.sum()) if mask is not None else 0
        if area == 0:  # wholly outside the image: an empty instance breaks trainers
            dropped += 1
            continue
        group = [kept[i] for i in indices]
        top, left = box
        if all(
            s.shape_type in POLYGON_TYPES and len(s.points) >= _min_points(s) and sane_circle(s)
            for s in group
        ):
            segmentation: Any = [shape_polygon(s) for s in group]
        else:
            full = np.zeros(image_shape, dtype=bool)
            full[top : top + mask.shape[0], left : left + mask.shape[1]] = mask
            segmentation = rle_encode(full)
        x, y, w, h = mask_bbox(mask)
        annotations.append(
            {
                "id": first_id + len(annotations),
                "image_id": image_id,
                "category_id": category_of[key[0]],
                "segmentation": segmentation,
                "area": float(area),
                "bbox": [x + left, y + top, w, h],
                # A crowd region brought in by import-coco keeps saying so (its shapes' flags).
                "iscrowd": int(any((s.flags or {}).get("iscrowd") is True for s in group)),
            }
        )
    return annotations, dropped


def _union(
    pieces: Sequence[tuple[tuple[slice, slice], np.ndarray]],
) -> tuple[tuple[int, int], np.ndarray | None]:
    """((top, left), the union of the crops in their joint bounding box)."""
    if not pieces:
        return (0, 0), None
    top = min(r.start for (r, _c), _m in pieces)
    left = min(c.start for (_r, c), _m in pieces)
    bottom = max(r.stop for (r, _c), _m in pieces)
    right = max(c.stop for (_r, c), _m in pieces)
    out = np.zeros((bottom - top, right - left), dtype=bool)
    for (rows, cols), crop in pieces:
        out[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left] |= crop
    return (top, left), out


#: A circle's polygon gets ~pi*sqrt(r/2) vertices; beyond this radius (2,200 vertices) it is written
#: as RLE of its pixels instead (a circle around the whole image, say, through a point at 1e308).
_MAX_POLYGON_RADIUS = 1e6


def sane_circle(shape: Shape) -> bool:
    """False for a circle too large to write as a polygon (its pixels are written instead)."""
    if shape.shape_type != "circle":
        return True
    (x1, y1), (x2, y2) = np.asarray(shape.points, dtype=np.float64)[:2]
    return math.hypot(x2 - x1, y2 - y1) <= _MAX_POLYGON_RADIUS


def _min_points(shape: Shape) -> int:
    return 2 if shape.shape_type in ("rectangle", "circle") else 3


def polygon_bounds(polygon: Sequence[float]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a flat polygon."""
    xs, ys = polygon[0::2], polygon[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def is_finite_polygon(polygon: Sequence[float]) -> bool:
    return len(polygon) >= 6 and len(polygon) % 2 == 0 and all(math.isfinite(v) for v in polygon)


__all__ = [
    "POLYGON_TYPES",
    "circle_polygon",
    "coco_categories",
    "coco_skeleton",
    "image_annotations",
    "is_finite_polygon",
    "mask_bbox",
    "polygon_bounds",
    "rle_decode",
    "sane_circle",
    "rle_encode",
    "shape_polygon",
]
