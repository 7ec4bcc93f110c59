"""Training data: (image, class map) pairs from memory or a project, and random training patches.

The input normalization (``prepare_image``, ``NORMALIZATION``, ...) lives in the torch-free
``segdesk.ml.normalize`` so that CPU inference on the ONNX export never loads torch; import it from
there.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.utils.data

from segdesk.core.errors import Cancelled, TrainingError
from segdesk.ml.holdout import choose_held_out, kinds_of
from segdesk.ml.normalize import (
    scale_to_unit,
    standardize,
)

if TYPE_CHECKING:
    from segdesk.core.project import ImageEntry, Project

IGNORE_INDEX = 255
#: How ``PatchDataset`` picks the image of each patch (see there).
IMAGE_SAMPLING = ("equal", "area")


# --- training samples -----------------------------------------------------------------------------


@dataclass
class Sample:
    """One training image: ``image`` HxWx3 float32 in [0, 1] (``scale_to_unit``), ``mask`` HxW uint8.

    Class maps are uint8 (OpenCV warps them; 255 = ignore), so a project may have up to 255 classes.
    """

    image: np.ndarray
    mask: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        if self.image.shape[:2] != self.mask.shape:
            raise TrainingError(
                f"{self.name or '<memory>'}: image is {self.image.shape[1]}x{self.image.shape[0]} "
                f"but its class map is {self.mask.shape[1]}x{self.mask.shape[0]}"
            )


def make_sample(image: np.ndarray, class_map: np.ndarray, *, name: str = "") -> Sample:
    """Normalize an image (any dtype/channels) and pair it with its class map (ignore = 255)."""
    cm = np.asarray(class_map)
    if cm.size and (int(cm.min()) < 0 or int(cm.max()) > IGNORE_INDEX):
        raise TrainingError(f"{name or '<memory>'}: class map values must be 0..254 or 255 (ignore)")
    return Sample(scale_to_unit(image), cm.astype(np.uint8), name)


@dataclass
class TrainingSet:
    """Training and validation samples with their class names.

    ``split`` says how validation was chosen: ``"held-out"`` (disjoint images) or ``"all-for-both"``
    (fewer than 3 images: every image trains and validates, so validation is optimistic).
    """

    class_names: list[str]
    train: list[Sample]
    val: list[Sample]
    split: str = "held-out"
    source: str = "<memory>"
    notes: list[str] = field(default_factory=list)
    #: The images the project's current model trained on (its checkpoint's ``images``; empty when
    #: there is none or it does not say): the held-out draw avoids them, and a training image
    #: outside them is new to that model (``new_images``; ``ml/training/promotion.py``).
    known: frozenset[str] = frozenset()

    @property
    def new_images(self) -> list[str]:
        """Training images the current model never trained on (none when ``known`` is empty)."""
        return [s.name for s in self.train if s.name not in self.known] if self.known else []

    @property
    def image_names(self) -> list[str]:
        seen = dict.fromkeys(s.name for s in [*self.train, *self.val])
        return list(seen)

    def classes_present(self) -> np.ndarray:
        """Pixel count per class over all samples (ignore excluded)."""
        counts = np.zeros(len(self.class_names), dtype=np.int64)
        for s in {id(s): s for s in [*self.train, *self.val]}.values():
            m = s.mask[(s.mask >= 0) & (s.mask < len(self.class_names))]
            counts += np.bincount(m.ravel(), minlength=len(self.class_names))
        return counts


def split_samples(
    samples: Sequence[Sample], *, val_fraction: float = 0.2, seed: int = 0, known: Collection[str] = ()
) -> tuple[list[Sample], list[Sample], str]:
    """Hold out ``val_fraction`` of the images (at least 1, and at least 1 trains); with fewer than
    3, use all for both.

    Which ones: a seeded random draw that never takes the last training images of a kind of image
    while another kind has more (``ml/holdout.py``); with one kind, the plain random draw. Images
    named in ``known`` (what the current model trained on) are held out only when the others do
    not suffice: on images it trained on the current model looks better than it is, and a
    retrain's candidate, compared with it there, was refused (DSB dev, docs/benchmarks.md)."""
    samples = list(samples)
    if len(samples) < 3 or val_fraction <= 0:
        return samples, samples, "all-for-both"
    n_val = min(max(1, int(round(len(samples) * val_fraction))), len(samples) - 1)  # one at least trains
    seen = [s.name in known for s in samples]
    val_idx = set(choose_held_out(kinds_of(samples), n_val, seed, seen))
    train = [s for i, s in enumerate(samples) if i not in val_idx]
    val = [s for i, s in enumerate(samples) if i in val_idx]
    return train, val, "held-out"


