"""Status bar fields: the image's review status, pixel position and value under the cursor, zoom, size."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget


def format_value(value: object) -> str:
    """A pixel value as people read it: ``128``, ``(12, 200, 31)``, ``0.254``."""
    if value is None:
        return ""
    array = np.asarray(value)
    if array.ndim == 0:
        return _scalar(array.item())
    return "(" + ", ".join(_scalar(v) for v in array.reshape(-1).tolist()) + ")"


def _scalar(v: object) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


class StatusFields:
    """The permanent fields on the right of the status bar."""

    def __init__(self, bar: QStatusBar, parent: QWidget | None = None, *, canvas: Any = None) -> None:
        if canvas is not None:  # what a canvas tool did, or why it did nothing
            canvas.message.connect(lambda text: bar.showMessage(text, 6000))
        self.review = QLabel(parent)
        self.review.setObjectName("status_review")
        self.review.setContentsMargins(0, 0, 12, 0)  # apart from the cursor position
        self.position = QLabel(parent)
        self.position.setObjectName("status_position")
        self.position.setMinimumWidth(220)
        self.zoom = QLabel(parent)
        self.zoom.setObjectName("status_zoom")
        self.size = QLabel(parent)
        self.size.setObjectName("status_size")
        for label in (self.review, self.position, self.zoom, self.size):
            bar.addPermanentWidget(label)

    def set_cursor(self, x: float, y: float, value: object, *, width: int = 0, height: int = 0) -> None:
        inside = 0 <= x < width and 0 <= y < height
        if not inside:
            self.position.setText("")
            return
        text = f"x {int(x)}, y {int(y)}"
        shown = format_value(value)
        self.position.setText(f"{text}: {shown}" if shown else text)

    def clear(self) -> None:
        """Nothing shown (no image open)."""
        for label in (self.review, self.position, self.zoom, self.size):
            label.setText("")

    def set_review(self, status: str, explanation: str = "") -> None:
        """The image's status in a word (the explanation as its tooltip)."""
        self.review.setText(status)
        self.review.setToolTip(explanation)

    def set_zoom(self, factor: float) -> None:
        self.zoom.setText(f"{factor * 100:.0f} %")

    def set_image_size(self, width: int | None, height: int | None, channels: str = "") -> None:
        self.size.setText("" if not width else f"{width} x {height}" + (f" {channels}" if channels else ""))


def describe_channels(raw: object, pages: int = 1) -> str:
    """The status bar's channel words for an image array: "gray uint8", "3 ch uint16" ...; for a
    multi-page TIFF also "page 1 of N" (only the first page is shown and labelled)."""
    shape = getattr(raw, "shape", ())
    dtype = getattr(raw, "dtype", None)
    kind = "gray" if len(shape) == 2 else f"{shape[2]} ch" if len(shape) == 3 else ""
    words = f"{kind} {dtype}".strip() if dtype is not None else kind
    return f"{words}, page 1 of {pages}" if pages > 1 else words
