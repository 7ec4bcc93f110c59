"""QUndoCommand adapter around segdesk.core.commands, and the project's undo stack defaults."""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand, QUndoStack

from segdesk.core.commands import Command
from segdesk.core.document import Document

#: Deep enough for hours of work; commands are deltas, so this costs little memory.
UNDO_LIMIT = 5000

_merge_ids: dict[tuple[object, ...], int] = {}


def _merge_id(key: tuple[object, ...] | None) -> int:
    """Qt merges commands with equal non-negative ids; map each merge key to a stable id."""
    if key is None:
        return -1
    return _merge_ids.setdefault(key, len(_merge_ids) + 1)


class DocumentCommand(QUndoCommand):
    """One core command on one document as a QUndoCommand. ``redo`` runs when pushed."""

    def __init__(self, document: Document, command: Command) -> None:
        super().__init__(command.text)
        self.document = document
        self.command = command

    def redo(self) -> None:
        self.command.do(self.document)

    def undo(self) -> None:
        self.command.undo(self.document)

    def id(self) -> int:
        return _merge_id(self.command.merge_key())

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, DocumentCommand) or other.document is not self.document:
            return False
        return self.command.merge(other.command)


def make_undo_stack(parent: object | None = None) -> QUndoStack:
    """A QUndoStack with segdesk's undo limit (set before anything is pushed, as Qt requires)."""
    stack = QUndoStack(parent)  # type: ignore[arg-type]
    stack.setUndoLimit(UNDO_LIMIT)
    return stack
