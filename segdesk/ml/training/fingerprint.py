"""A fingerprint of the reviewed data: what the training plan (``plan.py``) is derived from.

Measured on a ``TrainingSet`` (the images as training sees them: HxWx3 float in [0, 1] and uint8
class maps), so the app and the CLI measure exactly what they train on. Object sizes come from the
class maps: each connected region of a class is an object (touching Labelme shapes of one class
merge, which does not change their *width*), and an object's size is its **inscribed diameter**
(twice the largest distance from a pixel of the object to its border). That is the diameter of a
round nucleus and the thickness of a membrane, so a network of thin membranes is "small" (it must
not be downsampled) while big blobs are "large" (they can be, as Cellpose does with its diameter).

The classes are the ones a person drew: an instance project's derived ``<label>::boundary`` classes
(issue 17) are folded back into their class before measuring (``core.instances.fold_boundary_mask``,
as the held-out metrics fold them), so a 2-px outline band is neither the "typical object" that sets
the scale nor a "rare" or "thin" class that changes the sampling and the loss weights.

Torch-free (numpy + OpenCV): cheap enough to run before every training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from segdesk.core.errors import TrainingError
from segdesk.core.instances import fold_boundary_mask, folded_class_names

IGNORE = 255
#: An object whose area is more than this many times its inscribed diameter squared is elongated
#: (a disk is ~0.8, a line of width d and length 40 d is ~40).
ELONGATED_RATIO = 8.0


@dataclass
class ClassStats:
    """One class over the training images. Sizes in pixels at the images' own resolution."""

    name: str
    pixel_fraction: float  # of the labelled (not ignored) pixels
    objects: int  # connected regions
    median_diameter: float  # median inscribed diameter of its objects (0 when none)
    p10_diameter: float  # the small end
    median_area: float
    elongated: bool  # a thin structure (membranes, vessels, rods)


@dataclass
class Fingerprint:
    images: int
    median_height: int
    median_width: int
    min_side: int
    grey: bool  # every image has three equal channels
    mean: list[float]  # per channel, of the [0, 1] images
    std: list[float]
    classes: list[ClassStats] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def foreground(self) -> list[ClassStats]:
        """The classes whose objects matter for the scale: every class but the first (background)."""
        return [c for c in self.classes[1:] if c.objects > 0]


def object_diameters(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inscribed diameter and area of each connected region of a boolean ``mask`` (8-connected)."""
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    n, labels = cv2.connectedComponents(m, connectivity=8)
    if n <= 1:
        return np.zeros(0), np.zeros(0)
    # Distance to the nearest non-object pixel; the image border counts as a border too.
    padded = np.pad(m, 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    peak = np.zeros(n, dtype=np.float64)
    np.maximum.at(peak, labels.ravel(), dist.ravel())
    area = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
    return 2.0 * peak[1:], area[1:]


def measure(samples: Sequence[Any], class_names: Sequence[str]) -> Fingerprint:
    """The fingerprint of ``samples`` (objects with ``.image`` HxWx3 in [0, 1] and ``.mask``), over
    the drawn classes: ``::boundary`` classes folded into their class (``classes`` then has fewer
    entries than ``class_names``)."""
    samples = list(samples)
    if not samples:
        raise TrainingError("no reviewed images to measure")
    masks = [fold_boundary_mask(s.mask, class_names) for s in samples]
    class_names = folded_class_names(class_names)
    heights = [m.shape[0] for m in masks]
    widths = [m.shape[1] for m in masks]
    grey = all(
        np.allclose(s.image[::4, ::4, 0], s.image[::4, ::4, 1])
        and np.allclose(s.image[::4, ::4, 0], s.image[::4, ::4, 2])
        for s in samples
    )
    pixels = np.concatenate([s.image[::4, ::4].reshape(-1, 3) for s in samples])
    n = len(class_names)
    counts = np.zeros(n, dtype=np.int64)
    diameters: list[list[np.ndarray]] = [[] for _ in range(n)]
    areas: list[list[np.ndarray]] = [[] for _ in range(n)]
    for mask in masks:
        counts += np.bincount(mask[mask != IGNORE].ravel(), minlength=n)[:n]
        for c in np.unique(mask):
            if c == IGNORE or c >= n:
                continue
            d, a = object_diameters(mask == c)
            diameters[c].append(d)
            areas[c].append(a)
    total = max(int(counts.sum()), 1)
    classes = [
        _class_stats(name, counts[i] / total, diameters[i], areas[i]) for i, name in enumerate(class_names)
    ]
    return Fingerprint(
        images=len(samples),
        median_height=int(np.median(heights)),
        median_width=int(np.median(widths)),
        min_side=int(min(min(heights), min(widths))),
        grey=bool(grey),
        mean=[round(float(v), 4) for v in pixels.mean(0)],
        std=[round(float(v), 4) for v in pixels.std(0)],
        classes=classes,
    )


def _class_stats(
    name: str, fraction: float, diameters: list[np.ndarray], areas: list[np.ndarray]
) -> ClassStats:
    d = np.concatenate(diameters) if diameters else np.zeros(0)
    a = np.concatenate(areas) if areas else np.zeros(0)
    # Specks of a few pixels (label slips, the corner of a neighbour cut by the image border) would
    # drag the median down; objects under 1% of the median area do not count when others exist.
    if a.size > 1:
        keep = a >= 0.01 * np.median(a)
        d, a = d[keep], a[keep]
    if d.size == 0:
        return ClassStats(name, round(float(fraction), 5), 0, 0.0, 0.0, 0.0, False)
    med_d = float(np.median(d))
    med_a = float(np.median(a))
    return ClassStats(
        name=name,
        pixel_fraction=round(float(fraction), 5),
        objects=int(d.size),
        median_diameter=round(med_d, 2),
        p10_diameter=round(float(np.percentile(d, 10)), 2),
        median_area=round(med_a, 1),
        elongated=bool(med_a > ELONGATED_RATIO * max(med_d, 1.0) ** 2),
    )


__all__ = ["ClassStats", "Fingerprint", "measure", "object_diameters"]
