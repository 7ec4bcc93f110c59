"""``segdesk import-masks``, ``import-coco`` and ``import-yolo``: the commands' words around
core/import_masks (classes), core/import_instances (objects), core/import_coco and core/import_yolo;
the app's File > Import masks calls the same functions."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from segdesk.core.errors import SegdeskError
from segdesk.core.import_instances import import_instances
from segdesk.core.import_masks import ImportReport, import_masks
from segdesk.core.vectorize import DEFAULT_MIN_AREA


def _run(
    importer: Callable[..., ImportReport],
    args: tuple[Any, ...],
    options: dict[str, Any],
    *,
    what: str,
    stdout: TextIO | None,
    stderr: TextIO | None,
) -> int:
    """Run one importer and say what it wrote (``what``: the shapes' word); 0, or 1 with the problems."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        report = importer(*args, **options)
    except SegdeskError as exc:
        print(str(exc), file=err)
        return 1
    print(
        f"imported {len(report.json_paths)} images, {report.shape_count} {what} into {report.project_dir} "
        f"(labels: {', '.join(report.labels)})",
        file=out,
    )
    print_left_out(report, out)
    if importer is import_masks:
        min_area = options.get("min_area", DEFAULT_MIN_AREA)
        for path in report.empty_images:
            print(f"{path}: mask has no object of min-area {min_area:g} px; the JSON has no shapes", file=out)
    return 0


def run_import_masks(
    images_dir: str | Path,
    masks_dir: str | Path,
    labels: str,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    **options: Any,
) -> int:
    """``segdesk import-masks --labels ...`` (``options``: core.import_masks.import_masks's)."""
    return _run(
        import_masks, (images_dir, masks_dir, labels), options, what="shapes", stdout=stdout, stderr=stderr
    )


def run_import_instances(
    images_dir: str | Path,
    masks_dir: str | Path,
    label: str,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    **options: Any,
) -> int:
    """``segdesk import-masks --instances LABEL`` (``options``: import_instances's)."""
    what = f"objects ({label})"
    return _run(
        import_instances, (images_dir, masks_dir, label), options, what=what, stdout=stdout, stderr=stderr
    )


def run_import_coco(
    coco_json: str | Path,
    images_dir: str | Path,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    **options: Any,
) -> int:
    """``segdesk import-coco`` (``options``: core.import_coco.import_coco's)."""
    from segdesk.core.import_coco import import_coco

    return _run(import_coco, (coco_json, images_dir), options, what="shapes", stdout=stdout, stderr=stderr)


def run_import_yolo(
    labels_dir: str | Path,
    images_dir: str | Path,
    names: str | None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    **options: Any,
) -> int:
    """``segdesk import-yolo`` (``options``: core.import_yolo.import_yolo's)."""
    from segdesk.core.import_yolo import import_yolo

    return _run(
        import_yolo, (labels_dir, images_dir, names), options, what="shapes", stdout=stdout, stderr=stderr
    )


def print_left_out(report: ImportReport, out: TextIO) -> None:
    """The images an import left as they were, a line per reason."""
    for line in report.left_out():
        print(line, file=out)


__all__ = ["print_left_out", "run_import_coco", "run_import_instances", "run_import_masks", "run_import_yolo"]
