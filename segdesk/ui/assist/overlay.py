"""The confidence overlay: where the current prediction is unsure, drawn over the image, never saved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from segdesk.services.proposals import PredictionResult
from segdesk.ui.assist.context import AssistContext
from segdesk.ui.canvas.confidence import ConfidenceOverlay, overlay_summary


class OverlayController:
    """Owns the overlay item (one cached image in the canvas scene) and the panel's overlay text."""

    def __init__(
        self, ctx: AssistContext, canvas: Any, current_result: Callable[[], PredictionResult | None]
    ) -> None:
        self.ctx, self.current_result = ctx, current_result
        self.overlay = ConfidenceOverlay()
        canvas.scene().addItem(self.overlay)
        self._summary = ""
        canvas.cursor_moved.connect(self._on_cursor)

    def update(self) -> None:
        """Show the current prediction's confidence (or nothing) as the panel's overlay controls say."""
        panel, result = self.ctx.panel, self.current_result()
        if result is None:
            self.overlay.clear()
            self._summary = "No prediction for this image yet (Predict this image, Ctrl+P)"
        else:
            current = self.ctx.session.current
            display = None if current is None else current.display
            self.overlay.set_confidence(result.confidence, len(result.class_names), background=display)
            self._summary = ""
        style = panel.overlay_style()
        self.overlay.set_style(style)
        panel.set_overlay_ramp(self.overlay.ramp)
        if style.visible:  # the summary reads every pixel: only when someone looks at it
            self._summary = self._summary or overlay_summary(self.overlay, style)
            panel.show_overlay_info(self._summary)

    def text_at(self, x: float, y: float) -> str:
        """What the overlay says under the cursor (the class and how sure), or its summary."""
        result = self.current_result()
        conf = None if result is None else self.overlay.confidence_at(x, y)
        if result is None or conf is None:
            return self._summary
        index = int(result.class_map[int(y), int(x)])
        name = result.class_names[index] if 0 <= index < len(result.class_names) else str(index)
        return f"Under the cursor: {conf:.0%} sure it is {name}"

    def _on_cursor(self, x: float, y: float, _value: object) -> None:
        if self.ctx.panel.overlay_style().visible:
            self.ctx.panel.show_overlay_info(self.text_at(x, y))
