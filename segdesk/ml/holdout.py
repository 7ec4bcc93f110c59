"""Which reviewed images are held out for validation: never the last training images of their kind.

With a handful of reviewed images the held-out ones (model selection, the promotion check) are
images the model never trains on. Drawn at random, they can be the only stained slide, or the only
brightfield image, of a project that mixes kinds: the model then meets that kind for the first time
at prediction. On DSB 2018 dev (10 reviewed images: 6 dark-ground fluorescence, 2 stained, 2
brightfield) one seed in two held out one of the two stained images, and its proposals on the
stained test images suffered for it (docs/benchmarks.md, issue 17).

So the held-out images are drawn in the seeded random order as before, but an image is taken only
while its kind has the most training images left among all kinds: the common kinds give up their
images first and no kind loses its last ones while another kind has more. A project of one kind
(ISBI's EM sections, most single-modality projects) gets exactly the draw of plain random order.

An image's kind (:func:`image_kind`) is read from its normalized pixels and its class map: colour
or grey, bright ground (transmitted light) or dark, and the scale of its objects (median area of
the connected regions of its labelled classes, in factors of 4).

The price: model selection and the promotion check then look at the common kinds only (on DSB dev,
two sparse fluorescence images, which a threshold suits: hence the promotion check's 0.10 tolerance,
``ml/training/promotion.py``). Measured on DSB dev it kept the semantic result (3 seeds) and raised
the instance one (docs/benchmarks.md, issues 16 and 17 in session 10).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

import cv2
import numpy as np

from segdesk.ml.normalize import bright_ground

#: Mean absolute difference between channels (image scaled to [0, 1]) above which an image is colour.
COLOUR_SPREAD = 0.02
#: Object scale bins: median object area in powers of this factor.
SCALE_FACTOR = 4.0
#: Pixels looked at per image (a regular stride): the kind is a coarse statistic.
MAX_PIXELS = 65_536


def image_kind(image: np.ndarray, class_map: np.ndarray, ignore: int = 255) -> tuple[Hashable, ...]:
    """(colour?, bright ground?, object scale bin or None) of a normalized image and its class map."""
    img = np.asarray(image, dtype=np.float32)
    step = max(1, int(math.ceil(math.sqrt(img.shape[0] * img.shape[1] / MAX_PIXELS))))
    flat = img[::step, ::step].reshape(-1, img.shape[2] if img.ndim == 3 else 1)
    flat = flat[np.isfinite(flat).all(axis=1)]
    colour = bool(
        flat.shape[1] >= 3
        and flat.shape[0] > 0
        and float(np.mean(np.abs(flat[:, 0] - flat[:, 1]) + np.abs(flat[:, 1] - flat[:, 2]))) / 2
        > COLOUR_SPREAD
    )
    bright = bright_ground(flat)  # the white balance's rule for transmitted light
    return colour, bright, _scale_bin(np.asarray(class_map), ignore)


def _scale_bin(class_map: np.ndarray, ignore: int) -> int | None:
    areas: list[int] = []
    present = np.nonzero(np.bincount(class_map.ravel().astype(np.int64, copy=False)))[0]
    for value in present:
        if value == 0 or value == ignore:
            continue
        _, _, stats, _ = cv2.connectedComponentsWithStats(
            (class_map == value).astype(np.uint8), connectivity=8
        )
        areas.extend(int(a) for a in stats[1:, cv2.CC_STAT_AREA])
    if not areas:
        return None
    return int(round(math.log(max(float(np.median(areas)), 1.0), SCALE_FACTOR)))


def choose_held_out(
    kinds: Sequence[Hashable], n_val: int, seed: int = 0, seen: Sequence[bool] | None = None
) -> list[int]:
    """Indices of ``n_val`` held-out images among images of ``kinds``, in the seeded random order,
    each taken only while its kind has the most training images left (see the module doc).

    ``seen``: which images the current model trained on. Among the images the kind rule allows, one
    it never saw is taken first, so that the candidate and the current model are compared on
    images neither trained on (see ``split_samples``); with none seen, the draw is as before.
    """
    order = list(range(len(kinds)))
    random.Random(seed).shuffle(order)
    seen = list(seen) if seen is not None else [False] * len(kinds)
    left = Counter(kinds)
    chosen: list[int] = []
    while len(chosen) < min(n_val, len(kinds)):
        most = max(left.values())
        allowed = [i for i in order if i not in chosen and left[kinds[i]] == most]
        i = next((i for i in allowed if not seen[i]), allowed[0])
        chosen.append(i)
        left[kinds[i]] -= 1
    return chosen


def kinds_of(samples: Sequence[Any]) -> list[tuple[Hashable, ...]]:
    """:func:`image_kind` of each training sample (``.image`` normalized, ``.mask`` its class map)."""
    return [image_kind(s.image, s.mask) for s in samples]


__all__ = ["choose_held_out", "image_kind", "kinds_of"]
