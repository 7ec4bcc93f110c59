"""Small undoable edits of a Document, stored as deltas (Qt-free).

Each command changes only what it names and remembers just enough to undo it: indices, old and new
points, old and new properties. ``do`` and ``undo`` notify the document once with a tuple of
:class:`~segdesk.core.document.ShapesChange` so a view can update only the touched items.

Editing a model's proposal makes it the person's shape (``extra["proposal"] = False``,
``extra["edited"] = True``); the command records the old ``extra`` so undo restores the proposal.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from segdesk.core.document import Document, ShapesChange
from segdesk.core.shapes import MIN_POINTS, Shape

#: Marks a property that a SetShapeProps command leaves alone.
UNSET: Any = object()

_PROPS: tuple[str, ...] = ("label", "group_id", "description", "flags")


class Command(ABC):
    """Base class: subclasses implement ``apply`` and ``revert`` returning the changes they made."""

    text: str = "edit"

    def do(self, document: Document) -> None:
        """Apply the edit and notify the document once."""
        document.notify("shapes", tuple(self.apply(document)))

    def undo(self, document: Document) -> None:
        """Revert the edit and notify the document once."""
        document.notify("shapes", tuple(self.revert(document)))

    @abstractmethod
    def apply(self, document: Document) -> list[ShapesChange]:
        """Make the change without notifying; return what changed."""

    @abstractmethod
    def revert(self, document: Document) -> list[ShapesChange]:
        """Undo the change without notifying; return what changed."""

    def merge_key(self) -> tuple[Any, ...] | None:
        """Commands with equal non-None keys may merge (keyboard nudges)."""
        return None

    def merge(self, other: Command) -> bool:
        """Absorb ``other`` (which came right after this one); True when merged."""
        return False


class _Claims:
    """Turns proposals into the person's shapes and remembers their old ``extra`` for undo."""

    def __init__(self) -> None:
        self._old: dict[int, dict[str, Any]] = {}

    def claim(self, document: Document, index: int) -> None:
        shape = document.shapes[index]
        if not shape.is_proposal:
            return
        self._old.setdefault(index, copy.deepcopy(shape.extra))
        shape.extra["proposal"] = False
        shape.extra["edited"] = True

    def restore(self, document: Document) -> None:
        for index, extra in self._old.items():
            document.shapes[index].extra = copy.deepcopy(extra)


def _sorted_unique(indices: Iterable[int]) -> list[int]:
    return sorted({int(i) for i in indices})


class AddShapes(Command):
    """Insert ``shapes`` so that they end up at ``indices`` (positions after the insertion)."""

    def __init__(self, indices: Sequence[int], shapes: Sequence[Shape], *, text: str = "add shapes") -> None:
        if len(indices) != len(shapes):
            raise ValueError(f"AddShapes: {len(indices)} indices for {len(shapes)} shapes")
        order = np.argsort(np.asarray(indices, dtype=np.int64), kind="stable")
        self.indices = [int(indices[i]) for i in order]
        self.shapes = [shapes[i] for i in order]
        if len(set(self.indices)) != len(self.indices):
            raise ValueError("AddShapes: duplicate indices")
        self.text = text

    def apply(self, document: Document) -> list[ShapesChange]:
        for index, shape in zip(self.indices, self.shapes, strict=True):
            if index > len(document.shapes):
                raise IndexError(f"AddShapes: index {index} past the end ({len(document.shapes)} shapes)")
            document.shapes.insert(index, shape)
        return [ShapesChange("added", tuple(self.indices))]

    def revert(self, document: Document) -> list[ShapesChange]:
        for index in reversed(self.indices):
            del document.shapes[index]
        return [ShapesChange("removed", tuple(self.indices))]


class RemoveShapes(Command):
    """Remove the shapes at ``indices``; they are kept for undo."""

    def __init__(self, indices: Iterable[int], *, text: str = "delete shapes") -> None:
        self.indices = _sorted_unique(indices)
        self.removed: list[Shape] = []
        self.text = text

    def apply(self, document: Document) -> list[ShapesChange]:
        self.removed = [document.shapes[i] for i in self.indices]
        for index in reversed(self.indices):
            del document.shapes[index]
        return [ShapesChange("removed", tuple(self.indices))]

    def revert(self, document: Document) -> list[ShapesChange]:
        for index, shape in zip(self.indices, self.removed, strict=True):
            document.shapes.insert(index, shape)
        return [ShapesChange("added", tuple(self.indices))]


