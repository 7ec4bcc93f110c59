"""``segdesk import-masks``, ``import-coco`` and ``import-yolo``: the commands' words around
core/import_masks (classes), core/import_instances (objects), core/import_coco and core/import_yolo;
the app's File > Import masks calls the same functions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from segdesk.core.errors import SegdeskError
from segdesk.core.import_instances import import_instances
from segdesk.core.import_masks import ImportReport, import_masks
from segdesk.core.vectorize import DEFAULT_MIN_AREA


def run_import_masks(
    images_dir: str | Path,
    masks_dir: str | Path,
    labels: str,
    *,
    out_dir: str | Path | None = None,
    tolerance: float = 1.0,
    min_area: float = DEFAULT_MIN_AREA,
    overwrite: bool = False,
    skip_unmasked: bool = False,
    skip_annotated: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``segdesk import-masks --labels ...``: 0 on success, 1 (problems printed) otherwise."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        report = import_masks(
            images_dir,
            masks_dir,
            labels,
            out_dir=out_dir,
            tolerance=tolerance,
            min_area=min_area,
            overwrite=overwrite,
            skip_unmasked=skip_unmasked,
            skip_annotated=skip_annotated,
        )
    except SegdeskError as exc:
        print(str(exc), file=err)
        return 1
    print(
        f"imported {len(report.json_paths)} images, {report.shape_count} shapes into {report.project_dir} "
        f"(labels: {', '.join(report.labels)})",
        file=out,
    )
    print_left_out(report, out)
    for path in report.empty_images:
        print(f"{path}: mask has no object of min-area {min_area:g} px; the JSON has no shapes", file=out)
    return 0


def run_import_instances(
    images_dir: str | Path,
    masks_dir: str | Path,
    label: str,
    *,
    out_dir: str | Path | None = None,
    tolerance: float = 1.0,
    min_area: float = DEFAULT_MIN_AREA,
    overwrite: bool = False,
    skip_unmasked: bool = False,
    skip_annotated: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``segdesk import-masks --instances LABEL``: 0 on success, 1 (problems printed) otherwise."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        report = import_instances(
            images_dir,
            masks_dir,
            label,
            out_dir=out_dir,
            tolerance=tolerance,
            min_area=min_area,
            overwrite=overwrite,
            skip_unmasked=skip_unmasked,
            skip_annotated=skip_annotated,
        )
    except SegdeskError as exc:
        print(str(exc), file=err)
        return 1
    print(
        f"imported {len(report.json_paths)} images, {report.shape_count} objects ({label}) into "
        f"{report.project_dir}",
        file=out,
    )
    print_left_out(report, out)
    return 0


def run_import_coco(
    coco_json: str | Path,
    images_dir: str | Path,
    *,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    skip_annotated: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``segdesk import-coco``: 0 on success, 1 (problems printed) otherwise."""
    from segdesk.core.import_coco import import_coco

    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        report = import_coco(
            coco_json, images_dir, out_dir=out_dir, overwrite=overwrite, skip_annotated=skip_annotated
        )
    except SegdeskError as exc:
        print(str(exc), file=err)
        return 1
    print(
        f"imported {len(report.json_paths)} images, {report.shape_count} shapes into {report.project_dir} "
        f"(labels: {', '.join(report.labels)})",
        file=out,
    )
    print_left_out(report, out)
    return 0


def run_import_yolo(
    labels_dir: str | Path,
    images_dir: str | Path,
    names: str | None,
    *,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    skip_annotated: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``segdesk import-yolo``: 0 on success, 1 (problems printed) otherwise."""
    from segdesk.core.import_yolo import import_yolo

    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        report = import_yolo(
            labels_dir, images_dir, names, out_dir=out_dir, overwrite=overwrite, skip_annotated=skip_annotated
        )
    except SegdeskError as exc:
        print(str(exc), file=err)
        return 1
    print(
        f"imported {len(report.json_paths)} images, {report.shape_count} shapes into {report.project_dir} "
        f"(labels: {', '.join(report.labels)})",
        file=out,
    )
    print_left_out(report, out)
    return 0


def print_left_out(report: ImportReport, out: TextIO) -> None:
    """The images an import left as they were, a line per reason."""
    for line in report.left_out():
        print(line, file=out)


__all__ = ["print_left_out", "run_import_coco", "run_import_instances", "run_import_masks", "run_import_yolo"]
