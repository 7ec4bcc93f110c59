"""Model proposals on the current image: make shapes from a prediction, apply them as undoable commands.

Qt-free on purpose (numpy + core): the model controller calls these on the GUI thread with results
that came back from a worker. The rules the person relies on live here:

- a proposal never lands on a reviewed image, and never replaces a shape a person drew or edited
  (only the image's earlier, untouched proposals are replaced);
- a result for an image or a model version that is no longer current is dropped;
- every proposal carries its provenance in ``Shape.extra``: source "model", model_version,
  confidence (mean inside the shape); editing or accepting it keeps that and adds ``edited``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segdesk.core.commands import AddShapes, Command, Macro, RemoveShapes, accept_proposals
from segdesk.core.document import Document
from segdesk.core.postprocess import PostprocessConfig, postprocess
from segdesk.core.shapes import Shape
from segdesk.core.vectorize import class_map_to_shapes


@dataclass(frozen=True)
class ProposalSettings:
    """How a prediction becomes shapes; changing these re-vectorizes without re-running the model.

    ``threshold``: a foreground pixel whose confidence is below it becomes background.
    ``min_area``: islands (and shapes) smaller than this many pixels are dropped.
    ``tolerance``: polygon simplification in pixels.
    """

    threshold: float = 0.5
    min_area: int = 16
    tolerance: float = 1.0


@dataclass
class PredictionResult:
    """What a predict job hands back for one image (plain arrays: no torch, no Qt)."""

    image_path: Path
    model_version: str | None
    class_names: list[str]
    class_map: np.ndarray  # the model's arg-max classes, before thresholding / clean-up
    confidence: np.ndarray  # probability of the chosen class, float32 HxW
    mean_entropy: float
    elapsed_s: float = 0.0
    shapes: list[Shape] = field(default_factory=list)  # made with ``settings``
    settings: ProposalSettings = field(default_factory=ProposalSettings)

    @property
    def mean_confidence(self) -> float:
        return float(self.confidence.mean()) if self.confidence.size else 0.0


def proposal_shapes(
    class_map: np.ndarray,
    confidence: np.ndarray,
    class_names: Sequence[str],
    settings: ProposalSettings,
    *,
    model_version: str | None,
) -> list[Shape]:
    """Threshold, clean up and vectorize a predicted class map into proposal shapes."""
    cm = np.array(class_map, copy=True)
    if settings.threshold > 0:
        cm[(cm != 0) & (confidence < settings.threshold)] = 0
    post = PostprocessConfig(min_area=max(int(settings.min_area), 0))
    cleaned = postprocess(cm, post)
    provenance = {"source": "model", "proposal": True, "model_version": model_version}
    return class_map_to_shapes(
        cleaned,
        list(class_names),
        tolerance=float(settings.tolerance),
        min_area=max(int(settings.min_area), 1),
        background=0,
        ignore_value=None,
        confidence=confidence,
        provenance=provenance,
    )


def revectorize(result: PredictionResult, settings: ProposalSettings) -> list[Shape]:
    """New shapes for ``result`` under ``settings`` (the model is not run again)."""
    return proposal_shapes(
        result.class_map,
        result.confidence,
        result.class_names,
        settings,
        model_version=result.model_version,
    )


def can_propose(document: Document | None) -> bool:
    """Proposals may go on an image that nobody has reviewed yet (nor labelled in another tool)."""
    return document is not None and document.status not in ("reviewed", "elsewhere")


def replace_proposals_command(document: Document, shapes: Sequence[Shape]) -> Command | None:
    """One undo step: the image's untouched proposals out, ``shapes`` in (after the person's shapes).

    None when the image is reviewed (proposals never overwrite a person's review).
    """
    if not can_propose(document):
        return None
    old = [i for i, s in enumerate(document.shapes) if s.is_proposal]
    kept = len(document.shapes) - len(old)
    commands: list[Command] = []
    if old:
        commands.append(RemoveShapes(old, text="remove proposals"))
    if shapes:
        new = [s.copy() for s in shapes]
        commands.append(AddShapes(list(range(kept, kept + len(new))), new, text="add proposals"))
    if not commands:
        return None
    return Macro(commands, text=f"{len(shapes)} proposals")


def accept_command(document: Document, indices: Sequence[int] | None = None) -> Command | None:
    """Accept all proposals (``indices`` None) or those among ``indices``; None when there are none."""
    chosen = range(len(document.shapes)) if indices is None else indices
    if not any(0 <= i < len(document.shapes) and document.shapes[i].is_proposal for i in chosen):
        return None
    return accept_proposals(document, indices)


def reject_command(document: Document, indices: Sequence[int] | None = None) -> Command | None:
    """Remove all proposals, or the proposals among ``indices``; a person's shape is never removed."""
    chosen = range(len(document.shapes)) if indices is None else indices
    targets = [i for i in chosen if 0 <= i < len(document.shapes) and document.shapes[i].is_proposal]
    if not targets:
        return None
    return RemoveShapes(targets, text=f"reject {len(targets)} proposals")


def is_stale(result: PredictionResult, *, image_path: Path | None, model_version: str | None) -> bool:
    """True when the image or the model changed since the job was started: drop the result."""
    if image_path is None or Path(result.image_path) != Path(image_path):
        return True
    return result.model_version != model_version


def model_shapes(document: Document) -> list[Shape]:
    """Shapes that came from a model (accepted or still proposed), for the correction-effort meter."""
    return [s for s in document.shapes if s.extra.get("source") == "model"]


__all__ = [
    "PredictionResult",
    "ProposalSettings",
    "accept_command",
    "can_propose",
    "is_stale",
    "model_shapes",
    "proposal_shapes",
    "reject_command",
    "replace_proposals_command",
    "revectorize",
]
