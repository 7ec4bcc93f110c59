"""Tiny models and images for the inference tests (built in the test, no files, a second or two)."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

from segdesk.ml.model import UNet, UNetConfig
from segdesk.ml.normalize import prepare_image

CLASSES = ["_background_", "cell"]


def blob_image(
    height: int, width: int, *, seed: int = 0, count: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A grey uint8 image of bright discs on a noisy dark background, and its class map."""
    rng = np.random.default_rng(seed)
    cm = np.zeros((height, width), np.uint8)
    n = count if count is not None else max(2, height * width // 900)
    for _ in range(n):
        r = int(rng.integers(5, 12))
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.circle(cm, (cx, cy), r, 1, -1)
    img = np.where(cm > 0, 170, 60).astype(np.float32) + rng.normal(0, 12, cm.shape)
    return np.clip(img, 0, 255).astype(np.uint8), cm


@functools.cache
def trained_tiny_model(steps: int = 60) -> UNet:
    """A base-width-4, depth-2 UNet that has learned to find the discs (a few hundred ms)."""
    torch.manual_seed(0)
    net = UNet(UNetConfig(base_width=4, depth=2, num_classes=2))
    imgs, cms = zip(*(blob_image(64, 64, seed=s) for s in range(4)), strict=True)
    x = torch.from_numpy(np.stack([prepare_image(i) for i in imgs]))
    y = torch.from_numpy(np.stack(cms).astype(np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=0.03)
    net.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    return net.eval()


def fresh_copy(net: UNet) -> UNet:
    """A copy the test may hand to a Predictor (which moves and keeps its model)."""
    out = UNet(net.config)
    out.load_state_dict(net.state_dict())
    return out.eval()
