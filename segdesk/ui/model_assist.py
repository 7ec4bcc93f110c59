"""ModelAssist: the Model dock's controllers (ui/assist/) wired to the panel, the session and each other.

GUI-thread only. The controllers snapshot inputs, start jobs (ui/job_runner.py running ui/job_functions.py
functions, thin wrappers over segdesk.services) and apply their results through the Session's undo
stack when they are still current. This facade owns the shared job runner and the signals the window
listens to, and keeps the names the window, tests and benchmarks use.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from segdesk.services.model_store import ModelInfo
from segdesk.services.proposals import KeptPredictions, PredictionResult
from segdesk.ui import job_functions, review_flow
from segdesk.ui.assist.batch import BatchController
from segdesk.ui.assist.context import AssistContext
from segdesk.ui.assist.models import ModelController
from segdesk.ui.assist.overlay import OverlayController
from segdesk.ui.assist.prediction import PredictionController
from segdesk.ui.assist.proposal_memory import ProposalMemory
from segdesk.ui.assist.review import ReviewController
from segdesk.ui.assist.training import TrainingController
from segdesk.ui.canvas.confidence import ConfidenceOverlay
from segdesk.ui.current_image import CurrentImage
from segdesk.ui.job_runner import JobRunner
from segdesk.ui.panels.model import ModelPanel
from segdesk.ui.session import Session

#: How long a closing window waits for jobs to stop before it stays open and says why.
CLOSE_WAIT_MS = 3000


class ModelAssist(QObject):
    """Owns the jobs and the proposal state of the current image (through its controllers)."""

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
        ctx = AssistContext(panel, session, self.runner, message=self.message.emit, error=self.error.emit)
        self.ctx = ctx
        self.models = ModelController(ctx, self)
        self.prediction = PredictionController(ctx, self)
        self.overlays = OverlayController(ctx, canvas, self.prediction.current_result)
        self.review = ReviewController(ctx, canvas, self.review_status.emit, self)
        self.training = TrainingController(
            ctx, lambda *q: review_flow.message_box_ask(canvas.window())(*q), self
        )
        self.batch = BatchController(ctx, self)
        self.proposal_memory = ProposalMemory(ctx)  # before the first proposal of a folder
        self._connect()

    def _connect(self) -> None:
        p, s = self.panel, self.session
        p.predict_requested.connect(self.predict_current)
        p.predict_all_requested.connect(lambda: self.start_batch(write=True))
        p.cancel_batch_requested.connect(self.batch.cancel)
        p.retrain_requested.connect(self.retrain)
        p.cancel_training_requested.connect(self.cancel_training)
        p.next_uncertain_requested.connect(self.next_uncertain)
        p.accept_all_requested.connect(self.accept_all)
        p.reject_all_requested.connect(self.reject_all)
        p.reviewed_toggled.connect(self.review.set_reviewed)
        p.version_chosen.connect(self.use_version)
        p.settings_changed.connect(lambda _s: self.proposal_memory.save())  # the project's file first
        p.settings_changed.connect(lambda _s: self.prediction.settings_edited())
        p.overlay_changed.connect(lambda _style: self.overlays.update())
        s.folder_opened.connect(lambda _folder: p.dismiss_keep_choice())
        s.folder_opened.connect(lambda _folder: self.prediction.kept.clear())
        s.folder_opened.connect(lambda _folder: self.refresh_model(warm_up=True))
        s.folder_opened.connect(lambda _folder: self.review.show_effort())
        s.image_loaded.connect(self._on_image_loaded)
        s.saved.connect(lambda _path: self.review.update_buttons())
        s.undo_stack.indexChanged.connect(lambda _i: self.review.update_buttons())
        self.models.changed.connect(self.model_changed)
        # a prediction of another model no longer matches the proposals
        self.models.changed.connect(lambda _info: self.overlays.update())
        self.prediction.applied.connect(lambda _n: self.review.update_buttons())
        self.prediction.applied.connect(self.proposals_applied)
        self.prediction.result_changed.connect(self.overlays.update)
        self.training.reviews_changed.connect(self.review.update_buttons)
        self.training.model_saved.connect(self._on_model_saved)
        self.training.promoted.connect(self.prediction.refresh_current)
        self.training.finished.connect(self.training_finished)
        self.batch.finished.connect(self.batch_finished)

    def _on_image_loaded(self, current: CurrentImage) -> None:
        self.prediction.image_loaded(current)
        self.review.update_buttons()
        self.prediction.auto_predict(current)

    def _on_model_saved(self) -> None:
        self.refresh_model(warm_up=True)
        self.batch.reset_ranking()

    # --- state the window, tests and benchmarks read or set ---------------------------------------
    @property
    def info(self) -> ModelInfo | None:
        return self.ctx.info

    @property
    def result(self) -> PredictionResult | None:
        return self.prediction.result

    @property
    def kept(self) -> KeptPredictions:
        return self.prediction.kept

    @property
    def overlay(self) -> ConfidenceOverlay:
        return self.overlays.overlay

    @property
    def ask(self) -> review_flow.Ask:
        return self.training.ask

    @ask.setter
    def ask(self, ask: review_flow.Ask) -> None:
        self.training.ask = ask

    @property
    def train_config(self) -> Any:
        return self.training.train_config

    @train_config.setter
    def train_config(self, config: Any) -> None:
        self.training.train_config = config

    @property
    def export_onnx(self) -> bool:
        return self.training.export_onnx

    @export_onnx.setter
    def export_onnx(self, on: bool) -> None:
        self.training.export_onnx = on

    # --- actions (the panel, the window's menus and shortcuts) -------------------------------------
    def refresh_model(self, *, warm_up: bool = False) -> None:
        self.models.refresh(warm_up=warm_up)

    def use_version(self, version: str) -> None:
        """Make an earlier (or a not promoted) version current; proposals on the image refresh."""
        if self.models.use_version(version):
            self.prediction.show_version(version)

    def predict_current(self) -> None:
        self.prediction.predict_current()

    def apply_prediction(self, result: PredictionResult) -> None:
        self.prediction.apply_prediction(result)

    def accept_all(self) -> bool:
        return self.review.accept_all()

    def accept_selected(self) -> bool:
        return self.review.accept_selected()

    def reject_all(self) -> bool:
        return self.review.reject_all()

    def mark_reviewed(self) -> bool:
        return self.review.mark_reviewed()

    def unreview(self) -> bool:
        return self.review.unreview()

    def retrain(self) -> None:
        self.training.retrain()

    def cancel_training(self) -> None:
        self.training.cancel()

    def apply_training_outcome(self, outcome: job_functions.TrainOutcome) -> None:
        self.training.apply_outcome(outcome)

    def start_batch(self, *, write: bool) -> None:
        self.batch.start(write=write)

    def next_uncertain(self) -> None:
        self.batch.next_uncertain()

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
