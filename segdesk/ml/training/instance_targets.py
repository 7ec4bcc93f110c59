"""Instance-aware training sets: the class maps plus one boundary class per object-like class.

The learned instance output is an extra *class* (``<label>::boundary``, see ``core/instances.py``),
so the model, the loss and the training loop are unchanged: the hook into training is only the
training set. ``fine_tune(instance_training_set(...))`` trains a model whose classes include the
boundary classes; ``core.instance_split.split_instances`` turns its output into objects.

Measured against the alternatives in ``tests/benchmarks/bench_instances.py`` and, through the training
service, ``bench_instances_wired.py`` (docs/benchmarks.md). The held-out samples' instance maps travel
with the set (``val_instances``, and a few training samples' in ``train_instances``) so that the split
settings can be calibrated after training.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segdesk.core.instances import (
    class_shape_stats,
    instance_target,
    object_classes,
    shapes_to_instances,
    touching_classes,
    with_boundary_classes,
)
from segdesk.ml.data import Sample, TrainingSet, training_set_from_project

#: Boundary band width in pixels: object pixels this close to another object of their class learn
#: the boundary (measured for the every-outline band: 2 separates touching nuclei and leaves small ones
#: a seed; kept for the contact band, docs/benchmarks.md issue 17).
DEFAULT_BOUNDARY_WIDTH = 2
#: The most images, and pixels in all, whose instance maps travel with the set for the split
#: calibration (it predicts them on the CPU after training and must stay a few seconds).
CALIBRATION_IMAGES = 8
CALIBRATION_PIXELS = 16_000_000


@dataclass
class InstanceTrainingSet(TrainingSet):
    """A training set that knows its object classes: what the saved model's meta records
    (:func:`instance_meta`) so that its proposals are split the same way."""

    object_classes: list[str] = field(default_factory=list)  # object-like (setting over the default)
    boundary_classes: list[str] = field(default_factory=list)  # the ones that learn a boundary
    boundary_width: int = DEFAULT_BOUNDARY_WIDTH
    #: Held-out samples' instance maps, objects of the boundary classes only (0 elsewhere): what the
    #: split settings are calibrated on after training (services/split_calibration.py).
    val_instances: dict[str, np.ndarray] = field(default_factory=dict)
    #: The same for the first training samples (at most CALIBRATION_IMAGES / CALIBRATION_PIXELS with
    #: the held-out ones): the calibration adds them when the held-out images alone are too few.
    train_instances: dict[str, np.ndarray] = field(default_factory=dict)


def instance_meta(dataset: TrainingSet) -> dict[str, Any]:
    """The checkpoint meta of a training set's objects: ``{"instances": {...}}``, or {} when none."""
    if not isinstance(dataset, InstanceTrainingSet) or not dataset.object_classes:
        return {}
    return {
        "instances": {
            "object_classes": sorted(dataset.object_classes),
            "boundary_classes": sorted(dataset.boundary_classes),
            "boundary_width": int(dataset.boundary_width),
        }
    }


def add_boundary_targets(
    dataset: TrainingSet,
    instance_maps: Mapping[str, np.ndarray],
    objects: Iterable[str],
    *,
    width: int = DEFAULT_BOUNDARY_WIDTH,
) -> TrainingSet:
    """A copy of ``dataset`` whose class maps carry the boundary class of every class in ``objects``.

    ``instance_maps`` maps a sample name to its instance map (same size as the sample); a sample
    without one keeps its class map (no boundary is taught there).
    """
    names, mapping = with_boundary_classes(dataset.class_names, objects)
    cache: dict[int, Sample] = {}

    def convert(sample: Sample) -> Sample:
        if id(sample) not in cache:
            ins = instance_maps.get(sample.name)
            mask = sample.mask
            if ins is not None and mapping:
                mask = instance_target(sample.mask, ins, mapping, width=width).astype(np.uint8)
            cache[id(sample)] = Sample(sample.image, mask, sample.name)
        return cache[id(sample)]

    # The calibration's instance maps: held-out samples first, then training ones, within the budget
    # (the first image always fits; a later one too large for the pixels left is passed over).
    travelling: list[dict[str, np.ndarray]] = [{}, {}]
    images, pixels = 0, 0
    for part, samples in enumerate((dataset.val, dataset.train) if mapping else ()):
        for s in samples:
            if images == CALIBRATION_IMAGES:
                break
            if s.name not in instance_maps or np.shape(instance_maps[s.name]) != s.mask.shape:
                continue
            if images and pixels + s.mask.size > CALIBRATION_PIXELS:
                continue
            travelling[part][s.name] = np.where(
                np.isin(s.mask, list(mapping)), instance_maps[s.name], 0
            ).astype(np.int32)
            images, pixels = images + 1, pixels + s.mask.size
    val_instances, train_instances = travelling
    notes = list(dataset.notes)
    if mapping:
        notes.append(f"instance boundary classes: {sorted(names[v] for v in mapping.values())}")
    return InstanceTrainingSet(
        names,
        [convert(s) for s in dataset.train],
        [convert(s) for s in dataset.val],
        dataset.split,
        dataset.source,
        notes,
        dataset.known,
        boundary_classes=[names[v] for v in mapping.values()],
        boundary_width=width,
        val_instances=val_instances,
        train_instances=train_instances,
    )


