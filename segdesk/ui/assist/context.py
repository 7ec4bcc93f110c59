"""What the model controllers share: the panel, the session, the job runner and the current model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segdesk.core.errors import SegdeskError
from segdesk.core.shapes import Shape
from segdesk.services.model_store import ModelInfo
from segdesk.services.proposals import ProposalSettings, with_object_setting
from segdesk.ui.job_runner import JobRunner
from segdesk.ui.panels.model import ModelPanel
from segdesk.ui.session import Session

#: The proposal settings the Model panel shows (the others are the project's file's or the defaults).
SHOWN = ("threshold", "min_area", "tolerance")


class AssistContext:
    """Shared state; ``message`` shows a status-bar line, ``error`` a message box."""

    def __init__(
        self,
        panel: ModelPanel,
        session: Session,
        runner: JobRunner,
        *,
        message: Callable[[str], None],
        error: Callable[[str], None],
    ) -> None:
        self.panel, self.session, self.runner = panel, session, runner
        self.message, self.error = message, error
        self.info: ModelInfo | None = None  # the current model, or None
        #: The project's saved proposal settings (``.segdesk/proposals.json``), read when a folder
        #: opens and kept as the panel saves them (``proposal_memory.py``); the panel's own fields win.
        self.saved_proposals = ProposalSettings()
        #: What the model proposed per image (model version, shapes): the effort meter's reference.
        self.proposed: dict[Path, tuple[str | None, list[Shape]]] = {}

    @property
    def root(self) -> Path | None:
        project = self.session.project
        return None if project is None else Path(project.root)

    @property
    def version(self) -> str | None:
        return None if self.info is None else self.info.version

    def proposal_settings(self) -> ProposalSettings:
        """The panel's settings with the project's per-class object setting (classes never split)."""
        settings = self.panel.settings()
        root = self.root
        if root is None:
            return settings
        # what the panel does not show (holes, smoothing) is the project's file's, as last read
        settings = dataclasses.replace(self.saved_proposals, **{k: getattr(settings, k) for k in SHOWN})
        try:
            return with_object_setting(settings, root)
        except SegdeskError as exc:  # a damaged setting file: said, and proposals split as the model does
            self.message(str(exc))
            return settings

    def document(self) -> Any:
        return self.session.document
