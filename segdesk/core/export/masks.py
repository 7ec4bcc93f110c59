"""Export a project's annotations as training data: masks, a VOC folder, COCO JSON, previews.

Which images: by default only those a person has reviewed (``Project.reviewed_entries``, the same
images that train the model); ``include_unreviewed=True`` adds every other image that has an
annotation file (proposals nobody checked, work in progress). :func:`export_selection` is that rule,
shared by the CLI and the Export dialog.

Formats (``fmt``), one output per selected image:

* ``index``: ``<stem>.png`` class-index masks (uint8; uint16 when there are more than 255 classes),
  0 = ``_background_``, ignore regions = ``ignore_value``; ``class_names.txt``.
* ``voc``: the folder Labelme's ``labelme2voc.py`` writes by default: ``JPEGImages/*.jpg``,
  ``SegmentationClass/*.png`` (palette PNGs, ignore = 255), ``SegmentationClassNpy/*.npy`` (int32,
  ignore = -1), ``SegmentationClassVisualization/*.jpg``, ``SegmentationObject/*.png``,
  ``SegmentationObjectNpy/*.npy``, ``SegmentationObjectVisualization/*.jpg``, ``class_names.txt``.
* ``binary``: ``<class>/<stem>.png`` one 0/255 mask per class (not ``_background_``), and
  ``__ignore__/<stem>.png`` when the project has ignore regions and they are kept.
* ``instance``: ``<stem>.png`` instance ids (0 = none; uint16 past 255 instances) and
  ``instances.json`` (each instance's label, class id, group id and area).
* ``overlay``: ``<stem>.jpg`` colour previews (the canvas colours, half transparent, outlined).
* ``coco``: ``annotations.json`` as labelme2coco writes it (see coco.py), ``JPEGImages/*.jpg``,
  ``Visualization/*.jpg``.
* ``yolo``: ``labels/*.txt``, ``images/*.png`` and ``data.yaml`` as Ultralytics trains on them
  (see yolo.py).

``ignore_value`` (index and binary formats): where ``__ignore__`` shapes and labels outside the
label list go; 0 merges them into the background (VOC always uses 255, COCO leaves them out).

Everything is written into a hidden sibling folder and moved into place at the end, so a cancelled
or failed export leaves nothing behind; existing files are never replaced unless ``overwrite``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from segdesk.core.cancel import CancelToken
from segdesk.core.errors import Cancelled, ExportError, SegdeskError
from segdesk.core.export import yolo as export_yolo
from segdesk.core.export.stage import (
    STAGING_MARK,
    OutputExistsError,
    Stage,
)
from segdesk.core.export.writers import WRITERS, ExportReport, Plan
from segdesk.core.image_folders import look_inside, no_images_detail
from segdesk.core.label_rules import label_problem
from segdesk.core.project import ImageEntry, Project
from segdesk.core.rasterize import IGNORE_LABEL

ExportFormat = Literal["index", "voc", "binary", "instance", "overlay", "coco", "yolo"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)
FORMAT_TITLES = {
    "index": "Class-index PNG masks",
    "voc": "VOC folder (as labelme2voc)",
    "binary": "One binary PNG per class",
    "instance": "Instance masks",
    "overlay": "Colour overlay previews",
    "coco": "COCO instance segmentation JSON",
    "yolo": "YOLO segmentation labels (Ultralytics)",
}
VOC_DIRS = (
    ("JPEGImages", ".jpg"),
    ("SegmentationClass", ".png"),
    ("SegmentationClassNpy", ".npy"),
    ("SegmentationClassVisualization", ".jpg"),
    ("SegmentationObject", ".png"),
    ("SegmentationObjectNpy", ".npy"),
    ("SegmentationObjectVisualization", ".jpg"),
)


@dataclass(frozen=True)
class ExportProgress:
    """``done`` of ``total`` images handled; ``message`` names the current one."""

    done: int
    total: int
    message: str


ProgressFn = Callable[[ExportProgress], None]


# --- planning -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportSelection:
    """The images an export writes, and how many annotated images it leaves out as unreviewed."""

    entries: list[ImageEntry]
    left_out: int

    def describe(self) -> str:
        text = f"{len(self.entries)} image(s)"
        if self.left_out:
            text += f"; {self.left_out} annotated image(s) nobody reviewed are left out"
        return text


def export_selection(project: Project, *, include_unreviewed: bool = False) -> ExportSelection:
    """The images to export: reviewed ones, plus every other annotated one with ``include_unreviewed``.

    "Reviewed" is the project's own status (what training uses), so a change to what makes an
    image reviewed applies to exports too.
    """
    reviewed = {e.json_path for e in project.reviewed_entries()}
    chosen, left_out = [], 0
    for entry in project.entries():
        if entry.json_path in reviewed or (include_unreviewed and entry.has_annotation):
            chosen.append(entry)
        elif entry.has_annotation:
            left_out += 1
    return ExportSelection(chosen, left_out)


def _stems(entries: Sequence[ImageEntry]) -> list[str]:
    """Output names: the image's stem; ``a.png`` and ``a.jpg`` both present get ``a_png`` / ``a_jpg``
    (also ``A.png`` beside ``a.jpg``: the export may be read on a disk that ignores case)."""
    seen: dict[str, int] = {}
    for e in entries:
        seen[e.image_path.stem.casefold()] = seen.get(e.image_path.stem.casefold(), 0) + 1
    return [
        e.image_path.stem if seen[e.image_path.stem.casefold()] == 1 else e.image_path.name.replace(".", "_")
        for e in entries
    ]


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def _folder_names(class_names: Sequence[str]) -> list[str]:
    """A file-system-safe folder name per class (not background), unique case-insensitively."""
    out: list[str] = []
    used: set[str] = set()
    for i, name in enumerate(class_names[1:], start=1):
        safe = _UNSAFE.sub("_", name).strip().rstrip(".") or f"class_{i}"
        if safe.casefold() in used or safe in (".", ".."):
            safe = f"{safe}_{i}"
        used.add(safe.casefold())
        out.append(safe)
    return out


def _ignore_value(fmt: str, ignore_value: int, n_classes: int, notes: list[str]) -> int:
    if fmt in ("voc", "coco", "instance", "overlay"):
        return 255
    if not 0 <= ignore_value <= 65535:
        raise ExportError(None, "ignore_value", f"{ignore_value} is not between 0 and 65535")
    if 0 < ignore_value < n_classes:
        if ignore_value == 255 and n_classes > 255:
            notes.append(f"{n_classes} classes: ignore regions are 65535 (255 is a class)")
            return 65535
        raise ExportError(None, "ignore_value", f"{ignore_value} is a class index ({n_classes} classes)")
    return ignore_value


def _plan(
    project_root: str | Path,
    out_dir: str | Path,
    fmt: str,
    *,
    include_unreviewed: bool,
    with_proposals: bool,
    ignore_value: int,
    val_fraction: float = 0.0,
) -> Plan:
    if fmt not in FORMATS:
        raise ExportError(None, "format", f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if not 0.0 <= val_fraction < 1.0:  # also refuses NaN
        raise ExportError(project_root, "val_fraction", f"{val_fraction} is not a share from 0 up to (not) 1")
    if val_fraction and fmt != "yolo":
        raise ExportError(
            project_root, "val_fraction", f"a validation split is written for the yolo format, not {fmt}"
        )
    project = Project(project_root)
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise ExportError(out, None, "exists and is not a folder")
    if out.resolve() == project.root.resolve():
        raise ExportError(out, None, "the export folder is the project folder; choose another one")
    class_names = project.class_names()
    for name in class_names:
        problem = label_problem(name)
        if problem is not None:
            raise ExportError(
                project.root,
                None,
                f"label {name!r} cannot be exported ({problem}); `segdesk check` shows the files",
            )
    notes: list[str] = []
    value = _ignore_value(fmt, ignore_value, len(class_names), notes)
    if fmt == "voc" and len(class_names) > 255:
        raise ExportError(out, None, f"VOC palette PNGs hold 255 classes, the project has {len(class_names)}")
    binary_dirs = _folder_names(class_names) if fmt == "binary" else []
    if fmt == "binary" and project.has_ignore and value != 0:
        binary_dirs.append(IGNORE_LABEL)
    selection = export_selection(project, include_unreviewed=include_unreviewed)
    if selection.left_out:
        notes.append(
            f"{selection.left_out} annotated image(s) nobody reviewed were left out "
            "(include them with --include-unreviewed, or the Export dialog's option)"
        )
    entries = selection.entries
    if not entries and not project.entries():
        raise ExportError(project.root, None, no_images_detail(look_inside(project.root)))
    stems = _stems(entries)
    val = export_yolo.val_stems(stems, val_fraction) if val_fraction else None
    return Plan(
        project, out, fmt, entries, stems, class_names, value, with_proposals, binary_dirs, notes, val
    )


def _relative_outputs(plan: Plan) -> list[str]:
    fmt, stems = plan.fmt, plan.stems
    if fmt == "index":
        return ["class_names.txt", *(f"{s}.png" for s in stems)]
    if fmt == "voc":
        return ["class_names.txt", *(f"{d}/{s}{ext}" for d, ext in VOC_DIRS for s in stems)]
    if fmt == "binary":
        return ["class_names.txt", *(f"{d}/{s}.png" for d in plan.binary_dirs for s in stems)]
    if fmt == "instance":
        return ["instances.json", *(f"{s}.png" for s in stems)]
    if fmt == "overlay":
        return [f"{s}.jpg" for s in stems]
    if fmt == "yolo":
        parts = [export_yolo.split_dir(s, plan.val) for s in stems]
        return [
            "data.yaml",
            *(f"images/{p}{s}.png" for p, s in zip(parts, stems, strict=True)),
            *(f"labels/{p}{s}.txt" for p, s in zip(parts, stems, strict=True)),
        ]
    return ["annotations.json", *(f"{d}/{s}.jpg" for d in ("JPEGImages", "Visualization") for s in stems)]


def existing_outputs(
    project_root: str | Path,
    out_dir: str | Path,
    *,
    fmt: ExportFormat,
    include_unreviewed: bool = False,
    val_fraction: float = 0.0,
) -> list[Path]:
    """The files an export would replace (ask before passing ``overwrite=True``)."""
    plan = _plan(
        project_root,
        out_dir,
        fmt,
        include_unreviewed=include_unreviewed,
        with_proposals=False,
        ignore_value=255,
        val_fraction=val_fraction,
    )
    paths = [plan.out_dir / rel for rel in _relative_outputs(plan)]
    return [p for p in paths if p.exists()]


def export_masks(
    project_root: str | Path,
    out_dir: str | Path,
    *,
    fmt: ExportFormat = "index",
    include_unreviewed: bool = False,
    with_proposals: bool = False,
    ignore_value: int = 255,
    overwrite: bool = False,
    val_fraction: float = 0.0,
    cancel: CancelToken | None = None,
    progress: ProgressFn | None = None,
) -> ExportReport:
    """Export the project's annotations in ``fmt`` to ``out_dir`` (see the module docstring).

    Reviewed images only, unless ``include_unreviewed``; the report's notes say how many were left out.
    ``val_fraction`` (yolo only): that share of the images goes to a validation split.

    Images whose JSON or image file cannot be read are skipped and listed in the report.

    Raises:
        OutputExistsError: files would be replaced and ``overwrite`` is False (nothing written).
        ExportError: naming the path, for a read-only or full destination or a bad option.
        Cancelled: ``cancel`` was set; nothing was written.
    """
    start = time.perf_counter()
    plan = _plan(
        project_root,
        out_dir,
        fmt,
        include_unreviewed=include_unreviewed,
        with_proposals=with_proposals,
        ignore_value=ignore_value,
        val_fraction=val_fraction,
    )
    if not overwrite:
        existing = [plan.out_dir / r for r in _relative_outputs(plan) if (plan.out_dir / r).exists()]
        if existing:
            raise OutputExistsError(plan.out_dir, existing)
    report = ExportReport(plan.out_dir, fmt, class_names=list(plan.class_names), notes=list(plan.notes))
    stage = Stage(plan.out_dir)
    try:
        writer = WRITERS[fmt](plan, stage, report)
        total = len(plan.entries)
        for i, (entry, stem) in enumerate(zip(plan.entries, plan.stems, strict=True)):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"{plan.out_dir}: export cancelled")
            if progress is not None:
                progress(ExportProgress(i, total, entry.image_path.name))
            try:
                writer.image(entry, stem)
                report.images += 1
            except ExportError:
                raise
            except (SegdeskError, ValueError) as exc:
                report.skipped.append(f"{entry.image_path.name}: {exc}")
        writer.finish()
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{plan.out_dir}: export cancelled")
        stage.commit(overwrite)
    except BaseException:
        stage.discard()
        raise
    if progress is not None:
        progress(ExportProgress(len(plan.entries), len(plan.entries), "done"))
    report.files = len(stage.files)
    report.elapsed_s = time.perf_counter() - start
    return report


__all__ = [
    "STAGING_MARK",
    "FORMATS",
    "FORMAT_TITLES",
    "ExportFormat",
    "ExportProgress",
    "OutputExistsError",
    "ExportSelection",
    "existing_outputs",
    "export_masks",
    "export_selection",
]
