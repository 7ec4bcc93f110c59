"""Retrain: plan from the reviewed images on disk, fine-tune in a child process, report the outcome."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from segdesk.core.errors import SegdeskError
from segdesk.services import model_store
from segdesk.ui import job_functions, model_health, review_flow
from segdesk.ui.assist.context import AssistContext


class TrainingController(QObject):
    finished = Signal(
        object
    )  # TrainOutcome, or None when it failed or was cancelled (after the thread ended)
    reviews_changed = Signal()  # the plan confirmed files labelled elsewhere: statuses changed
    model_saved = Signal()  # a run saved a version: show the models again
    promoted = Signal()  # ... and made it current: the open image's proposals are outdated

    def __init__(self, ctx: AssistContext, ask: review_flow.Ask, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        #: Questions to the person (Retrain's plan); tests replace it with a function that answers.
        self.ask = ask
        #: Tests and benchmarks inject a small TrainConfig here; None = the app's settings.
        self.train_config: Any = None
        self.export_onnx = True
        self._outcome: job_functions.TrainOutcome | None = None

    def retrain(self) -> None:
        """Fine-tune the current model on the images the plan chooses, as saved on disk.

        The open image is never saved or changed here: unsaved edits are said not to be included
        (review_flow.plan_retrain asks through ``self.ask`` about that and anything doubtful).
        """
        ctx, session = self.ctx, self.ctx.session
        if session.project is None or ctx.runner.is_running("train"):
            return
        current = session.current
        unsaved = current.image_path.name if current is not None and session.is_dirty() else None
        try:
            plan = review_flow.plan_retrain(session.project, self.ask, unsaved=unsaved)
            if plan is None:
                ctx.message("Retrain cancelled")
                return
            snapshot = job_functions.snapshot_training(session.project, ctx.version, plan.entries)
        except SegdeskError as exc:
            ctx.error(str(exc))
            return
        finally:  # files labelled elsewhere the person confirmed are reviewed now, the open one too
            review_flow.sync_open_review(session)
            session.refresh_statuses()
            self.reviews_changed.emit()
        fn = job_functions.train_in_child(snapshot, self.train_config, export_onnx=self.export_onnx)
        self._outcome = None  # this run's own outcome (or None) is what its end reports
        ctx.panel.set_training(True)
        ctx.panel.show_training_progress(0.0, "Starting: " + plan.describe()[0])
        ctx.runner.start("train", fn, connect=self._connect_training)

    def _connect_training(self, job: Any) -> None:
        job.progress.connect(self._on_progress)
        job.succeeded.connect(self.apply_outcome)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        job.finished.connect(self._after_training)

    def _after_training(self) -> None:
        # Last, after the thread ended: a handler may start the next run at once.
        self.ctx.panel.set_training(False)
        outcome, self._outcome = self._outcome, None
        self.finished.emit(outcome)

    def cancel(self) -> None:
        self.ctx.runner.cancel("train")
        self.ctx.panel.show_training_progress(self.ctx.panel.training_fraction(), "Cancelling ...")

    def _on_progress(self, status: job_functions.TrainStatus) -> None:
        self.ctx.panel.show_training_progress(status.fraction, status.text(), status.history)

    def apply_outcome(self, outcome: job_functions.TrainOutcome) -> None:
        """A finished run: show the models; when the new one was not promoted, offer to keep either."""
        ctx = self.ctx
        if outcome.unchanged:  # the same weights as the current model: nothing was saved
            text = f"No new model: {outcome.reason}; {outcome.version} stays current. Review more images, then retrain"
            ctx.panel.show_training_progress(1.0, text)
            ctx.message(text)
            self._outcome = outcome
            return
        self.model_saved.emit()
        new_info = None if ctx.root is None else model_store.read_info(ctx.root, outcome.version)
        weak = model_health.not_useful_text(new_info)
        if outcome.promoted and weak:
            text = f"New model {outcome.version} (held-out mIoU {outcome.miou:.3f}) is current"
        elif outcome.promoted:
            text = f"New model {outcome.version} (held-out mIoU {outcome.miou:.3f}) is now current"
            if outcome.previous_miou is not None and outcome.miou < outcome.previous_miou:
                text += f" ({outcome.reason})"  # trailing by less than the held-out images can tell
        else:
            text = (
                f"{outcome.version} was saved but {outcome.previous_version} stays current ({outcome.reason})"
                if outcome.previous_version is not None
                else f"{outcome.version} was saved but not made current: {outcome.reason}"
            )
            if outcome.previous_version is not None:
                ctx.panel.offer_keep_choice(
                    new_version=outcome.version,
                    new_miou=outcome.miou,
                    old_version=outcome.previous_version,
                    old_miou=outcome.previous_miou,
                )
        if outcome.onnx_error:
            text += f". The fast CPU export failed ({outcome.onnx_error}); predictions use torch"
        if weak:
            text += ". " + weak
        ctx.panel.show_training_progress(1.0, text)
        ctx.message(text)
        if outcome.promoted:
            self.promoted.emit()
        self._outcome = outcome

    def _on_failed(self, text: str) -> None:
        self.ctx.panel.show_training_progress(0.0, f"Training failed: {text}")
        self.ctx.error(f"Training failed: {text}")

    def _on_cancelled(self) -> None:
        kept = "no model" if self.ctx.info is None else self.ctx.info.version
        self.ctx.panel.show_training_progress(0.0, f"Training cancelled; {kept} stays current")
        self.ctx.message(f"Training cancelled; {kept} stays current")
