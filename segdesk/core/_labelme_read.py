"""Reading one Labelme file's parts strictly: the failer that names file and place, the checks of
``flags``, sizes and each shape, and the origin a loaded shape keeps for a faithful write-back
(``labelme_io`` uses these; they never touch the disk).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from segdesk.core import _labelme_shapes as _shp
from segdesk.core.errors import AnnotationReadError
from segdesk.core.shapes import SEGDESK_KEY, Shape

_MISSING: Any = object()  # a key that is absent (not null)


class _Failer:
    """Raises AnnotationReadError for one source file."""

    def __init__(self, source: str | Path | None) -> None:
        self.source = source

    def __call__(self, place: str | None, message: str) -> NoReturn:
        raise AnnotationReadError(self.source, place, message)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _read_flags(value: Any, place: str, fail: _Failer) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        fail(place, f"expected an object of true/false values, got {_kind(value)}")
    for key, flag in value.items():
        if not isinstance(flag, bool):
            fail(f"{place}.{key}", f"expected true or false, got {_kind(flag)}")
    return value


def _read_size(value: Any, place: str, fail: _Failer) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        fail(place, f"expected a whole number of pixels, got {_kind(value)}")
    if value <= 0:
        fail(place, f"expected a positive number of pixels, got {value}")
    return value


def _read_shape(s: Any, index: int, fail: _Failer, orders: dict[tuple[str, ...], tuple[str, ...]]) -> Shape:
    place = f"shapes[{index}]"
    if not isinstance(s, dict):
        fail(place, f"expected an object, got {_kind(s)}")
    label = s.get("label", _MISSING)
    if label is _MISSING:
        fail(f"{place}.label", "missing")
    if not isinstance(label, str):
        fail(f"{place}.label", f"expected text, got {_kind(label)}")
    shape_type = s.get("shape_type")
    if shape_type is None:
        shape_type = "polygon"
    elif not isinstance(shape_type, str):
        fail(f"{place}.shape_type", f"expected text, got {_kind(shape_type)}")
    elif shape_type not in _shp.SHAPE_TYPES:
        fail(
            f"{place}.shape_type", f"unknown shape type {shape_type!r} (known: {', '.join(_shp.SHAPE_TYPES)})"
        )
    if "points" not in s:
        fail(f"{place}.points", "missing")
    points, ints = _shp.read_points(s["points"], f"{place}.points", fail)
    as_written = points
    shape_type, points = _shp.check_geometry(shape_type, points, f"{place}.points", fail)
    # Another tool's 4-corner rectangle: written back as it was while nobody moves it.
    corners = as_written if shape_type == "rectangle" and len(as_written) == 4 else None
    group_id = s.get("group_id")
    if group_id is not None and (isinstance(group_id, bool) or not isinstance(group_id, int)):
        fail(f"{place}.group_id", f"expected a whole number or null, got {_kind(group_id)}")
    description = s.get("description", "")
    if description is not None and not isinstance(description, str):
        fail(f"{place}.description", f"expected text or null, got {_kind(description)}")
    flags = _read_flags(s.get("flags", {}), f"{place}.flags", fail)
    mask_b64 = s.get("mask")
    mask = _shp.decode_shape_mask(mask_b64, shape_type, f"{place}.mask", fail)
    extra = s.get(SEGDESK_KEY, {})
    if not isinstance(extra, dict):
        fail(f"{place}.{SEGDESK_KEY}", f"expected an object, got {_kind(extra)}")
    unknown = s.keys() - _shp.KNOWN_SHAPE_KEYS
    order = tuple(s)
    shape = Shape(
        label=label,
        points=points,
        shape_type=shape_type,
        group_id=group_id,
        description=description,
        flags=flags,
        mask=mask,
        extra=extra,
        other={k: v for k, v in s.items() if k in unknown} if unknown else {},
        key_order=orders.setdefault(order, order),
    )
    if ints or mask is not None or corners is not None:
        _ORIGINS[shape] = _Origin(
            ints=ints,
            mask=mask,
            mask_b64=mask_b64 if mask is not None else None,
            corners=corners,
            box=points.copy() if corners is not None else None,
        )
    return shape


@dataclass
class _Origin:
    """What a loaded shape looked like in its file, for a faithful write-back."""

    ints: bool
    mask: np.ndarray | None
    mask_b64: str | None
    corners: np.ndarray | None = None  # a 4-corner rectangle's points as the file had them
    box: np.ndarray | None = None  # ... and the 2-point rectangle segdesk made of them

    def __post_init__(self) -> None:
        if self.mask is not None:
            self.mask = self.mask.copy()  # the shape's own mask may be edited in place


_ORIGINS: weakref.WeakKeyDictionary[Shape, _Origin] = weakref.WeakKeyDictionary()
