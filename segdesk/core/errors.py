"""One error hierarchy for segdesk. Every message names the file and the place."""

from __future__ import annotations

from pathlib import Path


class SegdeskError(Exception):
    """Base of every error segdesk raises on purpose."""


class _LocatedError(SegdeskError):
    """An error about a file, optionally at a place inside it (``shapes[3].points``)."""

    def __init__(self, path: str | Path | None, place: str | None, message: str) -> None:
        self.path = None if path is None else str(path)
        self.place = place
        self.detail = message
        prefix = self.path or "<memory>"
        if place:
            prefix = f"{prefix}: {place}"
        super().__init__(f"{prefix}: {message}")


class AnnotationReadError(_LocatedError):
    """A Labelme JSON file cannot be read: bad JSON, wrong types, bad geometry."""


class AnnotationWriteError(_LocatedError):
    """An annotation cannot be written (read-only folder, full disk, ...)."""


class ImageReadError(_LocatedError):
    """An image file is missing, unreadable or in a format segdesk cannot open."""


class ProjectError(_LocatedError):
    """A project folder or one of its files (labels.txt, ...) is unusable."""


class ModelError(_LocatedError):
    """A model or checkpoint is missing, damaged or does not match."""


class TrainingError(SegdeskError):
    """Training cannot start or went wrong (no reviewed images, one class, NaN loss ...)."""


class ExportError(_LocatedError):
    """An export could not be written."""


class Cancelled(SegdeskError):
    """Raised inside long work when its cancel token is set."""
