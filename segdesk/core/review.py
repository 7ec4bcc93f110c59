"""Review status: an image trains only after a person said it is right.

Stored in the JSON file's ``segdesk`` key (Labelme keeps unknown keys, so every file still opens there)::

    "segdesk": {"status": "reviewed", "reviewed": {"how": "marked", "at": "2026-12-05T01:20:00+00:00"}}

``how``: ``marked`` (Mark reviewed), ``confirmed`` (one prompt confirmed files labelled elsewhere),
``import-masks`` (``segdesk import-masks`` made the file from masks the person chose).

The five statuses of an image (see :func:`status_of`):

* ``unlabeled``: no shape;
* ``proposed``: only the model's proposals;
* ``in_progress``: a person's shapes, not marked reviewed;
* ``reviewed``: a person marked it reviewed (the record above); it trains;
* ``elsewhere``: labelled in another tool (shapes, no segdesk key) or marked reviewed by an older
  segdesk that did so silently on save (a bare ``"status": "reviewed"``); trains once confirmed.

Saving never changes a status: it only keeps the stored one current with the content
(:func:`status_for_save`); only :func:`mark_reviewed` and :func:`unreview` do.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from segdesk.core.document import Document

Status = Literal["unlabeled", "proposed", "in_progress", "reviewed", "elsewhere"]
STATUSES: tuple[str, ...] = ("unlabeled", "in_progress", "proposed", "reviewed", "elsewhere")
HOWS: tuple[str, ...] = ("marked", "confirmed", "import-masks", "import-coco", "import-yolo")

#: What the window calls each status.
TITLES: dict[str, str] = {
    "unlabeled": "unlabeled",
    "in_progress": "in progress",
    "proposed": "proposed",
    "reviewed": "reviewed",
    "elsewhere": "labelled elsewhere",
}

#: One line per status for tooltips: what it means and whether it trains.
EXPLAIN: dict[str, str] = {
    "unlabeled": "no shapes yet; does not train",
    "in_progress": "your shapes, not marked reviewed yet; does not train (Mark reviewed: R)",
    "proposed": "only the model's proposals; does not train",
    "reviewed": "you marked it reviewed; it trains",
    "elsewhere": "labelled in another tool (or by an older segdesk); trains once you confirm it",
}


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def review_record(extra: dict[str, Any]) -> dict[str, Any] | None:
    """The ``reviewed`` record of a file's segdesk key when it is a valid one, else None."""
    record = extra.get("reviewed")
    if isinstance(record, dict) and record.get("how") in HOWS and isinstance(record.get("at"), str):
        return record
    return None


def content_status(document: Document) -> Status:
    """unlabeled / proposed / in_progress from the shapes alone."""
    if not document.shapes:
        return "unlabeled"
    if all(s.is_proposal for s in document.shapes):
        return "proposed"
    return "in_progress"


def status_of(document: Document) -> Status:
    """The image's status (see the module docstring)."""
    extra = document.extra
    stored = extra.get("status")
    if stored == "reviewed":
        return "reviewed" if review_record(extra) is not None else "elsewhere"
    if stored == "elsewhere":
        return "elsewhere"
    if stored is None and document.person_shapes:
        return "elsewhere"  # shapes from another tool: nobody confirmed them in segdesk
    return content_status(document)


def status_for_save(document: Document) -> Status:
    """What a save writes: reviewed and elsewhere stay; anything else follows the content."""
    status = status_of(document)
    return status if status in ("reviewed", "elsewhere") else content_status(document)


def reviewed_extra(how: str = "marked", at: str | None = None) -> dict[str, Any]:
    """A segdesk key saying "reviewed" (for writers such as import-masks, and tests)."""
    if how not in HOWS:
        raise ValueError(f"unknown way of reviewing {how!r}")
    return {"status": "reviewed", "reviewed": {"how": how, "at": at or now_iso()}}


def mark_reviewed(document: Document, how: str = "marked", at: str | None = None) -> None:
    """A person said this image is right: it trains."""
    document.extra.update(reviewed_extra(how, at))
    document.notify("status")


def unreview(document: Document) -> None:
    """Take the review back: the status follows the content again (in progress, proposed ...)."""
    document.extra.pop("reviewed", None)
    document.extra["status"] = content_status(document)
    document.notify("status")


__all__ = [
    "EXPLAIN",
    "HOWS",
    "STATUSES",
    "Status",
    "TITLES",
    "content_status",
    "mark_reviewed",
    "now_iso",
    "review_record",
    "reviewed_extra",
    "status_for_save",
    "status_of",
    "unreview",
]
