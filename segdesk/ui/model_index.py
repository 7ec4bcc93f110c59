"""What the model panel shows about a project's models, read without loading torch.

The layout is ``segdesk.ml.checkpoint.ModelStore``'s: ``<project>/.segdesk/models/v<N>/`` with
``model.safetensors`` and its JSON twin ``model.json``, and a ``current`` pointer file. The window
reads only the small JSON files, so it opens fast; loading weights happens in ui/workers.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_VERSION_RE = re.compile(r"^v(\d+)$")
WEIGHTS_NAME = "model.safetensors"
META_NAME = "model.json"


@dataclass(frozen=True)
class ModelInfo:
    """One saved model version as the panel describes it."""

    version: str
    path: Path
    classes: list[str] = field(default_factory=list)
    images: int = 0
    miou: float | None = None
    device: str = ""
    date: str = ""
    promoted: bool | None = None
    reason: str = ""
    split: str = ""
    #: Held-out IoU per class (None: the class was in neither the truth nor the prediction).
    class_iou: dict[str, float | None] = field(default_factory=dict)

    def summary(self) -> str:
        miou = "?" if self.miou is None else f"{self.miou:.3f}"
        return f"{self.version}: mIoU {miou}, {self.images} image(s), {self.date[:16].replace('T', ' ')}"


def models_folder(root: Path) -> Path:
    return Path(root) / ".segdesk" / "models"


def info_from_meta(version: str, path: Path, meta: dict[str, Any]) -> ModelInfo:
    metrics = meta.get("metrics") or {}
    training = meta.get("training") or {}
    promotion = meta.get("promotion") or {}
    miou = metrics.get("miou")
    return ModelInfo(
        version=version,
        path=path,
        classes=[str(c) for c in meta.get("classes") or []],
        images=len(meta.get("images") or []),
        miou=float(miou) if isinstance(miou, int | float) else None,
        device=str(training.get("device", "")),
        date=str(meta.get("date", "")),
        promoted=promotion.get("promote") if isinstance(promotion, dict) else None,
        reason=str(promotion.get("reason", "")) if isinstance(promotion, dict) else "",
        split=str(metrics.get("split", "")),
        class_iou=_class_iou(metrics.get("iou")),
    )


def _class_iou(raw: Any) -> dict[str, float | None]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): float(v) if isinstance(v, int | float) else None for k, v in raw.items()}


def read_info(root: Path, version: str) -> ModelInfo | None:
    """The version's info, or None when its files are missing or unreadable."""
    folder = models_folder(root) / version
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        return None
    try:
        meta = json.loads((folder / META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    return info_from_meta(version, weights, meta if isinstance(meta, dict) else {})


def versions(root: Path) -> list[str]:
    """Complete versions, oldest first."""
    folder = models_folder(root)
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        m = _VERSION_RE.match(child.name)
        if m and (child / WEIGHTS_NAME).is_file():
            found.append((int(m.group(1)), child.name))
    return [name for _, name in sorted(found)]


def current_version(root: Path) -> str | None:
    """The version the ``current`` pointer names, if it names a saved one."""
    try:
        name = (models_folder(root) / "current").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not _VERSION_RE.match(name) or not (models_folder(root) / name / WEIGHTS_NAME).is_file():
        return None
    return name


__all__ = [
    "ModelInfo",
    "current_version",
    "info_from_meta",
    "models_folder",
    "read_info",
    "set_current",
    "versions",
]


def set_current(root: Path, version: str) -> None:
    """Point ``current`` at ``version`` (the history's "use this model"); atomic, like ModelStore."""
    from segdesk.core.atomic import atomic_write_text
    from segdesk.core.errors import ModelError

    if version not in versions(root):
        raise ModelError(models_folder(root), version, "no such model version")
    atomic_write_text(models_folder(root) / "current", version + "\n", error_cls=ModelError)