class MoveShapes(Command):
    """Translate whole shapes by (dx, dy); ``mergeable`` for keyboard nudges of the same shapes."""

    def __init__(
        self, indices: Iterable[int], dx: float, dy: float, *, mergeable: bool = False, text: str = "move"
    ) -> None:
        self.indices = _sorted_unique(indices)
        self.dx, self.dy = float(dx), float(dy)
        self.mergeable = mergeable
        self.text = text
        self._claims = _Claims()

    def apply(self, document: Document) -> list[ShapesChange]:
        for index in self.indices:
            self._claims.claim(document, index)
            document.shapes[index].points += (self.dx, self.dy)
        return [ShapesChange("changed", tuple(self.indices))]

    def revert(self, document: Document) -> list[ShapesChange]:
        for index in self.indices:
            document.shapes[index].points -= (self.dx, self.dy)
        self._claims.restore(document)
        return [ShapesChange("changed", tuple(self.indices))]

    def merge_key(self) -> tuple[Any, ...] | None:
        return ("move", tuple(self.indices)) if self.mergeable else None

    def merge(self, other: Command) -> bool:
        if not isinstance(other, MoveShapes) or other.merge_key() != self.merge_key() or not self.mergeable:
            return False
        self.dx += other.dx
        self.dy += other.dy
        return True


class MoveVertex(Command):
    """Move one vertex from ``old_xy`` to ``new_xy``; ``mergeable`` for keyboard nudges."""

    def __init__(
        self,
        shape_index: int,
        vertex_index: int,
        old_xy: Sequence[float],
        new_xy: Sequence[float],
        *,
        mergeable: bool = False,
        text: str = "move vertex",
    ) -> None:
        self.shape_index, self.vertex_index = int(shape_index), int(vertex_index)
        self.old_xy = (float(old_xy[0]), float(old_xy[1]))
        self.new_xy = (float(new_xy[0]), float(new_xy[1]))
        self.mergeable = mergeable
        self.text = text
        self._claims = _Claims()

    def apply(self, document: Document) -> list[ShapesChange]:
        self._claims.claim(document, self.shape_index)
        document.shapes[self.shape_index].points[self.vertex_index] = self.new_xy
        return [ShapesChange("changed", (self.shape_index,))]

    def revert(self, document: Document) -> list[ShapesChange]:
        document.shapes[self.shape_index].points[self.vertex_index] = self.old_xy
        self._claims.restore(document)
        return [ShapesChange("changed", (self.shape_index,))]

    def merge_key(self) -> tuple[Any, ...] | None:
        return ("vertex", self.shape_index, self.vertex_index) if self.mergeable else None

    def merge(self, other: Command) -> bool:
        if not isinstance(other, MoveVertex) or not self.mergeable or other.merge_key() != self.merge_key():
            return False
        self.new_xy = other.new_xy
        return True


class InsertVertex(Command):
    """Insert a vertex at ``xy`` so that it becomes ``points[vertex_index]``."""

    def __init__(
        self, shape_index: int, vertex_index: int, xy: Sequence[float], *, text: str = "insert vertex"
    ) -> None:
        self.shape_index, self.vertex_index = int(shape_index), int(vertex_index)
        self.xy = (float(xy[0]), float(xy[1]))
        self.text = text
        self._claims = _Claims()

    def apply(self, document: Document) -> list[ShapesChange]:
        self._claims.claim(document, self.shape_index)
        shape = document.shapes[self.shape_index]
        shape.points = np.insert(shape.points, self.vertex_index, self.xy, axis=0)
        return [ShapesChange("changed", (self.shape_index,))]

    def revert(self, document: Document) -> list[ShapesChange]:
        shape = document.shapes[self.shape_index]
        shape.points = np.delete(shape.points, self.vertex_index, axis=0)
        self._claims.restore(document)
        return [ShapesChange("changed", (self.shape_index,))]


class RemoveVertex(Command):
    """Remove ``points[vertex_index]``; refuses to leave fewer points than the shape type needs."""

    def __init__(self, shape_index: int, vertex_index: int, *, text: str = "delete vertex") -> None:
        self.shape_index, self.vertex_index = int(shape_index), int(vertex_index)
        self.old_xy: tuple[float, float] | None = None
        self.text = text
        self._claims = _Claims()

    @staticmethod
    def allowed(shape: Shape) -> bool:
        """Whether a vertex of ``shape`` may be removed (polygons, linestrips, points only)."""
        if shape.shape_type not in ("polygon", "linestrip", "points"):
            return False
        return len(shape.points) > MIN_POINTS.get(shape.shape_type, 1)

    def apply(self, document: Document) -> list[ShapesChange]:
        shape = document.shapes[self.shape_index]
        if not self.allowed(shape):
            raise ValueError(
                f"shapes[{self.shape_index}]: cannot remove a vertex of a {shape.shape_type} "
                f"with {len(shape.points)} points"
            )
        self._claims.claim(document, self.shape_index)
        x, y = shape.points[self.vertex_index]
        self.old_xy = (float(x), float(y))
        shape.points = np.delete(shape.points, self.vertex_index, axis=0)
        return [ShapesChange("changed", (self.shape_index,))]

    def revert(self, document: Document) -> list[ShapesChange]:
        shape = document.shapes[self.shape_index]
        shape.points = np.insert(shape.points, self.vertex_index, self.old_xy, axis=0)
        self._claims.restore(document)
        return [ShapesChange("changed", (self.shape_index,))]


