"""Pixel edits of shapes: brush and eraser strokes and hole filling (polygon <-> mask conversion:
``core/shape_convert.py``).

A stroke is painted into a uint8 image-size canvas (one ``paint_segment`` per mouse move, touching
only the segment's box) and applied on release by :func:`apply_stroke`: painting merges the stroke
with every closed shape of the same label it overlaps into one Labelme ``mask`` shape (for a class
of separate objects, only the ones under its ends: it never joins touching objects on its own);
erasing cuts it out of them. Shapes are rasterized exactly as Labelme rasterizes them (``core.rasterize``), so
what a person sees converted is what training and exports use. Mask shapes are written as Labelme
writes them: two points ``[x1, y1], [x2, y2]`` (inclusive corners) and the crop between them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from segdesk.core.commands import AddShapes, Command, Macro, RemoveShapes, ReplaceShapes
from segdesk.core.rasterize import shape_crops
from segdesk.core.shapes import FOUR_CORNER_TYPES, Shape, bounding_box

#: Shapes with an inside: the ones a brush converts to masks and merges.
AREA_TYPES = ("polygon", "rectangle", *FOUR_CORNER_TYPES, "circle", "mask")

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (x1, y1 exclusive)


@dataclass
class StrokeEdit:
    """What a stroke changes: shapes replaced in place, indices removed, and a new shape to append."""

    replace: dict[int, Shape] = field(default_factory=dict)
    remove: list[int] = field(default_factory=list)
    add: Shape | None = None

    @property
    def empty(self) -> bool:
        return not self.replace and not self.remove and self.add is None


def edit_command(edit: StrokeEdit, shape_count: int, *, text: str) -> Command:
    """One undoable command for ``edit`` on a document of ``shape_count`` shapes."""
    commands: list[Command] = []
    if edit.replace:
        indices = sorted(edit.replace)
        commands.append(ReplaceShapes(indices, [edit.replace[i] for i in indices]))
    if edit.remove:
        commands.append(RemoveShapes(edit.remove))
    if edit.add is not None:
        commands.append(AddShapes([shape_count - len(edit.remove)], [edit.add]))
    return Macro(commands, text=text)


def paint_segment(
    canvas: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], radius: float
) -> Box | None:
    """Paint a round-capped segment of ``radius`` pixels into a uint8 HxW ``canvas`` (value 1).

    Returns the box it may have touched, clipped to the canvas (None when outside it).
    """
    h, w = canvas.shape[:2]
    r = max(0.5, float(radius))
    x0 = int(np.floor(min(p0[0], p1[0]) - r)) - 1
    y0 = int(np.floor(min(p0[1], p1[1]) - r)) - 1
    x1 = int(np.ceil(max(p0[0], p1[0]) + r)) + 2
    y1 = int(np.ceil(max(p0[1], p1[1]) + r)) + 2
    box = (max(0, x0), max(0, y0), min(w, x1), min(h, y1))
    if box[2] <= box[0] or box[3] <= box[1]:
        return None
    # Draw in the box only (a view): cost follows the segment, not the image. Fixed-point (4 bits)
    # keeps sub-pixel positions so a slow stroke is as round as a fast one.
    view = canvas[box[1] : box[3], box[0] : box[2]]
    shift = 4
    a = (round((p0[0] - box[0]) * 16), round((p0[1] - box[1]) * 16))
    b = (round((p1[0] - box[0]) * 16), round((p1[1] - box[1]) * 16))
    rr = round(r * 16)
    cv2.circle(view, a, rr, 1, -1, cv2.LINE_8, shift)
    if a != b:
        cv2.circle(view, b, rr, 1, -1, cv2.LINE_8, shift)
        cv2.line(view, a, b, 1, max(1, round(2 * r)), cv2.LINE_8, shift)
    return box


def mask_shape(mask: np.ndarray, origin: tuple[int, int], *, like: Shape | None, label: str) -> Shape | None:
    """A Labelme mask shape of the pixels set in ``mask`` (placed at ``origin``), cropped tight.

    Properties come from ``like`` (label, group, description, flags, provenance; a proposal becomes a
    person-edited shape), else a new person shape of ``label``. None when no pixel is set.
    """
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    cx0, cx1, cy0, cy1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    crop = np.ascontiguousarray(mask[cy0 : cy1 + 1, cx0 : cx1 + 1], dtype=bool)
    ox, oy = origin
    points = np.array([[ox + cx0, oy + cy0], [ox + cx1, oy + cy1]], dtype=np.float64)
    if like is None:
        return Shape(label=label, points=points, shape_type="mask", mask=crop, extra={"source": "person"})
    shape = Shape(
        label=like.label,
        points=points,
        shape_type="mask",
        group_id=like.group_id,
        description=like.description,
        flags=copy.deepcopy(like.flags),
        mask=crop,
        extra=_edited(like.extra),
        other=copy.deepcopy(like.other),
        key_order=like.key_order,
    )
    return shape


def _edited(extra: dict) -> dict:
    out = copy.deepcopy(extra)
    if out.get("proposal") or out.get("source") == "model":
        out["proposal"] = False
        out["edited"] = True
    return out


def _intersects(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _shape_box(shape: Shape, width: int, height: int) -> Box:
    x0, y0, x1, y1 = bounding_box(shape)
    m = 3  # Labelme's outline and rounding reach a pixel or two past the geometry
    return (
        max(0, int(np.floor(x0)) - m),
        max(0, int(np.floor(y0)) - m),
        min(width, int(np.ceil(x1)) + m + 1),
        min(height, int(np.ceil(y1)) + m + 1),
    )


def _candidates(shapes: Sequence[Shape], label: str | None, box: Box, width: int, height: int) -> list[int]:
    """Area shapes of ``label`` (None: any) whose bounds meet ``box``."""
    return [
        i
        for i, s in enumerate(shapes)
        if (label is None or s.label == label)
        and s.shape_type in AREA_TYPES
        and _intersects(_shape_box(s, width, height), box)
    ]


def _rasters(shapes: Sequence[Shape], indices: Sequence[int], size: tuple[int, int]) -> dict[int, tuple]:
    """index -> ((rows, cols), crop) as Labelme draws the shape (empty ones left out)."""
    picked = [shapes[i] for i in indices]
    out: dict[int, tuple] = {}
    for k, region, crop in shape_crops(size, picked):
        if crop.any():
            out[indices[k]] = (region, crop)
    return out


def apply_stroke(
    shapes: Sequence[Shape],
    stroke: np.ndarray,
    origin: tuple[int, int],
    size: tuple[int, int],
    *,
    label: str | None,
    erase: bool = False,
    objects: bool = False,
    ends: Sequence[tuple[float, float]] = (),
) -> StrokeEdit:
    """The edit a stroke makes on ``shapes`` of an image of ``size`` (H, W).

    ``stroke`` is a bool crop placed at ``origin`` (x, y). Painting merges the stroke with the
    ``label`` shapes it overlaps (converted to one mask shape at the first one's place) or adds a new
    mask shape; erasing removes the stroke's pixels from the ``label`` shapes it overlaps (a shape
    left empty is removed; ``label=None``: shapes of every label). Shapes of other labels are untouched.

    ``objects``: ``label``'s shapes are separate objects (touching nuclei, issue 17), and painting
    along one must not join it to its neighbours: the stroke joins the shapes under its ``ends``
    (where it was pressed and released: drag from one object into another to join them), or else
    extends the one shape it touches most; the painted pixels are taken from every other shape of the
    label (as painting a label takes pixels in napari), and shapes it only borders stay as they are.
    """
    if label is None and not erase:
        raise ValueError("painting needs a label")
    height, width = size
    sh, sw = stroke.shape
    ox, oy = origin
    sbox = (ox, oy, ox + sw, oy + sh)
    stroke = stroke.astype(bool)
    # Paint joins shapes it touches (a filled hole borders its shapes); erase cuts what it covers.
    probe, (px, py) = (stroke, origin) if erase else _grown(stroke, origin)
    ph, pw = probe.shape
    rasters = _rasters(shapes, _candidates(shapes, label, (px, py, px + pw, py + ph), width, height), size)
    contact = {i: _overlap(raster, probe, (px, py)) for i, raster in rasters.items()}
    touched = [i for i, pixels in contact.items() if pixels]
    edit = StrokeEdit()
    if erase:
        _cut_from(edit, shapes, rasters, touched, stroke, origin)
        return edit
    if objects and touched:
        joined = [i for i in touched if any(_contains(rasters[i], p) for p in ends)]
        joined = joined or [max(touched, key=lambda i: (contact[i], -i))]
        others = [i for i in touched if i not in joined and _overlap(rasters[i], stroke, origin)]
        _cut_from(edit, shapes, rasters, others, stroke, origin)
        touched = joined
    boxes = [sbox] + [_bbox_of(rasters[i][0]) for i in touched]
    ux0, uy0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    ux1, uy1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    union = np.zeros((uy1 - uy0, ux1 - ux0), dtype=bool)
    union[oy - uy0 : oy - uy0 + sh, ox - ux0 : ox - ux0 + sw] |= stroke
    for i in touched:
        (rows, cols), crop = rasters[i]
        union[rows.start - uy0 : rows.stop - uy0, cols.start - ux0 : cols.stop - ux0] |= crop
    first = touched[0] if touched else None
    shape = mask_shape(union, (ux0, uy0), like=None if first is None else shapes[first], label=label)
    if shape is None:
        return edit
    if first is None:
        edit.add = shape
    else:
        edit.replace[first] = shape
        edit.remove = sorted([*edit.remove, *touched[1:]])
    return edit


def _cut_from(
    edit: StrokeEdit,
    shapes: Sequence[Shape],
    rasters: dict[int, tuple],
    indices: Sequence[int],
    stroke: np.ndarray,
    origin: tuple[int, int],
) -> None:
    """Take the stroke's pixels out of shapes ``indices`` (into ``edit``; a shape left empty is removed)."""
    ox, oy = origin
    sh, sw = stroke.shape
    for i in indices:
        (rows, cols), crop = rasters[i]
        cut = crop.copy()  # within the shape's own box: no image-size arrays
        y0, y1 = max(rows.start, oy), min(rows.stop, oy + sh)
        x0, x1 = max(cols.start, ox), min(cols.stop, ox + sw)
        if y1 > y0 and x1 > x0:
            cut[y0 - rows.start : y1 - rows.start, x0 - cols.start : x1 - cols.start] &= ~stroke[
                y0 - oy : y1 - oy, x0 - ox : x1 - ox
            ]
        shape = mask_shape(cut, (cols.start, rows.start), like=shapes[i], label=shapes[i].label)
        if shape is None:
            edit.remove.append(i)
        else:
            edit.replace[i] = shape


