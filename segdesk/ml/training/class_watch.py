"""Watching for a class the network has stopped predicting, and what the trainer does about it.

With three or more classes one of them can be dropped for good: on the generated colour and
16-bit sets (background, cells, thin rods at 6-8% of the pixels) one start in four learnt 'rod'
to held-out IoU 0.2-0.5 by step 12-24, then never predicted it again (IoU 0.000 at step 300) while
the others reached 0.92-0.95. Traced step by step, the rod's features are not dead while training;
its head row is pulled down by the far more numerous pixels of the other classes faster than its
own pixels pull it up, so the rod probability stays near its starting third everywhere and always
loses the arg-max. Balanced class weights from the start learn it at every seed, but on DSB's two
classes (nucleus 5% of the pixels) they over-segment (precision 0.83 against 0.96, more merges):
weights are the right tool only where a class is being lost.

So the trainer watches each step's batch (the arg-max of the logits it already computed, on the
pixels of each class). When a class present in the batch has been predicted on almost none of its
own pixels for ``window`` (24) steps in a row, judged from step ``after_step`` (60) on, it gets
weight: balanced class weights, then, while it stays lost, its own weight doubled each further
window (up to 8x), halved again window by window once it is learnt; the run's note says what was
done and when. Judged earlier (from step 20, windows of 12) it also fired on classes that were
merely slow (roads and water of the generated aerial set at step 20, a warm start's background)
and cost them; a contact band between objects is never judged. A run whose classes are all being
learnt is untouched: the watch draws no random numbers and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from segdesk.core.instances import is_boundary_class
from segdesk.ml.data import IGNORE_INDEX
from segdesk.ml.training.losses import SegmentationLoss


def class_hits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(2, C) int64: each class's pixels in ``target`` and how many of them the arg-max predicts.

    The row sums and diagonal of ``metrics.ConfusionMatrix``'s matrix, counted in torch where the
    logits are (no copy of the batch off a GPU): one bincount of (truth, prediction) pairs, ignored
    pixels in a row of their own; about 5 ms a step for 16 x 128² (two masked bincounts took twice
    that), against ~400 ms for the step itself.
    """
    n = logits.shape[1]
    logits = logits.detach()
    if logits.is_contiguous(memory_format=torch.channels_last) and not logits.is_contiguous():
        pred = logits.permute(0, 2, 3, 1).argmax(-1)  # along the layout's own innermost axis
    else:
        pred = logits.argmax(1)
    truth = torch.where(target == IGNORE_INDEX, n, target)
    pairs = torch.bincount((truth * n + pred).reshape(-1), minlength=(n + 1) * n)[: n * n].view(n, n)
    return torch.stack([pairs.sum(1), pairs.diagonal()]).to("cpu", torch.int64)


@dataclass
class ClassWatch:
    """Counts, per class, the consecutive steps on which it was present but (almost) never predicted.

    ``after_step``: steps before which nothing is judged (the first steps predict one class almost
    everywhere). ``window``: consecutive starved steps that count as lost; the count then starts
    again, so a class still lost a window later is reported again. A class is starved on a step
    when it holds at least ``min_pixels`` of the batch's pixels and the arg-max predicts it on under
    ``max_recall`` of them; a step without the class leaves its count as it was.
    """

    class_names: Sequence[str]
    after_step: int = 60
    window: int = 24
    min_pixels: int = 64
    max_recall: float = 0.01
    streak: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.streak = np.zeros(len(self.class_names), np.int64)
        # A contact band between touching objects (issue 17) is rarely predicted on all its pixels
        # and is no class of the person's: it is never judged (weighted, it over-splits objects).
        self.judged = np.array([not is_boundary_class(str(n)) for n in self.class_names])
        self.recall = np.zeros(len(self.class_names))  # running (0.9) share of its pixels predicted

    def update(self, hits: torch.Tensor | np.ndarray, step: int) -> list[int]:
        """Record one step's ``class_hits``; the classes lost as of this step."""
        present, hit = np.asarray(hits, dtype=np.int64)
        shown = (present >= self.min_pixels) & self.judged
        starved = shown & (hit < self.max_recall * np.maximum(present, 1))
        self.streak[starved] += 1
        self.streak[shown & ~starved] = 0
        share = hit / np.maximum(present, 1)
        self.recall[shown] = 0.9 * self.recall[shown] + 0.1 * share[shown]
        if step < self.after_step:
            return []
        lost = np.flatnonzero(self.streak >= self.window)
        self.streak[lost] = 0
        return [int(i) for i in lost]


class ClassRescue:
    """What the trainer does about a lost class: balanced class weights the first time (when the
    loss had none), then the lost class's weight doubled each further window it stays lost, up to
    ``max_boost`` times; once it is predicted again on half its pixels (running recall) for a
    window, the boost halves each window back to 1. Balanced weights alone brought 'rod' back at
    step ~140 on the generated colour set (seed 1) and not by step 300 on the 16-bit set; doubling
    brought both back, and a boost kept at 8x to the end cost rod IoU (test 0.77 / 0.82, against
    0.84 / 0.88 easing back and 0.89-0.90 at seeds where it is never lost)."""

    max_boost = 8.0

    def __init__(
        self, criterion: SegmentationLoss, pixel_counts: np.ndarray, class_names: Sequence[str], **watch: int
    ) -> None:
        self.criterion, self.pixel_counts = criterion, pixel_counts
        self.watch = ClassWatch(class_names, **watch)
        self.boost = np.ones(len(class_names))
        self.healthy = np.zeros(len(class_names), np.int64)
        self.events: dict[int, list[str]] = {}

    def after_step(self, hits: torch.Tensor | np.ndarray, step: int) -> None:
        lost = self.watch.update(hits, step)
        self.ease(step)
        if not lost:
            return
        if not self.criterion.weight.numel():
            self.criterion.use_balanced_weights(self.pixel_counts)
            for c in lost:
                self.events.setdefault(c, []).append(f"at step {step} balanced class weights")
            return
        raised = [c for c in lost if self.boost[c] < self.max_boost]
        self._scale(raised, 2.0, step, "its weight")

    def ease(self, step: int) -> None:
        """A boosted class predicted on half its pixels again for a window: its boost halves."""
        learnt = (self.boost > 1) & (self.watch.recall >= 0.5)
        self.healthy[learnt] += 1
        self.healthy[~learnt] = 0
        eased = [int(c) for c in np.flatnonzero(self.healthy >= self.watch.window)]
        self.healthy[eased] = 0
        self._scale(eased, 0.5, step, "back to")

    def _scale(self, classes: list[int], factor: float, step: int, what: str) -> None:
        """Multiply ``classes``' boost and loss weight by ``factor``, and say so in the events."""
        if not classes:
            return
        weights = np.asarray(self.criterion.weights, dtype=np.float64)
        for c in classes:
            self.boost[c] *= factor
            weights[c] *= factor
            self.events.setdefault(c, []).append(f"at step {step} {what} x{self.boost[c]:g}")
        self.criterion.set_weights(weights.tolist())

    def note(self) -> str:
        names = self.watch.class_names
        return "; ".join(
            f"'{names[c]}' was not being learnt (predicted on almost none of its pixels for "
            f"{self.watch.window} steps): " + ", ".join(done)
            for c, done in sorted(self.events.items())
        )
