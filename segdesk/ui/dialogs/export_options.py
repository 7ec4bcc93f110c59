"""The Export dialog's option groups: what a mask export includes, how the ONNX model is written."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)


class MaskOptions(QGroupBox):
    """Which images and shapes a mask export takes, and what ignore regions become."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Masks", parent)
        # Off by default: unreviewed images (proposals nobody checked, half-done work) would go out
        # as if they were finished, e.g. a full image exported as all background.
        self.include_unreviewed = QCheckBox("Also export images nobody has reviewed")
        self.include_unreviewed.setToolTip(
            "By default only reviewed images are exported (the ones that train the model)"
        )
        self.selection_note = QLabel()
        self.selection_note.setWordWrap(True)
        self.with_proposals = QCheckBox("Include proposals nobody accepted")
        self.ignore_255 = QCheckBox("Ignore regions as 255 (else background)")
        self.ignore_255.setChecked(True)
        # YOLO: a validation split for Ultralytics (fixed by a hash of each image's name).
        self.val_fraction = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.5, singleStep=0.05)
        self.val_fraction.setPrefix("Validation share ")
        self.val_fraction.setToolTip(
            "This share of the images goes to val/, the rest to train/ (0: no split)"
        )
        layout = QVBoxLayout(self)
        for w in (
            self.include_unreviewed,
            self.selection_note,
            self.with_proposals,
            self.ignore_255,
            self.val_fraction,
        ):
            layout.addWidget(w)


class OnnxOptions(QGroupBox):
    """The ONNX opset and precision."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("ONNX", parent)
        self.opset = QSpinBox()
        self.opset.setRange(18, 23)
        self.opset.setValue(18)
        self.fp16 = QCheckBox("Half precision (fp16)")
        layout = QFormLayout(self)
        layout.addRow("Opset", self.opset)
        layout.addRow(self.fp16)
        note = QLabel(
            "Any height and width: the graph pads internally. Verified against torch after writing."
        )
        note.setWordWrap(True)
        layout.addRow(note)
