"""Checkpoints (safetensors, never pickle) and a project's model versions.

A checkpoint is ``model.safetensors`` whose header metadata holds the whole JSON description
(architecture, classes and colours, normalization, training history and metrics, images, date,
segdesk version, a SHA-256 of the weights) under the key ``"segdesk"``; the same JSON is written
beside it as ``model.json`` for people and tools. The weights file is the single source of truth,
so replacing that one file is the commit point: a crash can never pair new weights with old
metadata, and a half-written file never replaces a good one (temp file, fsync, ``os.replace``).

``ModelStore(project_root)`` keeps versions in ``<project>/.segdesk/models/v1, v2, ...`` and a
``current`` pointer file (written atomically) so the app can roll back.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import segdesk
from segdesk.core.atomic import fsync_folder
from segdesk.core.errors import ModelError
from segdesk.core.model_store import VERSION_RE as _VERSION_RE
from segdesk.core.model_store import ModelStore as VersionFolders
from segdesk.ml.checkpoint_check import check_architecture, check_tensor_shapes, tensor_shapes_of_file
from segdesk.ml.checkpoint_file import (
    FORMAT,
    FORMAT_VERSION,
    META_NAME,
    WEIGHTS_NAME,
    read_meta,
    resolve_checkpoint,
)
from segdesk.ml.model import UNet, UNetConfig
from segdesk.ml.normalize import NORMALIZATION, check_normalization


def class_colors(class_names: Sequence[str]) -> dict[str, list[int]]:
    """One RGB colour per class, as the canvas shows it (Labelme's palette)."""
    try:
        from segdesk.core.colors import label_color
    except ImportError:  # colors.py not available: fall back to the VOC palette by index
        return {n: _voc_color(i) for i, n in enumerate(class_names)}
    return {n: [int(c) for c in label_color(n, list(class_names))] for n in class_names}


def _voc_color(index: int) -> list[int]:
    rgb = [0, 0, 0]
    for shift in range(8):
        for ch in range(3):
            rgb[ch] |= ((index >> (3 * shift + ch)) & 1) << (7 - shift)
    return rgb


def _weights_digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(key.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _state_dict(model: UNet) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def build_meta(model: UNet, meta: dict[str, Any], state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The full metadata: ``meta`` plus the fields segdesk fills in itself."""
    classes = list(meta.get("classes") or [str(i) for i in range(model.config.num_classes)])
    if len(classes) != model.config.num_classes:
        raise ModelError(
            None, "classes", f"{len(classes)} class names for {model.config.num_classes} outputs"
        )
    full = dict(meta)
    full.update(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": model.config.to_dict(),
            "classes": classes,
            "colors": meta.get("colors") or class_colors(classes),
            "normalization": meta.get("normalization") or dict(NORMALIZATION),
            "date": meta.get("date") or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "segdesk_version": segdesk.__version__,
            "weights_sha256": _weights_digest(state),
        }
    )
    return full


def save_checkpoint(model: UNet, meta: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """Write ``model`` + ``meta`` to ``path`` (a ``.safetensors`` file) and ``path.with_suffix('.json')``.

    Atomic: both are written to temporary names and fsynced; the weights replace the old file first
    (the commit point), then the JSON. Returns the metadata written. Raises ModelError.
    """
    path = Path(path)
    state = _state_dict(model)
    full = build_meta(model, meta, state)
    try:
        text = json.dumps(full, indent=1, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelError(path, "metadata", f"not JSON-serializable: {exc}") from exc
    data = st_save(state, metadata={"format": FORMAT, "segdesk": text})
    tmp_w = _write_temp(path, data)
    try:
        tmp_j = _write_temp(path.with_suffix(".json"), text.encode("utf-8"))
    except BaseException:
        _unlink(tmp_w)
        raise
    try:
        os.replace(tmp_w, path)
    except OSError as exc:
        _unlink(tmp_w)
        _unlink(tmp_j)
        raise ModelError(path, None, f"cannot write the checkpoint: {exc}") from exc
    try:
        os.replace(tmp_j, path.with_suffix(".json"))
    except OSError as exc:
        _unlink(tmp_j)
        raise ModelError(path.with_suffix(".json"), None, f"cannot write: {exc}") from exc
    fsync_folder(path.parent)
    return full


def _write_temp(target: Path, data: bytes) -> Path:
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.segdesk-tmp"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        _unlink(tmp)
        raise ModelError(target, None, f"cannot write the checkpoint: {exc}") from exc
    return tmp


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def load_checkpoint(
    path: str | Path, *, expect_classes: Sequence[str] | None = None
) -> tuple[UNet, dict[str, Any]]:
    """Load a checkpoint (a ``.safetensors`` file or a version folder) -> (model in eval mode, meta).

    Never unpickles. A wrong format, architecture, class set, normalization, damaged or mismatching
    weights raise ModelError naming the file and the field.
    """
    path = resolve_checkpoint(path)
    meta = read_meta(path)
    check_architecture(meta.get("config"), path)  # bounded before anything is built
    config = UNetConfig.from_dict(meta.get("config"), source=str(path))
    classes = meta.get("classes")
    if not isinstance(classes, list) or len(classes) != config.num_classes:
        raise ModelError(path, "classes", f"expected {config.num_classes} class names, got {classes!r}")
    if expect_classes is not None and list(expect_classes) != classes:
        raise ModelError(path, "classes", f"model predicts {classes}, expected {list(expect_classes)}")
    check_normalization(meta.get("normalization"), source=path)
    with torch.device("meta"):  # shapes only: no memory for the weights
        needed = {k: tuple(v.shape) for k, v in UNet(config).state_dict().items()}
    check_tensor_shapes(tensor_shapes_of_file(path), needed, path)
    try:
        state = st_load(path.read_bytes())
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(path, "weights", f"damaged weights: {exc}") from exc
    if meta.get("weights_sha256") and _weights_digest(state) != meta["weights_sha256"]:
        raise ModelError(path, "weights", "checksum mismatch: the file is damaged")
    model = UNet(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelError(
            path,
            "weights",
            f"do not match the architecture: missing {missing[:3]}, unexpected {unexpected[:3]}",
        )
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise ModelError(
                path,
                f"weights.{key}",
                f"shape {tuple(tensor.shape)}, architecture needs {tuple(expected[key].shape)}",
            )
    model.load_state_dict(state)
    model.eval()
    return model, meta


class ModelStore(VersionFolders):
    """The project's versions (layout and ``current`` rule: :mod:`segdesk.core.model_store`) plus weights."""

    def info(self, version: str) -> dict[str, Any]:
        return read_meta(self.path(version))

    def load(self, version: str | None = None) -> tuple[UNet, dict[str, Any]]:
        """Load ``version`` (default: current). ModelError when there is none."""
        version = version or self.current()
        if version is None:
            why = self.pointer_problem() or "the project has no current model; train one first"
            raise ModelError(self.folder, None, why)
        return load_checkpoint(self.path(version))

    def add_version(self, model: UNet, meta: dict[str, Any], *, make_current: bool = True) -> str:
        """Save a new version (v<last+1>) and, by default, make it current. Returns its name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.folder / f".staging-{secrets.token_hex(4)}"
        staging.mkdir()
        try:
            save_checkpoint(model, meta, staging / WEIGHTS_NAME)
            for _ in range(100):
                numbers = [int(m.group(1)) for c in self.folder.iterdir() if (m := _VERSION_RE.match(c.name))]
                name = f"v{max(numbers, default=0) + 1}"
                try:
                    # A folder rename is atomic and fails if the target exists (a concurrent save).
                    os.rename(staging, self.folder / name)
                    break
                except OSError:
                    if not (self.folder / name).exists():
                        raise
            else:
                raise ModelError(self.folder, None, "could not allocate a new version name")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_folder(self.folder)
        if make_current:
            self.set_current(name)
        return name


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "META_NAME",
    "WEIGHTS_NAME",
    "ModelStore",
    "build_meta",
    "class_colors",
    "load_checkpoint",
    "read_meta",
    "resolve_checkpoint",
    "save_checkpoint",
]
