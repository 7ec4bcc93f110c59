"""The Model panel's proposal settings belong to the project, so ``segdesk predict`` proposes the same.

Opening a folder reads ``.segdesk/proposals.json`` (``services/proposal_defaults.py``) once into
``AssistContext.saved_proposals`` and the panel's threshold, minimum area and simplification (the
defaults when the project has none); a change in the panel is saved there at once. Proposals are
made from that copy, never by reading the file again. ``segdesk predict`` reads the same file (its options
win), so the window and the command line turn the same model's output into the same shapes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from segdesk.core.errors import SegdeskError
from segdesk.services.proposal_defaults import project_proposal_settings, save_project_proposal_settings
from segdesk.services.proposals import ProposalSettings
from segdesk.ui.assist.context import SHOWN, AssistContext


class ProposalMemory:
    """Loads the project's settings into the panel on opening a folder; :meth:`save` on each change
    (``ModelAssist`` connects the panel's ``settings_changed``)."""

    def __init__(self, ctx: AssistContext) -> None:
        self.ctx = ctx
        self._loading = False
        self._unsaved: Path | None = None  # the folder whose settings could not be saved (said once)
        ctx.session.folder_opened.connect(lambda _folder: self.load())  # the panel's changes: save()

    def load(self) -> None:
        root, settings = self.ctx.root, ProposalSettings()
        if root is not None:
            try:
                settings = project_proposal_settings(root)
            except SegdeskError as exc:  # said; the panel shows the defaults, a change replaces the file
                self.ctx.error(str(exc))
        self.ctx.saved_proposals = settings
        self._loading = True
        try:
            self.ctx.panel.show_settings(settings)
        finally:
            self._loading = False

    def save(self) -> None:
        root = self.ctx.root
        if self._loading or root is None:
            return
        shown = self.ctx.panel.settings()
        chosen = dataclasses.replace(self.ctx.saved_proposals, **{k: getattr(shown, k) for k in SHOWN})
        if chosen == self.ctx.saved_proposals:
            return
        try:
            save_project_proposal_settings(root, chosen)
        except SegdeskError as exc:  # a read-only folder: said once, the panel's values still apply
            if self._unsaved != root:
                self._unsaved = root
                self.ctx.error(
                    f"{exc} (the settings apply in this window, but segdesk predict will not see them)"
                )
            return
        self.ctx.saved_proposals = chosen


__all__ = ["ProposalMemory"]
