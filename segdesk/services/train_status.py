"""The app's side of a retrain: the job its training process runs and the progress records it sends.

:func:`app_training` is the job function (``fn(cancel, report) -> TrainOutcome``) the app's training
process runs: :func:`segdesk.services.training.train`, the same retrain as ``segdesk train``, with its
events turned by :class:`StatusTracker` into :class:`TrainStatus` records for the panel. Qt-free:
the spawned process imports only this module's world (never PySide6).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from segdesk.core.cancel import CancelToken
from segdesk.services.training import (
    Phase,
    TrainOutcome,
    TrainRequest,
    after_steps_text,
    resolve_config,
    train,
)
from segdesk.services.warm_start import plan_line, set_aside_note

#: What the panel says before the training steps; after them, the lines of ``AFTER_STEPS``.
LOADING_TEXT = "Reading the reviewed images ..."


@dataclass
class TrainStatus:
    """A progress record for the panel; carries the whole epoch history so none is lost to throttling.

    ``loss`` is None until a training step has run; ``history`` holds (epoch, training loss or None,
    held-out mIoU): epoch 0 is the starting model's validation, which has no training loss.
    """

    phase: str  # "loading" | "training" | "prior" | "checking" | "calibrating" | "saving" | "exporting"
    fraction: float = 0.0
    epoch: int = 0
    step: int = 0
    loss: float | None = None
    eta_s: float | None = None
    elapsed_s: float = 0.0
    history: list[tuple[int, float | None, float]] = field(default_factory=list)
    message: str = ""
    held_out: int = 0  # images the run checks its model on (the after-training lines name them)

    def text(self) -> str:
        """One line for the panel (never "nan")."""
        if self.phase == "loading":
            return LOADING_TEXT
        if self.phase != "training":
            after = after_steps_text(self.phase, self.held_out) or after_steps_text("exporting", 0) or ""
            return after[:1].upper() + after[1:]
        parts = [f"epoch {self.epoch + 1}"]
        parts.append("validating the starting model" if self.loss is None else f"loss {self.loss:.4f}")
        if self.history:
            parts.append(f"mIoU {self.history[-1][2]:.3f}")
        if self.eta_s is not None:
            parts.append(f"ETA {int(self.eta_s) // 60}:{int(self.eta_s) % 60:02d}")
        line = " - ".join(parts)
        # the plan's line above it (ml/training/plan.py): "working scale 1x, patches 128, width 8, about 600 steps"
        return f"{self.message}\n{line}" if self.message else line


class StatusTracker:
    """Turns ``train``'s events into :class:`TrainStatus` records (copies, safe to send)."""

    def __init__(self, config: Any, images: int) -> None:
        self.budget_s = (config.minutes or 0) * 60
        self.max_epochs = max(int(config.max_epochs), 1)
        self.status = TrainStatus(phase="loading", message=f"reading {images} image(s)")

    def update(self, event: object) -> TrainStatus | None:
        from segdesk.ml.training.events import Checking, EpochEnd, TrainProgress

        s = self.status
        if isinstance(event, Phase):
            if event.name == "started":
                p = event.prepared
                s.phase, s.message = "training", plan_line(p.plan, p.warm_start) if p is not None else ""
                s.held_out = len(p.dataset.val) if p is not None else 0
                if p is not None and p.set_aside:  # why the current model is not the start
                    s.message += set_aside_note(p.set_aside, p.set_aside_reason)
                return None
            s.phase = event.name
            if event.name in ("checking", "calibrating", "saving", "exporting"):
                s.fraction = 1.0
        elif isinstance(event, Checking):  # the training steps are done
            s.phase, s.fraction, s.held_out = event.what, 1.0, event.images
        elif isinstance(event, TrainProgress):
            s.epoch, s.step, s.elapsed_s = event.epoch, event.step, event.elapsed_s
            s.loss = event.loss if math.isfinite(event.loss) else s.loss
            s.eta_s = event.eta_s if math.isfinite(event.eta_s) and event.eta_s >= 0 else None
            total = event.elapsed_s + (s.eta_s or 0.0)
            s.fraction = event.elapsed_s / total if total > 0 else 0.0
        elif isinstance(event, EpochEnd):
            loss = event.train_loss if math.isfinite(event.train_loss) else None
            s.history = [*s.history, (event.epoch, loss, float(event.metrics.miou))]
            if self.budget_s <= 0:
                s.fraction = (event.epoch + 1) / self.max_epochs
        else:
            return None
        return dataclasses.replace(s, history=list(s.history))


def app_training(request: TrainRequest, config: Any = None, export_onnx: bool = True) -> Any:
    """The job function the app's training process runs: ``fn(cancel, report) -> TrainOutcome``.

    ``config``: None (the defaults), a dict of TrainConfig overrides, or a TrainConfig. Module-level
    and Qt-free: the spawned process imports only this module's world (never PySide6).
    """

    def run(cancel: CancelToken, report: Callable[[object], None]) -> TrainOutcome:
        cfg = resolve_config(config)
        tracker = StatusTracker(cfg, len(request.entries))

        def on_event(event: object) -> None:
            status = tracker.update(event)
            if status is not None:
                report(status)

        return train(request, cfg, cancel, on_event, export_onnx=export_onnx)

    return run


__all__ = ["StatusTracker", "TrainStatus", "app_training"]
