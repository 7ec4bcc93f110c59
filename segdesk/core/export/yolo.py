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
``group_id`` are one object, as in COCO; YOLO holds one polygon per line, so an object's parts (and a
mask's separate pieces) are joined into one polygon by bridges of no width. Rectangles become their
corners, circles labelme2coco's polygon, masks the outlines of their pieces (holes are not kept);
lines and points have no area and are left out (the report says how many).
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
    """The label file's lines for one image of ``size`` (height, width), one per object, and how many
    shapes of a kept class had no area to write (lines, points). An object is what COCO calls one:
    shapes of one label and ``group_id`` (each shape without a group is its own), its pieces (and a
    mask's separate pieces) joined into one polygon by :func:`join_pieces`."""
    height, width = size
    objects: dict[tuple[str, object], list[np.ndarray]] = {}
    no_area = 0
    for shape in shapes:
        if shape.label not in class_id:
            continue
        polygons = _polygons(shape, size)
        if polygons is None:
            no_area += 1
            continue
        key = (shape.label, object() if shape.group_id is None else shape.group_id)
        objects.setdefault(key, []).extend(p for p in polygons if len(p) >= 3 and np.isfinite(p).all())
    lines = []
    for (label, _), pieces in objects.items():
        if pieces:
            xy = np.clip(join_pieces(pieces) / (width, height), 0.0, 1.0)
            lines.append(f"{class_id[label]} " + " ".join(f"{v:.6f}" for v in xy.ravel()))
    return lines, no_area


def join_pieces(pieces: Sequence[np.ndarray]) -> np.ndarray:
    """One polygon through several: each next piece is entered and left again at the pair of vertices
    nearest to what is joined so far, a bridge of no width (YOLO holds one polygon per object)."""
    joined = np.asarray(pieces[0], dtype=np.float64)
    for piece in pieces[1:]:
        piece = np.asarray(piece, dtype=np.float64)
        dist = ((joined[:, None, :] - piece[None, :, :]) ** 2).sum(axis=2)
        i, j = np.unravel_index(int(np.argmin(dist)), dist.shape)
        around = np.roll(piece, -j, axis=0)
        joined = np.concatenate([joined[: i + 1], around, around[:1], joined[i:]])
    return joined


def _polygons(shape: Shape, size: tuple[int, int]) -> list[np.ndarray] | None:
    """A shape's outline(s) in pixels; None for a shape with no area (a line, a point)."""
    if shape.shape_type == "circle" and not sane_circle(shape):  # its pixels' outline instead
        as_mask = to_mask_shape(shape, size)
        return [np.asarray(p.points, dtype=np.float64) for p in to_polygon_shapes(as_mask)] if as_mask else []
    if shape.shape_type == "mask":
        return [np.asarray(p.points, dtype=np.float64) for p in to_polygon_shapes(shape)]
    if shape.shape_type in POLYGON_TYPES:
        return [np.asarray(shape_polygon(shape), dtype=np.float64).reshape(-1, 2)]
    return None


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
