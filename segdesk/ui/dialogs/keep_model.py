"""The keep-either offer after a Retrain whose new model was not promoted: an inline bar, not a dialog.

"v3 scored 0.712 held-out mIoU, v2 0.741 on the same images, so v2 stays current. [Keep v2] [Use v3]"
It sits in the Model dock's Training box. Non-modal on purpose: the person keeps drawing while it
waits; a modal box popping up mid-stroke would be hostile. It goes away after a choice, when the
next run starts, or when another folder opens (the dock decides those).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


def _button(text: str, name: str) -> QPushButton:
    b = QPushButton(text)
    b.setObjectName(name)
    return b


def _miou(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.3f}"


class KeepModelBar(QFrame):
    """Keep the current model or use the new one; ``chosen`` carries the version picked."""

    chosen = Signal(str)  # the version the person picked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keep_model_bar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        # Fixed light amber with dark text: reads as "a decision waits" in light and dark themes.
        self.setStyleSheet(
            "#keep_model_bar { background: #fff4ce; border: 1px solid #d9b84a; border-radius: 4px; }"
            "#keep_model_bar QLabel { color: #3b3000; }"
        )
        v = QVBoxLayout(self)
        v.setContentsMargins(6, 4, 6, 4)
        self.text = QLabel()
        self.text.setObjectName("keep_model_text")
        self.text.setWordWrap(True)
        v.addWidget(self.text)
        row = QHBoxLayout()
        self.keep_button = _button("Keep", "keep_old_model_button")
        self.use_button = _button("Use", "use_new_model_button")
        row.addStretch(1)
        row.addWidget(self.keep_button)
        row.addWidget(self.use_button)
        v.addLayout(row)
        self.old_version = self.new_version = ""
        self.keep_button.clicked.connect(lambda: self._choose(self.old_version))
        self.use_button.clicked.connect(lambda: self._choose(self.new_version))
        self.hide()

    def offer(
        self, *, new_version: str, new_miou: float | None, old_version: str, old_miou: float | None
    ) -> None:
        """Show the offer for ``new_version`` (not promoted) against ``old_version`` (still current)."""
        self.new_version, self.old_version = new_version, old_version
        self.text.setText(
            f"<b>{new_version}</b> scored {_miou(new_miou)} held-out mIoU, <b>{old_version}</b> "
            f"{_miou(old_miou)} on the same images, so {old_version} stays current."
        )
        self.keep_button.setText(f"Keep {old_version}")
        self.keep_button.setToolTip(
            f"Keep {old_version} as the current model ({new_version} stays in the history)"
        )
        self.use_button.setText(f"Use {new_version}")
        self.use_button.setToolTip(f"Make {new_version} current; proposals on this image refresh")
        self.show()

    def _choose(self, version: str) -> None:
        self.hide()
        self.chosen.emit(version)


__all__ = ["KeepModelBar"]
