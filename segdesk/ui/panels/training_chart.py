"""The Model dock's training chart: loss and held-out mIoU per epoch, painted with QPainter."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

LOSS_COLOR = QColor(214, 96, 77)
MIOU_COLOR = QColor(67, 147, 195)


def _finite(value: float | None) -> bool:
    """A number to plot (a history's missing training loss is None, or NaN in older records)."""
    return value is not None and math.isfinite(value)


class TrainingChart(QWidget):
    """Loss (left scale) and held-out mIoU (right scale, 0..1) per epoch, painted with QPainter."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("training_chart")
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.history: list[tuple[int, float, float]] = []

    def set_history(self, history: Sequence[tuple[int, float, float]]) -> None:
        self.history = list(history)
        self.update()

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.rect()).adjusted(30, 8, -30, -18)
        p.fillRect(self.rect(), self.palette().base())
        p.setPen(QPen(self.palette().mid().color(), 1))
        p.drawRect(area)
        p.setPen(self.palette().text().color())
        font = p.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        p.setFont(font)
        losses = [h[1] for h in self.history if _finite(h[1])]
        if not self.history:
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, "loss and mIoU per epoch")
            p.end()
            return
        top = (max(losses) * 1.1 if losses else 1.0) or 1.0  # the start has an mIoU, no loss yet
        n = len(self.history)

        def x_at(i: int) -> float:
            return area.left() + (area.width() * i / max(n - 1, 1))

        def line(values: list[float], scale: float, color: QColor) -> None:
            path = QPainterPath()
            started = False
            for i, v in enumerate(values):
                if not _finite(v):  # the base model's epoch 0 has no training loss
                    started = False
                    continue
                pt = QPointF(x_at(i), area.bottom() - area.height() * min(max(v / scale, 0.0), 1.0))
                path.lineTo(pt) if started else path.moveTo(pt)
                started = True
            p.setPen(QPen(color, 2))
            p.drawPath(path)
            if sum(1 for v in values if _finite(v)) == 1:  # one point is no line: draw it as a dot
                p.drawEllipse(path.currentPosition(), 2, 2)

        line([h[1] for h in self.history], top, LOSS_COLOR)
        line([h[2] for h in self.history], 1.0, MIOU_COLOR)
        p.setPen(LOSS_COLOR)
        p.drawText(QRectF(0, area.top() - 6, 28, 14), Qt.AlignmentFlag.AlignRight, f"{top:.2g}")
        p.drawText(QRectF(area.left(), area.bottom() + 2, 80, 14), Qt.AlignmentFlag.AlignLeft, "loss")
        p.setPen(MIOU_COLOR)
        p.drawText(QRectF(area.right() + 2, area.top() - 6, 28, 14), Qt.AlignmentFlag.AlignLeft, "1.0")
        last = self.history[-1]
        p.drawText(
            QRectF(area.right() - 160, area.bottom() + 2, 160, 14),
            Qt.AlignmentFlag.AlignRight,
            f"epoch {last[0] + 1}: mIoU {last[2]:.3f}",
        )
        p.end()
