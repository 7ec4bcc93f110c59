"""A project's models as the app and the CLI see them, read without torch.

The layout and the ``current`` rule live in :class:`segdesk.core.model_store.ModelStore` (a dangling
pointer means "no current model", with :meth:`~segdesk.core.model_store.ModelStore.pointer_problem`
saying why); ``segdesk.ml.checkpoint.ModelStore`` adds loading and saving weights. Here: what the
model panel shows of each version, read from the small ``model.json`` files so the window opens fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segdesk.core.instances import base_class_name, is_boundary_class
from segdesk.core.model_store import META_NAME, ModelStore, models_folder
from segdesk.core.split_record import describe_split


@dataclass(frozen=True)
class ModelInfo:
    """One saved model version as the panel describes it.

    ``classes`` are labels: a boundary class (issue 17, ``<label>::boundary``) only separates the
    objects of its class and is never listed; ``object_classes`` are the classes it splits."""

    version: str
    path: Path
    classes: list[str] = field(default_factory=list)
    images: int = 0
    miou: float | None = None
    device: str = ""
    date: str = ""
    promoted: bool | None = None
    object_classes: list[str] = field(default_factory=list)
    reason: str = ""
    split: str = ""
    #: How its objects are split and why (``core.split_record.describe_split``; "" without objects).
    objects_note: str = ""
    #: What the training run said about itself: the time cap cut it short, a class it was losing
    #: was given weight (``TrainResult.note``); "" when nothing happened.
    training_note: str = ""
    #: Held-out IoU per class (None: the class was in neither the truth nor the prediction).
    class_iou: dict[str, float | None] = field(default_factory=dict)
    #: The plan it was trained with (``ml/training/plan.py``'s fields; empty for an older model).
    plan: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        miou = "?" if self.miou is None else f"{self.miou:.3f}"
        return f"{self.version}: mIoU {miou}, {self.images} image(s), {self.date[:16].replace('T', ' ')}"


def info_from_meta(version: str, path: Path, meta: dict[str, Any]) -> ModelInfo:
    metrics = meta.get("metrics") or {}
    training = meta.get("training") or {}
    promotion = meta.get("promotion") or {}
    instances = meta.get("instances")
    miou = metrics.get("miou")
    return ModelInfo(
        version=version,
        path=path,
        classes=[str(c) for c in meta.get("classes") or [] if not is_boundary_class(str(c))],
        object_classes=sorted(
            {base_class_name(str(c)) for c in meta.get("classes") or [] if is_boundary_class(str(c))}
        ),
        images=len(meta.get("images") or []),
        miou=float(miou) if isinstance(miou, int | float) else None,
        device=str(training.get("device", "")),
        date=str(meta.get("date", "")),
        promoted=promotion.get("promote") if isinstance(promotion, dict) else None,
        reason=str(promotion.get("reason", "")) if isinstance(promotion, dict) else "",
        split=str(metrics.get("split", "")),
        objects_note=describe_split(instances.get("split")) if isinstance(instances, dict) else "",
        training_note=str(training.get("note") or ""),
        class_iou=_class_iou(metrics.get("iou")),
        plan=dict(meta["plan"]) if isinstance(meta.get("plan"), dict) else {},
    )


def _class_iou(raw: Any) -> dict[str, float | None]:
    if not isinstance(raw, dict):
        return {}
    return {
        str(k): float(v) if isinstance(v, int | float) else None
        for k, v in raw.items()
        if not is_boundary_class(str(k))
    }


def read_info(root: Path, version: str) -> ModelInfo | None:
    """The version's info, or None when its files are missing or unreadable."""
    store = ModelStore(root)
    weights = store.path(version)
    if not weights.is_file():
        return None
    try:
        meta = json.loads((weights.parent / META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    return info_from_meta(version, weights, meta if isinstance(meta, dict) else {})


def versions(root: Path) -> list[str]:
    """Complete versions, oldest first."""
    return ModelStore(root).versions()


def current_version(root: Path) -> str | None:
    """The current version; None when there is none or the pointer names no saved version."""
    return ModelStore(root).current()


def set_current(root: Path, version: str) -> None:
    """Point ``current`` at ``version`` (the history's "use this model"). Raises ModelError."""
    ModelStore(root).set_current(version)


__all__ = [
    "ModelInfo",
    "ModelStore",
    "current_version",
    "info_from_meta",
    "models_folder",
    "read_info",
    "set_current",
    "versions",
]
