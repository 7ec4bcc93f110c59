"""The uncertainty "Next most uncertain" ranks by and segdesk predict prints (core/uncertainty.py)."""

from __future__ import annotations

import numpy as np
import pytest

from segdesk.core.uncertainty import MARGIN, doubt_near_objects


def field(size: int, objects: list[tuple[int, int, int]], object_conf: float, edge_conf: float) -> tuple:
    """(class map, confidence): square objects (y, x, side) on a sure background (0.99), each object
    ``object_conf`` inside and ``edge_conf`` on the background ring just around it."""
    cm = np.zeros((size, size), np.uint8)
    conf = np.full((size, size), 0.99, np.float32)
    for y, x, side in objects:
        conf[y - 2 : y + side + 2, x - 2 : x + side + 2] = edge_conf
        cm[y : y + side, x : x + side] = 1
        conf[y : y + side, x : x + side] = object_conf
    return cm, conf


def test_doubt_about_a_few_objects_is_not_drowned_by_an_easy_background() -> None:
    """Two images: one with a few objects the model doubts, one with many it is sure of. Over every
    pixel the second looks less sure (more object pixels); near the objects the first does."""
    few = field(512, [(100, 100, 12), (300, 300, 12)], object_conf=0.6, edge_conf=0.55)
    many = field(512, [(y, x, 20) for y in range(20, 480, 60) for x in range(20, 480, 60)], 0.9, 0.8)
    whole = [float(1 - conf.mean()) for _, conf in (few, many)]
    assert whole[0] < whole[1]
    near = [doubt_near_objects(cm, conf) for cm, conf in (few, many)]
    assert near[0] > near[1]
    # each object and the MARGIN px around it (both alike), no further
    assert near[0] == pytest.approx(1 - np.mean(few[1][96:116, 96:116]), abs=1e-6)
    assert MARGIN == 4


def test_no_object_predicted_means_the_whole_image_and_empty_means_sure() -> None:
    cm = np.zeros((8, 8), np.uint8)
    conf = np.full((8, 8), 0.75, np.float32)
    assert doubt_near_objects(cm, conf) == pytest.approx(0.25)
    assert doubt_near_objects(np.zeros((0, 0), np.uint8), np.zeros((0, 0), np.float32)) == 0.0
    cm[0, 0] = 2  # any class but the background is an object
    conf[0, 0] = 0.25
    assert doubt_near_objects(cm, conf) == pytest.approx(1 - (0.25 + 24 * 0.75) / 25)
