"""Labels in the window: the label a finished shape gets, editing the selected shapes' labels, the
label new shapes get. The window owns one :class:`LabelEditing`; the canvas asks it for new labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QWidget

from segdesk.ui.dialogs.label_dialog import LabelDialog
from segdesk.ui.label_check import LabelCheck, ask_add_label
from segdesk.ui.session import Session
from segdesk.ui.settings import AppSettings


class LabelEditing:
    """``labels_changed`` is called when labels.txt may have a new line; ``status`` shows a short line."""

    def __init__(
        self,
        window: QWidget,
        session: Session,
        canvas: Any,
        settings: AppSettings,
        *,
        labels_changed: Callable[[], None],
        status: Callable[[str], None],
        error: Callable[[str], None],
    ) -> None:
        self.session, self.canvas, self.settings = session, canvas, settings
        self._labels_changed, self._status = labels_changed, status
        self.dialog = LabelDialog(window)
        self.check = LabelCheck(session, lambda label, listed: ask_add_label(window, label, listed), error)
        self.last_label = settings.last_label()

    def ask_new_label(self) -> tuple[str, int | None, str] | None:
        """The canvas asks this when a shape is finished; None cancels the shape."""
        known = self.session.known_labels
        result = self.dialog.ask(self.last_label, known_labels=known())
        while result is not None and not self.check.accept(result.label):
            result = self.dialog.ask(result.label, result.group_id, result.description, known_labels=known())
        if result is None:
            return None
        self.remember(result.label)
        self._labels_changed()  # labels.txt may have a new line
        return result.label, result.group_id, result.description

    def edit_selected(self) -> None:
        """Change label, group id, description, flags of the selected shapes (only fields changed)."""
        document, selected = self.session.document, self.canvas.selected_indices()
        if document is None or not selected:
            return
        first = document.shapes[selected[0]]
        flag_names = list(dict.fromkeys(k for s in document.shapes for k in (s.flags or {})))
        before = (first.label, first.group_id, first.description or "", dict(first.flags or {}))
        known = self.session.known_labels
        result = self.dialog.ask(*before, known_labels=known(), flag_names=flag_names)
        while result is not None and result.label != first.label and not self.check.accept(result.label):
            result = self.dialog.ask(
                result.label,
                result.group_id,
                result.description,
                result.flags,
                known_labels=known(),
                flag_names=flag_names,
            )
        if result is None:
            return
        after = (result.label, result.group_id, result.description, result.flags)
        names = ("label", "group_id", "description", "flags")
        changes = {n: new for n, old, new in zip(names, before, after, strict=True) if old != new}
        if len(selected) > 1 and "flags" in changes:
            # One dialog shows the first shape's flags; applying them to all would overwrite theirs.
            changes.pop("flags")
        if changes:
            self.canvas.edit_selected_props(**changes)
        self.remember(result.label)

    def choose(self, label: str) -> None:
        """A label picked in the Labels dock: new shapes get it."""
        self.remember(label)
        self.canvas.set_current_label(label)
        self._status(f"New shapes get the label {label!r}")

    def remember(self, label: str) -> None:
        self.last_label = label
        self.settings.set_last_label(label)
        self.session.remember_label(label)
        self.canvas.set_current_label(label)
