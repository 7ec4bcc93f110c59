"""Reading a checkpoint file WITHOUT torch: its metadata, and the fingerprint of its weights.

A checkpoint is a safetensors file: 8 bytes of header length, a JSON header (tensor names, dtypes,
shapes, byte offsets, and ``__metadata__`` holding segdesk's JSON under ``"segdesk"``), then the raw
little-endian tensor bytes. All of that is readable with ``json`` and ``hashlib``, so a CPU
predictor that runs the ONNX export can check that the export belongs to this very checkpoint
without importing torch. ``segdesk.ml.checkpoint`` (which writes checkpoints and loads them into a
model) re-exports the names here.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segdesk.core.errors import ModelError

FORMAT = "segdesk-unet"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
META_NAME = "model.json"

#: safetensors dtype codes -> how torch prints the dtype (part of the export fingerprint).
_TORCH_DTYPES = {
    "F64": "torch.float64",
    "F32": "torch.float32",
    "F16": "torch.float16",
    "BF16": "torch.bfloat16",
    "I64": "torch.int64",
    "I32": "torch.int32",
    "I16": "torch.int16",
    "I8": "torch.int8",
    "U8": "torch.uint8",
    "BOOL": "torch.bool",
}


def checkpoint_version_name(path: str | Path) -> str:
    """``v3`` for ``.../models/v3/model.safetensors`` or ``.../models/v3``; else the file's stem."""
    p = Path(path)
    if p.is_dir() or p.suffix == "":
        return p.name
    return p.parent.name if re.fullmatch(r"v\d+", p.parent.name) else p.stem


def model_version_of(meta: dict[str, Any]) -> str | None:
    for key in ("version", "model_version"):
        if meta.get(key):
            return str(meta[key])
    return None


def resolve_checkpoint(path: str | Path) -> Path:
    """A version folder means the ``model.safetensors`` inside it; a file is itself."""
    path = Path(path)
    return path / WEIGHTS_NAME if path.is_dir() else path


def read_header(path: Path, handle: Any) -> tuple[dict[str, Any], int]:
    """The safetensors JSON header and the offset where the tensor bytes start."""
    head = handle.read(8)
    if len(head) < 8:
        raise ModelError(path, None, "not a safetensors checkpoint (file too short)")
    n = int.from_bytes(head, "little")
    if n <= 0 or n > 100_000_000:
        raise ModelError(path, None, "not a safetensors checkpoint (bad header length)")
    try:
        header = json.loads(handle.read(n).decode("utf-8"))
    except RecursionError as exc:
        raise ModelError(path, None, "not a safetensors checkpoint (the header nests too deeply)") from exc
    if not isinstance(header, dict):
        raise ModelError(path, None, "not a safetensors checkpoint (the header is not an object)")
    return header, 8 + n


def read_meta(path: str | Path) -> dict[str, Any]:
    """The checkpoint's metadata (from the weights file's header) without building the model."""
    path = resolve_checkpoint(path)
    try:
        with open(path, "rb") as handle:
            header, _ = read_header(path, handle)
    except FileNotFoundError as exc:
        raise ModelError(path, None, "no such checkpoint file") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(path, None, f"not a safetensors checkpoint or damaged: {exc}") from exc
    meta_raw = header.get("__metadata__") or {}
    if not isinstance(meta_raw, dict):
        raise ModelError(path, "metadata", f"expected an object, got {type(meta_raw).__name__}")
    if meta_raw.get("format") != FORMAT or "segdesk" not in meta_raw:
        raise ModelError(path, "metadata.format", f"not a segdesk model (format {meta_raw.get('format')!r})")
    if not isinstance(meta_raw["segdesk"], str):
        raise ModelError(
            path, "metadata.segdesk", f"expected JSON text, got {type(meta_raw['segdesk']).__name__}"
        )
    try:
        meta = json.loads(meta_raw["segdesk"])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelError(path, "metadata", f"damaged JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelError(path, "metadata", f"expected a JSON object, got {type(meta).__name__}")
    version = meta.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelError(path, "format_version", f"expected a whole number, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelError(path, "format_version", f"{version} is newer than this segdesk reads")
    return meta


def weights_fingerprint_of_file(path: str | Path, classes: Sequence[str] | None = None) -> str | None:
    """``export.weights_fingerprint(model, classes)`` of the model this checkpoint loads, from the file.

    The same sha256 over (name, shape, torch dtype, bytes) of every tensor in name order, then the
    class names, computed from the file's bytes: no torch, no model. None when the file cannot be
    read that way (a dtype torch names differently, a big-endian machine, a damaged file): the
    caller then takes the slow path, which reports any damage properly.
    """
    if sys.byteorder != "little":  # the file is little-endian; torch's bytes would be native
        return None
    path = resolve_checkpoint(path)
    try:
        with open(path, "rb") as handle:
            header, _ = read_header(path, handle)
            data = memoryview(handle.read())  # offsets count from the end of the header
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ModelError):
        return None
    digest = hashlib.sha256()
    for name in sorted(k for k in header if k != "__metadata__"):
        entry = header[name]
        try:
            dtype = _TORCH_DTYPES[entry["dtype"]]
            shape = tuple(int(s) for s in entry["shape"])
            begin, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            return None
        if not 0 <= begin <= end <= len(data):
            return None
        digest.update(f"{name}:{shape}:{dtype}".encode())
        digest.update(data[begin:end])
    digest.update(json.dumps([str(c) for c in classes or []]).encode())
    return digest.hexdigest()


__all__ = [
    "checkpoint_version_name",
    "model_version_of",
    "FORMAT",
    "FORMAT_VERSION",
    "META_NAME",
    "WEIGHTS_NAME",
    "read_meta",
    "resolve_checkpoint",
    "weights_fingerprint_of_file",
]
