"""Checks on a checkpoint's header BEFORE anything is allocated (no torch here).

A checkpoint's metadata says how large a network to build; a hostile or damaged file must not make
segdesk ask for 360 GB (``base_width`` 100000) or crash on a list where an object belongs. So:

* the architecture's fields are whole numbers within limits (below) and the network they describe
  has at most ``MAX_PARAMETERS`` parameters, counted from the numbers alone;
* each tensor in the safetensors header has a known dtype, a shape of non-negative whole numbers and
  a byte range of exactly that size inside the file, and (``check_tensor_shapes``) the names and
  shapes the architecture needs.

Every refusal is a ModelError naming the file and the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segdesk.core.errors import ModelError

#: Inclusive bounds of the architecture's fields; far above anything segdesk trains (width 8, depth 4).
LIMITS: dict[str, tuple[int, int]] = {
    "in_channels": (1, 64),
    "num_classes": (1, 1024),
    "base_width": (1, 1024),
    "depth": (1, 6),
}
#: 100 million parameters: 400 MB of float32 weights, ~130x the default model (base width 8, depth 4).
MAX_PARAMETERS = 100_000_000

_DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_architecture(config: Any, source: str | Path | None) -> None:
    """Raise ModelError unless ``config`` (a checkpoint's ``config``) describes a bounded UNet."""
    if not isinstance(config, dict):
        raise ModelError(source, "config", f"expected an object, got {_kind(config)}")
    for name, (low, high) in LIMITS.items():
        if name not in config:
            continue
        value = config[name]
        if not _whole(value):
            raise ModelError(source, f"config.{name}", f"expected a whole number, got {_kind(value)}")
        if not low <= value <= high:
            raise ModelError(source, f"config.{name}", f"{value} is outside {low}..{high}")
    upsample = config.get("upsample", "bilinear")
    if not isinstance(upsample, str):
        raise ModelError(source, "config.upsample", f"expected text, got {_kind(upsample)}")
    count = unet_parameter_count(
        in_channels=config.get("in_channels", 3),
        num_classes=config.get("num_classes", 2),
        base_width=config.get("base_width", 8),
        depth=config.get("depth", 4),
        transpose=upsample == "transpose",
    )
    if count > MAX_PARAMETERS:
        raise ModelError(
            source,
            "config",
            f"describes a network of {count:,} parameters, over the limit of {MAX_PARAMETERS:,}",
        )


def unet_parameter_count(
    *, in_channels: int, num_classes: int, base_width: int, depth: int, transpose: bool
) -> int:
    """The parameters of ``model.UNet`` with this configuration, counted without building it."""

    def double_conv(c_in: int, c_out: int) -> int:
        return 9 * c_in * c_out + 9 * c_out * c_out + 4 * c_out  # two 3x3 convs, two batch norms

    widths = [base_width * 2**i for i in range(depth + 1)]
    total = double_conv(in_channels, widths[0])
    total += sum(double_conv(widths[i], widths[i + 1]) for i in range(depth))
    for i in range(depth):
        low, skip = widths[i + 1], widths[i]
        if transpose:
            total += low * low * 4 + low
        total += double_conv(low + skip, skip)
    return total + widths[0] * num_classes + num_classes


def header_tensors(
    header: Mapping[str, Any], data_size: int, source: str | Path | None
) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a safetensors header, each entry checked against the file."""
    shapes: dict[str, tuple[int, ...]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        place = f"weights.{name}"
        if not isinstance(entry, dict):
            raise ModelError(source, place, f"expected an object, got {_kind(entry)}")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _DTYPE_BYTES:
            raise ModelError(source, f"{place}.dtype", f"unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_whole(s) and s >= 0 for s in shape):
            raise ModelError(source, f"{place}.shape", f"expected a list of sizes, got {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_whole(o) for o in offsets)):
            raise ModelError(source, f"{place}.data_offsets", f"expected two whole numbers, got {offsets!r}")
        begin, end = offsets
        if not 0 <= begin <= end <= data_size:
            raise ModelError(
                source,
                "weights",
                f"damaged weights: {name} lies at {offsets}, beyond the file's end (truncated?)",
            )
        if end - begin != math.prod(shape) * _DTYPE_BYTES[dtype]:
            raise ModelError(
                source,
                f"{place}.data_offsets",
                f"{end - begin} bytes do not hold a {dtype} tensor of shape {shape}",
            )
        shapes[name] = tuple(shape)
    return shapes


def tensor_shapes_of_file(path: Path) -> dict[str, tuple[int, ...]]:
    """``header_tensors`` of a checkpoint file, read from its header only."""
    from segdesk.ml.checkpoint_file import read_header

    try:
        with open(path, "rb") as handle:
            header, start = read_header(path, handle)
            size = handle.seek(0, 2)
    except OSError as exc:
        raise ModelError(path, None, f"cannot read the file: {exc.strerror or exc}") from exc
    return header_tensors(header, size - start, path)


def check_tensor_shapes(
    found: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]], source: str | Path | None
) -> None:
    """Raise ModelError unless the file holds exactly the tensors the architecture needs."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        raise ModelError(
            source,
            "weights",
            f"do not match the architecture: missing {missing[:3]}, unexpected {unexpected[:3]}",
        )
    for name, shape in found.items():
        if tuple(shape) != tuple(expected[name]):
            raise ModelError(
                source, f"weights.{name}", f"shape {tuple(shape)}, architecture needs {tuple(expected[name])}"
            )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


__all__ = [
    "LIMITS",
    "MAX_PARAMETERS",
    "check_architecture",
    "check_tensor_shapes",
    "header_tensors",
    "tensor_shapes_of_file",
    "unet_parameter_count",
]
