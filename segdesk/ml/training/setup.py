"""What a training run is set up from: the device, the model (new, or a copy of the base with its head
adapted to the project's classes), the seeds, the checked dataset and the patch loader.

``train.fine_tune`` runs the loop; these are its plain, separately testable steps.
"""

from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from segdesk.core.errors import TrainingError
from segdesk.ml.data import PatchDataset, TrainingSet
from segdesk.ml.model import UNet, UNetConfig
from segdesk.ml.rescale import resample_sample
from segdesk.ml.training.augment import apply, build_augmentation
from segdesk.ml.training.schedule import epoch_length

if TYPE_CHECKING:
    from segdesk.ml.training.train import TrainConfig


def resolve_device(device: str = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU (``device.pick_device``); also ``cuda:N``.

    A device that is not available here is a TrainingError, not a silent fallback.
    """
    from segdesk.ml.device import DeviceError, pick_device

    try:
        return pick_device(device)
    except DeviceError as exc:
        raise TrainingError(str(exc)) from exc


def adapt_head(model: UNet, old_classes: Sequence[str], new_classes: Sequence[str]) -> UNet:
    """Make ``model`` predict ``new_classes``: rows of known classes are kept by name, new ones fresh."""
    if list(old_classes) == list(new_classes):
        return model
    old_head = model.head
    model.replace_head(len(new_classes))
    fresh = model.head
    with torch.no_grad():
        for i, name in enumerate(new_classes):
            if name in old_classes:
                j = list(old_classes).index(name)
                fresh.weight[i] = old_head.weight[j]
                fresh.bias[i] = old_head.bias[j]
            elif i < old_head.out_channels:
                # replace_head copied the old row i by position; a new class must not inherit it.
                reinit = torch.nn.Conv2d(fresh.in_channels, 1, 1)
                fresh.weight[i] = reinit.weight[0].to(fresh.weight)
                fresh.bias[i] = reinit.bias[0].to(fresh.bias)
    return model


def check_dataset(dataset: TrainingSet) -> np.ndarray:
    """Pixels per class over the training images; TrainingError when they hold fewer than two classes."""
    if not dataset.train:
        raise TrainingError(f"{dataset.source}: no reviewed images to train on")
    counts = np.zeros(len(dataset.class_names), dtype=np.int64)
    for s in dataset.train:
        m = s.mask[s.mask < len(dataset.class_names)]
        counts += np.bincount(m.ravel(), minlength=len(dataset.class_names))
    present = [n for n, c in zip(dataset.class_names, counts, strict=True) if c > 0]
    if len(present) < 2:
        which = present[0] if present else "no class (everything ignored)"
        raise TrainingError(
            f"{dataset.source}: the reviewed images contain only {which}; "
            "label at least two classes (e.g. background and one object class)"
        )
    return counts


def _prepare_model(
    dataset: TrainingSet, config: TrainConfig, model: UNet | None, model_classes: Sequence[str] | None
) -> UNet:
    n = len(dataset.class_names)
    if model is None:
        cfg = UNetConfig(
            num_classes=n, base_width=config.base_width, depth=config.depth, upsample=config.upsample
        )
        return UNet(cfg)
    model = copy.deepcopy(model)
    old = list(model_classes) if model_classes is not None else None
    if old is None:
        if model.config.num_classes != n:
            model.replace_head(n)
        return model
    return adapt_head(model, old, dataset.class_names)


def _seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def _make_loader(
    dataset: TrainingSet, config: TrainConfig, generator: torch.Generator
) -> tuple[torch.utils.data.DataLoader, PatchDataset]:
    pipeline = build_augmentation(config.patch_size, config.augment, seed=config.seed)
    train = [resample_sample(s, config.scale) for s in dataset.train]
    length = epoch_length(dataclasses.replace(dataset, train=train), config)
    patches = PatchDataset(
        train,
        lambda im, m: apply(pipeline, im, m),
        patch_size=config.patch_size,
        length=length,
        class_crop_p=config.class_crop_p,
        seed=config.seed,
        image_sampling=config.image_sampling,
    )
    loader = torch.utils.data.DataLoader(
        patches,
        batch_size=config.batch_size,
        shuffle=False,
        num_workers=config.num_workers,
        drop_last=True,
        generator=generator,
    )
    return loader, patches
