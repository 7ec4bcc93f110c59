"""Objects, not regions: instance maps from shapes, instance targets, object-like classes (numpy/OpenCV).

A Labelme shape is one object; shapes sharing a ``group_id`` (and label) are one object in parts, as
labelme2coco treats them (``rasterize.shapes_to_label`` gives them one instance id).

The learned part separates touching objects with an extra class per object-like class: the
*boundary* class, taught only where objects of the class touch or nearly touch (object pixels
within ``width`` pixels of another object of the same class, :func:`contact_band`); an outline
against the background stays the class itself. A model trained on it predicts interiors that do
not touch; ``instance_split.split_instances`` grows them back into the predicted object region by a
seeded watershed. Boundary classes are named ``<label>::boundary`` (:func:`boundary_class_name`)
and never become shapes of their own.

Why contact-only and not the 3-class "background / interior / boundary" band along *every* outline
(the DSB 2018 winners' target, this module's first rule): with a small model and a 2-minute budget
the band along the background is learned as background, so every predicted object came out ~1 px
too small (fatal for IoU >= 0.5 on 10-15 px nuclei); measured in docs/benchmarks.md (issue 17).

Which classes are objects: the per-class setting wins; by default a class is object-like when its
reviewed shapes are many small closed shapes (:func:`default_object_classes`), so a membrane or a
background region is never split.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from segdesk.core.rasterize import ShapeLike, _Fields, _fields, shapes_to_label
from segdesk.core.shapes import FOUR_CORNER_TYPES

BOUNDARY_SUFFIX = "::boundary"
#: Shape types that enclose an area (a line or a point is never an object).
CLOSED_TYPES = frozenset({"polygon", "rectangle", *FOUR_CORNER_TYPES, "circle", "mask"})


def boundary_class_name(label: str) -> str:
    return f"{label}{BOUNDARY_SUFFIX}"


def is_boundary_class(name: str) -> bool:
    return name.endswith(BOUNDARY_SUFFIX)


def base_class_name(name: str) -> str:
    """``nucleus::boundary`` -> ``nucleus``; any other name unchanged."""
    return name[: -len(BOUNDARY_SUFFIX)] if is_boundary_class(name) else name


def shapes_to_instances(
    size: tuple[int, int], shapes: Sequence[ShapeLike], class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(class map int32, instance map int32) of ``shapes`` on an image of ``size`` (H, W).

    Class i is ``class_names[i]`` (0 = background); shapes with another label are left out. Each
    shape is one instance, shapes sharing (label, group_id) one instance; later shapes win, ids start
    at 1 and are renumbered to 1..N over the objects that kept pixels.
    """
    values = {name: i for i, name in enumerate(class_names)}
    known = [s for s in shapes if _fields(s).label in values and values[_fields(s).label] != 0]
    cls, ins = shapes_to_label(size, known, values)
    return cls, relabel_sequential(ins)


def relabel_sequential(instances: np.ndarray) -> np.ndarray:
    """The same objects numbered 1..N (0 stays background), int32."""
    ins = np.asarray(instances)
    ids = np.unique(ins)
    ids = ids[ids != 0]
    lut_in = np.concatenate([[0], ids]).astype(np.int64)
    out = np.searchsorted(lut_in, ins.astype(np.int64)).astype(np.int32)
    out[ins == 0] = 0
    return out


def boundary_band(instances: np.ndarray, width: int = 2) -> np.ndarray:
    """Bool HxW: object pixels within ``width`` pixels (chessboard) of another object or background."""
    ins = np.asarray(instances, dtype=np.int32)
    if width < 1:
        return np.zeros(ins.shape, dtype=bool)
    k = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    # A pixel is on the boundary when its neighbourhood holds another id: max != min over the window.
    # Dilation/erosion of int32 is not in OpenCV, so float32 carries ids exactly up to 2**24.
    f = ins.astype(np.float32)
    hi = cv2.dilate(f, k, borderType=cv2.BORDER_REPLICATE)
    lo = cv2.erode(f, k, borderType=cv2.BORDER_REPLICATE)
    return (ins > 0) & ((hi != f) | (lo != f))


