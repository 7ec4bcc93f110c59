"""The working scale: resampling images and class maps to it, and predictions back from it.

A plan (``plan.py``) may train at a working scale below 1 (large objects brought to a canonical
size). Training resamples its images and class maps with :func:`resample_sample`; validation and
prediction resample the image the same way (:func:`resize_image`), run the network there and bring
the class probabilities back to the image's own size (bilinear, :func:`upsample_prediction`), so
every output is at full resolution whatever the scale. Torch-free.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np

#: Scales within this of 1 are treated as 1 (no resampling).
EPS = 1e-3


def working_scale(meta: dict[str, Any] | None) -> float:
    """The working scale stored in a checkpoint's metadata (``plan.scale``; 1 when absent)."""
    plan = (meta or {}).get("plan") or {}
    try:
        scale = float(plan.get("scale", 1.0))
    except (TypeError, ValueError):
        return 1.0
    return scale if 0.0 < scale <= 4.0 else 1.0


def is_native(scale: float) -> bool:
    return abs(scale - 1.0) < EPS


def scaled_shape(height: int, width: int, scale: float) -> tuple[int, int]:
    """(height, width) at ``scale``, at least 1 x 1."""
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def resize_image(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` (HxW or HxWxC, uint8 / uint16 / float) at ``scale``: area-averaged when shrinking."""
    if is_native(scale):
        return image
    h, w = image.shape[:2]
    sh, sw = scaled_shape(h, w, scale)
    src = image if image.dtype != np.float64 else image.astype(np.float32)
    if src.dtype not in (np.uint8, np.uint16, np.float32):
        src = src.astype(np.float32)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(src), (sw, sh), interpolation=interp)
    if image.ndim == 3 and out.ndim == 2:  # cv2 drops a single channel axis
        out = out[:, :, None]
    return out


def resize_mask(mask: np.ndarray, scale: float) -> np.ndarray:
    """A class map at ``scale`` (nearest neighbour, centre-aligned: labels are never blended)."""
    if is_native(scale):
        return mask
    sh, sw = scaled_shape(mask.shape[0], mask.shape[1], scale)
    # NEAREST_EXACT samples pixel centres, as INTER_AREA / INTER_LINEAR do for the image: plain
    # NEAREST would shift the labels by half a source pixel against the image.
    return cv2.resize(np.ascontiguousarray(mask), (sw, sh), interpolation=cv2.INTER_NEAREST_EXACT)


def resample_sample(sample: Any, scale: float) -> Any:
    """A training sample (dataclass with ``image`` and ``mask``) at ``scale``."""
    if is_native(scale):
        return sample
    image = np.clip(resize_image(sample.image, scale), 0.0, 1.0).astype(np.float32)
    return dataclasses.replace(sample, image=image, mask=resize_mask(sample.mask, scale))


def upsample_probabilities(probs: np.ndarray, height: int, width: int) -> np.ndarray:
    """Class probabilities (C, h, w) resized bilinearly to (C, height, width), float32."""
    c = probs.shape[0]
    out = np.empty((c, height, width), dtype=np.float32)
    for i in range(c):  # one channel at a time: cv2 handles any size, memory stays one map
        out[i] = cv2.resize(probs[i].astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return out


def upsample_prediction(pred: Any, height: int, width: int, *, low_confidence: float, keep: bool) -> Any:
    """A ``tiling.Prediction`` made at the working scale, brought to ``height`` x ``width``.

    ``pred.probabilities`` must be set; ``keep``: keep the full-size probabilities in the result.
    """
    probs = upsample_probabilities(pred.probabilities, height, width)
    total = probs.sum(0)
    probs /= np.maximum(total, 1e-12)
    class_map = probs.argmax(0).astype(pred.class_map.dtype)
    confidence = probs.max(0)
    c = probs.shape[0]
    entropy = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(0)
    mean_entropy = float(entropy.mean() / np.log(c)) if c > 1 else 0.0
    return dataclasses.replace(
        pred,
        class_map=class_map,
        confidence=confidence.astype(np.float32),
        mean_entropy=mean_entropy,
        low_confidence_fraction=float((confidence < low_confidence).mean()),
        probabilities=probs if keep else None,
    )


__all__ = [
    "is_native",
    "resample_sample",
    "resize_image",
    "resize_mask",
    "scaled_shape",
    "upsample_prediction",
    "upsample_probabilities",
    "working_scale",
]
