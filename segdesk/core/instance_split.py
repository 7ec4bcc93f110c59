"""Splitting touching objects at prediction: seeded watershed, one polygon per object (numpy/OpenCV).

Input: the model's class probabilities (C, H, W) or its class map, with the class names. For each
object-like class ``L``:

- with a boundary class ``L::boundary`` in the model (the learned instance output), the seeds are the
  h-maxima of the distance transform of the predicted *interior* (L beats its boundary; with
  ``interior_maxima=False`` one seed per interior component), the object region is interior +
  boundary, and the watershed floods the boundary probability from the seeds;
- without one (an older model), the non-learned baseline: the seeds are the h-maxima of the distance
  transform of the predicted region, flooded over the inverted distance.

Classes that are not object-like stay as today (connected components). Each object gets its own
confidence: the mean, over its pixels, of the probability of its class (boundary included).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from segdesk.core.instances import base_class_name, boundary_class_name, is_boundary_class, relabel_sequential
from segdesk.core.shapes import Shape
from segdesk.core.vectorize import DEFAULT_MIN_AREA, class_map_to_shapes, mask_to_components


@dataclass(frozen=True)
class SplitSettings:
    """How objects are separated. ``object_classes`` are the labels that are split into objects."""

    object_classes: frozenset[str] = frozenset()
    min_area: int = DEFAULT_MIN_AREA  # objects below this many pixels are dropped
    seed_min_area: int = 4  # interior seeds below this are ignored (noise)
    h: float = 1.5  # distance baseline: a seed must stand this many pixels above its saddle
    smooth: float = 1.0  # distance baseline: Gaussian sigma on the distance before seeding
    # With a boundary output: seed at the h-maxima of the interior's distance transform (splits
    # interiors that still touch) rather than one seed per interior component. Measured on DSB dev
    # (docs/benchmarks.md): merges per image 8.8 -> 4.8, AP@0.5 0.336 -> 0.355.
    interior_maxima: bool = True
    # Objects grown by up to this many pixels into the background around them (geodesic dilation,
    # never into another object or class): a model calibrated to under-reach outlines
    # (services/split_calibration.py chooses it per model on its held-out images; 0 = as predicted).
    grow: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "object_classes", frozenset(self.object_classes))


@dataclass
class InstanceObject:
    """One object: its class, bounding box (x, y, w, h), bool crop and confidence."""

    label: str
    bbox: tuple[int, int, int, int]
    mask: np.ndarray = field(repr=False)
    confidence: float

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))


@dataclass
class InstanceSplit:
    """``class_map``: boundary classes folded back into their class; ``instances``: HxW ids (0 = none)."""

    class_map: np.ndarray
    class_names: list[str]
    instances: np.ndarray
    objects: list[InstanceObject]


def _fold(
    probs: np.ndarray | None, class_map: np.ndarray | None, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray | None, list[str], dict[int, int], list[int]]:
    """Boundary classes folded into their class.

    (class map, probabilities or None, names, {folded value: original boundary value},
    original value of each folded value).
    """
    keep = [i for i, n in enumerate(names) if not is_boundary_class(n)]
    folded_names = [names[i] for i in keep]
    new_of_old = {old: new for new, old in enumerate(keep)}
    boundary_of: dict[int, int] = {}
    for i, n in enumerate(names):
        if is_boundary_class(n) and base_class_name(n) in folded_names:
            boundary_of[folded_names.index(base_class_name(n))] = i
    if probs is not None:
        fp = probs[keep].astype(np.float32, copy=True)
        for v, b in boundary_of.items():
            fp[v] += probs[b]
        cls = np.argmax(fp, axis=0)
        return cls, fp, folded_names, boundary_of, keep
    assert class_map is not None
    lut = np.zeros(max(len(names), int(class_map.max()) + 1), dtype=np.int64)
    for old in range(len(names)):
        lut[old] = new_of_old.get(old, 0)
    for v, b in boundary_of.items():
        lut[b] = v
    return lut[class_map], None, folded_names, boundary_of, keep


def _seeds_from_interior(interior: np.ndarray, min_area: int) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(interior.astype(np.uint8), connectivity=4)
    small = np.nonzero(stats[:, cv2.CC_STAT_AREA] < min_area)[0]
    labels[np.isin(labels, small[small > 0])] = 0
    return labels


def _h_maxima_seeds(dist: np.ndarray, h: float) -> np.ndarray:
    """Connected regional maxima of the h-maxima transform (reconstruction by dilation of dist - h)."""
    marker = np.maximum(dist - h, 0).astype(np.float32)
    k = np.ones((3, 3), np.uint8)
    for _ in range(1000):
        grown = np.minimum(cv2.dilate(marker, k), dist)
        if np.array_equal(grown, marker):
            break
        marker = grown
    peaks = (dist - marker >= h - 1e-3) & (dist > 0)
    _, labels = cv2.connectedComponents(peaks.astype(np.uint8), connectivity=8)
    return labels


def _flood(elevation: np.ndarray, seeds: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Seeded watershed of ``elevation`` (float, low = inside) restricted to ``region``; int32 ids."""
    if not seeds.any():
        return np.zeros(region.shape, np.int32)
    e = elevation.astype(np.float32)
    lo, hi = float(e[region].min()), float(e[region].max())
    e8 = (
        np.zeros(region.shape, np.uint8)
        if hi <= lo
        else ((e - lo) / (hi - lo) * 254).clip(0, 254).astype(np.uint8)
    )
    e8[~region] = 255
    markers = seeds.astype(np.int32).copy()
    outside = int(markers.max()) + 1
    markers[~region] = outside
    cv2.watershed(cv2.merge([e8, e8, e8]), markers)
    markers[(markers == outside) | (markers < 0) | ~region] = 0
    # Region pixels the outside basin or a watershed line took join the nearest object.
    return _grow(markers, region)


