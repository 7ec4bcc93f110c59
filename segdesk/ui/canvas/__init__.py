"""The annotation canvas: QGraphicsView / QGraphicsScene with one item per shape."""

from __future__ import annotations

import segdesk.ui.pyside_fix  # noqa: F401  - first: PySide6 6.12 drops references to None
from segdesk.ui.canvas.view import MODES, CanvasView, Mode

__all__ = ["MODES", "CanvasView", "Mode"]
