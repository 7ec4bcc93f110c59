"""Exporting a project's model to ONNX and checking it, for the app's Export dialog and ``segdesk
export onnx`` alike: which checkpoint (``resolve_model``, also ``segdesk predict --model``), the image
the export is checked on, and the export with its parity check (torch loads inside these functions)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from segdesk.core.errors import Cancelled, ModelError, SegdeskError

if TYPE_CHECKING:
    from segdesk.ml.inference.export import VerifyReport


def resolve_model(project_root: Path, model: str | None) -> Path:
    """``--model``: a checkpoint file or version folder, or a version name (``v2``) of the project.

    Without it, the project's current model. Raises ModelError.
    """
    from segdesk.core.model_store import ModelStore

    store = ModelStore(project_root)
    if model is None:
        path = store.current_path()
        if path is None:
            why = store.pointer_problem()
            if why is not None:
                raise ModelError(store.pointer, None, why.split(": ", 1)[1] + "; pass --model")
            raise ModelError(
                store.folder, None, "the project has no model yet: train one (segdesk train) or pass --model"
            )
        return path
    candidate = Path(model)
    if candidate.exists():
        return candidate
    if model in store.versions():
        return store.path(model)
    raise ModelError(
        model,
        None,
        f"no such checkpoint file, and not a version of this project "
        f"({', '.join(store.versions()) or 'none saved'})",
    )


#: The verification sample is cut to at most this many pixels a side (torch runs it at full size on
#: the CPU); 509 is deliberately not a multiple of 16, so the graph's own padding is exercised too.
SAMPLE_SIDE = 509


def verification_sample(project_root: str | Path) -> tuple[np.ndarray, str]:
    """An image of the project for the parity check (a reviewed one first), cropped; and its name.

    A project without readable images gets a fixed synthetic image (named so in the result).
    """
    from segdesk.core.image_io import read_image
    from segdesk.core.project import Project

    project = Project(project_root)
    entries = project.reviewed_entries() or project.entries()
    for entry in entries:
        try:
            data = read_image(entry.image_path).data
        except SegdeskError:
            continue
        h, w = data.shape[:2]
        top, left = max(0, (h - SAMPLE_SIDE) // 2), max(0, (w - SAMPLE_SIDE) // 2)
        return np.ascontiguousarray(
            data[top : top + SAMPLE_SIDE, left : left + SAMPLE_SIDE]
        ), entry.image_path.name
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (203, 317, 3), dtype=np.uint8), "a synthetic 203x317 image"


def export_and_verify(
    checkpoint: str | Path,
    out: str | Path,
    sample: np.ndarray,
    *,
    fp16: bool = False,
    opset: int = 18,
    cancel: Any = None,
) -> VerifyReport:
    """Export ``checkpoint`` to ``out`` (atomically), then compare onnxruntime with torch on ``sample``.

    Raises ModelError (checkpoint), ExportError (write), Cancelled.
    """
    from segdesk.ml.checkpoint import load_checkpoint
    from segdesk.ml.inference.export import export_onnx, verify_onnx, with_model_version

    model, meta = load_checkpoint(checkpoint)
    meta = with_model_version(meta, checkpoint)
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{out}: export cancelled")
    path = export_onnx(model, meta, out, opset=opset, fp16=fp16, cancel=cancel)
    return verify_onnx(path, model, sample)


def export_here(checkpoint: Path) -> str | None:
    """Build the checkpoint's ONNX export in this process (after a training run); None on success,
    else why not."""
    from segdesk.ml.inference.export import cached_onnx

    try:
        cached_onnx(str(checkpoint))
    except Exception as exc:  # a failed export only means predictions use torch
        if isinstance(exc, SegdeskError):
            return str(exc)
        return f"{type(exc).__name__}: {exc}".rstrip(": ")
    return None


__all__ = ["SAMPLE_SIDE", "export_and_verify", "export_here", "resolve_model", "verification_sample"]
