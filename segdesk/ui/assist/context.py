"""What the model controllers share: the panel, the session, the job runner and the current model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from segdesk.core.shapes import Shape
from segdesk.services.model_store import ModelInfo
from segdesk.ui.job_runner import JobRunner
from segdesk.ui.panels.model import ModelPanel
from segdesk.ui.session import Session


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
        #: What the model proposed per image (model version, shapes): the effort meter's reference.
        self.proposed: dict[Path, tuple[str | None, list[Shape]]] = {}

    @property
    def root(self) -> Path | None:
        project = self.session.project
        return None if project is None else Path(project.root)

    @property
    def version(self) -> str | None:
        return None if self.info is None else self.info.version

    def document(self) -> Any:
        return self.session.document
