"""Whether a model is useful yet, said plainly (the panel and the end of a Retrain).

A model whose held-out IoU is (nearly) 0 for a class the held-out images contain proposes nothing
useful for that class, whatever its mIoU (the background alone can give 0.5). The person is told
what to do: label and review more images with that class, then Retrain again.
"""

from __future__ import annotations

from segdesk.services.model_store import ModelInfo

#: Below this held-out IoU a class counts as not found at all.
NOT_FOUND_IOU = 0.05


def weak_classes(info: ModelInfo) -> list[str]:
    """Foreground classes the model does not find on the held-out images."""
    return [
        name
        for name, iou in info.class_iou.items()
        if name != "_background_" and iou is not None and iou < NOT_FOUND_IOU
    ]


def not_useful_text(info: ModelInfo | None) -> str:
    """A plain sentence when ``info``'s model is not useful yet, else ""."""
    if info is None:
        return ""
    weak = weak_classes(info)
    if not weak:
        return ""
    names = ", ".join(weak)
    return (
        f"Not useful yet: {info.version} finds no {names} in the held-out images (IoU below "
        f"{NOT_FOUND_IOU:.2f}), so its proposals will miss them. Label and mark reviewed more images "
        f"with {names}, then Retrain again."
    )


__all__ = ["NOT_FOUND_IOU", "not_useful_text", "weak_classes"]
