"""Predict the open image in the background and put the proposals on it as undoable commands.

Predictions are kept per image and model version: settings and model switches re-derive from them,
so what a setting hid comes back when it is relaxed (hiding is never deleting).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from segdesk.core.shapes import Shape
from segdesk.services.proposals import KeptPredictions, PredictionResult, rederive
from segdesk.ui import job_functions, proposals
from segdesk.ui.assist.context import AssistContext
from segdesk.ui.current_image import CurrentImage


class PredictionController(QObject):
    applied = Signal(int)  # proposals now on the image (after the command was pushed)
    result_changed = Signal()  # the prediction behind the proposals changed (the overlay follows)

    def __init__(self, ctx: AssistContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.result: PredictionResult | None = None  # the prediction behind the current proposals
        self.kept = KeptPredictions()
        self._pending = False
        self._settings_timer = QTimer(self, singleShot=True, interval=120)
        self._settings_timer.timeout.connect(self._revectorize)

    def settings_edited(self) -> None:
        """The panel's proposal settings changed: re-derive the proposals once the edits pause."""
        self._settings_timer.start()

    def image_loaded(self, current: CurrentImage) -> None:
        """A prediction belongs to one image: take this one's kept prediction (or none)."""
        self.result = self.kept.get(current.image_path, self.ctx.version)
        self.result_changed.emit()

    def auto_predict(self, current: CurrentImage) -> None:
        document = current.document
        if (
            document is not None
            and self.ctx.info is not None
            and self.ctx.panel.auto_predict_enabled()
            and document.status == "unlabeled"
            and not document.shapes
        ):
            self.predict_current()

    def predict_current(self) -> None:
        """Predict the image on screen in the background (a running one is cancelled and redone)."""
        ctx, current = self.ctx, self.ctx.session.current
        if current is None or current.document is None or current.raw is None:
            return
        if ctx.info is None:
            ctx.message("No model yet: review a few images, then Retrain")
            return
        if not proposals.can_propose(current.document):
            ctx.message(
                "This image is reviewed or labelled elsewhere: proposals would not replace its shapes"
            )
            return
        if ctx.runner.is_running("predict"):
            self._pending = True
            ctx.runner.cancel("predict")
            return
        image = np.array(current.raw, copy=True)  # the job owns its copy
        fn = job_functions.predict_job(image, current.image_path, ctx.info.path, ctx.proposal_settings())
        ctx.runner.start("predict", fn, connect=self._connect_predict)
        ctx.message(f"Predicting {current.image_path.name} ...")

    def _connect_predict(self, job: Any) -> None:
        job.succeeded.connect(self.apply_prediction)
        job.failed.connect(lambda text: self.ctx.error(f"Prediction failed: {text}"))
        job.finished.connect(self._after_predict)

    def _after_predict(self) -> None:
        if self._pending:
            self._pending = False
            QTimer.singleShot(0, self.predict_current)

    def apply_prediction(self, result: PredictionResult) -> None:
        """A predict job's result: its proposals go on the image (and its confidence into the overlay)
        unless the image or the model changed meanwhile."""
        current = self.ctx.session.current
        path = None if current is None else current.image_path
        if self._pending or proposals.is_stale(result, image_path=path, model_version=self.ctx.version):
            return  # another image or model by now: dropped
        self.result = result
        self.kept.put(result)
        self.apply(result.shapes)
        self.result_changed.emit()
        self.ctx.message(
            f"{len(result.shapes)} proposal(s) from {result.model_version} in {result.elapsed_s * 1000:.0f} ms"
        )

    def apply(self, shapes: list[Shape]) -> None:
        """Replace the image's proposals with ``shapes`` (one undoable command)."""
        session = self.ctx.session
        document = session.document
        command = None if document is None else proposals.replace_proposals_command(document, shapes)
        if command is None or not session.push(command):
            return
        if session.current is not None:
            version = None if self.result is None else self.result.model_version
            self.ctx.proposed[session.current.image_path] = (version, [s.copy() for s in shapes])
        self.applied.emit(len(shapes))

    def _revectorize(self) -> None:
        result = self.current_result()
        if result is None or self.ctx.document() is None:
            return
        self.apply(rederive(result, self.ctx.proposal_settings()))

    def current_result(self) -> PredictionResult | None:
        """The prediction behind the current proposals, unless the image or the model changed since."""
        current = self.ctx.session.current
        path = None if current is None else current.image_path
        if self.result is None or proposals.is_stale(
            self.result, image_path=path, model_version=self.ctx.version
        ):
            return None
        return self.result

    def refresh_current(self) -> None:
        """Predict the open image again (another model) unless a person's shapes are on it."""
        document = self.ctx.document()
        if document is not None and proposals.can_propose(document) and not document.person_shapes:
            self.predict_current()

    def show_version(self, version: str) -> None:
        """The current model is ``version`` now: its kept prediction of this image, or a new one."""
        current = self.ctx.session.current
        kept = None if current is None else self.kept.get(current.image_path, version)
        document = self.ctx.document()
        if kept is not None and proposals.can_propose(document) and not document.person_shapes:
            self.result = kept  # this model's prediction of this image is known: no need to run it
            self.apply(rederive(kept, self.ctx.proposal_settings()))
            self.result_changed.emit()
        else:
            self.refresh_current()
