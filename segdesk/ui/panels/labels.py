"""The labels dock: every known label with its colour, its count on this image and a visibility box.

Right-click a label for its object setting (issue 17): whether touching shapes of that class are
separate objects the model learns to split (``core/instance_settings.py``), never split, or decided
from the reviewed data (the default)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from segdesk.ui.canvas.items import label_rgb

LABEL_ROLE = Qt.ItemDataRole.UserRole + 1
COUNT_ROLE = Qt.ItemDataRole.UserRole + 2


def label_qcolor(label: str, labels: Sequence[str] | None = None) -> QColor:
    """The label's colour as the canvas draws it (stable across runs and machines; ``labels``: the
    labels.txt order the canvas colours by, or None)."""
    return QColor(*label_rgb(label, None if labels is None else list(labels)))


def swatch_icon(label: str, size: int = 14, *, labels: Sequence[str] | None = None) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setPen(QColor(0, 0, 0, 160))
    painter.setBrush(label_qcolor(label, labels))
    painter.drawRect(1, 1, size - 3, size - 3)
    painter.end()
    return QIcon(pixmap)


class LabelsPanel(QDockWidget):
    """Labels in a fixed order; unchecking one hides its shapes on the canvas.

    Signals: ``visibility_changed(label, visible)``, ``label_chosen(label)`` (double click: the
    label new shapes get).
    """

    visibility_changed = Signal(str, bool)
    label_chosen = Signal(str)
    #: (label, True = objects / False = never split / None = from the data): the person's choice.
    object_setting_changed = Signal(str, object)

    #: The object setting's choices, as the label's menu offers them.
    OBJECT_CHOICES = (
        (None, "Objects: decided from the reviewed shapes"),
        (True, "Objects: separate touching shapes"),
        (False, "Not objects: never split"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Labels", parent)
        self.setObjectName("dock_labels")
        self.list = QListWidget()
        self.list.setToolTip("Untick a label to hide its shapes; double-click to draw with it")
        self.note = QLabel()
        self.note.setWordWrap(True)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.note)
        self.setWidget(body)
        self._hidden: set[str] = set()
        self._objects: dict[str, bool] = {}  # the project's per-class object setting
        self._updating = False
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.itemDoubleClicked.connect(lambda item: self.label_chosen.emit(item.data(LABEL_ROLE)))
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._object_menu)

    def set_labels(
        self,
        known: list[str],
        used: list[str],
        *,
        fixed_by_file: bool = False,
        order: Sequence[str] | None = None,
    ) -> None:
        """Show ``known`` labels in order, then labels only this image uses; counts from ``used``.

        ``order``: the labels.txt lines the canvas colours by (None: colours from the names alone).
        """
        counts = Counter(used)
        labels = list(dict.fromkeys([*known, *used]))
        self._updating = True
        try:
            self.list.clear()
            for label in labels:
                icon = swatch_icon(label, labels=order)
                item = QListWidgetItem(icon, "")
                item.setData(LABEL_ROLE, label)
                item.setData(COUNT_ROLE, counts.get(label, 0))
                item.setText(self._text(item))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                hidden = label in self._hidden
                item.setCheckState(Qt.CheckState.Unchecked if hidden else Qt.CheckState.Checked)
                if label not in known and fixed_by_file:
                    item.setToolTip(f"{label!r} is not in labels.txt")
                    item.setForeground(QColor("#b00020"))
                self.list.addItem(item)
        finally:
            self._updating = False
        self.note.setText("Order fixed by labels.txt" if fixed_by_file else "")

    def set_object_setting(self, setting: dict[str, bool]) -> None:
        """Show the project's per-class object setting beside the labels (``[objects]`` / ``[no split]``)."""
        self._objects = dict(setting)
        self._updating = True
        try:
            for i in range(self.list.count()):
                self.list.item(i).setText(self._text(self.list.item(i)))
        finally:
            self._updating = False

    def object_setting(self) -> dict[str, bool]:
        return dict(self._objects)

    def _text(self, item: QListWidgetItem) -> str:
        """``label  (count)``, then the object setting when the project sets one."""
        label = item.data(LABEL_ROLE)
        on = self._objects.get(label)
        mark = "" if on is None else ("  [objects]" if on else "  [no split]")
        return f"{label}  ({item.data(COUNT_ROLE)}){mark}"

    def object_menu_for(self, label: str) -> QMenu:
        """The menu of a label's object setting (its current choice checked)."""
        menu = QMenu(self)
        current = self._objects.get(label)
        for value, text in self.OBJECT_CHOICES:
            action = menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(value == current)
            action.triggered.connect(lambda _on=False, v=value: self.object_setting_changed.emit(label, v))
        return menu

    def _object_menu(self, pos: object) -> None:
        item = self.list.itemAt(pos)
        if item is not None:
            self.object_menu_for(item.data(LABEL_ROLE)).exec(self.list.viewport().mapToGlobal(pos))

    def labels(self) -> list[str]:
        return [self.list.item(i).data(LABEL_ROLE) for i in range(self.list.count())]

    def count_of(self, label: str) -> int:
        item = self._item(label)
        return -1 if item is None else int(item.data(COUNT_ROLE))

    def hidden_labels(self) -> set[str]:
        return set(self._hidden)

    def show_all(self) -> None:
        """Make every hidden label visible again (``visibility_changed`` for each)."""
        for label in sorted(self._hidden):
            self._hidden.discard(label)
            self.set_visible(label, True)
            self.visibility_changed.emit(label, True)

    def set_visible(self, label: str, visible: bool) -> None:
        item = self._item(label)
        if item is not None:
            item.setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)

    def _item(self, label: str) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            if self.list.item(i).data(LABEL_ROLE) == label:
                return self.list.item(i)
        return None

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._updating:
            return
        label = item.data(LABEL_ROLE)
        visible = item.checkState() == Qt.CheckState.Checked
        if visible == (label not in self._hidden):
            return
        (self._hidden.discard if visible else self._hidden.add)(label)
        self.visibility_changed.emit(label, visible)
