"""Brush strokes, hole filling and polygon <-> mask conversion, with labelme 6.3.1 as the oracle."""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest

from segdesk.core.document import Document
from segdesk.core.labelme_io import load_document, save_document
from segdesk.core.mask_edit import apply_stroke, hole_at, paint_segment
from segdesk.core.rasterize import shape_to_mask, shapes_to_label
from segdesk.core.shape_convert import to_mask_shape, to_polygon_shapes
from segdesk.core.shapes import Shape

labelme = pytest.importorskip("labelme")
lm_utils = pytest.importorskip("labelme.utils")

H, W = 120, 160
SIZE = (H, W)


def square(x: float, y: float, s: float, label: str = "cell", **extra) -> Shape:
    return Shape(label, [[x, y], [x + s, y], [x + s, y + s], [x, y + s]], extra=dict(extra))


def stroke_of(points: list[tuple[float, float]], radius: float) -> tuple[np.ndarray, tuple[int, int]]:
    canvas = np.zeros(SIZE, dtype=np.uint8)
    for a, b in zip(points, points[1:] or points, strict=False):
        paint_segment(canvas, a, b, radius)
    return canvas.astype(bool), (0, 0)


def pixels(shape: Shape) -> np.ndarray:
    return shape_to_mask(SIZE, shape)


def test_paint_segment_touches_only_its_box_and_is_round() -> None:
    canvas = np.zeros(SIZE, dtype=np.uint8)
    box = paint_segment(canvas, (50.0, 40.0), (50.0, 40.0), 5)
    assert box is not None
    ys, xs = np.nonzero(canvas)
    assert xs.min() >= box[0] and xs.max() < box[2] and ys.min() >= box[1] and ys.max() < box[3]
    assert 70 <= canvas.sum() <= 100  # a disc of radius 5 (pi * 25 ~ 79)
    assert canvas[40, 45] and canvas[40, 55] and not canvas[35, 45]
    assert paint_segment(canvas, (-50.0, -50.0), (-40.0, -40.0), 3) is None


def test_paint_on_empty_area_adds_a_person_mask_shape() -> None:
    stroke, origin = stroke_of([(20, 20), (60, 20)], 4)
    edit = apply_stroke([], stroke, origin, SIZE, label="cell")
    assert edit.add is not None and not edit.replace and not edit.remove
    shape = edit.add
    assert shape.shape_type == "mask" and shape.label == "cell" and shape.extra == {"source": "person"}
    np.testing.assert_array_equal(pixels(shape), stroke)


def test_paint_merges_same_label_shapes_and_leaves_others() -> None:
    shapes = [square(10, 10, 20), square(60, 10, 20), square(30, 60, 20, "other"), square(100, 80, 10)]
    stroke, origin = stroke_of([(20, 20), (70, 20)], 3)
    edit = apply_stroke(shapes, stroke, origin, SIZE, label="cell")
    assert sorted(edit.replace) == [0] and edit.remove == [1] and edit.add is None
    merged = edit.replace[0]
    expected = pixels(shapes[0]) | pixels(shapes[1]) | stroke
    np.testing.assert_array_equal(pixels(merged), expected)


def test_painting_along_touching_objects_never_joins_them() -> None:
    """Issue 17: each shape of an object class is one object. Extending nucleus 0 with a stroke that
    runs along its touching neighbour 1 joined them into one mask shape (the 1-px contact counted as
    touching): one object in COCO and in the next Retrain's targets. Now the stroke extends the
    shape it starts in and takes its pixels from the neighbour; a drag from one into the other joins them."""
    a, b = square(10, 10, 30), square(41, 10, 30)  # touching (x 10..40 and 41..71)
    shapes = [a, b, square(100, 80, 10)]
    stroke, origin = stroke_of([(25, 44), (45, 44)], 3)  # along both, bordering them from below
    ends = [(25.0, 44.0), (45.0, 44.0)]
    region = apply_stroke(shapes, stroke, origin, SIZE, label="cell")
    assert region.remove == [1]  # a class of regions: joined, as before
    edit = apply_stroke(shapes, stroke, origin, SIZE, label="cell", objects=True, ends=ends)
    assert sorted(edit.replace) == [0] and edit.remove == [] and edit.add is None
    np.testing.assert_array_equal(pixels(edit.replace[0]), pixels(a) | stroke)
    # painted over the neighbour: those pixels become the stroke's object's, the neighbour stays one
    over, origin = stroke_of([(30, 20), (48, 20)], 3)
    edit = apply_stroke(
        shapes, over, origin, SIZE, label="cell", objects=True, ends=[(30.0, 20.0), (38.0, 20.0)]
    )
    assert sorted(edit.replace) == [0, 1] and edit.remove == []
    np.testing.assert_array_equal(pixels(edit.replace[0]), pixels(a) | over)
    np.testing.assert_array_equal(pixels(edit.replace[1]), pixels(b) & ~over)
    # a drag from one object into the other is a join (a split the model made, corrected)
    edit = apply_stroke(
        shapes, over, origin, SIZE, label="cell", objects=True, ends=[(30.0, 20.0), (48.0, 20.0)]
    )
    assert sorted(edit.replace) == [0] and edit.remove == [1]
    np.testing.assert_array_equal(pixels(edit.replace[0]), pixels(a) | pixels(b) | over)
    # started outside both, bordering only b: extends b
    edit = apply_stroke(
        shapes, *stroke_of([(56, 44), (60, 44)], 3), SIZE, label="cell", objects=True, ends=[(56.0, 44.0)]
    )
    assert sorted(edit.replace) == [1] and not edit.remove
    # nothing of the label touched: a new object
    edit = apply_stroke(
        shapes, *stroke_of([(130, 20)], 3), SIZE, label="cell", objects=True, ends=[(130.0, 20.0)]
    )
    assert edit.add is not None and not edit.replace