def _grow(ids: np.ndarray, region: np.ndarray, max_steps: int = 100) -> np.ndarray:
    """Geodesic dilation of the ids into the unlabelled pixels of ``region`` until nothing changes."""
    k = np.ones((3, 3), np.uint8)
    for _ in range(max_steps):
        todo = region & (ids == 0)
        if not todo.any():
            break
        grown = cv2.dilate(ids.astype(np.float32), k).astype(np.int32)
        new = todo & (grown > 0)
        if not new.any():
            break
        ids[new] = grown[new]
    return ids


def _split_class(
    fg: np.ndarray,
    value: int,  # the class's value in the model's (unfolded) output
    boundary_value: int | None,
    probs: np.ndarray | None,
    class_map: np.ndarray | None,
    settings: SplitSettings,
) -> np.ndarray:
    """Object ids (int32, 0 = none) inside the predicted region ``fg`` of one object class."""
    if boundary_value is not None:
        if probs is not None:
            p_in, p_b = probs[value], probs[boundary_value]
            interior = fg & (p_in > p_b)
            elevation = p_b
        else:
            interior = fg & (class_map == value)
            elevation = cv2.GaussianBlur((class_map == boundary_value).astype(np.float32), (0, 0), 1.0)
        if settings.interior_maxima:
            dist = cv2.distanceTransform(interior.astype(np.uint8), cv2.DIST_L2, 5)
            if settings.smooth > 0:
                dist = cv2.GaussianBlur(dist, (0, 0), settings.smooth) * interior
            seeds = _h_maxima_seeds(dist, settings.h)
        else:
            seeds = _seeds_from_interior(interior, settings.seed_min_area)
    else:
        dist = cv2.distanceTransform(fg.astype(np.uint8), cv2.DIST_L2, 5)
        if settings.smooth > 0:
            dist = cv2.GaussianBlur(dist, (0, 0), settings.smooth) * fg
        seeds = _h_maxima_seeds(dist, settings.h)
        elevation = -dist
    ids = _flood(elevation, seeds, fg)
    # Parts of the region no seed reached (a component with no interior) are objects of their own.
    rest = fg & (ids == 0)
    if rest.any():
        n, labels = cv2.connectedComponents(rest.astype(np.uint8), connectivity=8)
        ids[rest] = labels[rest] + int(ids.max())
    return ids


