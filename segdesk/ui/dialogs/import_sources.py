"""What a person chose to import from in File > Import masks, and what it holds, in the dialog's
words: a folder of class masks, of instance maps (or of one mask folder per image), a folder of YOLO
label files, or a COCO file; and the dialog's words for how an import ended. The importers
themselves are core's (the commands use them too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from segdesk.core.errors import SegdeskError
from segdesk.core.import_coco import describe_coco
from segdesk.core.import_masks import ImportReport
from segdesk.core.import_yolo import NAMES_FILES, find_names_file, read_names
from segdesk.core.mask_values import MaskSample, first_masks, sample_masks

Kind = Literal["classes", "objects", "yolo", "coco", "unknown"]


@dataclass(frozen=True)
class Source:
    path: Path
    kind: Kind
    note: str
    labels: str = ""  # a class list to start from: value=NAME pairs, or YOLO's names by id


def describe_sample(sample: MaskSample) -> str:
    """What the first masks hold."""
    end = "" if sample.photo_like else ": one per object?" if sample.objects else "."
    return f"The first {sample.files} mask(s) hold {sample.summary()}{end}"


def _yolo_names(folder: Path) -> tuple[str, str]:
    """The class names of the dataset's data.yaml (core's rule for where it is), and its path."""
    found = find_names_file(folder)
    if found is None:
        return "", ""
    try:
        return ",".join(read_names(found)), str(found)
    except SegdeskError:
        return "", ""


def look_at(path: Path, root: Path) -> Source:
    """What ``path`` is and holds (``root``: the project, for a COCO file's share of it)."""
    if path.is_file():
        return Source(path, "coco", describe_coco(path, root))
    if not path.is_dir():
        return Source(path, "unknown", f"{path}: no such folder or file.")
    sample = sample_masks(first_masks(path))
    if sample is not None:
        if sample.objects:
            return Source(path, "objects", describe_sample(sample))
        return Source(path, "classes", describe_sample(sample), sample.suggested_labels())
    try:
        children = list(path.iterdir())
    except OSError as exc:
        return Source(path, "unknown", f"{path}: cannot list: {exc.strerror or exc}")
    labels = sum(1 for p in children if p.suffix == ".txt" and p.name not in NAMES_FILES)
    if labels:
        names, found = _yolo_names(path)
        where = f"classes from {found}" if found else "name the classes by id, comma separated"
        return Source(path, "yolo", f"{labels} YOLO label file(s); {where}.", names)
    if any(p.is_dir() for p in children):
        note = "No mask files here, but subfolders: one folder of masks per image (one mask per object)?"
        return Source(path, "objects", note)
    return Source(path, "unknown", "No mask files (PNG, TIFF, BMP), YOLO labels (.txt) or COCO file here.")


REPLACE_WARNING = "Those that have a mask too get the masks' shapes instead: their own shapes are lost."


def done_text(report: ImportReport) -> tuple[str, str]:
    """What an import wrote (the status line) and what it left out (the details)."""
    status = (
        f"Imported {len(report.json_paths)} image(s), {report.shape_count} shape(s); "
        f"labels: {', '.join(report.labels)}."
    )
    empty = [f"{p.name}: the mask holds no object big enough; no shapes" for p in report.empty_images]
    return status, "\n".join(report.left_out() + empty)


def stopped_text(last: Any, *, cancelled: bool) -> str:
    """An import that stopped (``last``: its last progress record, with ``done`` and ``total``)."""
    done = getattr(last, "done", 0)
    if cancelled:
        if not done:
            return "Cancelled: nothing was written."
        return (
            f"Cancelled after {done} of {last.total} image(s): those keep their imported annotation, "
            "the others are as they were."
        )
    if not done:
        return "Nothing was imported; the problems are below."
    return f"Stopped after {done} image(s); the problem is below."


__all__ = ["REPLACE_WARNING", "Kind", "Source", "describe_sample", "done_text", "look_at", "stopped_text"]