def instance_training_set_from_project(
    project: Any,
    *,
    object_setting: Mapping[str, bool] | None = None,
    width: int = DEFAULT_BOUNDARY_WIDTH,
    **kwargs: Any,
) -> tuple[TrainingSet, set[str]]:
    """The project's training set with boundary classes, and the object-like classes it used.

    Objects come from the reviewed shapes (each shape one object, shapes sharing a group_id one
    object in parts); which classes are objects: ``object_setting`` over the default from the data.
    Only object classes whose objects touch in the reviewed images get a boundary class (objects
    that never touch, like ISBI's cell interiors between membranes, are split by their components,
    and the semantic task stays as it was).
    """
    from segdesk.core.errors import Cancelled
    from segdesk.core.project import Project

    if not isinstance(project, Project):
        project = Project(Path(project))
    dataset = training_set_from_project(project, **kwargs)
    # the sizes the samples were rasterized at (a file's recorded size may be missing)
    sizes = {s.name: tuple(s.mask.shape[:2]) for s in [*dataset.train, *dataset.val]}
    entries = kwargs.get("entries") or list(project.reviewed_entries())
    cancel = kwargs.get("cancel")
    docs = []
    for entry in entries:
        if cancel is not None and cancel.is_set():
            raise Cancelled("training cancelled while reading images")
        name = Path(entry.image_path).name
        if name not in sizes:
            continue
        shapes = [s for s in project.load(entry).shapes if not s.is_proposal]
        docs.append((name, sizes[name], shapes))
    chosen = object_classes(class_shape_stats((size, shapes) for _, size, shapes in docs), object_setting)
    chosen &= set(dataset.class_names[1:])
    maps = {name: shapes_to_instances(size, shapes, dataset.class_names) for name, size, shapes in docs}
    touching = touching_classes(maps.values(), {dataset.class_names.index(label) for label in chosen})
    learned = sorted(dataset.class_names[v] for v in touching)
    instance_maps = {name: ins for name, (_, ins) in maps.items()}
    out = add_boundary_targets(dataset, instance_maps, learned, width=width)
    out.object_classes = sorted(chosen)
    return out, chosen


def instance_training_set(root: str | Path, **kwargs: Any) -> InstanceTrainingSet:
    """The training service's training set (``kwargs`` as ``training_set_from_project``): boundary
    classes for the object classes whose reviewed objects touch, which classes are objects from the
    project's setting (``core/instance_settings.py``) over the default from the data. A project
    whose objects never touch gets exactly the plain training set (same classes, same maps)."""
    from segdesk.core.instance_settings import read_object_setting

    dataset, _ = instance_training_set_from_project(
        Path(root), object_setting=read_object_setting(root), **kwargs
    )
    assert isinstance(dataset, InstanceTrainingSet)
    return dataset


def targets_from_instance_maps(
    class_maps: Sequence[np.ndarray],
    instance_maps: Sequence[np.ndarray],
    class_names: Sequence[str],
    objects: Iterable[str],
    *,
    width: int = DEFAULT_BOUNDARY_WIDTH,
) -> tuple[list[np.ndarray], list[str]]:
    """(training class maps with boundary classes, class names) for in-memory data."""
    names, mapping = with_boundary_classes(class_names, objects)
    maps = [
        instance_target(c, i, mapping, width=width).astype(np.uint8)
        for c, i in zip(class_maps, instance_maps, strict=True)
    ]
    return maps, names


__all__ = [
    "CALIBRATION_IMAGES",
    "CALIBRATION_PIXELS",
    "DEFAULT_BOUNDARY_WIDTH",
    "InstanceTrainingSet",
    "add_boundary_targets",
    "instance_meta",
    "instance_training_set",
    "instance_training_set_from_project",
    "targets_from_instance_maps",
]
