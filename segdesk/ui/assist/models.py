"""The project's model versions: show them in the panel, switch the current one, warm it up."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from segdesk.core.errors import SegdeskError
from segdesk.services import model_store
from segdesk.ui import job_functions
from segdesk.ui.assist.context import AssistContext


class ModelController(QObject):
    changed = Signal(object)  # the current ModelInfo or None

    def __init__(self, ctx: AssistContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx

    def refresh(self, *, warm_up: bool = False) -> None:
        """Read the project's models (JSON only) and show them; optionally load the model in the background."""
        ctx, root = self.ctx, self.ctx.root
        history: list[model_store.ModelInfo] = []
        ctx.info = None
        if root is not None:
            history = [i for v in model_store.versions(root) if (i := model_store.read_info(root, v))]
            current = model_store.current_version(root)
            ctx.info = next((i for i in history if i.version == current), None)
        ctx.panel.show_model(ctx.info, history)
        self.changed.emit(ctx.info)
        if warm_up and ctx.info is not None and not ctx.runner.is_running("warm_up"):
            ctx.runner.start("warm_up", job_functions.warm_up_job(ctx.info.path), connect=self._quiet)

    def _quiet(self, job: Any) -> None:
        job.failed.connect(lambda text: self.ctx.message(f"Model not loaded: {text}"))

    def use_version(self, version: str) -> bool:
        """Make an earlier (or a not promoted) version current; False when nothing changed."""
        ctx = self.ctx
        if ctx.root is None or ctx.version == version:
            return False
        try:
            model_store.set_current(ctx.root, version)
        except SegdeskError as exc:
            ctx.error(str(exc))
            return False
        self.refresh(warm_up=True)
        ctx.message(f"Now using model {version}")
        return True
