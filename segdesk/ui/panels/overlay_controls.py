"""The Model dock's confidence-overlay controls: on/off, mode, legend, opacity, the text under the cursor."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from segdesk.ui.panels.confidence_legend import ConfidenceLegend


class OverlayControls(QWidget):
    """The widgets only; the Model panel connects them and reads them (ModelPanel.overlay_style)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.check = QCheckBox("Confidence overlay")
        self.check.setObjectName("overlay_check")
        self.check.setToolTip(
            "Show where the model is unsure about this image, from its last prediction "
            "(Ctrl+Shift+C). Only shown, never saved."
        )
        self.mode = QComboBox()
        self.mode.setObjectName("overlay_mode")
        self.mode.addItem("Uncertainty", "uncertainty")
        self.mode.addItem("Below threshold", "below_threshold")
        self.mode.setToolTip(
            "Uncertainty: a colour ramp of how unsure each pixel is. Below threshold: the pixels "
            "less sure than the confidence threshold."
        )
        row.addWidget(self.check, 1)
        row.addWidget(self.mode)
        v.addLayout(row)
        self.details = QWidget()
        details = QVBoxLayout(self.details)
        details.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.legend = ConfidenceLegend()
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=10, maximum=100, value=60)
        self.opacity.setObjectName("overlay_opacity")
        self.opacity.setToolTip("Overlay opacity")
        self.opacity.setFixedWidth(70)
        row.addWidget(self.legend, 1)
        row.addWidget(self.opacity)
        details.addLayout(row)
        self.info = QLabel("")
        self.info.setObjectName("overlay_info")
        self.info.setWordWrap(True)
        # It changes on every mouse move over the image: a fixed box, so the dock never re-lays out.
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.info.setFixedHeight(2 * self.info.fontMetrics().lineSpacing() + 2)
        details.addWidget(self.info)
        v.addWidget(self.details)
        self.details.setVisible(False)