def contact_band(instances: np.ndarray, width: int = 1) -> np.ndarray:
    """Bool HxW: object pixels within ``width`` pixels (chessboard) of a pixel of *another object*
    (background does not count: an outline against the background is not a contact)."""
    ins = np.asarray(instances, dtype=np.int32)
    if width < 1:
        return np.zeros(ins.shape, dtype=bool)
    f = ins.astype(np.float32)  # float32 carries ids exactly up to 2**24 (no int32 dilation in OpenCV)
    k = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    hi = cv2.dilate(f, k, borderType=cv2.BORDER_REPLICATE)
    lo = cv2.erode(np.where(ins > 0, f, np.float32(1 << 24)), k, borderType=cv2.BORDER_REPLICATE)
    return (ins > 0) & ((hi > f) | (lo < f))


#: An object class learns a boundary only when its objects touch: contact pixels are at least this
#: share of its pixels in the reviewed images (separated objects are split by connected components).
MIN_CONTACT_SHARE = 0.002


def touching_classes(pairs: Iterable[tuple[np.ndarray, np.ndarray]], classes: Iterable[int]) -> set[int]:
    """The class values among ``classes`` whose objects touch each other in (class map, instance map) pairs.

    Only objects of the same class count: those are the ones connected components would merge. A
    nucleus drawn inside its cell, or a cell beside a vessel, is kept apart by the class map already.
    """
    wanted = set(classes)
    contact: dict[int, int] = dict.fromkeys(wanted, 0)
    total: dict[int, int] = dict.fromkeys(wanted, 0)
    for cls, ins in pairs:
        ins = np.asarray(ins)
        for v in wanted:
            in_class = cls == v
            total[v] += int(np.count_nonzero(in_class))
            contact[v] += int(np.count_nonzero(contact_band(np.where(in_class, ins, 0))))
    return {v for v in wanted if total[v] and contact[v] >= MIN_CONTACT_SHARE * total[v]}


def instance_target(
    class_map: np.ndarray,
    instances: np.ndarray,
    boundary_values: Mapping[int, int],
    *,
    width: int = 2,
    ignore_value: int = 255,
) -> np.ndarray:
    """The training class map with boundary classes: where objects of class v touch, ``boundary_values[v]``.

    The boundary of class v is its contact band: pixels of its objects within ``width`` pixels of
    another object *of the same class* (:func:`contact_band`; an object of another class, or the
    background, is no contact: the class map keeps those apart). Only classes in
    ``boundary_values`` (the object-like ones) get a boundary; ignored pixels stay ignored. An object
    that the band would swallow keeps its interior (the band is thinned to 1 pixel there), so every
    object keeps a seed.
    """
    cls = np.asarray(class_map)
    out = cls.copy()
    if not boundary_values:
        return out
    ins = np.asarray(instances, dtype=np.int32)
    for value, boundary in boundary_values.items():
        in_class = cls == value
        ins_v = np.where(in_class, ins, 0)
        band = contact_band(ins_v, width)
        if width > 1 and band.any():
            interior_left = np.bincount(ins_v[~band].ravel(), minlength=int(ins_v.max()) + 1)
            lost = interior_left[ins_v] == 0
            band = np.where(lost, contact_band(ins_v, 1), band)
        out[band & in_class] = boundary
    out[cls == ignore_value] = ignore_value
    return out


def boundary_folding(class_names: Sequence[str]) -> tuple[np.ndarray, list[str]] | None:
    """(new index of each class, shown names) with every boundary class folded into its class (the
    classes a person sees); None when there is none to fold. A boundary class whose class is missing
    stays a class of its own."""
    names = list(class_names)
    index = {n: i for i, n in enumerate(names)}
    target = [index.get(base_class_name(n), i) if is_boundary_class(n) else i for i, n in enumerate(names)]
    if target == list(range(len(names))):
        return None
    keep = [i for i in range(len(names)) if target[i] == i]
    new_index = {old: new for new, old in enumerate(keep)}
    return np.array([new_index[target[i]] for i in range(len(names))], dtype=np.int64), [
        names[i] for i in keep
    ]


def folded_class_names(class_names: Sequence[str]) -> list[str]:
    """``class_names`` less the boundary classes that fold into their class."""
    folding = boundary_folding(class_names)
    return list(class_names) if folding is None else folding[1]


