"""Sliders for brightness / contrast (viewing only) and fill opacity, applied live."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QSlider,
    QWidget,
)


def _slider(minimum: int, maximum: int, value: int) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(minimum, maximum)
    slider.setValue(value)
    slider.setMinimumWidth(220)
    return slider


class ViewAdjustDialog(QDialog):
    """Brightness and contrast as factors (1.0 = unchanged); the image file is never touched.

    ``adjusted(brightness, contrast)`` is emitted as the sliders move.
    """

    adjusted = Signal(float, float)

    def __init__(
        self, parent: QWidget | None = None, *, brightness: float = 1.0, contrast: float = 1.0
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Brightness / contrast")
        self.brightness = _slider(0, 300, round(brightness * 100))
        self.contrast = _slider(0, 300, round(contrast * 100))
        self.values = QLabel()
        reset = QPushButton("Reset")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(reset, QDialogButtonBox.ButtonRole.ResetRole)
        layout = QFormLayout(self)
        layout.addRow("Brightness", self.brightness)
        layout.addRow("Contrast", self.contrast)
        layout.addRow("", self.values)
        layout.addRow(buttons)
        buttons.rejected.connect(self.reject)
        reset.clicked.connect(self.reset)
        self.brightness.valueChanged.connect(self._changed)
        self.contrast.valueChanged.connect(self._changed)
        self._show_values()

    def value(self) -> tuple[float, float]:
        return self.brightness.value() / 100.0, self.contrast.value() / 100.0

    def reset(self) -> None:
        self.brightness.setValue(100)
        self.contrast.setValue(100)

    def _show_values(self) -> None:
        b, c = self.value()
        self.values.setText(f"brightness x{b:.2f}, contrast x{c:.2f}")

    def _changed(self, _value: int) -> None:
        self._show_values()
        self.adjusted.emit(*self.value())


class OpacityDialog(QDialog):
    """Fill opacity of shapes, 0-100 %; ``changed(alpha)`` live."""

    changed = Signal(float)

    def __init__(self, parent: QWidget | None = None, *, alpha: float = 0.3) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fill opacity")
        self.slider = _slider(0, 100, round(alpha * 100))
        self.text = QLabel(f"{self.slider.value()} %")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QFormLayout(self)
        layout.addRow("Opacity", self.slider)
        layout.addRow("", self.text)
        layout.addRow(buttons)
        self.slider.valueChanged.connect(self._changed)

    def _changed(self, value: int) -> None:
        self.text.setText(f"{value} %")
        self.changed.emit(value / 100.0)