def training_set_from_arrays(
    images: Sequence[np.ndarray],
    class_maps: Sequence[np.ndarray],
    class_names: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    val_images: Sequence[np.ndarray] | None = None,
    val_class_maps: Sequence[np.ndarray] | None = None,
) -> TrainingSet:
    """A TrainingSet from in-memory pairs; explicit ``val_images`` override the automatic split."""
    if len(images) != len(class_maps):
        raise TrainingError(f"{len(images)} images but {len(class_maps)} class maps")
    names = list(names) if names is not None else [f"image{i}" for i in range(len(images))]
    samples = [make_sample(im, cm, name=n) for im, cm, n in zip(images, class_maps, names, strict=True)]
    if val_images is not None:
        val = [
            make_sample(im, cm, name=f"val{i}")
            for i, (im, cm) in enumerate(zip(val_images, val_class_maps or [], strict=True))
        ]
        return TrainingSet(list(class_names), samples, val, "held-out")
    train, val, split = split_samples(samples, val_fraction=val_fraction, seed=seed)
    return TrainingSet(list(class_names), train, val, split)


def _ignore_unaccepted_proposals(class_map: np.ndarray, document: Any) -> None:
    """Set background pixels under unaccepted proposals to IGNORE_INDEX (in place)."""
    from segdesk.core.rasterize import shape_to_mask

    for shape in document.proposals:
        covered = shape_to_mask(class_map.shape, shape)
        class_map[covered & (class_map == 0)] = IGNORE_INDEX


def training_set_from_project(
    project: Project | str | Path,
    *,
    class_names: Sequence[str] | None = None,
    entries: Sequence[ImageEntry] | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    cancel: Any = None,
    known: Collection[str] = (),
) -> TrainingSet:
    """The REVIEWED images of a project, rasterized; ``__ignore__`` and unknown labels -> 255.

    ``entries``: the images to use (the app passes its plan made at the moment of Retrain);
    default: ``core.training_plan.plan_training(project)`` now (the one rule of what trains). ``cancel`` (``is_set()``) is checked per image.
    ``known``: the images the current model trained on (``split_samples``; kept as ``known``).
    Raises TrainingError when there is no image, Cancelled when cancelled.
    """
    from segdesk.core.image_source import load_image
    from segdesk.core.project import Project
    from segdesk.core.rasterize import document_to_class_map

    if not isinstance(project, Project):
        project = Project(Path(project))
    names = list(class_names) if class_names is not None else list(project.class_names())
    if entries is None:
        from segdesk.core.training_plan import plan_training

        entries = plan_training(project).entries
    entries = list(entries)
    if not entries:
        raise TrainingError(f"{project.root}: no reviewed images to train on; review at least one image")
    samples = []
    for entry in entries:
        if cancel is not None and cancel.is_set():
            raise Cancelled("training cancelled while reading images")
        document = project.load(entry)
        # The image the project lists (beside the JSON), as export and predict use; else imageData.
        image = load_image(document, entry.json_path, image_file=entry.image_path).data
        try:
            # Proposals no person accepted never train the model, even in a reviewed image; their
            # area is ignored rather than taught as background, which the person did not confirm.
            class_map = document_to_class_map(
                document, names, ignore_value=IGNORE_INDEX, include_proposals=False
            )
            _ignore_unaccepted_proposals(class_map, document)
        except ValueError as exc:
            raise TrainingError(f"{entry.json_path}: {exc}") from exc
        if class_map.shape != image.shape[:2]:
            raise TrainingError(
                f"{entry.json_path}: imageHeight x imageWidth {class_map.shape[0]}x{class_map.shape[1]} "
                f"does not match the image {entry.image_path} ({image.shape[0]}x{image.shape[1]})"
            )
        samples.append(make_sample(image, class_map, name=Path(entry.image_path).name))
    train, val, split = split_samples(samples, val_fraction=val_fraction, seed=seed, known=known)
    return TrainingSet(names, train, val, split, source=str(project.root), known=frozenset(known))


