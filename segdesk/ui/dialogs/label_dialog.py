"""The label dialog: label (completion from known labels, new ones allowed), group id, description, flags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from segdesk.core.label_rules import label_problem
from segdesk.ui.panels.labels import swatch_icon


@dataclass
class LabelResult:
    """What the person entered; ``group_id`` is None when the field is empty."""

    label: str
    group_id: int | None = None
    description: str = ""
    flags: dict[str, Any] = field(default_factory=dict)


class LabelDialog(QDialog):
    """Ask for a shape's label and properties. Use :meth:`ask`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Label")
        self.setObjectName("label_dialog")
        #: labels.txt order the swatches are coloured by, as on the canvas (None: by name).
        self.label_order: list[str] | None = None
        self.label_edit = QLineEdit()
        self.label_edit.setObjectName("label_edit")
        self.label_edit.setPlaceholderText("Label (type a new one or pick below)")
        self.completer = QCompleter([], self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.label_edit.setCompleter(self.completer)
        self.new_note = QLabel()
        self.new_note.setStyleSheet("color: #a06000")
        self.group_edit = QLineEdit()
        self.group_edit.setObjectName("group_edit")
        self.group_edit.setValidator(QIntValidator(0, 2**31 - 1, self))
        self.group_edit.setPlaceholderText("Group id (optional)")
        self.group_edit.setMaximumWidth(140)
        self.description_edit = QPlainTextEdit()
        self.description_edit.setObjectName("description_edit")
        self.description_edit.setPlaceholderText("Description (optional)")
        self.description_edit.setMaximumHeight(60)
        self.description_edit.setTabChangesFocus(True)
        self.labels_list = QListWidget()
        self.labels_list.setObjectName("labels_list")
        self.flags_box = QWidget()
        self.flags_layout = QHBoxLayout(self.flags_box)
        self.flags_layout.setContentsMargins(0, 0, 0, 0)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )

        form = self._form = QFormLayout()
        form.addRow("Label", self.label_edit)
        form.addRow("", self.new_note)
        form.addRow("Group id", self.group_edit)
        form.addRow("Description", self.description_edit)
        form.addRow("Flags", self.flags_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.labels_list, 1)
        layout.addWidget(self.buttons)
        self.resize(360, 420)

        self._known: list[str] = []
        self._flag_boxes: dict[str, QCheckBox] = {}
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.label_edit.textChanged.connect(self._on_text)
        self.labels_list.currentTextChanged.connect(self._on_pick)
        self.labels_list.itemDoubleClicked.connect(lambda _item: self.accept())

    def ask(
        self,
        label: str = "",
        group_id: int | None = None,
        description: str | None = "",
        flags: dict[str, Any] | None = None,
        *,
        known_labels: Sequence[str] = (),
        flag_names: Sequence[str] = (),
    ) -> LabelResult | None:
        """Show the dialog modally; the result, or None when cancelled."""
        self.set_values(label, group_id, description, flags, known_labels=known_labels, flag_names=flag_names)
        if self.exec() != QDialog.DialogCode.Accepted:
            return None
        return self.result_value()

    def set_values(
        self,
        label: str = "",
        group_id: int | None = None,
        description: str | None = "",
        flags: dict[str, Any] | None = None,
        *,
        known_labels: Sequence[str] = (),
        flag_names: Sequence[str] = (),
    ) -> None:
        self._known = list(dict.fromkeys(known_labels))
        self.completer.model().setStringList(self._known)  # type: ignore[attr-defined]
        self.labels_list.blockSignals(True)
        self.labels_list.clear()
        for name in self._known:
            self.labels_list.addItem(name)
            icon = swatch_icon(name, labels=self.label_order)
            self.labels_list.item(self.labels_list.count() - 1).setIcon(icon)
        self.labels_list.blockSignals(False)
        self.label_edit.setText(label)
        self.label_edit.selectAll()
        self.group_edit.setText("" if group_id is None else str(group_id))
        self.description_edit.setPlainText(description or "")
        self._set_flags(flags or {}, flag_names)
        self._on_text(label)
        self.label_edit.setFocus()

    def result_value(self) -> LabelResult:
        group = self.group_edit.text().strip()
        return LabelResult(
            label=self.label_edit.text().strip(),
            group_id=int(group) if group else None,
            description=self.description_edit.toPlainText(),
            flags={name: box.isChecked() for name, box in self._flag_boxes.items()},
        )

    def accept(self) -> None:
        if label_problem(self.label_edit.text().strip()) is None:
            super().accept()

    def _set_flags(self, flags: dict[str, Any], flag_names: Sequence[str]) -> None:
        for box in self._flag_boxes.values():
            self.flags_layout.removeWidget(box)
            box.deleteLater()
        self._flag_boxes = {}
        for name in dict.fromkeys([*flag_names, *flags]):
            box = QCheckBox(name)
            box.setChecked(bool(flags.get(name, False)))
            self.flags_layout.addWidget(box)
            self._flag_boxes[name] = box
        self._form.setRowVisible(self.flags_box, bool(self._flag_boxes))

    def _on_text(self, text: str) -> None:
        text = text.strip()
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        problem = label_problem(text) if text else None
        ok.setEnabled(bool(text) and problem is None)
        note = "" if not text or text in self._known else f"New label: {text!r}"
        if problem is not None:
            note = f"Not a label: {problem}"
        self.new_note.setText(note)
        self._form.setRowVisible(self.new_note, bool(note))
        matches = self.labels_list.findItems(text, Qt.MatchFlag.MatchExactly) if text else []
        self.labels_list.blockSignals(True)
        self.labels_list.setCurrentItem(matches[0] if matches else None)
        self.labels_list.blockSignals(False)

    def _on_pick(self, text: str) -> None:
        if text:
            self.label_edit.setText(text)
