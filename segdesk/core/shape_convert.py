"""Polygon <-> mask conversion of shapes, one undo step for a selection.

To mask: an area shape (polygon, rectangle, circle ...) becomes a Labelme ``mask`` shape of exactly the
pixels Labelme draws for it (``core.rasterize``); to polygon: a mask becomes one polygon per component
(the core's vectorizer; holes are not kept).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from segdesk.core.commands import AddShapes, Command, Macro, RemoveShapes, ReplaceShapes
from segdesk.core.mask_edit import AREA_TYPES, mask_shape
from segdesk.core.rasterize import shape_crops
from segdesk.core.shapes import Shape
from segdesk.core.vectorize import mask_to_components


def to_mask_shape(shape: Shape, size: tuple[int, int]) -> Shape | None:
    """``shape`` as a Labelme mask shape with the pixels Labelme draws for it (None if none)."""
    if shape.shape_type not in AREA_TYPES:
        raise ValueError(f"a {shape.shape_type} has no inside to turn into a mask")
    for _, region, crop in shape_crops(size, [shape]):
        x0, y0 = region[1].start, region[0].start
        return mask_shape(crop, (x0, y0), like=shape, label=shape.label)
    return None


def to_polygon_shapes(shape: Shape, *, tolerance: float = 1.0) -> list[Shape]:
    """A mask shape as one polygon per component (the core's vectorizer); holes are not kept.

    Tiny specks below the vectorizer's minimum area are dropped.
    """
    if shape.shape_type != "mask" or shape.mask is None:
        raise ValueError(f"expected a mask shape, got a {shape.shape_type}")
    x0, y0 = (int(v) for v in shape.points[:2].min(axis=0))
    out = []
    for comp in mask_to_components(shape.mask, tolerance=tolerance, min_area=1):
        like = copy.copy(shape)
        poly = Shape(
            label=like.label,
            points=comp.outer + (x0, y0),
            shape_type="polygon",
            group_id=like.group_id,
            description=like.description,
            flags=copy.deepcopy(like.flags),
            extra=copy.deepcopy(like.extra),
            other=copy.deepcopy(like.other),
            key_order=tuple(k for k in like.key_order if k != "mask"),
        )
        out.append(poly)
    return out


def conversion_command(
    shapes: Sequence[Shape], indices: Sequence[int], *, to: str, size: tuple[int, int]
) -> Command | None:
    """One undo step converting the shapes at ``indices`` ``to`` "mask" or "polygon" (None: nothing to do).

    To mask: each area shape (polygon, rectangle, circle ...) becomes the mask of its Labelme pixels.
    To polygon: each mask becomes one polygon per component, in the mask's place in the stacking order.
    """
    if to not in ("mask", "polygon"):
        raise ValueError(f"convert to {to!r}: expected 'mask' or 'polygon'")
    commands: list[Command] = []
    if to == "mask":
        picked = [i for i in sorted(set(indices)) if shapes[i].shape_type in AREA_TYPES[:-1]]
        converted = {i: to_mask_shape(shapes[i], size) for i in picked}
        keep = [i for i in picked if converted[i] is not None]
        if keep:
            commands.append(ReplaceShapes(keep, [converted[i] for i in keep]))  # type: ignore[misc]
    else:
        for i in sorted({i for i in indices if shapes[i].shape_type == "mask"}, reverse=True):
            polygons = to_polygon_shapes(shapes[i])
            if not polygons:
                commands.append(RemoveShapes([i]))
                continue
            commands.append(ReplaceShapes([i], polygons[:1]))
            if len(polygons) > 1:
                commands.append(AddShapes(list(range(i + 1, i + len(polygons))), polygons[1:]))
    if not commands:
        return None
    return Macro(commands, text=f"convert to {to}")
