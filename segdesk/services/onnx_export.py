"""Exporting a project's model to ONNX and checking it, for the app's Export dialog and ``segdesk
export-onnx`` alike (the work is ``segdesk.ml.export_cli``'s; torch loads inside these functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segdesk.core.cancel import CancelToken


def resolve_model(project_root: Path, model: str | None) -> Path:
    """The checkpoint ``model`` names (a file, a version folder, ``v2``), else the current one."""
    from segdesk.ml.predict_cli import resolve_model as resolve

    return resolve(Path(project_root), model)


def verification_sample(project_root: Path) -> tuple[Any, str]:
    """An image of the project to compare the export with torch on, and its name."""
    from segdesk.ml.export_cli import verification_sample as sample

    return sample(project_root)


def export_and_verify(
    checkpoint: Path, out: Path, sample: Any, *, fp16: bool, opset: int, cancel: CancelToken | None
) -> Any:
    """Write the ONNX file and compare it with torch on ``sample`` (``export_cli.export_and_verify``)."""
    from segdesk.ml.export_cli import export_and_verify as export

    return export(checkpoint, out, sample, fp16=fp16, opset=opset, cancel=cancel)


__all__ = ["export_and_verify", "resolve_model", "verification_sample"]
