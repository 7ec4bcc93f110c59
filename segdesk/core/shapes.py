"""Shapes as Labelme writes them, plus segdesk's provenance, as plain data.

A shape keeps every key of the file it came from: the standard Labelme keys become fields, segdesk's
own key (``"segdesk"``) becomes ``extra``, any other key lands in ``other``, and ``key_order``
remembers the order in which the file had them so that a save writes them back in the same order.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

ShapeType = Literal[
    "polygon",
    "rectangle",
    "oriented_rectangle",
    "rotation",
    "circle",
    "line",
    "linestrip",
    "point",
    "points",
    "mask",
]
SHAPE_TYPES: tuple[str, ...] = get_args(ShapeType)

#: Closed shapes through their four corners: Labelme's oriented rectangle and X-AnyLabeling's rotated
#: box ("rotation", whose angle key "direction" is kept as written). Drawn, edited, trained and
#: exported as a 4-point polygon; saved under the type the file gave.
FOUR_CORNER_TYPES: tuple[str, ...] = ("oriented_rectangle", "rotation")

#: The key segdesk adds to a Labelme file and to each shape for its own state.
SEGDESK_KEY = "segdesk"

#: The keys Labelme itself writes for a shape, in Labelme's order.
LABELME_SHAPE_KEYS: tuple[str, ...] = (
    "label",
    "points",
    "group_id",
    "description",
    "shape_type",
    "flags",
    "mask",
)

#: Minimum number of points per shape type; ``None`` means an exact count is not required.
MIN_POINTS: dict[str, int] = {
    "polygon": 3,
    "rectangle": 2,
    "oriented_rectangle": 4,
    "rotation": 4,
    "circle": 2,
    "line": 2,
    "linestrip": 2,
    "point": 1,
    "points": 1,
    "mask": 2,
}

ProvenanceSource = Literal["person", "model"]


@dataclass(eq=False)
class Shape:
    """One Labelme shape.

    ``points`` is a float64 array of shape (N, 2) in image pixel coordinates (x, y).
    ``mask`` is a bool array (the crop inside the bounding box given by ``points``) for mask shapes.
    ``extra`` is segdesk's own per-shape state (provenance), stored under ``"segdesk"``.
    """

    label: str
    points: np.ndarray
    shape_type: ShapeType = "polygon"
    group_id: int | None = None
    description: str | None = ""
    flags: dict[str, Any] | None = field(default_factory=dict)
    mask: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    other: dict[str, Any] = field(default_factory=dict)
    key_order: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float64).reshape(-1, 2)

    # --- provenance -------------------------------------------------------------------------
    @property
    def is_proposal(self) -> bool:
        """A model's proposal that no person has accepted yet."""
        return bool(self.extra.get("proposal", False))

    @property
    def is_from_person(self) -> bool:
        """Drawn by a person, or a model's shape a person accepted and then edited."""
        return self.extra.get("source", "person") == "person" or bool(self.extra.get("edited"))

    def copy(self) -> Shape:
        """A deep copy (points, mask and dicts are not shared)."""
        return Shape(
            label=self.label,
            points=self.points.copy(),
            shape_type=self.shape_type,
            group_id=self.group_id,
            description=self.description,
            flags=copy.deepcopy(self.flags),
            mask=None if self.mask is None else self.mask.copy(),
            extra=copy.deepcopy(self.extra),
            other=copy.deepcopy(self.other),
            key_order=self.key_order,
        )

    def same_as(self, other: Shape) -> bool:
        """Value equality (numpy-aware)."""
        if not isinstance(other, Shape):
            return False
        if (self.mask is None) != (other.mask is None):
            return False
        if self.mask is not None and not np.array_equal(self.mask, other.mask):
            return False
        return (
            self.label == other.label
            and self.shape_type == other.shape_type
            and np.array_equal(self.points, other.points)
            and self.group_id == other.group_id
            and self.description == other.description
            and self.flags == other.flags
            and self.extra == other.extra
            and self.other == other.other
        )


def bounding_box(shape: Shape) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of a shape's geometry (a circle's full disc)."""
    pts = shape.points
    if shape.shape_type == "circle" and len(pts) >= 2:
        (cx, cy), (px, py) = pts[0], pts[1]
        r = float(np.hypot(px - cx, py - cy))
        return (cx - r, cy - r, cx + r, cy + r)
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


def polygon_area(points: np.ndarray) -> float:
    """Absolute area of a simple polygon by the shoelace formula."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 3:
        return 0.0
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)
