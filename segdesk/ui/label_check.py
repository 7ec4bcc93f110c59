"""A label typed by the person that labels.txt does not list: ask before it is used.

With a labels.txt, a label missing from it is left out of training and exported as an ignored
region, so a typo ("cel") would silently become unlabelled area. The person chooses: add it to
labels.txt (as the last line, so existing class values keep their numbers), use it anyway (asked
once per label and folder), or change it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from PySide6.QtWidgets import QMessageBox, QWidget

from segdesk.core.errors import SegdeskError
from segdesk.core.labels_file import append_label
from segdesk.core.project import BACKGROUND_LABEL, IGNORE_LABEL

NewLabelAnswer = Literal["add", "keep", "change"]


def ask_add_label(parent: QWidget, label: str, listed: list[str]) -> NewLabelAnswer:
    """Add to labels.txt / Use without adding / Change label (Esc)."""
    shown = [n for n in listed if n not in (BACKGROUND_LABEL, IGNORE_LABEL)]
    names = ", ".join(shown[:8]) + (", ..." if len(shown) > 8 else "")
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Label not in labels.txt",
        f"{label!r} is not in labels.txt ({names or 'no classes yet'}).\n\n"
        "Shapes with a label missing from labels.txt are left out of training and exported as "
        f"ignored regions. Add {label!r} to labels.txt as a new class?",
        QMessageBox.StandardButton.NoButton,
        parent,
    )
    box.setObjectName("new_label_question")
    add = box.addButton("Add to labels.txt", QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton("Use without adding", QMessageBox.ButtonRole.DestructiveRole)
    change = box.addButton("Change label", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(add)
    box.setEscapeButton(change)
    box.exec()
    clicked = box.clickedButton()
    return "add" if clicked is add else "keep" if clicked is keep else "change"


class LabelCheck:
    """Checks labels against the open folder's labels.txt; ``ask`` is replaceable (tests)."""

    def __init__(
        self, session, ask: Callable[[str, list[str]], NewLabelAnswer], report: Callable[[str], None]
    ):
        self.session = session
        self.ask = ask
        self.report = report
        self._kept: set[str] = set()

    def reset(self) -> None:
        """Another folder: its own labels.txt, its own answers."""
        self._kept.clear()

    def listed(self) -> list[str] | None:
        """labels.txt's labels, or None without one (then any label is fine)."""
        project = self.session.project
        if project is None or not self.session.has_labels_file():
            return None
        try:
            return project.label_names()
        except SegdeskError:
            return None

    def accept(self, label: str) -> bool:
        """True when ``label`` may be used (listed, added now, or kept); False: choose another one."""
        listed = self.listed()
        if listed is None or label in listed or label in self._kept or label == BACKGROUND_LABEL:
            return True
        answer = self.ask(label, listed)
        if answer == "change":
            return False
        if answer == "keep":
            self._kept.add(label)
            return True
        try:
            append_label(self.session.project.labels_file, label)
        except SegdeskError as exc:
            self.report(str(exc))
            return False
        self.session.labels_file_changed()
        return True


__all__ = ["LabelCheck", "NewLabelAnswer", "ask_add_label"]
