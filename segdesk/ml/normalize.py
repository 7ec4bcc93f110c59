"""The one input normalization: training, inference and ONNX all feed the model its output.

Torch-free on purpose (numpy only): a CPU predictor running the ONNX export imports this module and
never loads torch. ``segdesk.ml.data`` re-exports every name here.

``prepare_image`` is per-image robust scaling, because the same code must hold for 8-bit EM, colour
photos, 16-bit fluorescence and float data, whose value ranges have nothing in common:

1. channels: grey -> repeated to RGB, RGBA -> alpha dropped, 2 channels -> the first one repeated,
   more than 4 -> the first three;
2. white balance (colour images on a bright ground only): each channel is scaled so that the
   image's ground (the median colour of its brightest quarter) becomes neutral (gains of at most 2;
   ``channel_gains``). The ground of a stained slide or a brightfield photo is the lamp's light:
   neutral whatever the stain's or the lamp's tint, so a tinted ground is not mistaken for stained
   objects. A grey image (equal channels) and a dark ground (fluorescence) get gains of 1.
   Measured on DSB 2018 dev (docs/benchmarks.md, issue 16): two stained test images on a flat
   lavender ground were called "nucleus" everywhere (80,000 false pixels each).
3. the 0.5th and 99.5th percentiles over all channels together are mapped to 0 and 1 and the
   result is clipped to [0, 1] (augmentation works in this space);
4. standardized: ``(x - 0.5) / 0.25``.

The parameters are in ``NORMALIZATION`` and are stored in every checkpoint (``meta["normalization"]``).
A checkpoint of an earlier segdesk (``LEGACY_NORMALIZATION``: no white balance) is still read and is
predicted as it was trained (``white_balance_of``); ``check_normalization`` refuses any other.
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

#: Before the white balance (segdesk 0.x models up to 2026-12-05, and the shipped generalist v1).
LEGACY_NORMALIZATION: dict[str, Any] = dict(NORMALIZATION)

NORMALIZATION["white_balance"] = {
    "ground_share": 25.0,
    "min_ground": 0.5,
    "max_gain": 2.0,
    "max_pixels": 65536,
}

#: (low, high) or (low, high, per-channel gains): what ``intensity_range`` measures on a whole image.
ValueRange = tuple[float, ...]


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


def white_balance_of(meta_norm: Any) -> bool:
    """Whether a checkpoint's recorded normalization includes the white balance (None: this code's)."""
    return meta_norm is None or (isinstance(meta_norm, dict) and "white_balance" in meta_norm)


def bright_ground(flat: np.ndarray) -> bool:
    """Whether finite (N, 3) pixel values show transmitted light (brightfield, a stained slide): the
    median brightness is at least ``min_ground`` of the high percentile (a dark ground: fluorescence)."""
    if flat.shape[0] == 0:
        return False
    top = float(np.percentile(flat, NORMALIZATION["high_percentile"]))
    return (
        top > 0 and float(np.median(flat.mean(axis=1))) >= NORMALIZATION["white_balance"]["min_ground"] * top
    )


def channel_gains(sample: np.ndarray) -> tuple[float, float, float]:
    """Step 2's gains for an HxWx3 float sample: 1 for grey and for a dark ground, at most ``max_gain``.

    Only for a transmitted-light image (brightfield, a stained slide): its median brightness is at
    least ``min_ground`` of its high percentile. Its ground is then the median colour of its
    brightest quarter (by the mean of the channels; the objects absorb light) and becomes neutral.
    On a dark ground (fluorescence) the colours are the objects' own: no gains.
    """
    wb = NORMALIZATION["white_balance"]
    if np.array_equal(sample[..., 0], sample[..., 1]) and np.array_equal(sample[..., 1], sample[..., 2]):
        return 1.0, 1.0, 1.0
    flat = sample.reshape(-1, 3)
    flat = flat[:: max(1, flat.shape[0] // wb["max_pixels"])]  # robust statistics: a sample is enough
    flat = flat[np.isfinite(flat).all(axis=1)]
    if flat.shape[0] == 0 or flat.min() < 0:  # gains scale light from 0: not for signed data
        return 1.0, 1.0, 1.0
    if not bright_ground(flat):
        return 1.0, 1.0, 1.0
    light = flat.mean(axis=1)
    ground = np.median(flat[light >= np.percentile(light, 100.0 - wb["ground_share"])], axis=0)
    ref = float(ground.max())
    gains = [min(ref / g, wb["max_gain"]) if g > 0 else wb["max_gain"] for g in ground]
    return gains[0], gains[1], gains[2]


def intensity_range(image: np.ndarray, *, white_balance: bool = True) -> ValueRange:
    """The robust (low, high[, gains]) of an image: the values mapped to 0 and 1, after the gains.

    Computed on at most ``max_stat_pixels`` pixels (a regular stride), so a huge image costs little;
    a tiled predictor computes it once on the whole image and applies it to every tile. Gains are
    returned only when some differ from 1 (``white_balance=False``: never, as a legacy model wants).
    """
    image = np.asarray(image)
    step = max(1, int(np.ceil(np.sqrt(image.shape[0] * image.shape[1] / NORMALIZATION["max_stat_pixels"]))))
    # Stride first, then pick channels: no full-size copy of a huge image.
    sample = to_rgb(image[::step, ::step]).astype(np.float64, copy=False)
    gains = channel_gains(sample) if white_balance else (1.0, 1.0, 1.0)
    if gains != (1.0, 1.0, 1.0):
        sample = sample * np.asarray(gains)
    lo, hi = _percentile_range(sample)
    return (lo, hi) if gains == (1.0, 1.0, 1.0) else (lo, hi, *gains)


def _percentile_range(sample: np.ndarray) -> tuple[float, float]:
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


def scale_to_unit(image: np.ndarray, value_range: ValueRange | None = None) -> np.ndarray:
    """Steps 1-3 of the normalization: HxWx3 float32 in [0, 1]."""
    rgb = to_rgb(np.asarray(image))
    value_range = value_range if value_range is not None else intensity_range(rgb)
    lo, hi = value_range[0], value_range[1]
    out = rgb.astype(np.float32)
    if len(value_range) == 5:
        out *= np.asarray(value_range[2:], dtype=np.float32)
    out -= np.float32(lo)
    out *= np.float32(1.0 / (hi - lo))
    np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def standardize(unit: np.ndarray) -> np.ndarray:
    """Step 4: HxWx3 [0, 1] -> float32 (3, H, W) model input."""
    out = np.ascontiguousarray(unit.transpose(2, 0, 1), dtype=np.float32)
    out -= np.float32(NORMALIZATION["mean"])
    out *= np.float32(1.0 / NORMALIZATION["std"])
    return out


def prepare_image(image: np.ndarray, value_range: ValueRange | None = None) -> np.ndarray:
    """Normalize any image (uint8/uint16/float, grey/RGB/RGBA) to the model's float32 (3, H, W) input.

    ``value_range`` (from ``intensity_range`` on the whole image) lets a tiled predictor normalize
    tiles exactly as the whole image would be; by default it is computed from ``image``.
    """
    return standardize(scale_to_unit(image, value_range))


def is_known_normalization(meta_norm: Any) -> bool:
    """Whether a checkpoint's recorded normalization is one this code can repeat (today's or the legacy one)."""
    return meta_norm == NORMALIZATION or meta_norm == LEGACY_NORMALIZATION


def check_normalization(meta_norm: Any, *, source: str | Path | None = None) -> None:
    """Raise ModelError when a checkpoint's normalization is neither this code's nor the legacy one."""
    if not is_known_normalization(meta_norm):
        raise ModelError(
            source,
            "normalization",
            f"checkpoint was trained with {meta_norm!r}, this segdesk normalizes with {NORMALIZATION!r}",
        )
