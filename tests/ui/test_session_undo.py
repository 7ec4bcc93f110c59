"""Item 4: the app's undo stack is the tested one (``make_undo_stack``, with segdesk's limit)."""

from __future__ import annotations

from segdesk.ui.session import Session
from segdesk.ui.undo import UNDO_LIMIT


def test_the_sessions_undo_stack_has_segdesks_limit(qtbot) -> None:
    session = Session()
    assert UNDO_LIMIT > 0 and session.undo_stack.undoLimit() == UNDO_LIMIT
