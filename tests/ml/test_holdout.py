"""Held-out images never take the last training images of their kind (ml/holdout.py)."""

from __future__ import annotations

import random

import numpy as np

from segdesk.ml.data import make_sample, split_samples
from segdesk.ml.holdout import choose_held_out, image_kind


def _grey_fluorescence(seed: int, radius: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Dark ground, bright grey discs (fluorescence), and their class map."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 20, (96, 96)).astype(np.uint8)
    cm = np.zeros((96, 96), np.uint8)
    yy, xx = np.mgrid[:96, :96]
    for cy in range(12, 96, 24):
        for cx in range(12, 96, 24):
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
            img[disc] = 200
            cm[disc] = 1
    return img, cm


def _stained(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """White ground, purple discs (a stained slide)."""
    grey, cm = _grey_fluorescence(seed)
    img = np.full((96, 96, 3), 235, np.uint8)
    img[cm == 1] = (120, 60, 150)
    img = (img.astype(np.int16) + (grey[..., None] % 7)).clip(0, 255).astype(np.uint8)
    return img, cm


def test_kind_tells_colour_ground_and_object_scale_apart():
    fluo = make_sample(*_grey_fluorescence(0))
    stain = make_sample(*_stained(0))
    big = make_sample(*_grey_fluorescence(0, radius=8))  # 4x the area per object
    k_fluo, k_stain, k_big = (image_kind(s.image, s.mask) for s in (fluo, stain, big))
    assert k_fluo[:2] == (False, False)  # grey, dark ground
    assert k_stain[:2] == (True, True)  # colour, bright ground
    assert k_big[:2] == k_fluo[:2] and k_big[2] == k_fluo[2] + 1
    empty = make_sample(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8))
    assert image_kind(empty.image, empty.mask)[2] is None  # no object: no scale


def test_one_kind_gets_the_plain_random_draw():
    for seed in range(5):
        order = list(range(10))
        random.Random(seed).shuffle(order)
        assert choose_held_out(["a"] * 10, 2, seed) == order[:2]


def test_no_kind_loses_its_last_training_images():
    kinds = ["fluo"] * 6 + ["stain"] * 2 + ["bright"] * 2
    for seed in range(30):
        held = choose_held_out(kinds, 2, seed)
        assert len(set(held)) == 2 and all(kinds[i] == "fluo" for i in held)
    # every kind down to one training image before any gives up its last one
    kinds = ["a"] * 3 + ["b"] * 2 + ["c"]
    for seed in range(30):
        held = choose_held_out(kinds, 3, seed)
        left = [k for i, k in enumerate(kinds) if i not in held]
        assert sorted(left) == ["a", "b", "c"]


def test_split_keeps_the_rare_stained_images_training():
    samples = [make_sample(*_grey_fluorescence(i), name=f"fluo{i}.png") for i in range(6)]
    samples += [make_sample(*_stained(i), name=f"stain{i}.png") for i in range(2)]
    for seed in range(10):
        train, val, split = split_samples(samples, val_fraction=0.25, seed=seed)
        assert split == "held-out" and len(val) == 2
        assert {s.name for s in train} >= {"stain0.png", "stain1.png"}


def test_images_the_current_model_trained_on_are_held_out_last():
    kinds = ["fluo"] * 6 + ["stain"] * 2
    seen = [True] * 3 + [False] * 5  # the current model trained on the first three
    for seed in range(20):
        held = choose_held_out(kinds, 2, seed, seen)
        assert all(not seen[i] and kinds[i] == "fluo" for i in held), (seed, held)
    assert choose_held_out(kinds, 2, 3, [False] * 8) == choose_held_out(kinds, 2, 3)  # none seen: as before
    # too few unseen images of the kind the rule allows: a seen one is held out rather than a last stain
    for seed in range(10):
        held = choose_held_out(kinds, 2, seed, [True] * 5 + [False] * 3)  # one unseen fluo image: 5
        assert 5 in held and all(kinds[i] == "fluo" for i in held), (seed, held)
    held = choose_held_out(kinds, 3, 0, [True] * 6 + [False] * 2)
    assert len(held) == 3 and all(kinds[i] == "fluo" for i in held)


def test_split_holds_out_what_the_current_model_never_saw():
    samples = [make_sample(*_grey_fluorescence(i), name=f"fluo{i}.png") for i in range(10)]
    known = {f"fluo{i}.png" for i in range(7)}
    for seed in range(10):
        _, val, _ = split_samples(samples, val_fraction=0.2, seed=seed, known=known)
        assert not {s.name for s in val} & known, seed
