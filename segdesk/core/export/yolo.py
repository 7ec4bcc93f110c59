"""YOLO segmentation labels, as Ultralytics trains on them (``yolo segment train data=data.yaml``).

* ``labels/<stem>.txt``: one line per object piece, ``class x1 y1 x2 y2 ...`` with coordinates divided
  by the image's width and height (6 decimals, clipped to 0..1). An image without objects gets an empty
  file (a background image, as Ultralytics expects).
* ``images/<stem>.png``: the image as the canvas shows it (oriented as Labelme orients it; the file's
  own 8-bit values, else the displayed 8-bit RGB), lossless, so labels and pixels always agree.
* ``data.yaml``: ``path`` (the export folder), ``train`` and ``val`` and ``names`` (class id -> label).
  With a validation share (``val_fraction``) images and labels go to ``train/`` and ``val/``
  subfolders, the split fixed by a hash of each image's name; without, both sets are ``images``.

Class ids count from 0 over the project's classes without ``_background_`` (YOLO has no background
class); ``__ignore__`` and labels outside the label list are left out. Shapes with the same label and
``group_id`` are one object in COCO; YOLO holds one polygon per line, so each part is its own line.
Rectangles become their corners, circles labelme2coco's polygon, masks one polygon per connected piece
(holes are not kept); lines and points have no area and are left out (the report says how many).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segdesk.core.export.coco import POLYGON_TYPES, sane_circle, shape_polygon
from segdesk.core.rasterize import BACKGROUND_LABEL, IGNORE_LABEL
from segdesk.core.shape_convert import to_mask_shape, to_polygon_shapes
from segdesk.core.shapes import Shape


def yolo_names(class_names: Sequence[str]) -> list[str]:
    """The YOLO classes, id = position: the project's classes without the background."""
    return [n for n in class_names if n not in (BACKGROUND_LABEL, IGNORE_LABEL)]


def label_lines(
    shapes: Sequence[Shape], size: tuple[int, int], class_id: dict[str, int]
) -> tuple[list[str], int]:
    """The label file's lines for one image of ``size`` (height, width), and how many shapes of a
    kept class had no area to write (lines, points)."""
    height, width = size
    lines, no_area = [], 0
    for shape in shapes:
        cid = class_id.get(shape.label)
        if cid is None:
            continue
        if shape.shape_type == "circle" and not sane_circle(shape):  # its pixels' outline instead
            as_mask = to_mask_shape(shape, size)
            polygons = (
                [np.asarray(p.points, dtype=np.float64) for p in to_polygon_shapes(as_mask)]
                if as_mask
                else []
            )
        elif shape.shape_type == "mask":
            polygons = [np.asarray(p.points, dtype=np.float64) for p in to_polygon_shapes(shape)]
        elif shape.shape_type in POLYGON_TYPES:
            polygons = [np.asarray(shape_polygon(shape), dtype=np.float64).reshape(-1, 2)]
        else:
            no_area += 1
            continue
        for pts in polygons:
            if len(pts) < 3 or not np.isfinite(pts).all():
                continue
            xy = np.clip(pts / (width, height), 0.0, 1.0)
            lines.append(f"{cid} " + " ".join(f"{v:.6f}" for v in xy.ravel()))
    return lines, no_area


def val_stems(stems: Sequence[str], fraction: float) -> frozenset[str]:
    """The images of the validation split: ``fraction`` of them (at least one, never all), the first by
    a hash of their names, so the same images split the same way at every export and in any order."""
    if fraction <= 0 or len(stems) < 2:
        return frozenset()
    count = min(max(round(len(stems) * fraction), 1), len(stems) - 1)
    order = sorted(stems, key=lambda s: hashlib.sha1(s.encode("utf-8")).hexdigest())
    return frozenset(order[:count])


def split_dir(stem: str, val: frozenset[str] | None) -> str:
    """The subfolder of images/ and labels/ an image goes to ('' without a split)."""
    if val is None:
        return ""
    return "val/" if stem in val else "train/"


def data_yaml(names: Sequence[str], root: Path, *, split: bool = False) -> str:
    """Ultralytics' dataset file; the folder and names as JSON strings (valid YAML whatever they hold).

    ``path`` is the export folder itself: Ultralytics resolves a relative one against its own datasets
    folder, not against the file."""
    rows = "".join(f"  {i}: {json.dumps(name, ensure_ascii=False)}\n" for i, name in enumerate(names))
    sets = (
        "train: images/train\nval: images/val\n"
        if split
        else "train: images\nval: images  # the same images: split them (segdesk export --val-fraction)\n"
    )
    return (
        "# written by segdesk export (YOLO segmentation); moved the folder? change path\n"
        f"path: {json.dumps(str(root), ensure_ascii=False)}\n{sets}names:\n{rows}"
    )


__all__ = ["data_yaml", "label_lines", "split_dir", "val_stems", "yolo_names"]
