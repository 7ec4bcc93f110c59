"""The Model dock's key to the confidence overlay: the ramp from sure to unsure, or the highlight."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from segdesk.ui.canvas.confidence import HIGHLIGHT_RGB, OverlayStyle, Ramp, ramp_rgba


class ConfidenceLegend(QWidget):
    """A small key to the overlay: the ramp from sure to unsure, or the highlight and its threshold."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("confidence_legend")
        self.style = OverlayStyle()
        self.ramp: Ramp = "light"
        self.setMinimumHeight(26)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._update_tooltip()

    def sizeHint(self) -> QSize:
        return QSize(160, 26)

    def set_style(self, style: OverlayStyle) -> None:
        self.style = style
        self._update_tooltip()
        self.update()

    def set_ramp(self, ramp: Ramp) -> None:
        if ramp != self.ramp:
            self.ramp = ramp
            self._update_tooltip()
            self.update()

    def _update_tooltip(self) -> None:
        if self.style.mode == "below_threshold":
            text = (
                f"Magenta: pixels the model is less than {self.style.threshold:.0%} sure of (the "
                "confidence threshold). Predicted shapes lose these pixels; unsure background "
                "may hide a missed object."
            )
        else:
            end = "yellow" if self.ramp == "light" else "deep purple"
            text = (
                "How unsure the model is about each pixel, from its last prediction: clear where it "
                f"is sure, teal to {end} as it gets less sure; {end} means every class is about as "
                "likely (a coin toss). Look there first when you correct proposals. (Yellow over "
                "dark images, purple over bright ones, so that it stands out.)"
            )
        self.setToolTip(text + " The overlay is only shown, never saved.")

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        bar = QRectF(self.rect()).adjusted(1, 1, -1, -14)
        # Over the kind of pixels this ramp is for: the swatch looks as it will on the canvas.
        grey = 232 if self.style.mode == "uncertainty" and self.ramp == "dark" else 110
        p.fillRect(bar, QColor(grey, grey, grey))
        if self.style.mode == "below_threshold":
            r, g, b = HIGHLIGHT_RGB
            p.fillRect(bar, QColor(r, g, b, round(255 * self.style.opacity)))
            left, right = f"confidence < {self.style.threshold:.2f}", "(the threshold)"
        else:
            gradient = QLinearGradient(bar.topLeft(), bar.topRight())
            stops = np.linspace(0.0, 1.0, 11)
            colours = ramp_rgba(stops, self.style.opacity, self.ramp)
            for s, (r, g, b, a) in zip(stops, colours, strict=True):
                gradient.setColorAt(float(s), QColor.fromRgbF(r, g, b, a))
            p.fillRect(bar, gradient)
            left, right = "sure", "unsure (coin toss)"
        p.setPen(QPen(self.palette().mid().color(), 1))
        p.drawRect(bar)
        p.setPen(self.palette().text().color())
        font = p.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        text_rect = QRectF(bar.left(), bar.bottom() + 1, bar.width(), 13)
        p.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, left)
        p.drawText(text_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, right)
        p.end()
