"""What the white balance adds to the normalization's whole-image statistics (issue 16; a plain script).

``Predictor`` measures ``whole_image_range`` once per image before its tiles; a model trained with the
white balance also measures the channel gains there. Times it with and without, on generated bright-
ground colour images (a tinted slide with dark nuclei) and a grey one, median of ``--repeat`` calls.
Also what choosing the held-out images by kind costs per reviewed image when a training set is built
(``ml/holdout.image_kind`` on the normalized image and its class map).

    .venv/bin/python tests/benchmarks/bench_normalize.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from segdesk.ml.holdout import image_kind
from segdesk.ml.inference.infer import whole_image_range
from segdesk.ml.normalize import scale_to_unit


def slide(h: int, w: int, *, grey: bool = False) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (208, 158, 178)
    yy, xx = rng.integers(0, h, 400), rng.integers(0, w, 400)
    for y, x in zip(yy, xx, strict=True):
        img[max(0, y - 6) : y + 6, max(0, x - 6) : x + 6] = (120, 70, 150)
    img = np.clip(img + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    return img[..., 0].copy() if grey else img


def ms(image: np.ndarray, white_balance: bool, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        whole_image_range(image, white_balance=white_balance)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def kind_ms(image: np.ndarray, repeat: int) -> float:
    unit = scale_to_unit(image)
    class_map = (unit.mean(axis=2) < 0.6).astype(np.uint8)  # the dark nuclei
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        image_kind(unit, class_map)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.2f}")
    for h, w, grey in ((1024, 1024, False), (4000, 4000, False), (4000, 4000, True)):
        image = slide(h, w, grey=grey)
        off, on = ms(image, False, args.repeat), ms(image, True, args.repeat)
        kind = "grey" if grey else "colour"
        print(f"{h}x{w} {kind}: without {off:.1f} ms, with the white balance {on:.1f} ms (+{on - off:.1f})")
        print(
            f"{h}x{w} {kind}: image_kind (held-out choice, per training image) {kind_ms(image, args.repeat):.1f} ms"
        )


if __name__ == "__main__":
    main()
