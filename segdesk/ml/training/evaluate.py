"""Validation-time prediction and scoring: full-resolution metrics from one confusion matrix.

Used by the trainer after each epoch, by ``segdesk train`` to compare a new model with the current
one, and by the benchmarks. (The app's proposals go through ``infer.Predictor``, which blends tiles.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from segdesk.core.cancel import CancelToken
from segdesk.core.errors import Cancelled
from segdesk.ml.data import Sample
from segdesk.ml.metrics import ConfusionMatrix, SegmentationMetrics, shown_classes
from segdesk.ml.model import UNet
from segdesk.ml.normalize import standardize
from segdesk.ml.rescale import is_native, resize_image


@torch.inference_mode()
def predict_logits(
    model: UNet,
    unit_image: np.ndarray,
    *,
    device: torch.device | str = "cpu",
    tile: int = 512,
    overlap: int = 64,
    tta: bool = False,
    cancel: CancelToken | None = None,
) -> torch.Tensor:
    """Logits (C, H, W) on the CPU for a [0, 1] HxWx3 image, in overlapping tiles when large."""
    device = torch.device(device)
    x = torch.from_numpy(standardize(unit_image))
    _, h, w = x.shape
    if h <= tile and w <= tile:
        return _forward(model, x[None].to(device), tta)[0].float().cpu()
    out = torch.zeros((model.config.num_classes, h, w))
    weight = torch.zeros((1, h, w))
    stride = max(tile - overlap, 1)
    ys = sorted({*range(0, max(h - tile, 0) + 1, stride), max(h - tile, 0)})
    xs = sorted({*range(0, max(w - tile, 0) + 1, stride), max(w - tile, 0)})
    for y0 in ys:
        for x0 in xs:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled during validation")
            patch = x[None, :, y0 : y0 + tile, x0 : x0 + tile].to(device)
            logits = _forward(model, patch, tta)[0].float().cpu()
            out[:, y0 : y0 + tile, x0 : x0 + tile] += logits
            weight[:, y0 : y0 + tile, x0 : x0 + tile] += 1
    return out / weight


def _forward(model: UNet, x: torch.Tensor, tta: bool) -> torch.Tensor:
    if not tta:
        return model(x)
    acc = model(x).softmax(1)
    acc += model(x.flip(-1)).softmax(1).flip(-1)
    acc += model(x.flip(-2)).softmax(1).flip(-2)
    acc += model(x.flip(-1, -2)).softmax(1).flip(-1, -2)
    return (acc / 4).log()


def evaluate(
    model: UNet,
    samples: Sequence[Sample],
    class_names: Sequence[str],
    *,
    device: torch.device | str = "cpu",
    tile: int = 512,
    tta: bool = False,
    cancel: CancelToken | None = None,
    scale: float = 1.0,
) -> SegmentationMetrics:
    """Metrics over all ``samples`` at full resolution from one confusion matrix, over the classes a
    person sees (boundary classes folded into their classes: ``metrics.shown_classes``).

    ``scale``: the model's working scale (images are predicted there, logits resized back).
    """
    cm = confusion(
        model, samples, len(class_names), device=device, tile=tile, tta=tta, cancel=cancel, scale=scale
    )
    folded, names = shown_classes(cm, class_names)
    return folded.compute(names)


def confusion(
    model: UNet,
    samples: Sequence[Sample],
    num_classes: int,
    *,
    device: torch.device | str = "cpu",
    tile: int = 512,
    tta: bool = False,
    cancel: CancelToken | None = None,
    scale: float = 1.0,
) -> ConfusionMatrix:
    """The confusion matrix of ``model`` over ``samples`` (summable over shards of the samples)."""
    zero = torch.zeros(num_classes)
    return confusions(
        model, samples, num_classes, [zero], device=device, tile=tile, tta=tta, cancel=cancel, scale=scale
    )[0]


def confusions(
    model: UNet,
    samples: Sequence[Sample],
    num_classes: int,
    offsets: Sequence[torch.Tensor],
    *,
    device: torch.device | str = "cpu",
    tile: int = 512,
    tta: bool = False,
    cancel: CancelToken | None = None,
    scale: float = 1.0,
    on_map: Callable[[int, Sample, np.ndarray], None] | None = None,
) -> list[ConfusionMatrix]:
    """One confusion matrix per vector of logit ``offsets`` (C,) added before the arg-max: each image
    is predicted once, whatever the number of offsets (``prior.py`` chooses among them).
    ``on_map(k, sample, class_map)`` sees the class map of each sample with offset ``k``."""
    was_training = model.training
    model.eval()
    cms = [ConfusionMatrix(num_classes) for _ in offsets]
    try:
        for s in samples:
            logits = full_logits(model, s.image, s.mask.shape, device, tile, tta, cancel, scale)
            for k, (cm, offset) in enumerate(zip(cms, offsets, strict=True)):
                shifted = logits if not bool(offset.any()) else logits + offset[:, None, None]
                class_map = shifted.argmax(0).numpy()
                cm.update(s.mask, class_map)
                if on_map is not None:
                    on_map(k, s, class_map)
    finally:
        model.train(was_training)
    return cms


@torch.inference_mode()
def full_logits(
    model: UNet,
    unit_image: np.ndarray,
    shape: tuple[int, ...],
    device: torch.device | str,
    tile: int,
    tta: bool,
    cancel: CancelToken | None,
    scale: float,
) -> torch.Tensor:
    """The logits (C, H, W) at ``shape`` of a [0, 1] image predicted at the working ``scale``."""
    if is_native(scale):
        return predict_logits(model, unit_image, device=device, tile=tile, tta=tta, cancel=cancel)
    small = np.clip(resize_image(unit_image, scale), 0.0, 1.0)
    logits = predict_logits(model, small, device=device, tile=tile, tta=tta, cancel=cancel)
    return torch.nn.functional.interpolate(
        logits[None], size=tuple(shape[:2]), mode="bilinear", align_corners=False
    )[0]
