"""Writing proposals into an image's Labelme JSON: one rule for the app and ``segdesk predict --write``.

Which files: never a reviewed one (decided from the file on disk, before anything is opened for
writing). Which shapes: only proposals are replaced; a shape a person drew, edited or accepted stays
as it is and where it is. Which images "Predict all" proposes for (:func:`wants_proposals`): an image
nobody has labelled yet, or one whose proposals came from another model version (a retrain or a
model switch made them out of date); an image a person has started on without proposals is theirs.

Each written file records what made its proposals (:func:`proposal_stamp`, under ``"proposals_from"``
in segdesk's key), so a resumed ``predict --resume`` knows which files are up to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segdesk.core import disk_stamps
from segdesk.core.document import Document
from segdesk.core.errors import SegdeskError
from segdesk.core.shapes import Shape

if TYPE_CHECKING:
    from segdesk.core.project import ImageEntry, Project

STAMP_KEY = "proposals_from"
#: Statuses whose files hold a person's labels (core/review.py): never written, never re-proposed.
PERSONS = ("reviewed", "elsewhere")


def proposal_stamp(model_version: str | None, settings: dict[str, Any]) -> dict[str, Any]:
    """What made an image's proposals: the model version and every setting that changes them."""
    return {"model_version": model_version, "settings": dict(sorted(settings.items()))}


def replace_proposals(
    document: Document, proposals: list[Shape], stamp: dict[str, Any] | None = None
) -> Document:
    """Keep every shape that is not a proposal (in order), then the new proposals; mark ``proposed``
    when the image now carries proposals. Changes ``document`` in place (one notification)."""
    document.shapes = [s for s in document.shapes if not s.is_proposal] + list(proposals)
    if proposals or document.extra.get("status") == "proposed":
        document.extra["status"] = "proposed"
    if stamp is not None:
        document.extra[STAMP_KEY] = stamp
    document.notify("shapes")
    return document


def has_stale_proposals(document: Document, model_version: str | None) -> bool:
    """Whether ``document`` carries proposals made by another model version than ``model_version``."""
    return any(s.extra.get("model_version") != model_version for s in document.proposals)


def wants_proposals(project: Project, entry: ImageEntry, model_version: str | None) -> bool:
    """Whether "Predict all" should (re-)propose for this image (see the module doc)."""
    if project.status(entry) in PERSONS:
        return False
    if not entry.json_path.is_file():
        return True
    try:
        document = project.load(entry)
    except SegdeskError:
        return False  # an unreadable file is reported when opened, never overwritten
    if document.status in PERSONS:
        return False
    return not document.shapes or has_stale_proposals(document, model_version)


@dataclass(frozen=True)
class WriteOutcome:
    written: bool
    note: str  # for a log line: ", written to x.json" / ", reviewed: left as it is"


def write_proposals(
    project: Project, entry: ImageEntry, shapes: list[Shape], stamp: dict[str, Any] | None
) -> WriteOutcome:
    """Put ``shapes`` into the image's JSON under the rule above. Raises AnnotationRead/WriteError."""
    if project.status(entry) in PERSONS:  # decided from the file on disk (core/review.py)
        return WriteOutcome(False, ", reviewed: left as it is")
    document = project.load(entry)
    if document.status in PERSONS:
        return WriteOutcome(False, ", reviewed: left as it is")
    # the file as read, checked again just before the write (another program may have saved it)
    project.save(
        entry, replace_proposals(document, shapes, stamp), if_unchanged=disk_stamps.stamp_for(document)
    )
    return WriteOutcome(True, f", written to {entry.json_path.name}")


__all__ = [
    "STAMP_KEY",
    "WriteOutcome",
    "has_stale_proposals",
    "proposal_stamp",
    "replace_proposals",
    "wants_proposals",
    "write_proposals",
]
