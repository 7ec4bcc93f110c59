"""Shape-level parts of labelme_io: points, geometry rules and mask PNGs (read and write)."""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import PIL.Image

from segdesk.core.errors import AnnotationWriteError
from segdesk.core.image_io import pil_message
from segdesk.core.shapes import LABELME_SHAPE_KEYS, MIN_POINTS, SEGDESK_KEY, SHAPE_TYPES, Shape

KNOWN_SHAPE_KEYS = frozenset(LABELME_SHAPE_KEYS) | {SEGDESK_KEY}

#: Shape types Labelme draws only with exactly this many points (its shape_to_mask asserts it).
EXACT_POINTS: dict[str, int] = {
    "circle": 2,
    "line": 2,
    "point": 1,
    "oriented_rectangle": 4,
    "rotation": 4,
    "mask": 2,
}

_NUMBER_TYPES = {int, float}
_MAX_EXACT_INT = 2**53

Fail = Callable[[str | None, str], NoReturn]


def read_points(raw: Any, place: str, fail: Fail) -> tuple[np.ndarray, bool]:
    """A JSON points list as a float64 (N, 2) array, and whether every coordinate was an integer."""
    if not isinstance(raw, list):
        fail(place, "expected a list of [x, y] pairs")
    # One C-level pass over all coordinates: catches text, booleans, null and nested values at once.
    try:
        types = set(map(type, chain.from_iterable(raw)))
    except TypeError:
        fail(place, "expected a list of [x, y] pairs")
    if not types <= _NUMBER_TYPES:
        bad = next(t for t in types if t not in _NUMBER_TYPES)
        fail(place, f"expected numbers, found {_type_word(bad)}")
    try:
        points = np.array(raw, dtype=np.float64)
    except (ValueError, OverflowError):
        fail(place, "expected a list of [x, y] pairs")
    if points.ndim != 2 or points.shape[1] != 2:
        if points.size == 0 and points.ndim == 1:
            fail(place, "expected at least 1 point, got 0")
        fail(place, "expected a list of [x, y] pairs")
    if not np.isfinite(points).all():
        fail(f"{place}[{_first_non_finite(points)}]", "coordinate is not a finite number")
    return points, float not in types


def _first_non_finite(points: np.ndarray) -> int:
    return int(np.argmin(np.isfinite(points).all(axis=1)))


def _type_word(t: type) -> str:
    return {str: "text", bool: "a boolean", type(None): "null", list: "a list", dict: "an object"}.get(
        t, t.__name__
    )


def check_geometry(shape_type: str, points: np.ndarray, place: str, fail: Fail) -> tuple[str, np.ndarray]:
    """Check the point count for the shape type; a 4-corner rectangle becomes Labelme's 2 points."""
    n = len(points)
    if shape_type == "rectangle" and n == 4:
        return _four_point_rectangle(points)
    if shape_type == "rectangle" and n != 2:
        fail(place, f"a rectangle needs 2 points (or 4 corners), got {n}")
    exact = EXACT_POINTS.get(shape_type)
    if exact is not None and n != exact:
        fail(place, f"a {shape_type} needs exactly {exact} point{'s' * (exact != 1)}, got {n}")
    minimum = MIN_POINTS.get(shape_type, 1)
    if n < minimum:
        fail(place, f"expected at least {minimum} points for a {shape_type}, got {n}")
    return shape_type, points


def _four_point_rectangle(points: np.ndarray) -> tuple[str, np.ndarray]:
    xs, ys = points[:, 0], points[:, 1]
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    corners = {(x0, y0), (x0, y1), (x1, y0), (x1, y1)}
    if {(float(x), float(y)) for x, y in points} == {(float(x), float(y)) for x, y in corners}:
        return "rectangle", np.array([[x0, y0], [x1, y1]], dtype=np.float64)
    return "polygon", points


def decode_shape_mask(raw: Any, shape_type: str, place: str, fail: Fail) -> np.ndarray | None:
    """Decode a shape's base64 PNG mask as Labelme does (any non-zero pixel is inside)."""
    if raw is None:
        if shape_type == "mask":
            fail(place, "a mask shape needs its mask (a base64 PNG)")
        return None
    if not isinstance(raw, str):
        fail(place, "expected a base64 PNG as text")
    try:
        data = base64.b64decode(raw, validate=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with PIL.Image.open(io.BytesIO(data)) as im:
                array = np.asarray(im)
    except (binascii.Error, ValueError) as exc:
        fail(place, f"not valid base64: {exc}")
    except Exception as exc:  # Pillow raises many types for damaged images
        fail(place, f"cannot decode the mask image: {pil_message(exc)}")
    if array.ndim != 2:
        fail(place, f"expected a single-channel mask image, got shape {array.shape}")
    if array.size == 0:
        fail(place, "the mask image is empty")
    return array.astype(bool)


def check_for_write(shape: Shape, place: str, error_path: Path | None) -> tuple[str, np.ndarray]:
    """Refuse to write a shape segdesk itself could not read back."""

    def fail(where: str | None, message: str) -> NoReturn:
        raise AnnotationWriteError(error_path, where, message)

    if not isinstance(shape.label, str):
        fail(f"{place}.label", f"expected text, got {type(shape.label).__name__}")
    if shape.shape_type not in SHAPE_TYPES:
        fail(f"{place}.shape_type", f"unknown shape type {shape.shape_type!r}")
    gid = shape.group_id
    if gid is not None and (isinstance(gid, bool) or not isinstance(gid, (int, np.integer))):
        fail(f"{place}.group_id", f"expected a whole number or None, got {type(gid).__name__}")
    points = np.asarray(shape.points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        fail(f"{place}.points", f"expected an (N, 2) array, got shape {points.shape}")
    if not np.isfinite(points).all():
        fail(f"{place}.points[{_first_non_finite(points)}]", "coordinate is not a finite number")
    shape_type, points = check_geometry(shape.shape_type, points, f"{place}.points", fail)
    if shape.mask is not None and np.asarray(shape.mask).ndim != 2:
        fail(f"{place}.mask", "expected a 2-D mask")
    if shape_type == "mask" and shape.mask is None:
        fail(f"{place}.mask", "a mask shape needs its mask")
    return shape_type, points


def points_to_json(points: np.ndarray, *, ints: bool) -> np.ndarray:
    """A C-contiguous array to write: int64 when the file had integers and the values still are."""
    if (
        ints
        and len(points)
        and np.all(np.abs(points) < _MAX_EXACT_INT)
        and np.all(points == np.trunc(points))
    ):
        return points.astype(np.int64)
    return np.ascontiguousarray(points, dtype=np.float64)


def mask_to_json(
    mask: np.ndarray | None, origin_mask: np.ndarray | None, origin_b64: str | None
) -> str | None:
    """The base64 PNG Labelme writes for a mask; the file's own text when the mask is unchanged."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if origin_b64 is not None and origin_mask is not None and np.array_equal(mask.astype(bool), origin_mask):
        return origin_b64
    # As labelme.utils.img_arr_to_b64(mask.astype(np.uint8)): a PNG of 0/1 bytes.
    with io.BytesIO() as f:
        PIL.Image.fromarray(mask.astype(np.uint8)).save(f, format="PNG")
        return base64.b64encode(f.getvalue()).decode("ascii")


__all__ = [
    "EXACT_POINTS",
    "KNOWN_SHAPE_KEYS",
    "SHAPE_TYPES",
    "check_for_write",
    "check_geometry",
    "mask_to_json",
    "points_to_json",
    "decode_shape_mask",
    "read_points",
]
