"""What a training run reports: progress, each validated epoch, and the final result (split from train.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segdesk.ml.metrics import SegmentationMetrics
from segdesk.ml.model import UNet
from segdesk.ml.normalize import NORMALIZATION


@dataclass
class TrainProgress:
    step: int
    epoch: int
    loss: float
    lr: float
    patches_per_s: float
    eta_s: float
    elapsed_s: float


@dataclass
class EpochEnd:
    epoch: int
    step: int
    elapsed_s: float
    train_loss: float
    metrics: SegmentationMetrics
    best_miou: float
    improved: bool


@dataclass
class TrainResult:
    """The final record. ``model`` holds the weights of the best validation epoch."""

    model: UNet
    class_names: list[str]
    metrics: SegmentationMetrics
    history: list[dict[str, Any]]
    split: str
    images: list[str]
    val_images: list[str]
    steps: int
    epochs: int
    elapsed_s: float
    stop_reason: str
    config: dict[str, Any]
    device: str
    note: str = ""  # e.g. that the time cap cut training short of the planned steps
    prior: dict[str, Any] | None = None  # the logit offsets baked into the head (prior.py), if any
    #: The fine-tune's starting model, unchanged, did best on the held-out images (its classes too).
    kept_start: bool = False

    def meta(self) -> dict[str, Any]:
        """Checkpoint metadata for ``checkpoint.save_checkpoint``."""
        return {
            "classes": list(self.class_names),
            "normalization": dict(NORMALIZATION),
            "plan": self.config.get("plan") or {"scale": self.config.get("scale", 1.0)},
            "metrics": {**self.metrics.to_dict(), "split": self.split, "val_images": self.val_images},
            "history": self.history,
            "images": list(self.images),
            "training": {
                "steps": self.steps,
                "epochs": self.epochs,
                "elapsed_s": round(self.elapsed_s, 2),
                "stop_reason": self.stop_reason,
                "note": self.note,
                "prior": self.prior,
                "device": self.device,
                "config": self.config,
            },
        }


@dataclass
class Checking:
    """Training is over; before its result the trainer checks something on the held-out images
    (``what``: "prior", the rare classes' taught odds of ``prior.py``), which takes a few seconds."""

    what: str
    images: int


TrainEvent = TrainProgress | EpochEnd | Checking | TrainResult
