"""What the Model panel says about a model, and whether it is useful yet, said plainly (the panel and
the end of a Retrain).

A model whose held-out IoU is (nearly) 0 for a class the held-out images contain proposes nothing
useful for that class, whatever its mIoU (the background alone can give 0.5). The person is told
what to do: label and review more images with that class, then Retrain again.
"""

from __future__ import annotations

import html

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


def model_text(info: ModelInfo | None, device: str = "") -> str:
    """The Model panel's lines on the current model (rich text)."""
    if info is None:
        return "<b>No model yet.</b> Label a few images, mark each reviewed (R), then Retrain."
    classes = (
        ", ".join(
            c + (" (separate objects)" if c in info.object_classes else "")
            for c in info.classes
            if c != "_background_"
        )
        or "-"
    )
    miou = "?" if info.miou is None else f"{info.miou:.3f}"
    note = " (validated on its training images)" if info.split == "all-for-both" else ""
    return (
        f"<b>Model {info.version}</b> &middot; classes: {classes}<br>"
        f"trained on {info.images} reviewed image(s) &middot; held-out mIoU {miou}{note}<br>"
        f"device {info.device or device or '?'} &middot; {info.date[:16].replace('T', ' ')}"
        + "".join(
            f"<br><small>{html.escape(n)}</small>" for n in (info.objects_note, info.training_note) if n
        )
    )


__all__ = ["NOT_FOUND_IOU", "model_text", "not_useful_text", "weak_classes"]
