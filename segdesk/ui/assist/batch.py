"""Predict every unlabeled image (save proposals, or only rank by uncertainty) and go to the least sure."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from segdesk.ui import job_functions
from segdesk.ui.assist.context import AssistContext


class BatchController(QObject):
    finished = Signal(object)  # BatchOutcome

    def __init__(self, ctx: AssistContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._ranking: tuple[str | None, list[int]] = (None, [])  # model version, least sure first
        self._go_after_scoring = False

    def reset_ranking(self) -> None:
        """Another model: the uncertainty ranking is outdated."""
        self._ranking = (None, [])

    def _unlabeled_targets(self) -> list[tuple[int, Any]]:
        session = self.ctx.session
        return [
            (i, e)
            for i, e in enumerate(session.entries)
            if i != session.index
            and session.entry_status(i) not in ("reviewed", "elsewhere")  # the job applies the rule
        ]

    def start(self, *, write: bool) -> None:
        """Predict every unlabeled image: save proposals (``write``) or only rank by uncertainty."""
        ctx = self.ctx
        if ctx.info is None or ctx.root is None or ctx.runner.is_running("batch"):
            return
        targets = self._unlabeled_targets()
        if not targets:
            self._go_after_scoring = False
            ctx.message("No unlabeled image left")
            return
        fn = job_functions.batch_job(ctx.root, targets, ctx.info.path, ctx.proposal_settings(), write=write)
        ctx.panel.set_batch((0, len(targets)))
        ctx.runner.start("batch", fn, connect=self._connect_batch)

    def cancel(self) -> None:
        self.ctx.runner.cancel("batch")

    def _connect_batch(self, job: Any) -> None:
        ctx = self.ctx
        job.progress.connect(self._on_progress)
        job.succeeded.connect(self._on_done)
        job.failed.connect(lambda text: ctx.error(f"Prediction failed: {text}"))
        job.cancelled.connect(lambda: ctx.message("Prediction cancelled"))
        job.finished.connect(lambda: ctx.panel.set_batch(None))

    def _on_progress(self, status: job_functions.BatchStatus) -> None:
        self.ctx.panel.set_batch((status.done, status.total))
        self.ctx.session.refresh_statuses(status.written)

    def _on_done(self, outcome: job_functions.BatchOutcome) -> None:
        self.ctx.session.refresh_statuses(outcome.written)
        self._ranking = (outcome.model_version, [i for i, _score in outcome.scores])
        self.ctx.message(
            f"Predicted {len(outcome.scores)} image(s); {len(outcome.written)} saved as proposed"
        )
        self.finished.emit(outcome)
        if self._go_after_scoring:
            self._go_after_scoring = False
            self.next_uncertain()

    def next_uncertain(self) -> None:
        """Go to the not yet reviewed image the model is least sure about (scores it first if needed)."""
        session = self.ctx.session
        ranked_version, order = self._ranking
        if ranked_version == self.ctx.version and order:
            for index in order:
                if index != session.index and session.entry_status(index) not in ("reviewed", "elsewhere"):
                    session.go_to(index)
                    return
        self._go_after_scoring = True
        self.start(write=False)