# --- random patches -------------------------------------------------------------------------------


class PatchDataset(torch.utils.data.Dataset):
    """``length`` random patches per epoch from samples of any size, as (3,P,P) float, (P,P) long.

    ``image_sampling``: ``"equal"`` (default) draws every image equally often, whatever its size, as
    nnU-Net does: each reviewed image is one example the person chose, and drawing in proportion to
    area let two big images of one kind provide three quarters of the patches while eight smaller
    images of other kinds (other modalities, stains, densities) were rarely seen (DSB 2018: two
    1024 x 1024 brightfield images among 256-696 px fluorescence ones). ``"area"`` draws images in
    proportion to their area (the old rule). With probability
    ``class_crop_p`` the patch is placed around a pixel of a randomly chosen class present in that
    image, so small or sparse classes are seen often. ``transform(image, mask)`` (augmentation,
    including the final crop/pad to the patch size) runs last; then the image is standardized.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
        *,
        patch_size: int,
        length: int,
        class_crop_p: float = 0.5,
        seed: int = 0,
        image_sampling: str = "equal",
    ) -> None:
        if not samples:
            raise TrainingError("no training images")
        if image_sampling not in IMAGE_SAMPLING:
            raise TrainingError(f"image_sampling must be one of {IMAGE_SAMPLING}, got {image_sampling!r}")
        self.samples = list(samples)
        self.transform = transform
        self.patch_size = patch_size
        self.length = length
        self.class_crop_p = class_crop_p
        self.seed = seed
        self.epoch = 0
        if image_sampling == "area":
            areas = np.array([s.mask.size for s in self.samples], dtype=np.float64)
        else:
            areas = np.ones(len(self.samples), dtype=np.float64)
        self.weights = areas / areas.sum()
        self._class_pixels = [self._index_classes(s.mask) for s in self.samples]

    @staticmethod
    def _index_classes(mask: np.ndarray, per_class: int = 4096) -> list[np.ndarray]:
        """A few flat pixel indices of each class in ``mask`` (not ignore), for class-centred crops."""
        rng = np.random.default_rng(0)
        flat = mask.ravel()
        out = []
        for c in np.unique(flat):
            if c == IGNORE_INDEX:
                continue
            idx = np.flatnonzero(flat == c)
            out.append(idx if idx.size <= per_class else rng.choice(idx, per_class, replace=False))
        return out

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        k = int(rng.choice(len(self.samples), p=self.weights))
        sample = self.samples[k]
        image, mask = self._window(sample, self._class_pixels[k], rng)
        image, mask = self.transform(image, mask)
        x = torch.from_numpy(standardize(image))
        y = torch.from_numpy(np.ascontiguousarray(mask).astype(np.int64))
        return x, y

    def _window(
        self, sample: Sample, class_pixels: list[np.ndarray], rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """A patch-sized window (or the whole image when smaller), class-centred or uniform."""
        h, w = sample.mask.shape
        p = self.patch_size
        if h <= p and w <= p:
            return sample.image, sample.mask
        if class_pixels and rng.random() < self.class_crop_p:
            pixels = class_pixels[int(rng.integers(len(class_pixels)))]
            cy, cx = divmod(int(pixels[int(rng.integers(pixels.size))]), w)
            y0 = cy - int(rng.integers(p))
            x0 = cx - int(rng.integers(p))
        else:
            y0 = int(rng.integers(max(h - p, 0) + 1))
            x0 = int(rng.integers(max(w - p, 0) + 1))
        y0 = min(max(y0, 0), max(h - p, 0))
        x0 = min(max(x0, 0), max(w - p, 0))
        return sample.image[y0 : y0 + p, x0 : x0 + p], sample.mask[y0 : y0 + p, x0 : x0 + p]


__all__ = [
    "IGNORE_INDEX",
    "IMAGE_SAMPLING",
    "PatchDataset",
    "Sample",
    "TrainingSet",
    "make_sample",
    "split_samples",
    "training_set_from_arrays",
    "training_set_from_project",
]
