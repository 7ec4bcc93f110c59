"""Whether a newly trained model becomes current: the verdict the training service asks for.

``promote_decision`` is the default verdict (held-out mIoU not worse than the current model's on the
same validation images). A stricter check (is the model useful at all?) plugs in by passing another
function of the same signature to ``segdesk.services.training.train``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from segdesk.ml.checkpoint import ModelStore
from segdesk.ml.data import TrainingSet
from segdesk.ml.evaluate import evaluate
from segdesk.ml.train import TrainResult


@dataclass
class Promotion:
    """Whether a new model should become current, and the numbers behind the decision."""

    promote: bool
    new_miou: float
    current_version: str | None
    current_miou: float | None
    reason: str


#: A promotion verdict: (the finished run, its data, the project's store) -> Promotion.
Verdict = Callable[[TrainResult, TrainingSet, ModelStore], Promotion]


def promote_decision(result: TrainResult, dataset: TrainingSet, store: ModelStore) -> Promotion:
    """Compare the new model with the current one on the same validation images."""
    new = result.metrics.miou
    version = store.current()
    if version is None:
        return Promotion(True, new, None, None, "no current model")
    current, meta = store.load(version)
    if list(meta["classes"]) != list(dataset.class_names):
        return Promotion(True, new, version, None, "the classes changed")
    old = evaluate(current, dataset.val, dataset.class_names).miou
    if new + 1e-6 >= old:
        return Promotion(True, new, version, old, f"mIoU {new:.3f} >= {old:.3f} of {version}")
    return Promotion(False, new, version, old, f"mIoU {new:.3f} < {old:.3f} of {version}")


__all__ = ["Promotion", "Verdict", "promote_decision"]
