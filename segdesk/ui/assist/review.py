"""Accept or reject proposals, Mark reviewed / un-review, and the correction-effort meter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt

from segdesk.core import effort
from segdesk.ui import proposals, review_flow
from segdesk.ui.assist.context import AssistContext


class ReviewController(QObject):
    """Also an event filter on the canvas: Enter or a double-click on a selected proposal accepts it."""

    def __init__(
        self,
        ctx: AssistContext,
        canvas: Any,
        review_status: Callable[[str, str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.canvas, self._review_status = ctx, canvas, review_status
        canvas.installEventFilter(self)
        canvas.viewport().installEventFilter(self)

    def update_buttons(self) -> None:
        """The panel's proposal count and review state, and the status bar's review words."""
        panel, document = self.ctx.panel, self.ctx.document()
        panel.set_proposal_count(0 if document is None else len(document.proposals))
        panel.set_reviewed(
            document is not None and document.status == "reviewed", enabled=document is not None
        )
        status = None if document is None else document.status
        panel.set_review_status(None if status is None else review_flow.status_line(status))
        self._review_status(*review_flow.status_words(status))

    def _push(self, make: Callable[..., Any], indices: list[int] | None) -> bool:
        document = self.ctx.document()
        command = None if document is None else make(document, indices)
        if command is None or not self.ctx.session.push(command):
            return False
        self.update_buttons()
        return True

    def accept_all(self) -> bool:
        return self._push(proposals.accept_command, None)

    def accept_selected(self) -> bool:
        return self._push(proposals.accept_command, self.canvas.selected_indices() or [-1])

    def reject_all(self) -> bool:
        return self._push(proposals.reject_command, None)

    def set_reviewed(self, reviewed: bool) -> None:
        """The panel's toggle: mark reviewed, or take the review back."""
        if reviewed:
            self.mark_reviewed()
        else:
            self.unreview()

    def mark_reviewed(self) -> bool:
        """The person says this image is right (the only way an image becomes reviewed)."""
        done = review_flow.mark_reviewed(self.ctx.session, self.ctx.message)
        if done:
            self._record_effort()
        self.update_buttons()
        return done

    def unreview(self) -> bool:
        """Take the review back: the image stops training; its shapes stay."""
        done = review_flow.unreview(self.ctx.session, self.ctx.message)
        self.update_buttons()
        return done

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Enter or a double-click on a selected proposal accepts it (edit mode only)."""
        canvas = self.canvas
        if canvas.mode() != "edit" or self.ctx.document() is None:
            return False
        kind = event.type()
        if kind == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() == Qt.KeyboardModifier.NoModifier:
                return self.accept_selected()
        if kind == QEvent.Type.MouseButtonDblClick and watched is canvas.viewport():
            item = canvas.shape_item_at(canvas.mapToScene(event.position().toPoint()))
            if item is not None and item.shape_data.is_proposal:
                return self._push(proposals.accept_command, [item.index])
        return False

    def _record_effort(self) -> None:
        """At Mark reviewed only (never on a mere save, so an undone Reject all or a half-done image
        is never measured): how much the person changed the proposals."""
        ctx, current = self.ctx, self.ctx.session.current
        if current is None or ctx.root is None:
            return
        trend = review_flow.record_effort(current, ctx.proposed, ctx.root, ctx.message)
        if trend is not None:
            ctx.panel.show_effort(trend, effort.recent_object_edits(ctx.root / ".segdesk" / effort.CSV_NAME))

    def show_effort(self) -> None:
        """The meter of the open folder: proposals right, and the splits and merges of objects."""
        root = self.ctx.root
        if root is None:
            self.ctx.panel.show_effort(None)
            return
        path = root / ".segdesk" / effort.CSV_NAME
        self.ctx.panel.show_effort(effort.recent_trend(path), effort.recent_object_edits(path))