def test_painting_a_proposal_makes_it_a_person_edited_mask() -> None:
    proposal = square(10, 10, 30, source="model", proposal=True, model_version="v2")
    stroke, origin = stroke_of([(40, 25), (55, 25)], 3)
    edit = apply_stroke([proposal], stroke, origin, SIZE, label="cell")
    shape = edit.replace[0]
    assert shape.extra == {"source": "model", "proposal": False, "edited": True, "model_version": "v2"}
    assert shape.shape_type == "mask"


def test_erase_cuts_and_removes_what_is_left_empty() -> None:
    shapes = [square(10, 10, 40), square(80, 80, 4), square(10, 10, 40, "other")]
    stroke, origin = stroke_of([(30, 0), (30, 119)], 4)
    stroke2, _ = stroke_of([(82, 82)], 8)
    both = stroke | stroke2
    edit = apply_stroke(shapes, both, origin, SIZE, label="cell", erase=True)
    assert sorted(edit.replace) == [0] and edit.remove == [1] and edit.add is None
    np.testing.assert_array_equal(pixels(edit.replace[0]), pixels(shapes[0]) & ~both)


def test_hole_fill_only_for_a_closed_hole() -> None:
    ring = [square(20, 20, 60), square(35, 35, 30)]
    ring_mask = to_mask_shape(ring[0], SIZE)
    ring_mask.mask[16:46, 16:46] = False  # a hole in the middle (crop starts at 20, 20)
    shapes = [ring_mask]
    found = hole_at(shapes, (50, 50), SIZE, label="cell")
    assert found is not None
    hole, (x0, y0) = found
    full = np.zeros(SIZE, dtype=bool)
    full[y0 : y0 + hole.shape[0], x0 : x0 + hole.shape[1]] = hole
    expected = ~pixels(ring_mask)
    expected[:36, :] = expected[66:, :] = False
    expected[:, :36] = expected[:, 66:] = False
    np.testing.assert_array_equal(full, expected)
    assert hole_at(shapes, (5, 5), SIZE, label="cell") is None  # outside
    assert hole_at(shapes, (25, 25), SIZE, label="cell") is None  # on the shape
    assert hole_at(shapes, (50, 50), SIZE, label="other") is None
    open_ring = to_mask_shape(ring[0], SIZE)
    open_ring.mask[16:46, 16:] = False  # the hole opens to the right
    assert hole_at([open_ring], (50, 50), SIZE, label="cell") is None


def test_hole_enclosed_by_several_shapes_whose_boxes_miss_the_point() -> None:
    bars = [
        Shape("cell", [[20, 20], [80, 20], [80, 30], [20, 30]]),
        Shape("cell", [[20, 70], [80, 70], [80, 80], [20, 80]]),
        Shape("cell", [[20, 20], [30, 20], [30, 80], [20, 80]]),
        Shape("cell", [[70, 20], [80, 20], [80, 80], [70, 80]]),
    ]
    found = hole_at(bars, (50, 50), SIZE, label="cell")
    assert found is not None
    hole, origin = found
    edit = apply_stroke(bars, hole, origin, SIZE, label="cell")
    assert sorted(edit.replace) == [0] and sorted(edit.remove) == [1, 2, 3]
    filled = pixels(edit.replace[0])
    assert filled[50, 50] and filled[25:75, 25:75].all()


def test_polygon_to_mask_and_back() -> None:
    poly = Shape("cell", [[10, 10], [70, 15], [60, 80], [15, 60]], group_id=3, description="d")
    mask = to_mask_shape(poly, SIZE)
    assert mask.shape_type == "mask" and mask.group_id == 3 and mask.description == "d"
    np.testing.assert_array_equal(pixels(mask), pixels(poly))
    back = to_polygon_shapes(mask)
    assert len(back) == 1 and back[0].shape_type == "polygon" and back[0].mask is None
    a, b = pixels(back[0]), pixels(poly)
    assert np.count_nonzero(a & b) / np.count_nonzero(a | b) > 0.97
    two = np.zeros((20, 50), dtype=bool)
    two[2:10, 2:10] = two[5:15, 30:45] = True
    split = Shape("cell", [[40, 40], [89, 59]], shape_type="mask", mask=two)
    assert len(to_polygon_shapes(split)) == 2
    with pytest.raises(ValueError, match="line"):
        to_mask_shape(Shape("cell", [[1, 1], [5, 5]], shape_type="line"), SIZE)


