"""The annotation of one image (one Labelme JSON file) as plain data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from segdesk.core import review
from segdesk.core.shapes import SEGDESK_KEY, Shape

ImageStatus = review.Status
IMAGE_STATUSES: tuple[str, ...] = review.STATUSES

#: The keys Labelme writes at file level, in Labelme's order.
LABELME_FILE_KEYS: tuple[str, ...] = (
    "version",
    "flags",
    "shapes",
    "imagePath",
    "imageData",
    "imageHeight",
    "imageWidth",
)

#: The Labelme format version segdesk writes into new files.
LABELME_VERSION = "5.5.0"


@dataclass(frozen=True)
class ShapesChange:
    """One step of a change to ``Document.shapes``, sent as notification detail.

    ``kind``: ``"added"`` (``indices`` are positions after the insertion, ascending), ``"removed"``
    (positions before the removal, ascending) or ``"changed"`` (shapes replaced in place or edited).
    ``geometry`` is False when only properties (label, group id, flags ...) changed.
    """

    kind: Literal["added", "removed", "changed"]
    indices: tuple[int, ...]
    geometry: bool = True


@dataclass(eq=False)
class Document:
    """One image's annotation.

    ``extra`` is segdesk's file-level state (``status`` ...) stored under ``"segdesk"``;
    ``other`` holds unknown keys kept for a lossless round trip; ``key_order`` the file's key order.
    ``image_data`` is the base64 text of an embedded image exactly as the file had it (or ``None``).
    ``path`` is the JSON file it was loaded from or last saved to, if any.
    """

    image_path: str
    image_height: int | None = None
    image_width: int | None = None
    shapes: list[Shape] = field(default_factory=list)
    flags: dict[str, Any] | None = field(default_factory=dict)
    version: str = LABELME_VERSION
    image_data: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    other: dict[str, Any] = field(default_factory=dict)
    key_order: tuple[str, ...] = ()
    path: Path | None = None
    _listeners: list[Callable[[str], None]] = field(default_factory=list, repr=False)
    _detail_listeners: list[Callable[[str, Any], None]] = field(default_factory=list, repr=False)

    # --- status -----------------------------------------------------------------------------
    @property
    def status(self) -> ImageStatus:
        """unlabeled / in_progress / proposed / reviewed / elsewhere (see :mod:`segdesk.core.review`).

        Reviewed only with a person's review record; shapes from another tool (no segdesk key) or
        an older segdesk's bare "reviewed" are "elsewhere" until the person confirms them.
        """
        return review.status_of(self)

    def set_status(self, status: ImageStatus) -> None:
        """Store ``status``; "reviewed" records a person's review (as :func:`review.mark_reviewed`)."""
        if status not in IMAGE_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if status == "reviewed":
            review.mark_reviewed(self)
            return
        self.extra.pop("reviewed", None)
        self.extra["status"] = status
        self.notify("status")

    # --- change notifications ---------------------------------------------------------------
    def subscribe(self, listener: Callable[..., None], *, detail: bool = False) -> None:
        """Call ``listener(what)`` after each change (``"shapes"``, ``"status"``, ``"flags"``).

        With ``detail=True`` the listener is called as ``listener(what, detail)``: for ``"shapes"``
        ``detail`` is a tuple of :class:`ShapesChange` in the order they happened, or ``None`` when
        anything may have changed (rebuild everything).
        """
        (self._detail_listeners if detail else self._listeners).append(listener)

    def unsubscribe(self, listener: Callable[..., None]) -> None:
        for listeners in (self._listeners, self._detail_listeners):
            if listener in listeners:
                listeners.remove(listener)

    def notify(self, what: str, detail: Any = None) -> None:
        """Tell listeners ``what`` changed; ``detail`` goes only to listeners subscribed with detail."""
        for listener in list(self._listeners):
            listener(what)
        for detail_listener in list(self._detail_listeners):
            detail_listener(what, detail)

    # --- helpers ----------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """Labels used in this document, in order of first appearance."""
        return list(dict.fromkeys(s.label for s in self.shapes))

    @property
    def person_shapes(self) -> list[Shape]:
        return [s for s in self.shapes if not s.is_proposal]

    @property
    def proposals(self) -> list[Shape]:
        return [s for s in self.shapes if s.is_proposal]


__all__ = [
    "Document",
    "ShapesChange",
    "ImageStatus",
    "IMAGE_STATUSES",
    "LABELME_FILE_KEYS",
    "LABELME_VERSION",
    "SEGDESK_KEY",
]