def split_instances(
    class_names: Sequence[str],
    settings: SplitSettings,
    *,
    probabilities: np.ndarray | None = None,
    class_map: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    region_map: np.ndarray | None = None,
) -> InstanceSplit:
    """Objects from a model's output: ``probabilities`` (C, H, W) or ``class_map`` (H, W) over ``class_names``.

    Object-like classes (``settings.object_classes``) are split into touching objects; every other
    class gives one object per 8-connected component, as today. ``confidence`` (HxW) is used for the
    per-object confidence when no probabilities are given. Objects below ``settings.min_area``
    pixels are dropped. ``region_map`` (HxW, over the folded classes: boundary classes left out)
    replaces the classes the probabilities' arg-max gives, e.g. after thresholding and clean-up
    (the proposals' steps 2-3); the probabilities still place the seeds and the watershed lines.
    """
    if probabilities is None and class_map is None:
        raise ValueError("split_instances needs probabilities or a class map")
    probs = None if probabilities is None else np.asarray(probabilities, dtype=np.float32)
    if probs is not None and (probs.ndim != 3 or probs.shape[0] != len(class_names)):
        raise ValueError(
            f"probabilities {None if probs is None else probs.shape} do not match {len(class_names)} classes"
        )
    cmap = None if class_map is None else np.asarray(class_map)
    folded, fprobs, names, boundary_of, original = _fold(probs, cmap, list(class_names))
    if region_map is not None:
        if np.shape(region_map) != folded.shape:
            raise ValueError(f"region map {np.shape(region_map)} differs from the output {folded.shape}")
        folded = np.asarray(region_map)
    instances = np.zeros(folded.shape, np.int32)
    owner: dict[int, int] = {}
    for value in range(1, len(names)):
        fg = folded == value
        if not fg.any():
            continue
        if names[value] in settings.object_classes:
            ids = _split_class(fg, original[value], boundary_of.get(value), probs, cmap, settings)
        else:
            _, ids = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)
        offset = int(instances.max())
        instances[ids > 0] = ids[ids > 0] + offset
        for i in np.unique(ids[ids > 0]):
            owner[int(i) + offset] = value
    conf_map = (
        np.take_along_axis(fprobs, folded[None].astype(np.int64), axis=0)[0]
        if fprobs is not None
        else confidence
    )
    if settings.grow > 0:
        values = {v for v in range(1, len(names)) if names[v] in settings.object_classes}
        conf_map = _grow_objects(instances, owner, folded, values, settings.grow, fprobs, conf_map)
    objects = _objects(instances, owner, names, conf_map, settings.min_area)
    kept = np.zeros_like(instances)
    for k, obj in enumerate(objects, start=1):
        x, y, w, h = obj.bbox
        kept[y : y + h, x : x + w][obj.mask] = k
    out_map = folded.astype(np.uint8 if len(names) <= 256 else np.uint16)
    return InstanceSplit(out_map, names, relabel_sequential(kept), objects)


def _grow_objects(
    instances: np.ndarray,
    owner: Mapping[int, int],
    folded: np.ndarray,
    object_values: Collection[int],
    steps: int,
    fprobs: np.ndarray | None,
    conf_map: np.ndarray | None,
) -> np.ndarray | None:
    """Grows the objects of the classes ``object_values`` (in place) by ``steps`` px into background
    pixels of the folded class map; a grown pixel's confidence is its object's class probability."""
    lut = np.zeros(int(instances.max()) + 1, np.int64)
    for i, v in owner.items():
        lut[i] = v if v in object_values else 0
    objects = np.where(lut[instances] > 0, instances, 0)
    grown = _grow(objects.copy(), (objects > 0) | ((instances == 0) & (folded == 0)), steps)
    new = (grown > 0) & (instances == 0)
    instances[new] = grown[new]
    if fprobs is None or conf_map is None:
        return conf_map
    out = np.array(conf_map, dtype=np.float32, copy=True)
    out[new] = np.take_along_axis(fprobs, lut[grown][None], axis=0)[0][new]
    return out


def _objects(
    instances: np.ndarray,
    owner: Mapping[int, int],
    names: Sequence[str],
    confidence: np.ndarray | None,
    min_area: int,
) -> list[InstanceObject]:
    out: list[InstanceObject] = []
    n = int(instances.max())
    if n == 0:
        return out
    boxes = _bboxes(instances, n)
    for i in range(1, n + 1):
        if i not in owner or boxes[i] is None:
            continue
        y0, y1, x0, x1 = boxes[i]
        crop = instances[y0:y1, x0:x1] == i
        area = int(crop.sum())
        if area < max(min_area, 1):
            continue
        conf = float(confidence[y0:y1, x0:x1][crop].mean()) if confidence is not None else 1.0
        out.append(InstanceObject(names[owner[i]], (x0, y0, x1 - x0, y1 - y0), crop, round(conf, 4)))
    return out