def fold_boundary_mask(mask: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """A class-index mask over ``class_names`` in the indices of :func:`folded_class_names` (other
    values, e.g. ignore, unchanged)."""
    folding = boundary_folding(class_names)
    if folding is None:
        return mask
    fold, _ = folding
    lut = np.arange(max(len(fold), int(mask.max(initial=0)) + 1), dtype=np.int64)
    lut[: len(fold)] = fold
    return lut[mask].astype(mask.dtype, copy=False)


def with_boundary_classes(
    class_names: Sequence[str], object_classes: Iterable[str]
) -> tuple[list[str], dict[int, int]]:
    """(class names + one boundary class per object class, {class value: boundary value})."""
    names = list(class_names)
    mapping: dict[int, int] = {}
    for label in object_classes:
        if label not in names or names.index(label) == 0:
            continue
        mapping[names.index(label)] = len(names)
        names.append(boundary_class_name(label))
    return names, mapping


@dataclass(frozen=True)
class ClassShapeStats:
    """What the reviewed shapes of one class look like (for the object-like default)."""

    label: str
    images: int
    shapes: int
    closed_fraction: float
    median_area_fraction: float


def class_shape_stats(
    documents: Iterable[tuple[tuple[int, int], Sequence[ShapeLike]]],
) -> list[ClassShapeStats]:
    """Per label: images, shapes, share of closed shapes, median shape area / image area.

    ``documents`` yields ((height, width), shapes) of reviewed images.
    """
    per: dict[str, dict[str, list]] = {}
    for (h, w), shapes in documents:
        seen: set[str] = set()
        for s in shapes:
            f = _fields(s)
            d = per.setdefault(f.label, {"images": [], "closed": [], "areas": []})
            if f.label not in seen:
                d["images"].append(1)
                seen.add(f.label)
            closed = f.shape_type in CLOSED_TYPES
            d["closed"].append(closed)
            if closed:
                d["areas"].append(_shape_area(f) / max(h * w, 1))
    out = []
    for label, d in sorted(per.items()):
        areas = d["areas"]
        out.append(
            ClassShapeStats(
                label,
                len(d["images"]),
                len(d["closed"]),
                float(np.mean(d["closed"])),
                float(np.median(areas)) if areas else 1.0,
            )
        )
    return out


def _shape_area(f: _Fields) -> float:
    pts = f.points
    if f.shape_type == "mask" and f.mask is not None:
        return float(np.count_nonzero(f.mask))
    if f.shape_type == "circle" and len(pts) == 2:
        return float(np.pi * np.sum((pts[0] - pts[1]) ** 2))
    if f.shape_type == "rectangle" and len(pts) >= 2:
        span = pts.max(axis=0) - pts.min(axis=0)
        return float(span[0] * span[1])
    if len(pts) < 3:
        return 0.0
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


#: Object-like by default: at least this many closed shapes per image on average ...
MIN_SHAPES_PER_IMAGE = 3.0
#: ... nearly all closed ...
MIN_CLOSED_FRACTION = 0.9
#: ... and small: the median shape covers at most this share of its image.
MAX_MEDIAN_AREA_FRACTION = 0.02


def default_object_classes(stats: Iterable[ClassShapeStats]) -> set[str]:
    """Classes whose reviewed shapes are many small closed shapes (nuclei, cells, grains)."""
    return {
        s.label
        for s in stats
        if s.images > 0
        and s.shapes / s.images >= MIN_SHAPES_PER_IMAGE
        and s.closed_fraction >= MIN_CLOSED_FRACTION
        and s.median_area_fraction <= MAX_MEDIAN_AREA_FRACTION
    }


def object_classes(stats: Iterable[ClassShapeStats], setting: Mapping[str, bool] | None = None) -> set[str]:
    """The default from the data, overridden per class by ``setting`` ({label: is an object})."""
    chosen = default_object_classes(stats)
    for label, on in (setting or {}).items():
        (chosen.add if on else chosen.discard)(label)
    return chosen


__all__ = [
    "BOUNDARY_SUFFIX",
    "ClassShapeStats",
    "base_class_name",
    "boundary_band",
    "boundary_class_name",
    "boundary_folding",
    "class_shape_stats",
    "contact_band",
    "default_object_classes",
    "fold_boundary_mask",
    "folded_class_names",
    "instance_target",
    "is_boundary_class",
    "object_classes",
    "relabel_sequential",
    "shapes_to_instances",
    "touching_classes",
    "with_boundary_classes",
]
