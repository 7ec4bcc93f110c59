"""The one input normalization: training, inference and ONNX all feed the model its output.

Torch-free on purpose (numpy only): a CPU predictor running the ONNX export imports this module and
never loads torch. ``segdesk.ml.data`` re-exports every name here.

``prepare_image`` is per-image robust scaling, because the same code must hold for 8-bit EM, colour
photos, 16-bit fluorescence and float data, whose value ranges have nothing in common:

1. channels: grey -> repeated to RGB, RGBA -> alpha dropped, 2 channels -> the first one repeated,
   more than 4 -> the first three;
2. the 0.5th and 99.5th percentiles over all channels together (so colour balance is kept) are
   mapped to 0 and 1 and the result is clipped to [0, 1] (augmentation works in this space);
3. standardized: ``(x - 0.5) / 0.25``.

The parameters are in ``NORMALIZATION`` and are stored in every checkpoint (``meta["normalization"]``);
``check_normalization`` refuses a checkpoint trained with other parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from segdesk.core.errors import ModelError

#: The one normalization, recorded in checkpoint metadata so inference repeats it exactly.
NORMALIZATION: dict[str, Any] = {
    "method": "percentile",
    "low_percentile": 0.5,
    "high_percentile": 99.5,
    "joint_channels": True,
    "clip": [0.0, 1.0],
    "mean": 0.5,
    "std": 0.25,
    "channels": "grey->rgb, rgba->rgb, 2ch->first, >4ch->first3",
    "max_stat_pixels": 1_000_000,
}


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Any HxW / HxWxC array -> HxWx3 (same dtype) following ``NORMALIZATION["channels"]``."""
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] < 1:
        raise ValueError(f"expected an HxW or HxWxC image, got shape {image.shape}")
    c = image.shape[2]
    if c == 1 or c == 2:
        return np.repeat(image[:, :, :1], 3, axis=2)
    return image[:, :, :3]


def intensity_range(image: np.ndarray) -> tuple[float, float]:
    """The robust (low, high) intensity of an image: the values mapped to 0 and 1.

    Computed on at most ``max_stat_pixels`` pixels (a regular stride), so a huge image costs little;
    a tiled predictor computes it once on the whole image and applies it to every tile.
    """
    image = np.asarray(image)
    step = max(1, int(np.ceil(np.sqrt(image.shape[0] * image.shape[1] / NORMALIZATION["max_stat_pixels"]))))
    # Stride first, then pick channels: no full-size copy of a huge image.
    sample = to_rgb(image[::step, ::step]).astype(np.float64, copy=False)
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [NORMALIZATION["low_percentile"], NORMALIZATION["high_percentile"]])
    if not hi > lo:
        # A flat (or nearly flat) image: fall back to its full range, or a unit range around it.
        lo, hi = float(finite.min()), float(finite.max())
        if not hi > lo:
            return float(lo) - 0.5, float(lo) + 0.5
    return float(lo), float(hi)


def scale_to_unit(image: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Steps 1-2 of the normalization: HxWx3 float32 in [0, 1]."""
    rgb = to_rgb(np.asarray(image))
    lo, hi = value_range if value_range is not None else intensity_range(rgb)
    out = rgb.astype(np.float32)
    out -= np.float32(lo)
    out *= np.float32(1.0 / (hi - lo))
    np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def standardize(unit: np.ndarray) -> np.ndarray:
    """Step 3: HxWx3 [0, 1] -> float32 (3, H, W) model input."""
    out = np.ascontiguousarray(unit.transpose(2, 0, 1), dtype=np.float32)
    out -= np.float32(NORMALIZATION["mean"])
    out *= np.float32(1.0 / NORMALIZATION["std"])
    return out


def prepare_image(image: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Normalize any image (uint8/uint16/float, grey/RGB/RGBA) to the model's float32 (3, H, W) input.

    ``value_range`` (from ``intensity_range`` on the whole image) lets a tiled predictor normalize
    tiles exactly as the whole image would be; by default it is computed from ``image``.
    """
    return standardize(scale_to_unit(image, value_range))


def check_normalization(meta_norm: Any, *, source: str | Path | None = None) -> None:
    """Raise ModelError when a checkpoint's normalization differs from this code's."""
    if meta_norm != NORMALIZATION:
        raise ModelError(
            source,
            "normalization",
            f"checkpoint was trained with {meta_norm!r}, this segdesk normalizes with {NORMALIZATION!r}",
        )