def test_saved_masks_are_read_pixel_identically_by_labelme(tmp_path) -> None:
    shapes = [square(10, 10, 20), square(60, 10, 20), square(100, 70, 30, "other")]
    stroke, origin = stroke_of([(20, 20), (70, 20), (75, 60)], 3.5)
    edit = apply_stroke(shapes, stroke, origin, SIZE, label="cell")
    result = [edit.replace.get(i, s) for i, s in enumerate(shapes) if i not in edit.remove]
    doc = Document("img.png", H, W, shapes=result)
    path = tmp_path / "img.json"
    PIL.Image.fromarray(np.zeros((H, W, 3), dtype=np.uint8)).save(tmp_path / "img.png")
    save_document(doc, path)
    again = load_document(path)
    for a, b in zip(again.shapes, result, strict=True):
        np.testing.assert_array_equal(pixels(a), pixels(b))
    lf = labelme.LabelFile(str(path))
    names = {"_background_": 0, "cell": 1, "other": 2}
    lm_shapes = [
        {
            "label": s["label"],
            "points": s["points"],
            "shape_type": s["shape_type"],
            "group_id": s["group_id"],
            "mask": s["mask"],
        }
        for s in lf.shapes
    ]
    lm_cls, _ = lm_utils.shapes_to_label((H, W), lm_shapes, names)
    ours, _ = shapes_to_label((H, W), result, names)
    np.testing.assert_array_equal(lm_cls, ours)
    assert (lm_cls == 1).sum() == (pixels(shapes[0]) | pixels(shapes[1]) | stroke).sum()
    raw = json.loads(path.read_text())
    assert raw["shapes"][0]["shape_type"] == "mask" and len(raw["shapes"][0]["points"]) == 2


def test_training_maps_and_the_correction_meter_count_painted_masks() -> None:
    from segdesk.core.effort import correction_ious
    from segdesk.core.rasterize import document_to_class_map

    proposal = square(10, 10, 30, source="model", proposal=True)
    stroke, origin = stroke_of([(40, 25), (70, 25)], 4)
    painted = apply_stroke([proposal], stroke, origin, SIZE, label="cell").replace[0]
    expected = pixels(proposal) | stroke
    cls = document_to_class_map(Document("i.png", H, W, shapes=[painted]), ["_background_", "cell"])
    np.testing.assert_array_equal(cls == 1, expected)
    (effort,) = correction_ious([proposal], [painted], SIZE)
    assert effort.iou == pytest.approx(pixels(proposal).sum() / expected.sum(), abs=1e-3)
    assert effort.saved_pixels == expected.sum()


def test_erasing_without_a_label_cuts_every_label_and_painting_needs_one() -> None:
    shapes = [
        square(10, 10, 40),
        square(10, 10, 40, "other"),
        Shape("cell", [[0, 100], [150, 100]], shape_type="line"),
    ]
    stroke, origin = stroke_of([(30, 0), (30, 119)], 3)
    edit = apply_stroke(shapes, stroke, origin, SIZE, label=None, erase=True)
    assert sorted(edit.replace) == [0, 1]  # lines have no inside: left alone
    assert edit.replace[1].label == "other" and not pixels(edit.replace[1])[30, 30]
    with pytest.raises(ValueError, match="label"):
        apply_stroke(shapes, stroke, origin, SIZE, label=None)


def test_similar_region_is_the_connected_colour_around_the_click(monkeypatch) -> None:
    from segdesk.core import mask_edit
    from segdesk.core.mask_edit import similar_region

    rgb = np.full((60, 80, 3), 220, np.uint8)
    rgb[10:30, 20:50] = (30, 40, 50)
    rgb[10:30, 55:70] = (30, 40, 50)  # the same colour, not connected: not taken
    crop, origin = similar_region(rgb, (25.7, 15.2), 10)
    assert origin == (20, 10) and crop.shape == (20, 30) and crop.all()
    assert similar_region(rgb, (80, 5), 10) is None  # outside the image
    assert "the background?" in similar_region(rgb, (2, 2), 10)  # most of the image
    monkeypatch.setattr(mask_edit, "SIMILAR_WINDOW", 36)  # a huge slide: only a window around the click
    crop, origin = similar_region(rgb, (30, 20), 10)
    assert origin == (20, 10) and crop.shape == (20, 28)  # cut at the window's edge (x 48)
