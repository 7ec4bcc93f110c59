"""Correction effort: how much a person changed a model's proposals before saving (numpy only).

For every image whose proposals were accepted, the class map the proposals drew is compared with
the class map of what the person saved, class by class (IoU). A run of these numbers shows whether
the model is getting better at the person's task ("last 10 images: proposals 87% right").

Objects count too (issue 17): per class, the splits the person made (a proposal that covered k
saved objects needed k - 1 splits) and the merges (k proposals that became one saved object needed
k - 1 merges), by ``instance_metrics.splits_merges`` on the objects of both sides.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segdesk.core.instance_metrics import overlap, splits_merges
from segdesk.core.instances import shapes_to_instances
from segdesk.core.rasterize import shapes_to_label
from segdesk.core.shapes import Shape

CSV_NAME = "corrections.csv"
CSV_FIELDS = (
    "time",
    "image",
    "model_version",
    "class",
    "iou",
    "proposed_pixels",
    "saved_pixels",
    "splits",
    "merges",
)


@dataclass(frozen=True)
class ClassEffort:
    """One class of one image: IoU between the proposed and the saved region."""

    label: str
    iou: float
    proposed_pixels: int
    saved_pixels: int
    splits: int = 0  # objects the person had to cut out of a proposal
    merges: int = 0  # proposals the person had to join into one object


def class_map_of(shapes: Sequence[Shape], labels: Sequence[str], size: tuple[int, int]) -> np.ndarray:
    """Rasterize ``shapes`` (labels outside ``labels`` are left out) into an HxW class map."""
    values = {name: i + 1 for i, name in enumerate(labels)}
    known = [s for s in shapes if s.label in values]
    cls, _ = shapes_to_label(size, known, values)
    return cls


def correction_ious(
    proposed: Sequence[Shape], saved: Sequence[Shape], size: tuple[int, int]
) -> list[ClassEffort]:
    """Per-class IoU of ``proposed`` vs ``saved`` shapes on an image of ``size`` (H, W).

    Only classes that appear on either side count; a class the model proposed that the person
    removed scores 0, as does one the person added.
    """
    labels = sorted({s.label for s in proposed} | {s.label for s in saved})
    a = class_map_of(proposed, labels, size)
    b = class_map_of(saved, labels, size)
    out = []
    for i, label in enumerate(labels, start=1):
        pa, pb = a == i, b == i
        union = int(np.count_nonzero(pa | pb))
        if union == 0:
            continue
        inter = int(np.count_nonzero(pa & pb))
        splits, merges = object_edits(proposed, saved, label, size)
        out.append(ClassEffort(label, inter / union, int(pa.sum()), int(pb.sum()), splits, merges))
    return out


def object_edits(
    proposed: Sequence[Shape], saved: Sequence[Shape], label: str, size: tuple[int, int]
) -> tuple[int, int]:
    """(splits, merges) the person made to the proposed objects of ``label`` to get the saved ones.

    Each shape is one object (shapes sharing a group_id one object in parts). A proposal merging
    k saved objects is k - 1 splits; a saved object cut into k proposals is k - 1 merges.
    """
    names = ["_background_", label]
    _, p = shapes_to_instances(size, [s for s in proposed if s.label == label], names)
    _, t = shapes_to_instances(size, [s for s in saved if s.label == label], names)
    pieces, merged = splits_merges(overlap(t, p))
    return merged, pieces


def append_csv(path: Path, image: str, model_version: str | None, rows: Sequence[ClassEffort]) -> None:
    """Append one image's rows to the CSV (header written when the file is new)."""
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    new = not path.is_file() or path.stat().st_size == 0
    if new:
        writer.writerow(CSV_FIELDS)
    else:
        _upgrade_header(path)
    for r in rows:
        writer.writerow(
            [
                now,
                image,
                model_version or "",
                r.label,
                f"{r.iou:.4f}",
                r.proposed_pixels,
                r.saved_pixels,
                r.splits,
                r.merges,
            ]
        )
    # Appending (not rewriting) keeps earlier rows even if this write is cut short.
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())
        handle.flush()
        os.fsync(handle.fileno())


def _upgrade_header(path: Path) -> None:
    """A CSV written before the splits/merges columns gets them (empty in old rows), atomically."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or tuple(rows[0]) == CSV_FIELDS:
        return
    from segdesk.core.atomic import atomic_write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    old = rows[0]
    for row in rows[1:]:
        record = dict(zip(old, row, strict=False))
        writer.writerow([record.get(name, "") for name in CSV_FIELDS])
    atomic_write_text(path, buffer.getvalue())


def recent_object_edits(path: Path, last: int = 10) -> tuple[int, float, float] | None:
    """(images, splits per image, merges per image) over the last ``last`` images that record them."""
    if not path.is_file():
        return None
    per_image: dict[tuple[str, str], list[int]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                splits, merges = int(row["splits"]), int(row["merges"])
            except (KeyError, TypeError, ValueError):
                continue
            totals = per_image.setdefault((row.get("time", ""), row.get("image", "")), [0, 0])
            totals[0] += splits
            totals[1] += merges
    if not per_image:
        return None
    recent = list(per_image.values())[-last:]
    return len(recent), float(np.mean([r[0] for r in recent])), float(np.mean([r[1] for r in recent]))


def recent_trend(path: Path, last: int = 10) -> tuple[int, float] | None:
    """(images, mean IoU) over the last ``last`` images in the CSV; None when there is none.

    An image's score is the mean over its classes in its latest record (marking an image reviewed
    again replaces its earlier score); a damaged row is skipped.
    """
    if not path.is_file():
        return None
    per_image: dict[str, list[float]] = {}  # image -> its latest record (a re-review replaces one)
    when: dict[str, str] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                iou = float(row["iou"])
            except (KeyError, TypeError, ValueError):
                continue
            image, time = row.get("image", ""), row.get("time", "")
            if when.get(image) != time:  # a new record of this image: it counts, last
                per_image.pop(image, None)
                when[image] = time
            per_image.setdefault(image, []).append(iou)
    if not per_image:
        return None
    scores = [float(np.mean(v)) for v in list(per_image.values())[-last:]]
    return len(scores), float(np.mean(scores))


__all__ = [
    "CSV_NAME",
    "ClassEffort",
    "append_csv",
    "class_map_of",
    "correction_ious",
    "object_edits",
    "recent_object_edits",
    "recent_trend",
]
