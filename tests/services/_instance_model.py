"""A project of touching discs whose current model has a boundary class (issue 17), for the app-path tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from segdesk.ml.checkpoint import ModelStore
from segdesk.ml.inference.export import cached_onnx
from segdesk.ml.model import UNet, UNetConfig
from segdesk.ml.normalize import prepare_image
from segdesk.ml.training.instance_targets import targets_from_instance_maps
from tests.services.test_instance_training import disc_pairs


def instance_model_project(root: Path, *, steps: int = 150) -> Path:
    """``img_0..2.png`` (two pairs of touching discs each, unlabeled), labels.txt ``cell``, and v1: a
    small UNet trained on the boundary targets (background / cell / cell::boundary), with its ONNX
    export as training leaves it. About 10-20 s on a busy 2-core machine."""
    root.mkdir(parents=True, exist_ok=True)
    maps = [disc_pairs(s) for s in range(3)]
    images = [np.where(m > 0, 170, 60).astype(np.uint8) for m in maps]
    for i, image in enumerate(images):
        cv2.imwrite(str(root / f"img_{i}.png"), image)
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\n", encoding="utf-8")
    classes = ["_background_", "cell"]
    targets, names = targets_from_instance_maps(
        [(m > 0).astype(np.uint8) for m in maps], maps, classes, ["cell"]
    )
    torch.manual_seed(0)
    net = UNet(UNetConfig(base_width=8, depth=2, num_classes=len(names)))
    x = torch.from_numpy(np.stack([prepare_image(i) for i in images]))
    y = torch.from_numpy(np.stack(targets).astype(np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    meta = {"classes": names, "instances": {"object_classes": ["cell"], "boundary_classes": names[2:]}}
    store = ModelStore(root)
    version = store.add_version(net.eval(), meta)
    cached_onnx(store.path(version))
    return root