def _overlap(raster: tuple, crop: np.ndarray, origin: tuple[int, int]) -> int:
    """Pixels a shape's raster shares with a bool ``crop`` placed at ``origin`` (x, y)."""
    (rows, cols), mask = raster
    ox, oy = origin
    y0, y1 = max(rows.start, oy), min(rows.stop, oy + crop.shape[0])
    x0, x1 = max(cols.start, ox), min(cols.stop, ox + crop.shape[1])
    if y1 <= y0 or x1 <= x0:
        return 0
    a = mask[y0 - rows.start : y1 - rows.start, x0 - cols.start : x1 - cols.start]
    return int((a & crop[y0 - oy : y1 - oy, x0 - ox : x1 - ox]).sum())


def _contains(raster: tuple, point: tuple[float, float]) -> bool:
    """Whether a shape's raster covers the pixel under ``point`` (x, y)."""
    (rows, cols), mask = raster
    x, y = int(np.floor(point[0])), int(np.floor(point[1]))
    return (
        rows.start <= y < rows.stop
        and cols.start <= x < cols.stop
        and bool(mask[y - rows.start, x - cols.start])
    )


def _grown(stroke: np.ndarray, origin: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """The stroke grown by one pixel (8-neighbours), and its origin."""
    padded = np.pad(stroke.astype(np.uint8), 1)
    grown = cv2.dilate(padded, np.ones((3, 3), np.uint8)).astype(bool)
    return grown, (origin[0] - 1, origin[1] - 1)


def _bbox_of(region: tuple[slice, slice]) -> Box:
    rows, cols = region
    return (cols.start, rows.start, cols.stop, rows.stop)


#: Fill by colour: the window looked at around the click (a 20,000-pixel-wide slide must not
#: allocate a flood mask of its whole size), and the share of it a region may cover.
SIMILAR_WINDOW = 2048
SIMILAR_MAX_SHARE = 0.5


def similar_region(
    rgb: np.ndarray, point: tuple[float, float], tolerance: int
) -> tuple[np.ndarray, tuple[int, int]] | str | None:
    """The region of colours like the clicked pixel's: the pixels 4-connected to ``point`` whose
    every channel is within ``tolerance`` of the clicked pixel's (OpenCV's fixed-range flood fill),
    inside a ``SIMILAR_WINDOW`` square around it. (bool crop, origin), None for a point outside
    the image, or why not (a region over ``SIMILAR_MAX_SHARE`` of the window: the background).
    """
    height, width = rgb.shape[:2]
    px, py = int(np.floor(point[0])), int(np.floor(point[1]))
    if not (0 <= px < width and 0 <= py < height):
        return None
    half = SIMILAR_WINDOW // 2
    x0, y0 = max(0, px - half), max(0, py - half)
    x1, y1 = min(width, px + half), min(height, py + half)
    window = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    flood = np.zeros((y1 - y0 + 2, x1 - x0 + 2), np.uint8)
    t = (int(tolerance),) * 3
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    cv2.floodFill(window, flood, (px - x0, py - y0), (0, 0, 0), t, t, flags)
    region = flood[1:-1, 1:-1].astype(bool)
    if region.sum() > SIMILAR_MAX_SHARE * region.size:
        return (
            f"colours within {tolerance} of the clicked pixel's cover over half of the image around it "
            "(the background?): lower the tolerance ({ key) or click inside an object"
        )
    ys, xs = np.nonzero(region)
    crop = region[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return crop, (x0 + int(xs.min()), y0 + int(ys.min()))


def hole_at(
    shapes: Sequence[Shape], point: tuple[float, float], size: tuple[int, int], *, label: str
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The closed hole of ``label``'s shapes around ``point``: (bool crop, origin), or None.

    A hole is background (not covered by those shapes) that is 4-connected to ``point`` and does not
    reach the edge of the shapes' area: a click outside every shape, or in a gap open to the
    outside, is not one.
    """
    height, width = size
    px, py = int(np.floor(point[0])), int(np.floor(point[1]))
    if not (0 <= px < width and 0 <= py < height):
        return None
    # Shapes that can enclose the point cross the lines through it; then their neighbours.
    cross = [(0, py, width, py + 1), (px, 0, px + 1, height)]
    picked = {i for box in cross for i in _candidates(shapes, label, box, width, height)}
    if not picked:
        return None
    boxes = [_shape_box(shapes[i], width, height) for i in picked]
    region = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    picked |= set(_candidates(shapes, label, region, width, height))
    rasters = _rasters(shapes, sorted(picked), size)
    if not rasters:
        return None
    boxes = [_bbox_of(r) for r, _ in rasters.values()]
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    if not (x0 <= px < x1 and y0 <= py < y1):
        return None
    covered = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    for (rows, cols), crop in rasters.values():
        covered[rows.start - y0 : rows.stop - y0, cols.start - x0 : cols.stop - x0] |= crop
    if covered[py - y0, px - x0]:
        return None
    # Pad by one background pixel: anything 4-connected to the frame is open to the outside.
    padded = np.pad(covered, 1)
    n, labels = cv2.connectedComponents((padded == 0).astype(np.uint8), connectivity=4)
    target = labels[py - y0 + 1, px - x0 + 1]
    if target == labels[0, 0]:
        return None
    hole = labels[1:-1, 1:-1] == target
    return hole, (x0, y0)
