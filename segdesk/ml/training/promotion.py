"""Whether a newly trained model becomes current, and never a useless one.

``promote_decision`` is the default verdict the training service asks for (``VerdictFn``: another
function of the same signature can be passed to ``segdesk.services.training.train``).

A trained candidate is *useless* when, on the held-out images,

- it predicts (practically) nowhere a class that is present there (``MISSING_SHARE`` of the
  class's true pixels or less), e.g. every pixel "cell" after a run starved of steps; or
- its mIoU is no better than the majority class everywhere, or clearly worse (by more than
  ``THRESHOLD_TOLERANCE``) than a per-image intensity threshold (Otsu on the grey image, the two
  most frequent classes on either side, the better polarity). The tolerance is there because on
  data a threshold solves (bright squares on a dark ground) the threshold scores ~1.0 and a good
  model 0.99: that model is useful, while one far below a threshold has learnt nothing worth using.
  0.10 rather than 0.05: held-out images are drawn from the most common kind of image
  (``ml/holdout.py``), often the kind a threshold suits; on DSB dev two sparse fluorescence images
  held out gave a threshold 0.885 and two good models 0.833 (their test mIoU 0.883 and 0.898, above
  the models a 0.05 tolerance passed), while the collapsed models this check exists for sit far
  lower (every pixel one class, a class predicted nowhere, discs 3 px too wide all round: 0.66
  against 1.0; docs/benchmarks.md). And a candidate at ``USEFUL_MIOU`` or above is never called
  useless for trailing a threshold: with 5 reviewed DSB images the one held-out image was a sparse
  fluorescence field a threshold solves (0.957), and a model at 0.845 there (0.862 on the 30 test
  images) was refused, leaving the person no proposals at all; a model that good (discs 1 px too
  wide all round score 0.85) gives proposals worth correcting.

Such a candidate is still saved as a version (the person may look at it) but not made current; the
verdict says why and what to do next. :func:`promote_decision` asks this first.

A useful candidate then becomes current when it is not worse than the current model on the same
held-out images (which the current model never trained on where the reviewed images allow:
``data.split_samples``). When the candidate trained on reviewed images the current model never
saw, "not worse" allows for what a few held-out images can tell: ``HELD_OUT_SPREAD / sqrt(n)``
for n held-out images. Images differ far more than models do: on DSB dev the per-image mIoU
difference between the model of the first 2 reviewed images and that of the first 10 has a
standard deviation of 0.16 over 30 test images (mean +0.09 for the 10-image model), and the two
held-out images of the 10-image run both favoured the 2-image model (-0.07 and -0.03), which
kept it current in the app's loop. Retrains on the same images keep the strict comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from segdesk.core.instances import fold_boundary_mask
from segdesk.ml.checkpoint import ModelStore
from segdesk.ml.data import TrainingSet
from segdesk.ml.metrics import ConfusionMatrix, shown_classes
from segdesk.ml.training.evaluate import evaluate
from segdesk.ml.training.train import TrainResult

#: A present class counts as "predicted nowhere" when the candidate predicts it on at most this
#: share of the number of pixels where it truly is.
MISSING_SHARE = 0.005
THRESHOLD_TOLERANCE = 0.10
USEFUL_MIOU = 0.80
#: Standard deviation of the per-image mIoU difference between two models (DSB dev; see above).
HELD_OUT_SPREAD = 0.16


def held_out_tolerance(dataset: TrainingSet) -> float:
    """How much worse than the current model a candidate may score on ``dataset``'s held-out images
    and still become current: ``HELD_OUT_SPREAD / sqrt(n)`` when it trained on images the current
    model never saw (on held-out images: validation on training images proves nothing), else 0."""
    if not dataset.new_images or dataset.split != "held-out" or not dataset.val:
        return 0.0
    return HELD_OUT_SPREAD / len(dataset.val) ** 0.5


@dataclass
class Verdict:
    useful: bool
    miou: float
    reason: str = ""
    next_step: str = ""
    baselines: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self) -> str:
        """The reason and the next step, in words."""
        return f"{self.reason}. {self.next_step}" if self.next_step else self.reason


def baseline_scores(samples: Sequence[Any], class_names: Sequence[str]) -> dict[str, float]:
    """mIoU of the trivial baselines on ``samples`` (``.image`` HxWx3 in [0, 1], ``.mask``)."""
    n = len(class_names)
    counts = np.zeros(n, dtype=np.int64)
    for s in samples:
        counts += np.bincount(s.mask[s.mask < n].ravel(), minlength=n)[:n]
    order = np.argsort(-counts, kind="stable")
    major, second = int(order[0]), int(order[1]) if n > 1 else int(order[0])
    majority = ConfusionMatrix(n)
    bright, dark = ConfusionMatrix(n), ConfusionMatrix(n)
    for s in samples:
        majority.update(s.mask, np.full(s.mask.shape, major, dtype=np.uint8))
        above = otsu_foreground(s.image)
        bright.update(s.mask, np.where(above, second, major).astype(np.uint8))
        dark.update(s.mask, np.where(above, major, second).astype(np.uint8))
    names = list(class_names)
    return {
        "majority class": majority.compute(names).miou,
        "intensity threshold": max(bright.compute(names).miou, dark.compute(names).miou),
    }


def otsu_foreground(unit_image: np.ndarray) -> np.ndarray:
    """Pixels above the image's own Otsu threshold of its grey values."""
    grey = unit_image.mean(axis=2) if unit_image.ndim == 3 else unit_image
    g8 = np.clip(grey * 255.0 + 0.5, 0, 255).astype(np.uint8)
    _, above = cv2.threshold(g8, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return above.astype(bool)


@dataclass(frozen=True)
class _Shown:
    """A held-out sample with its mask in the shown classes' indices (for the baselines)."""

    image: np.ndarray
    mask: np.ndarray


def judge(cm: ConfusionMatrix, samples: Sequence[Any], class_names: Sequence[str]) -> Verdict:
    """The verdict on a candidate whose confusion matrix on ``samples`` is ``cm`` (rows = truth), over
    the classes a person sees (boundary classes folded into their classes, as in its proposals)."""
    folded, names = shown_classes(cm, class_names)
    if len(names) != len(class_names):
        samples = [_Shown(s.image, fold_boundary_mask(s.mask, class_names)) for s in samples]
    cm = folded
    miou = cm.compute(names).miou
    truth = cm.matrix.sum(1)
    predicted = cm.matrix.sum(0)
    missing = [
        names[i] for i in range(len(names)) if truth[i] > 0 and predicted[i] <= MISSING_SHARE * truth[i]
    ]
    baselines = {k: round(v, 4) for k, v in baseline_scores(samples, names).items()}
    where = f"the {len(samples)} held-out image(s)"
    if missing:
        return Verdict(
            False,
            miou,
            reason=f"it predicts {', '.join(repr(m) for m in missing)} almost nowhere on {where}, where it is present",
            next_step=(
                "Label a few more examples of that class (or correct proposals that missed it), "
                "then retrain; if the computer was busy, retrain when it is quieter or allow more minutes"
            ),
            baselines=baselines,
            missing=missing,
        )
    majority, threshold = baselines["majority class"], baselines["intensity threshold"]
    best_name, best = max(baselines.items(), key=lambda kv: kv[1])
    trails_threshold = miou < threshold - THRESHOLD_TOLERANCE and miou < USEFUL_MIOU
    if miou <= majority + 1e-6 or trails_threshold:
        worse_than_majority = miou <= majority + 1e-6
        best_name = "majority class" if worse_than_majority else "intensity threshold"
        best = majority if worse_than_majority else threshold
        return Verdict(
            False,
            miou,
            reason=f"its mIoU {miou:.3f} on {where} is no better than a trivial {best_name} ({best:.3f})",
            next_step="Review more images with varied examples of every class, then retrain with more minutes",
            baselines=baselines,
        )
    return Verdict(True, miou, reason=f"mIoU {miou:.3f}; trivial {best_name} {best:.3f}", baselines=baselines)


def check_candidate(
    model: Any,
    samples: Sequence[Any],
    class_names: Sequence[str],
    *,
    scale: float = 1.0,
    device: Any = "cpu",
    tile: int = 512,
) -> Verdict:
    """Predict ``samples`` with ``model`` (at its working ``scale``) and judge it (``judge``)."""
    from segdesk.ml.training.evaluate import confusion

    cm = confusion(model, samples, len(class_names), device=device, tile=tile, scale=scale)
    return judge(cm, samples, class_names)


@dataclass
class Promotion:
    """Whether a new model should become current, and the numbers behind the decision."""

    promote: bool
    new_miou: float
    current_version: str | None
    current_miou: float | None
    reason: str
    useless: bool = False  # kept as a version, never made current (usefulness.py)


#: A promotion verdict: (the finished run, its data, the project's store) -> Promotion.
VerdictFn = Callable[[TrainResult, TrainingSet, ModelStore], "Promotion"]


def promote_decision(result: TrainResult, dataset: TrainingSet, store: ModelStore) -> Promotion:
    """A useless candidate never becomes current; a useful one does when it is not worse than the
    current model on the same validation images (by more than ``held_out_tolerance``)."""
    from segdesk.ml.rescale import working_scale

    new = result.metrics.miou
    version = store.current()
    scale = float(result.config.get("scale", 1.0))
    verdict = check_candidate(result.model, dataset.val, dataset.class_names, scale=scale)
    if not verdict.useful:
        return Promotion(False, new, version, None, verdict.message(), useless=True)
    if version is None:
        return Promotion(True, new, None, None, "no current model")
    current, meta = store.load(version)
    if list(meta["classes"]) != list(dataset.class_names):
        return Promotion(True, new, version, None, "the classes changed")
    old = evaluate(current, dataset.val, dataset.class_names, scale=working_scale(meta)).miou
    if new + 1e-6 >= old:
        return Promotion(True, new, version, old, f"mIoU {new:.3f} >= {old:.3f} of {version}")
    tolerance = held_out_tolerance(dataset)
    if new + tolerance + 1e-6 >= old:
        n, k = len(dataset.val), len(dataset.new_images)
        return Promotion(
            True,
            new,
            version,
            old,
            f"mIoU {new:.3f} against {old:.3f} of {version}: within the {tolerance:.2f} that {n} held-out "
            f"image(s) can tell apart, and it learnt from {k} reviewed image(s) {version} never saw",
        )
    return Promotion(False, new, version, old, f"mIoU {new:.3f} < {old:.3f} of {version}")


__all__ = [
    "HELD_OUT_SPREAD",
    "MISSING_SHARE",
    "THRESHOLD_TOLERANCE",
    "USEFUL_MIOU",
    "Promotion",
    "Verdict",
    "VerdictFn",
    "baseline_scores",
    "check_candidate",
    "held_out_tolerance",
    "judge",
    "otsu_foreground",
    "promote_decision",
]
