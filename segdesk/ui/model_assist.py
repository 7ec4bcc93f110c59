"""The model controller: connects the Model dock, the session, the canvas and the background jobs.

GUI-thread only. It snapshots inputs, starts jobs (ui/jobs.py running ui/workers.py functions, thin
wrappers over segdesk.services), and applies their results as undoable commands (ui/proposals.py)
when they are still current.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal

from segdesk.core import effort
from segdesk.core.errors import SegdeskError
from segdesk.core.shapes import Shape
from segdesk.services import model_store as model_index
from segdesk.services.proposals import KeptPredictions, PredictionResult, rederive
from segdesk.ui import model_health, proposals, review_flow, workers
from segdesk.ui.canvas.confidence import ConfidenceOverlay, overlay_summary
from segdesk.ui.jobs import JobRunner
from segdesk.ui.panels.model import ModelPanel
from segdesk.ui.session import CurrentImage, Session

#: How long a closing window waits for jobs to stop before it stays open and says why.
CLOSE_WAIT_MS = 3000


class ModelAssist(QObject):
    """Owns the jobs and the proposal state of the current image."""

    model_changed = Signal(object)  # the current ModelInfo or None
    training_finished = Signal(object)  # TrainOutcome, or None when it failed or was cancelled
    proposals_applied = Signal(int)  # number of proposals now on the image
    batch_finished = Signal(object)  # BatchOutcome or None
    message = Signal(str)  # a status-bar line
    error = Signal(str)  # a message box
    review_status = Signal(str, str)  # the image's status in words, and what it means (status bar)

    def __init__(
        self, panel: ModelPanel, session: Session, canvas: Any, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.panel, self.session, self.canvas = panel, session, canvas
        self.runner = JobRunner(self)
        #: Tests and benchmarks inject a small TrainConfig here; None = the app's settings.
        self.train_config: Any = None
        self.export_onnx = True
        self.info: model_index.ModelInfo | None = None
        self.result: PredictionResult | None = None  # the prediction behind the current proposals
        #: Predictions kept per image and model version: settings and model switches re-derive from
        #: them, so what a setting hid comes back when it is relaxed (hiding is never deleting).
        self.kept = KeptPredictions()
        self._pending_predict = False
        self._train_outcome: workers.TrainOutcome | None = None
        self._proposed: dict[Path, tuple[str | None, list[Shape]]] = {}  # for the effort meter
        self._ranking: tuple[str | None, list[int]] = (None, [])
        self._go_after_scoring = False
        self._settings_timer = QTimer(self, singleShot=True, interval=120)
        self._settings_timer.timeout.connect(self._revectorize)
        #: Where the model is unsure: one cached image in the canvas scene, never in the document.
        self.overlay = ConfidenceOverlay()
        canvas.scene().addItem(self.overlay)
        self._overlay_summary = ""
        #: Questions to the person (Retrain's plan); tests replace it with a function that answers.
        self.ask: review_flow.Ask = lambda *q: review_flow.message_box_ask(self.canvas.window())(*q)
        self._connect()

    def _connect(self) -> None:
        p, s = self.panel, self.session
        p.predict_requested.connect(self.predict_current)
        p.predict_all_requested.connect(lambda: self.start_batch(write=True))
        p.cancel_batch_requested.connect(lambda: self.runner.cancel("batch"))
        p.retrain_requested.connect(self.retrain)
        p.cancel_training_requested.connect(self.cancel_training)
        p.next_uncertain_requested.connect(self.next_uncertain)
        p.accept_all_requested.connect(self.accept_all)
        p.reject_all_requested.connect(self.reject_all)
        p.reviewed_toggled.connect(self.set_reviewed)
        p.version_chosen.connect(self.use_version)
        p.settings_changed.connect(lambda _s: self._settings_timer.start())
        p.overlay_changed.connect(lambda _style: self._update_overlay())
        s.folder_opened.connect(lambda _folder: p.dismiss_keep_choice())
        s.folder_opened.connect(lambda _folder: self.kept.clear())
        s.folder_opened.connect(lambda _folder: self.refresh_model(warm_up=True))
        s.folder_opened.connect(lambda _folder: self.show_effort())
        s.image_loaded.connect(self._on_image_loaded)
        s.saved.connect(self._on_saved)
        s.undo_stack.indexChanged.connect(lambda _i: self._update_buttons())
        self.canvas.cursor_moved.connect(self._on_cursor)
        self.canvas.installEventFilter(self)
        self.canvas.viewport().installEventFilter(self)

    # --- model state ------------------------------------------------------------------------------
    @property
    def root(self) -> Path | None:
        return None if self.session.project is None else Path(self.session.project.root)

    def refresh_model(self, *, warm_up: bool = False) -> None:
        """Read the project's models (JSON only) and show them; optionally load the model in the background."""
        root = self.root
        history: list[model_index.ModelInfo] = []
        self.info = None
        if root is not None:
            history = [i for v in model_index.versions(root) if (i := model_index.read_info(root, v))]
            current = model_index.current_version(root)
            self.info = next((i for i in history if i.version == current), None)
        self.panel.show_model(self.info, history)
        self.model_changed.emit(self.info)
        self._update_overlay()  # a prediction of another model no longer matches the proposals
        if warm_up and self.info is not None and not self.runner.is_running("warm_up"):
            self.runner.start("warm_up", workers.warm_up_job(self.info.path), connect=self._quiet)

    def _quiet(self, job: Any) -> None:
        job.failed.connect(lambda text: self.message.emit(f"Model not loaded: {text}"))

    def use_version(self, version: str) -> None:
        """Make an earlier (or a not promoted) version current; proposals on the image refresh."""
        if self.root is None or (self.info is not None and self.info.version == version):
            return
        try:
            model_index.set_current(self.root, version)
        except SegdeskError as exc:
            self.error.emit(str(exc))
            return
        self.refresh_model(warm_up=True)
        self.message.emit(f"Now using model {version}")
        current = self.session.current
        kept = None if current is None else self.kept.get(current.image_path, version)
        document = self._document()
        if kept is not None and proposals.can_propose(document) and not document.person_shapes:
            self.result = kept  # this model's prediction of this image is known: no need to run it
            self._apply(rederive(kept, self.panel.settings()))
            self._update_overlay()
        else:
            self._refresh_current_proposals()

    # --- the current image ------------------------------------------------------------------------
    def _document(self) -> Any:
        current = self.session.current
        return None if current is None else current.document

    def _on_image_loaded(self, current: CurrentImage) -> None:
        version = None if self.info is None else self.info.version
        self.result = self.kept.get(current.image_path, version)  # a prediction belongs to one image
        self._update_overlay()
        self._update_buttons()
        document = current.document
        if (
            document is not None
            and self.info is not None
            and self.panel.auto_predict.isChecked()
            and document.status == "unlabeled"
            and not document.shapes
        ):
            self.predict_current()

    def _update_buttons(self) -> None:
        document = self._document()
        count = 0 if document is None else len(document.proposals)
        self.panel.set_proposal_count(count)
        self.panel.set_reviewed(
            document is not None and document.status == "reviewed", enabled=document is not None
        )
        status = None if document is None else document.status
        self.panel.set_review_status(None if status is None else review_flow.status_line(status))
        self.review_status.emit(*review_flow.status_words(status))

    def predict_current(self) -> None:
        """Predict the image on screen in the background (a running one is cancelled and redone)."""
        current = self.session.current
        if current is None or current.document is None or current.raw is None:
            return
        if self.info is None:
            self.message.emit("No model yet: review a few images, then Retrain")
            return
        if not proposals.can_propose(current.document):
            self.message.emit(
                "This image is reviewed or labelled elsewhere: proposals would not replace its shapes"
            )
            return
        if self.runner.is_running("predict"):
            self._pending_predict = True
            self.runner.cancel("predict")
            return
        image = np.array(current.raw, copy=True)  # the job owns its copy
        fn = workers.predict_job(image, current.image_path, self.info.path, self.panel.settings())
        self.runner.start("predict", fn, connect=self._connect_predict)
        self.message.emit(f"Predicting {current.image_path.name} ...")

    def _connect_predict(self, job: Any) -> None:
        job.succeeded.connect(self.apply_prediction)
        job.failed.connect(lambda text: self.error.emit(f"Prediction failed: {text}"))
        job.finished.connect(self._after_predict)

    def _after_predict(self) -> None:
        if self._pending_predict:
            self._pending_predict = False
            QTimer.singleShot(0, self.predict_current)

    def apply_prediction(self, result: PredictionResult) -> None:
        """A predict job's result: its proposals go on the image (and its confidence into the overlay)
        unless the image or the model changed meanwhile."""
        current = self.session.current
        path = None if current is None else current.image_path
        version = None if self.info is None else self.info.version
        if self._pending_predict or proposals.is_stale(result, image_path=path, model_version=version):
            return  # another image or model by now: dropped
        self.result = result
        self.kept.put(result)
        self._apply(result.shapes)
        self._update_overlay()
        self.message.emit(
            f"{len(result.shapes)} proposal(s) from {result.model_version} in {result.elapsed_s * 1000:.0f} ms"
        )

    def _apply(self, shapes: list[Shape]) -> None:
        document = self._document()
        if document is None:
            return
        command = proposals.replace_proposals_command(document, shapes)
        if command is None:
            return
        self.canvas.push(command)
        current = self.session.current
        if current is not None:
            version = None if self.result is None else self.result.model_version
            self._proposed[current.image_path] = (version, [s.copy() for s in shapes])
        self._update_buttons()
        self.proposals_applied.emit(len(shapes))

    def _revectorize(self) -> None:
        result = self._current_result()
        if result is None or self._document() is None:
            return
        self._apply(rederive(result, self.panel.settings()))

    def _current_result(self) -> PredictionResult | None:
        """The prediction behind the current proposals, unless the image or the model changed since."""
        current = self.session.current
        version = None if self.info is None else self.info.version
        path = None if current is None else current.image_path
        if self.result is None or proposals.is_stale(self.result, image_path=path, model_version=version):
            return None
        return self.result

    # --- confidence overlay --------------------------------------------------------------------------
    def _update_overlay(self) -> None:
        """Show the current prediction's confidence (or nothing) as the panel's overlay controls say."""
        result = self._current_result()
        if result is None:
            self.overlay.clear()
            self._overlay_summary = "No prediction for this image yet (Predict this image, Ctrl+P)"
        else:
            display = None if self.session.current is None else self.session.current.display
            self.overlay.set_confidence(result.confidence, len(result.class_names), background=display)
            self._overlay_summary = ""
        style = self.panel.overlay_style()
        self.overlay.set_style(style)
        self.panel.overlay_legend.set_ramp(self.overlay.ramp)
        if style.visible:  # the summary reads every pixel: only when someone looks at it
            self._overlay_summary = self._overlay_summary or overlay_summary(self.overlay, style)
            self.panel.show_overlay_info(self._overlay_summary)

    def _overlay_text(self, x: float, y: float) -> str:
        """What the overlay says under the cursor (the class and how sure), or its summary."""
        result = self._current_result()
        conf = None if result is None else self.overlay.confidence_at(x, y)
        if result is None or conf is None:
            return self._overlay_summary
        index = int(result.class_map[int(y), int(x)])
        name = result.class_names[index] if 0 <= index < len(result.class_names) else str(index)
        return f"Under the cursor: {conf:.0%} sure it is {name}"

    def _on_cursor(self, x: float, y: float, _value: object) -> None:
        if self.panel.overlay_check.isChecked():
            self.panel.show_overlay_info(self._overlay_text(x, y))

    def _refresh_current_proposals(self) -> None:
        document = self._document()
        if document is not None and proposals.can_propose(document) and not document.person_shapes:
            self.predict_current()

    # --- accept / reject / reviewed -----------------------------------------------------------------
    def _push(self, make: Callable[..., Any], indices: list[int] | None) -> bool:
        document = self._document()
        command = None if document is None else make(document, indices)
        if command is None:
            return False
        self.canvas.push(command)
        self._update_buttons()
        return True

    def accept_all(self) -> bool:
        return self._push(proposals.accept_command, None)

    def accept_selected(self) -> bool:
        return self._push(proposals.accept_command, self.canvas.selected_indices() or [-1])

    def reject_all(self) -> bool:
        return self._push(proposals.reject_command, None)

    def reject_selected(self) -> bool:
        return self._push(proposals.reject_command, self.canvas.selected_indices() or [-1])

    def set_reviewed(self, reviewed: bool) -> None:
        """The panel's toggle: mark reviewed, or take the review back."""
        if reviewed:
            self.mark_reviewed()
        else:
            self.unreview()

    def mark_reviewed(self) -> bool:
        """The person says this image is right (the only way an image becomes reviewed)."""
        done = review_flow.mark_reviewed(self.session, self.message.emit)
        if done:
            self._record_effort()
        self._update_buttons()
        return done

    def unreview(self) -> bool:
        """Take the review back: the image stops training; its shapes stay."""
        done = review_flow.unreview(self.session, self.message.emit)
        self._update_buttons()
        return done

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Enter or a double-click on a selected proposal accepts it (edit mode only)."""
        if self.canvas.mode() != "edit" or self._document() is None:
            return False
        kind = event.type()
        if kind == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() == Qt.KeyboardModifier.NoModifier:
                return self.accept_selected()
        if kind == QEvent.Type.MouseButtonDblClick and watched is self.canvas.viewport():
            item = self.canvas.shape_item_at(self.canvas.mapToScene(event.position().toPoint()))
            if item is not None and item.shape_data.is_proposal:
                return self._push(proposals.accept_command, [item.index])
        return False

    # --- correction effort ----------------------------------------------------------------------------
    def _on_saved(self, _json_path: Path) -> None:
        self._update_buttons()

    def _record_effort(self) -> None:
        """At Mark reviewed only (never on a mere save, so an undone Reject all or a half-done image
        is never measured): how much the person changed the proposals."""
        current = self.session.current
        if current is None or self.root is None:
            return
        trend = review_flow.record_effort(current, self._proposed, self.root, self.message.emit)
        if trend is not None:
            self.panel.show_effort(trend)

    def show_effort(self) -> None:
        root = self.root
        self.panel.show_effort(
            None if root is None else effort.recent_trend(root / ".segdesk" / effort.CSV_NAME)
        )

    # --- training -------------------------------------------------------------------------------------
    def retrain(self) -> None:
        """Fine-tune the current model on the images the plan chooses, as saved on disk.

        The open image is never saved or changed here: unsaved edits are said not to be included
        (review_flow.plan_retrain asks through ``self.ask`` about that and anything doubtful).
        """
        project = self.session.project
        if project is None or self.runner.is_running("train"):
            return
        current = self.session.current
        unsaved = current.image_path.name if current is not None and self.session.is_dirty() else None
        try:
            plan = review_flow.plan_retrain(project, self.ask, unsaved=unsaved)
            if plan is None:
                self.message.emit("Retrain cancelled")
                return
            version = None if self.info is None else self.info.version
            snapshot = workers.snapshot_training(project, version, plan.entries)
        except SegdeskError as exc:
            self.error.emit(str(exc))
            return
        finally:  # files labelled elsewhere the person confirmed are reviewed now, the open one too
            review_flow.sync_open_review(self.session)
            self._refresh_statuses()
            self._update_buttons()
        fn = workers.train_in_child(snapshot, self.train_config, export_onnx=self.export_onnx)
        self._train_outcome = None  # this run's own outcome (or None) is what its end reports
        self.panel.set_training(True)
        self.panel.show_training_progress(0.0, "Starting: " + plan.describe()[0])
        self.runner.start("train", fn, connect=self._connect_training)

    def _refresh_statuses(self) -> None:
        for index in range(len(self.session.entries)):
            self.session.entry_status_changed.emit(index, self.session.entry_status(index))

    def _connect_training(self, job: Any) -> None:
        job.progress.connect(self._on_train_progress)
        job.succeeded.connect(self.apply_training_outcome)
        job.failed.connect(self._on_train_failed)
        job.cancelled.connect(self._on_train_cancelled)
        job.finished.connect(self._after_training)

    def _after_training(self) -> None:
        # Last, after the thread ended: a handler may start the next run at once.
        self.panel.set_training(False)
        outcome, self._train_outcome = self._train_outcome, None
        self.training_finished.emit(outcome)

    def cancel_training(self) -> None:
        self.runner.cancel("train")
        self.panel.show_training_progress(self.panel.train_progress.value() / 1000, "Cancelling ...")

    def _on_train_progress(self, status: workers.TrainStatus) -> None:
        self.panel.show_training_progress(status.fraction, status.text(), status.history)

    def apply_training_outcome(self, outcome: workers.TrainOutcome) -> None:
        """A finished run: show the models; when the new one was not promoted, offer to keep either."""
        self.refresh_model(warm_up=True)
        new_info = None if self.root is None else model_index.read_info(self.root, outcome.version)
        weak = model_health.not_useful_text(new_info)
        if outcome.promoted and weak:
            text = f"New model {outcome.version} (held-out mIoU {outcome.miou:.3f}) is current"
        elif outcome.promoted:
            text = f"New model {outcome.version} (held-out mIoU {outcome.miou:.3f}) is now current"
        else:
            text = (
                f"{outcome.version} was saved but {outcome.previous_version} stays current ({outcome.reason})"
                if outcome.previous_version is not None
                else f"{outcome.version} was saved but not made current: {outcome.reason}"
            )
            if outcome.previous_version is not None:
                self.panel.offer_keep_choice(
                    new_version=outcome.version,
                    new_miou=outcome.miou,
                    old_version=outcome.previous_version,
                    old_miou=outcome.previous_miou,
                )
        if outcome.onnx_error:
            text += f". The fast CPU export failed ({outcome.onnx_error}); predictions use torch"
        if weak:
            text += ". " + weak
        self.panel.show_training_progress(1.0, text)
        self.message.emit(text)
        self._ranking = (None, [])
        if outcome.promoted:
            self._refresh_current_proposals()
        self._train_outcome = outcome

    def _on_train_failed(self, text: str) -> None:
        self.panel.show_training_progress(0.0, f"Training failed: {text}")
        self.error.emit(f"Training failed: {text}")

    def _on_train_cancelled(self) -> None:
        kept = "no model" if self.info is None else self.info.version
        self.panel.show_training_progress(0.0, f"Training cancelled; {kept} stays current")
        self.message.emit(f"Training cancelled; {kept} stays current")

    # --- all unlabeled images ---------------------------------------------------------------------------
    def _unlabeled_targets(self) -> list[tuple[int, Any]]:
        current = self.session.index
        return [
            (i, e)
            for i, e in enumerate(self.session.entries)
            if i != current
            and self.session.entry_status(i) not in ("reviewed", "elsewhere")  # the job applies the rule
        ]

    def start_batch(self, *, write: bool) -> None:
        """Predict every unlabeled image: save proposals (``write``) or only rank by uncertainty."""
        if self.info is None or self.root is None or self.runner.is_running("batch"):
            return
        targets = self._unlabeled_targets()
        if not targets:
            self._go_after_scoring = False
            self.message.emit("No unlabeled image left")
            return
        fn = workers.batch_job(self.root, targets, self.info.path, self.panel.settings(), write=write)
        self.panel.set_batch((0, len(targets)))
        self.runner.start("batch", fn, connect=self._connect_batch)

    def _connect_batch(self, job: Any) -> None:
        job.progress.connect(self._on_batch_progress)
        job.succeeded.connect(self._on_batch_done)
        job.failed.connect(lambda text: self.error.emit(f"Prediction failed: {text}"))
        job.cancelled.connect(lambda: self.message.emit("Prediction cancelled"))
        job.finished.connect(lambda: self.panel.set_batch(None))

    def _on_batch_progress(self, status: workers.BatchStatus) -> None:
        self.panel.set_batch((status.done, status.total))
        for index in status.written:
            self.session.entry_status_changed.emit(index, self.session.entry_status(index))

    def _on_batch_done(self, outcome: workers.BatchOutcome) -> None:
        for index in outcome.written:
            self.session.entry_status_changed.emit(index, self.session.entry_status(index))
        self._ranking = (outcome.model_version, [i for i, _score in outcome.scores])
        self.message.emit(
            f"Predicted {len(outcome.scores)} image(s); {len(outcome.written)} saved as proposed"
        )
        self.batch_finished.emit(outcome)
        if self._go_after_scoring:
            self._go_after_scoring = False
            self.next_uncertain()

    def next_uncertain(self) -> None:
        """Go to the not yet reviewed image the model is least sure about (scores it first if needed)."""
        version = None if self.info is None else self.info.version
        ranked_version, order = self._ranking
        if ranked_version == version and order:
            for index in order:
                if index != self.session.index and self.session.entry_status(index) not in (
                    "reviewed",
                    "elsewhere",
                ):
                    self.session.go_to(index)
                    return
        self._go_after_scoring = True
        self.start_batch(write=False)

    # --- closing ------------------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = CLOSE_WAIT_MS) -> bool:
        """Cancel every job and wait; False when one would not stop (the window then stays open)."""
        return self.runner.shutdown(timeout_ms)


def with_train_config(assist: ModelAssist, **overrides: Any) -> None:
    """Give ``assist`` the app's training settings with ``overrides`` (tests, benchmarks).

    Kept as plain overrides: the settings are made in the training process, so this process
    does not import torch for them.
    """
    assist.train_config = dict(overrides)


__all__ = ["CLOSE_WAIT_MS", "ModelAssist", "with_train_config"]
