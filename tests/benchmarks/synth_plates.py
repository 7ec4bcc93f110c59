"""Generated inspection photos for the engine benchmark (a plain module, not collected by pytest).

The kind of data an inspection engineer brings, unlike every other set here: large grey 8-bit photos
of brushed metal (streaks along one axis, uneven lighting, sensor noise) with rare defects: thin
scratches (2-3 px wide, 60-350 px long, a little curved) and small pits (ellipses 6-18 px across),
together well under 0.5% of the pixels, and some plates with no defect at all. What goes wrong here
is not the defects' outline but false alarms on the texture: a dark streak looks like a faint
scratch (scratches are drawn 55-80 grey levels dark, beyond the streaks' darkest, so that the truth
itself is not ambiguous).
Classes: 0 background, 1 scratch, 2 pit.
"""

from __future__ import annotations

import cv2
import numpy as np


def synth_plate(
    rng: np.random.Generator, h: int = 1200, w: int = 1600, *, defects: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(8-bit grey image, uint8 class map) of one generated plate; ``defects=False``: a clean one."""
    noise = rng.normal(0, 1, (h, w)).astype(np.float32)
    streaks = cv2.GaussianBlur(noise, (0, 0), sigmaX=25, sigmaY=0.8)
    img = 140 + streaks / streaks.std() * 10
    img += np.linspace(-20, 20, w)[None, :] * rng.uniform(-1, 1) + np.linspace(-15, 15, h)[
        :, None
    ] * rng.uniform(-1, 1)
    img += rng.normal(0, 4, (h, w))
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 4)) if defects else 0):
        x, y = int(rng.integers(100, w - 100)), int(rng.integers(100, h - 100))
        length, angle = float(rng.integers(60, 350)), float(rng.uniform(0, np.pi))
        points = [(x, y)]
        for _ in range(6):
            angle += float(rng.normal(0, 0.15))
            x = int(np.clip(x + length / 6 * np.cos(angle), 5, w - 5))
            y = int(np.clip(y + length / 6 * np.sin(angle), 5, h - 5))
            points.append((x, y))
        line = np.zeros_like(mask)
        cv2.polylines(line, [np.array(points, np.int32)], False, 1, int(rng.integers(2, 4)))
        img[line > 0] -= rng.uniform(55, 80)  # past the streaks' darkest (about 4 sigma = 40 grey levels)
        mask[line > 0] = 1
    for _ in range(int(rng.integers(1, 6)) if defects else 0):
        pit = np.zeros_like(mask)
        centre = (int(rng.integers(20, w - 20)), int(rng.integers(20, h - 20)))
        axes = (int(rng.integers(3, 9)), int(rng.integers(3, 9)))
        cv2.ellipse(pit, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        img[pit > 0] -= rng.uniform(40, 70)
        mask[pit > 0] = 2
    img = cv2.GaussianBlur(img, (0, 0), 0.7)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def plates(rng: np.random.Generator, n: int, clean_every: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` plates; every ``clean_every``-th one (the first included) has no defect."""
    return [synth_plate(rng, defects=i % clean_every != 0) for i in range(n)]
