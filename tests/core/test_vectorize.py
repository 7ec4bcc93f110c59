"""Vectorization: class maps to shapes that labelme rasterizes back to the same map."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from segdesk.core.rasterize import shapes_to_label
from segdesk.core.shapes import Shape
from segdesk.core.vectorize import (
    class_map_to_shapes,
    mask_to_components,
    mask_to_polygons,
    probability_to_class_map,
)

lm_utils = pytest.importorskip("labelme.utils")

CLASSES = ["_background_", "cell", "nucleus"]
VALUES = {name: i for i, name in enumerate(CLASSES)}


def labelme_raster(shape_hw, shapes: list[Shape], values=VALUES) -> np.ndarray:
    """Rasterize with labelme itself (the oracle), from labelme-style dicts."""
    dicts = [
        {
            "label": s.label,
            "points": s.points.tolist(),
            "shape_type": s.shape_type,
            "group_id": None,
            "mask": s.mask,
        }
        for s in shapes
    ]
    cls, _ = lm_utils.shapes_to_label(shape_hw, dicts, values)
    return cls


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1)


def blobs(seed: int, shape=(90, 120), sigma=4.0, level=0.55) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.random(shape), (0, 0), sigma) > level


@pytest.mark.parametrize("seed", range(8))
def test_exact_contours_rebuild_the_map_pixel_for_pixel(seed):
    cm = blobs(seed).astype(np.uint8) + (blobs(seed + 100, level=0.6) & blobs(seed)).astype(np.uint8)
    shapes = class_map_to_shapes(cm, CLASSES, tolerance=0, min_area=1)
    np.testing.assert_array_equal(labelme_raster(cm.shape, shapes), cm)
    # segdesk's own rasterizer agrees.
    np.testing.assert_array_equal(shapes_to_label(cm.shape, shapes, VALUES)[0], cm)


@st.composite
def star_polygons(draw) -> np.ndarray:
    n = draw(st.integers(3, 24))
    size = draw(st.floats(12, 110))
    angles = np.sort(np.array(draw(st.lists(st.floats(0, 2 * np.pi), min_size=n, max_size=n, unique=True))))
    radii = np.array(draw(st.lists(st.floats(0.3, 1.0), min_size=n, max_size=n))) * size
    cx, cy = draw(st.floats(100, 140)), draw(st.floats(100, 140))
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


@settings(max_examples=150, deadline=None)
@given(star_polygons())
def test_polygon_raster_polygon_round_trip_keeps_iou(points):
    hw = (240, 240)
    truth = labelme_raster(hw, [Shape("cell", points)]) == 1
    assume(truth.sum() >= 100)
    # min_area=1: Pillow can leave a detached spike tip of a few pixels, which min_area would drop.
    shapes = class_map_to_shapes(truth.astype(np.uint8), CLASSES, tolerance=1.0, min_area=1)
    back = labelme_raster(hw, shapes) == 1
    assert iou(truth, back) >= 0.99


def test_tolerance_simplifies_within_min_iou():
    disc = np.zeros((300, 300), np.uint8)
    cv2.circle(disc, (150, 150), 120, 1, -1)
    counts = [len(class_map_to_shapes(disc, CLASSES, tolerance=t)[0].points) for t in (0, 0.5, 1.0)]
    assert counts[0] > counts[1] > counts[2]
    for t in (1.0, 3.0, 6.0):
        (shape,) = class_map_to_shapes(disc, CLASSES, tolerance=t)
        assert iou(labelme_raster(disc.shape, [shape]) == 1, disc == 1) >= 0.99
    # Without the IoU floor a large tolerance simplifies further, and loses more.
    (loose,) = class_map_to_shapes(disc, CLASSES, tolerance=6.0, min_iou=0.0)
    assert len(loose.points) < counts[2]
    assert iou(labelme_raster(disc.shape, [loose]) == 1, disc == 1) < 0.99


def test_min_area_drops_small_components():
    cm = np.zeros((40, 40), np.uint8)
    cm[2:5, 2:5] = 1  # 9 px
    cm[10:30, 10:30] = 1  # 400 px
    assert len(class_map_to_shapes(cm, CLASSES, min_area=10)) == 1
    assert len(class_map_to_shapes(cm, CLASSES, min_area=9)) == 2
    assert len(mask_to_polygons(cm == 1, min_area=500)) == 0


def test_background_hole_makes_an_exact_mask_shape():
    ring = np.zeros((60, 60), np.uint8)
    cv2.circle(ring, (30, 30), 25, 1, -1)
    cv2.circle(ring, (30, 30), 10, 0, -1)
    (shape,) = class_map_to_shapes(ring, CLASSES, min_area=10)
    assert shape.shape_type == "mask"
    assert shape.points.tolist() == [[5.0, 5.0], [55.0, 55.0]]
    np.testing.assert_array_equal(labelme_raster(ring.shape, [shape]), ring)
    (comp,) = mask_to_components(ring == 1)
    assert comp.needs_mask and len(comp.holes) == 1 and comp.area == int(ring.sum())


def test_small_hole_is_filled_by_the_polygon():
    sq = np.zeros((40, 40), np.uint8)
    sq[5:35, 5:35] = 1
    sq[18:20, 18:20] = 0  # a 4-px hole, below min_area
    (shape,) = class_map_to_shapes(sq, CLASSES, min_area=10)
    assert shape.shape_type == "polygon"
    back = labelme_raster(sq.shape, [shape])
    assert (back[5:35, 5:35] == 1).all() and back.sum() == 900


def test_hole_filled_by_another_class_stays_a_polygon_drawn_first():
    cm = np.zeros((80, 80), np.uint8)
    cv2.circle(cm, (40, 40), 30, 1, -1)
    cv2.circle(cm, (42, 38), 12, 2, -1)
    shapes = class_map_to_shapes(cm, CLASSES, tolerance=0)
    assert [(s.label, s.shape_type) for s in shapes] == [("cell", "polygon"), ("nucleus", "polygon")]
    np.testing.assert_array_equal(labelme_raster(cm.shape, shapes), cm)


def test_one_pixel_line_becomes_a_mask_shape():
    cm = np.zeros((10, 30), np.uint8)
    cm[4, 3:25] = 1
    (shape,) = class_map_to_shapes(cm, CLASSES)
    assert shape.shape_type == "mask"
    np.testing.assert_array_equal(labelme_raster(cm.shape, [shape]), cm)


def test_ignore_background_confidence_and_provenance():
    cm = np.zeros((30, 30), np.uint8)
    cm[2:12, 2:12] = 1
    cm[15:28, 15:28] = 255
    conf = np.full((30, 30), 0.5, np.float32)
    conf[2:12, 2:12] = 0.8
    shapes = class_map_to_shapes(
        cm, CLASSES, confidence=conf, provenance={"source": "model", "proposal": True}
    )
    (shape,) = shapes
    assert shape.label == "cell"
    assert shape.extra == {"source": "model", "proposal": True, "confidence": pytest.approx(0.8)}
    assert shape.is_proposal
    with pytest.raises(ValueError, match="value 7 has no class name"):
        class_map_to_shapes(np.full((5, 5), 7, np.uint8), CLASSES)
    with pytest.raises(ValueError, match="confidence shape"):
        class_map_to_shapes(cm, CLASSES, confidence=np.zeros((3, 3)))
    # ignore_value=None: every listed value makes shapes.
    labels = [s.label for s in class_map_to_shapes(np.where(cm == 255, 2, cm), CLASSES, ignore_value=None)]
    assert sorted(labels) == ["cell", "nucleus"]


def test_mask_to_polygons_gives_outer_rings():
    mask = np.zeros((50, 50), bool)
    mask[5:20, 5:20] = True
    mask[30:45, 25:48] = True
    rings = mask_to_polygons(mask, tolerance=1.0)
    assert len(rings) == 2
    for ring in rings:
        assert ring.dtype == np.float64 and ring.ndim == 2 and ring.shape[1] == 2 and len(ring) == 4
    assert sorted(r[:, 0].min() for r in rings) == [5.0, 25.0]


def test_probability_to_class_map():
    probs = np.zeros((3, 2, 2), np.float32)
    probs[:, 0, 0] = [0.1, 0.8, 0.1]
    probs[:, 0, 1] = [0.3, 0.4, 0.3]  # foreground below the threshold -> background
    probs[:, 1, 0] = [0.9, 0.05, 0.05]
    probs[:, 1, 1] = [0.0, 0.2, 0.8]
    cm, conf = probability_to_class_map(probs, threshold=0.5)
    assert cm.dtype == np.uint8
    assert cm.tolist() == [[1, 0], [0, 2]]
    np.testing.assert_allclose(conf, [[0.8, 0.4], [0.9, 0.8]])