def _bboxes(instances: np.ndarray, n: int) -> list[tuple[int, int, int, int] | None]:
    """(y0, y1, x0, x1) per id 1..n (index 0 unused), None for an id with no pixel."""
    ys, xs = np.nonzero(instances)
    ids = instances[ys, xs]
    out: list[tuple[int, int, int, int] | None] = [None] * (n + 1)
    if ids.size == 0:
        return out
    order = np.argsort(ids, kind="stable")
    ids, ys, xs = ids[order], ys[order], xs[order]
    starts = np.searchsorted(ids, np.arange(1, n + 2))
    for i in range(1, n + 1):
        a, b = starts[i - 1], starts[i]
        if a < b:
            out[i] = (int(ys[a:b].min()), int(ys[a:b].max()) + 1, int(xs[a:b].min()), int(xs[a:b].max()) + 1)
    return out


def object_shape(
    obj: InstanceObject, *, tolerance: float = 1.0, extra: Mapping[str, Any] | None = None
) -> Shape | None:
    """One Labelme polygon (or mask shape) for an object: the outline of its largest piece."""
    comps = mask_to_components(obj.mask, tolerance=tolerance, min_area=1)
    if not comps:
        return None
    comp = max(comps, key=lambda c: c.area)
    x0, y0 = obj.bbox[:2]
    info = {**dict(extra or {}), "confidence": obj.confidence}
    if comp.needs_mask:
        x, y, w, h = comp.bbox
        points = np.array([[x0 + x, y0 + y], [x0 + x + w - 1, y0 + y + h - 1]], dtype=np.float64)
        return Shape(label=obj.label, points=points, shape_type="mask", mask=comp.mask.copy(), extra=info)
    return Shape(label=obj.label, points=comp.outer + [x0, y0], shape_type="polygon", extra=info)


def split_to_shapes(
    split: InstanceSplit,
    object_classes: Collection[str],
    *,
    tolerance: float = 1.0,
    min_area: float = DEFAULT_MIN_AREA,
    provenance: Mapping[str, Any] | None = None,
    confidence: np.ndarray | None = None,
) -> list[Shape]:
    """Proposal shapes: regions of non-object classes as today, then one shape per object.

    ``confidence`` (HxW) gives the regions their mean confidence (objects carry their own)."""
    regions = class_map_to_shapes(
        split.class_map,
        split.class_names,
        tolerance=tolerance,
        min_area=min_area,
        background=0,
        ignore_value=None,
        confidence=confidence,
        provenance=provenance,
    )
    shapes = [s for s in regions if s.label not in object_classes]
    for obj in split.objects:
        if obj.label in object_classes:
            shape = object_shape(obj, tolerance=tolerance, extra=provenance)
            if shape is not None:
                shapes.append(shape)
    return shapes


def fold_probabilities(
    probabilities: np.ndarray, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(class map, confidence, names) with every boundary class folded into its class: what the
    proposals threshold, clean up and show (a boundary pixel is a pixel of its object)."""
    folded, fprobs, names, _, _ = _fold(np.asarray(probabilities, dtype=np.float32), None, list(class_names))
    assert fprobs is not None
    conf = np.take_along_axis(fprobs, folded[None].astype(np.int64), axis=0)[0]
    cmap = folded.astype(np.uint8 if len(names) <= 256 else np.uint16)
    return cmap, conf.astype(np.float32), names


def learned_object_classes(class_names: Sequence[str], not_objects: Collection[str] = ()) -> frozenset[str]:
    """The classes a model separates into objects: those with a boundary class among ``class_names``,
    less the ones marked as not objects (those stay connected components, boundary folded in)."""
    names = set(class_names)
    return frozenset(
        base_class_name(n)
        for n in class_names
        if is_boundary_class(n) and base_class_name(n) in names and base_class_name(n) not in set(not_objects)
    )


__all__ = [
    "InstanceObject",
    "InstanceSplit",
    "SplitSettings",
    "boundary_class_name",
    "fold_probabilities",
    "learned_object_classes",
    "object_shape",
    "split_instances",
    "split_to_shapes",
]
