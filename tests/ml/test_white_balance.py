"""The normalization's white balance: a tinted bright ground becomes neutral, grey data is untouched,
and a model of an earlier segdesk (no white balance) is predicted exactly as it was trained."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segdesk.core.errors import ModelError
from segdesk.ml.inference.infer import Predictor, whole_image_range
from segdesk.ml.model import UNet, UNetConfig
from segdesk.ml.normalize import (
    LEGACY_NORMALIZATION,
    NORMALIZATION,
    check_normalization,
    intensity_range,
    prepare_image,
    scale_to_unit,
    white_balance_of,
)


def _lavender_slide(h: int = 80, w: int = 96) -> np.ndarray:
    """A flat lavender ground (R 208, G 158, B 178: the tint of a stained slide) with three dark purple
    nuclei, 8-bit RGB, with a little noise."""
    rng = np.random.default_rng(0)
    img = np.empty((h, w, 3), np.float32)
    img[:] = (208, 158, 178)
    yy, xx = np.mgrid[:h, :w]
    for cy, cx in ((20, 20), (50, 60), (65, 25)):
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 36] = (120, 70, 150)
    img += rng.normal(0, 2, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_a_tinted_ground_becomes_neutral_and_the_nuclei_keep_their_colour():
    img = _lavender_slide()
    vr = intensity_range(img)
    assert len(vr) == 5 and vr[2:] == pytest.approx((1.0, 208 / 158, 208 / 178), rel=0.02)
    unit = scale_to_unit(img, vr)
    ground = np.median(unit[:8, 40:56].reshape(-1, 3), axis=0)
    assert ground.max() - ground.min() < 0.03  # neutral
    legacy = scale_to_unit(img, intensity_range(img, white_balance=False))
    g_legacy = np.median(legacy[:8, 40:56].reshape(-1, 3), axis=0)
    assert g_legacy.max() - g_legacy.min() > 0.3  # before: a strongly tinted ground
    nucleus = unit[50, 60]
    assert nucleus[2] > nucleus[1] + 0.2  # still purple, and darker than the ground
    assert nucleus.mean() < ground.mean() - 0.2


def test_grey_images_are_normalized_exactly_as_before():
    rng = np.random.default_rng(1)
    for img in (rng.integers(0, 4096, (40, 50)).astype(np.uint16), rng.random((30, 20)).astype(np.float32)):
        vr = intensity_range(img)
        assert len(vr) == 2 and vr == intensity_range(img, white_balance=False)
        np.testing.assert_array_equal(prepare_image(img), prepare_image(img, vr))


def test_gains_are_capped_and_a_dark_ground_gets_none():
    rng = np.random.default_rng(2)
    bright = np.empty((40, 40, 3), np.uint8)
    bright[...] = (230, 50, 220)  # a deep magenta ground: green would need a gain of 4.6
    bright[..., 0] += rng.integers(0, 4, (40, 40), dtype=np.uint8)
    vr = intensity_range(bright)
    assert len(vr) == 5 and vr[2] == 1.0 and vr[3] == NORMALIZATION["white_balance"]["max_gain"]
    assert vr[4] == pytest.approx(231 / 220, rel=0.01)
    # fluorescence: a dark ground with bright coloured objects: its median is the noise floor
    dark = rng.integers(0, 6, (60, 60, 3)).astype(np.uint8)
    dark[10:30, 10:30] = (250, 40, 90)
    dark[35:50, 30:55] = (30, 220, 60)
    assert len(intensity_range(dark)) == 2


def test_a_tile_with_the_whole_image_range_matches_the_whole_image():
    img = _lavender_slide(120, 140)
    vr = whole_image_range(img)
    assert len(vr) == 5
    np.testing.assert_allclose(
        prepare_image(img[30:90, 40:120], vr), prepare_image(img)[:, 30:90, 40:120], atol=1e-6
    )


def test_legacy_checkpoints_are_read_and_predicted_without_the_white_balance():
    check_normalization(dict(LEGACY_NORMALIZATION))
    check_normalization(dict(NORMALIZATION))
    with pytest.raises(ModelError):
        check_normalization({**NORMALIZATION, "white_balance": {"percentile": 99.0, "max_gain": 2.0}})
    assert white_balance_of(None) and white_balance_of(NORMALIZATION)
    assert not white_balance_of(LEGACY_NORMALIZATION)

    torch.manual_seed(0)
    net = UNet(UNetConfig(in_channels=3, num_classes=2, base_width=4, depth=2)).eval()
    img = _lavender_slide()
    meta = {"classes": ["_background_", "nucleus"]}
    new = Predictor(net, {**meta, "normalization": dict(NORMALIZATION)}, device="cpu", backend="torch")
    old = Predictor(net, {**meta, "normalization": dict(LEGACY_NORMALIZATION)}, device="cpu", backend="torch")
    assert new.white_balance and not old.white_balance
    p_new = new.predict(img, return_probabilities=True).probabilities
    p_old = old.predict(img, return_probabilities=True).probabilities
    with torch.no_grad():
        for p, wb in ((p_new, True), (p_old, False)):
            x = torch.from_numpy(prepare_image(img, intensity_range(img, white_balance=wb))[None])
            want = net(x).softmax(1)[0].numpy()
            np.testing.assert_allclose(p, want, atol=2e-3)
    assert not np.allclose(p_new, p_old, atol=1e-3)
