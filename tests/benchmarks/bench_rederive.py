"""What a changed threshold / minimum area / simplification costs: re-deriving proposals from the kept
prediction (``services.proposals.derive_shapes``, on the GUI thread) against running the model again.

A plain script, not collected by pytest:

    .venv/bin/python tests/benchmarks/bench_rederive.py [--sizes 512 2048 4096] [--repeat 5]

The "prediction" is synthetic (discs of two classes with a confidence ramp), so the figures are those
of the clean-up and vectorization steps alone; the last line per size times the uncertainty score
(``core/uncertainty.py``) that ``segdesk predict`` prints and the app's batch ranks by.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from segdesk.core.uncertainty import doubt_near_objects
from segdesk.services.proposals import ProposalSettings, derive_shapes


def synthetic_prediction(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cm = np.zeros((size, size), np.uint8)
    for _ in range(size * size // 2500):
        cx, cy = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(6, 20))
        cv2.circle(cm, (cx, cy), r, int(rng.integers(1, 3)), -1)
    conf = np.clip(rng.normal(0.8, 0.15, cm.shape), 0.34, 1.0).astype(np.float32)
    return cm, conf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 4096])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    names = ["_background_", "cell", "nucleus"]
    for size in args.sizes:
        cm, conf = synthetic_prediction(size)
        for label, settings in (
            ("defaults", ProposalSettings()),
            ("threshold 0.9", ProposalSettings(threshold=0.9)),
            ("min area 400", ProposalSettings(min_area=400)),
        ):
            times, count = [], 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                count = len(derive_shapes(cm, conf, names, settings, model_version="v1"))
                times.append(time.perf_counter() - t0)
            print(
                f"{size}x{size} {label:14s}: {statistics.median(times) * 1000:7.1f} ms median, {count} shapes"
            )
        times = []
        for _ in range(args.repeat):  # the uncertainty "Next most uncertain" ranks by (per image)
            t0 = time.perf_counter()
            doubt_near_objects(cm, conf)
            times.append(time.perf_counter() - t0)
        print(f"{size}x{size} {'uncertainty':14s}: {statistics.median(times) * 1000:7.1f} ms median")


if __name__ == "__main__":
    main()