class SetShapeProps(Command):
    """Set label / group_id / description / flags of shapes; arguments left UNSET stay as they are."""

    def __init__(
        self,
        indices: Iterable[int],
        *,
        label: Any = UNSET,
        group_id: Any = UNSET,
        description: Any = UNSET,
        flags: Any = UNSET,
        text: str = "edit shape",
    ) -> None:
        self.indices = _sorted_unique(indices)
        values = {"label": label, "group_id": group_id, "description": description, "flags": flags}
        self.new = {k: v for k, v in values.items() if v is not UNSET}
        self.old: list[dict[str, Any]] = []
        self.text = text
        self._claims = _Claims()

    def apply(self, document: Document) -> list[ShapesChange]:
        self.old = []
        for index in self.indices:
            shape = document.shapes[index]
            self.old.append({k: copy.deepcopy(getattr(shape, k)) for k in self.new})
            self._claims.claim(document, index)
            for key, value in self.new.items():
                setattr(shape, key, copy.deepcopy(value))
        return [ShapesChange("changed", tuple(self.indices), geometry=False)]

    def revert(self, document: Document) -> list[ShapesChange]:
        for index, old in zip(self.indices, self.old, strict=True):
            for key, value in old.items():
                setattr(document.shapes[index], key, value)
        self._claims.restore(document)
        return [ShapesChange("changed", tuple(self.indices), geometry=False)]


class ReplaceShapes(Command):
    """Replace the shapes at ``indices`` by ``shapes`` in place (accepting or re-proposing shapes)."""

    def __init__(
        self, indices: Sequence[int], shapes: Sequence[Shape], *, text: str = "replace shapes"
    ) -> None:
        if len(indices) != len(shapes):
            raise ValueError(f"ReplaceShapes: {len(indices)} indices for {len(shapes)} shapes")
        self.indices = [int(i) for i in indices]
        self.new = list(shapes)
        self.old: list[Shape] = []
        self.text = text

    def apply(self, document: Document) -> list[ShapesChange]:
        self.old = [document.shapes[i] for i in self.indices]
        for index, shape in zip(self.indices, self.new, strict=True):
            document.shapes[index] = shape
        return [ShapesChange("changed", tuple(sorted(set(self.indices))))]

    def revert(self, document: Document) -> list[ShapesChange]:
        for index, shape in zip(self.indices, self.old, strict=True):
            document.shapes[index] = shape
        return [ShapesChange("changed", tuple(sorted(set(self.indices))))]


class Macro(Command):
    """Several commands as one undo step that notifies once (e.g. "accept 240 proposals")."""

    def __init__(self, commands: Sequence[Command], *, text: str = "edit") -> None:
        self.commands = list(commands)
        self.text = text

    def apply(self, document: Document) -> list[ShapesChange]:
        changes: list[ShapesChange] = []
        for command in self.commands:
            changes.extend(command.apply(document))
        return changes

    def revert(self, document: Document) -> list[ShapesChange]:
        changes: list[ShapesChange] = []
        for command in reversed(self.commands):
            changes.extend(command.revert(document))
        return changes


def accept_proposals(document: Document, indices: Iterable[int] | None = None) -> Macro:
    """A macro that accepts proposals (all, or those at ``indices``) as the person's shapes."""
    chosen = range(len(document.shapes)) if indices is None else _sorted_unique(indices)
    targets = [i for i in chosen if document.shapes[i].is_proposal]
    accepted = []
    for index in targets:
        shape = document.shapes[index].copy()
        shape.extra["proposal"] = False
        accepted.append(shape)
    return Macro([ReplaceShapes(targets, accepted)], text=f"accept {len(targets)} proposals")


__all__ = [
    "UNSET",
    "AddShapes",
    "Command",
    "InsertVertex",
    "Macro",
    "MoveShapes",
    "MoveVertex",
    "RemoveShapes",
    "RemoveVertex",
    "ReplaceShapes",
    "SetShapeProps",
    "accept_proposals",
]
