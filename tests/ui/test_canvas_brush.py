"""Brush and eraser on the canvas, driven by real mouse, wheel and key events (pytest-qt, offscreen)."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from segdesk.core.document import Document
from segdesk.core.labelme_io import load_document, save_document
from segdesk.core.rasterize import shape_to_mask
from segdesk.core.shapes import Shape
from segdesk.ui.canvas import CanvasView
from segdesk.ui.canvas.brush import BrushTool
from segdesk.ui.undo import make_undo_stack
from tests.ui.test_canvas import click, drag, grab, key, pixel_at, set_shapes, shapes, square, vp

W, H = 300, 200
LEFT = Qt.MouseButton.LeftButton
NO_MOD = Qt.KeyboardModifier.NoModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def canvas(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    qtbot.waitExposed(view)
    stack = make_undo_stack(view)
    view.set_undo_stack(stack)
    view.set_image(np.full((H, W, 3), 128, dtype=np.uint8))
    view.set_document(Document("a.png", H, W))
    view.set_current_label("cat")
    view.stack = stack
    view.brush_radius = 5.0
    return view


def pixels(shape: Shape) -> np.ndarray:
    return shape_to_mask((H, W), shape)


def label_pixels(view: CanvasView, label: str = "cat") -> np.ndarray:
    out = np.zeros((H, W), dtype=bool)
    for s in shapes(view):
        if s.label == label:
            out |= pixels(s)
    return out


def test_paint_adds_one_mask_per_stroke_and_undo_removes_it(canvas) -> None:
    canvas.set_mode("brush")
    drag(canvas, [(20, 20), (40, 20), (60, 25), (80, 30)])
    assert len(shapes(canvas)) == 1 and canvas.stack.count() == 1
    shape = shapes(canvas)[0]
    assert shape.shape_type == "mask" and shape.label == "cat" and shape.extra["source"] == "person"
    mask = pixels(shape)
    assert mask[20, 20] and mask[20, 40] and mask[25, 60] and mask[30, 80]
    assert mask[20, 15] and not mask[20, 12] and not mask[40, 40]  # radius 5
    canvas.stack.undo()
    assert shapes(canvas) == []
    canvas.stack.redo()
    np.testing.assert_array_equal(pixels(shapes(canvas)[0]), mask)


def test_masks_are_drawn_filled_with_the_label_colour(canvas) -> None:
    canvas.set_fill_opacity(1.0)
    canvas.set_mode("brush")
    canvas.brush_radius = 15.0
    drag(canvas, [(100, 100), (140, 100)])
    image = grab(canvas)
    inside = pixel_at(canvas, image, 120, 100)
    rgb = canvas.scene_.styles.style("cat").rgb
    assert all(abs(a - b) <= 2 for a, b in zip(inside, rgb, strict=True))
    assert pixel_at(canvas, image, 120, 160) == (128, 128, 128)


def test_paint_over_two_shapes_of_the_label_merges_them_and_spares_others(canvas) -> None:
    set_shapes(canvas, [square(20, 20, 40), square(100, 20, 40), square(60, 120, 40, "dog")])
    before = [pixels(s) for s in shapes(canvas)]
    canvas.set_mode("brush")
    drag(canvas, [(40, 40), (70, 40), (100, 40), (120, 40)])
    assert len(shapes(canvas)) == 2 and canvas.stack.count() == 1
    merged, dog = shapes(canvas)
    assert merged.shape_type == "mask" and merged.label == "cat"
    assert dog.label == "dog" and dog.shape_type == "polygon"
    m = pixels(merged)
    assert (m & before[0]).sum() == before[0].sum() and (m & before[1]).sum() == before[1].sum()
    assert m[40, 80]  # the bridge
    canvas.stack.undo()
    assert [s.shape_type for s in shapes(canvas)] == ["polygon", "polygon", "polygon"]
    for s, b in zip(shapes(canvas), before, strict=True):
        np.testing.assert_array_equal(pixels(s), b)


def test_painting_along_a_touching_object_keeps_the_two_objects(canvas) -> None:
    """A class of separate objects (issue 17): a stroke that corrects one nucleus's edge along its
    neighbour extends that nucleus only; a drag from one into the other still joins them."""
    canvas.object_label = lambda label: label == "cat"
    set_shapes(canvas, [square(20, 20, 40), square(61, 20, 40)])  # touching at x 60 / 61
    canvas.set_mode("brush")
    drag(canvas, [(40, 66), (60, 66), (80, 66)])  # bordering both from below, starting under the first
    assert len(shapes(canvas)) == 2 and canvas.stack.count() == 1
    first, second = shapes(canvas)
    assert pixels(first)[66, 60] and pixels(first)[66, 80] and not pixels(second)[66, 80]
    assert pixels(second)[40, 80] and second.shape_type == "polygon"  # the neighbour untouched
    drag(canvas, [(40, 40), (80, 40)])  # from one into the other: joined (a split corrected)
    assert len(shapes(canvas)) == 1 and canvas.stack.count() == 2
    canvas.stack.undo()
    canvas.stack.undo()
    canvas.object_label = None  # a class of regions: painting joins what it touches, as before
    drag(canvas, [(40, 66), (60, 66), (80, 66)])
    assert len(shapes(canvas)) == 1


def test_eraser_cuts_the_label_and_one_undo_restores(canvas) -> None:
    set_shapes(canvas, [square(20, 20, 100), square(20, 20, 100, "dog")])
    canvas.set_mode("eraser")
    drag(canvas, [(70, 10), (70, 60), (70, 130)])
    cat, dog = shapes(canvas)
    assert cat.shape_type == "mask" and dog.shape_type == "polygon"
    m = pixels(cat)
    assert not m[70, 70] and m[70, 30] and m[70, 110]
    assert canvas.stack.count() == 1
    canvas.stack.undo()
    assert shapes(canvas)[0].shape_type == "polygon"


def test_erasing_a_whole_shape_removes_it(canvas) -> None:
    set_shapes(canvas, [square(50, 50, 6)])
    canvas.set_mode("eraser")
    canvas.brush_radius = 20.0
    drag(canvas, [(53, 53), (54, 54)])
    assert shapes(canvas) == []


def test_shift_click_fills_a_closed_hole(canvas) -> None:
    ring = np.ones((60, 60), dtype=bool)
    ring[20:40, 20:40] = False
    set_shapes(canvas, [Shape("cat", [[50, 50], [109, 109]], shape_type="mask", mask=ring)])
    canvas.set_mode("brush")
    click(canvas, 5, 5, SHIFT)  # outside: nothing
    assert canvas.stack.count() == 0
    click(canvas, 80, 80, SHIFT)
    assert canvas.stack.count() == 1
    assert pixels(shapes(canvas)[0])[50:110, 50:110].all()


def test_brush_on_a_proposal_converts_it_to_an_edited_mask(canvas) -> None:
    set_shapes(canvas, [square(20, 20, 40, source="model", proposal=True)])
    canvas.set_mode("brush")
    drag(canvas, [(55, 40), (75, 40)])
    shape = shapes(canvas)[0]
    assert shape.shape_type == "mask" and not shape.is_proposal and shape.extra["edited"] is True


def test_size_by_brackets_and_shift_wheel_and_the_ring_follows(canvas, qtbot) -> None:
    canvas.set_mode("brush")
    key(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_radius == pytest.approx(6.25)
    key(canvas, Qt.Key.Key_BracketLeft)
    key(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_radius == pytest.approx(4.0)
    zoom = canvas.zoom_factor()
    pos = vp(canvas, 100, 100)
    event = QWheelEvent(
        QPointF(pos),
        QPointF(canvas.viewport().mapToGlobal(pos)),
        QPoint(),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        SHIFT,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.brush_radius == pytest.approx(5.0) and canvas.zoom_factor() == zoom
    QTest.mouseMove(canvas.viewport(), vp(canvas, 150, 100))
    tool = canvas._tool
    assert isinstance(tool, BrushTool)
    ring = tool._ring.sceneBoundingRect()
    assert ring.center().x() == pytest.approx(150, abs=1.5) and ring.width() == pytest.approx(10, abs=2)
    canvas.set_mode("edit")
    assert tool._ring.scene() is None


def test_keys_b_and_e_and_conversion_round_trip(canvas) -> None:
    set_shapes(canvas, [Shape("cat", [[20, 20], [90, 30], [70, 100], [25, 80]])])
    original = pixels(shapes(canvas)[0])
    canvas.select_indices([0])
    canvas.convert_selected("mask")
    assert shapes(canvas)[0].shape_type == "mask"
    np.testing.assert_array_equal(pixels(shapes(canvas)[0]), original)
    canvas.select_indices([0])
    canvas.convert_selected("polygon")
    back = shapes(canvas)[0]
    assert back.shape_type == "polygon"
    a = pixels(back)
    assert np.count_nonzero(a & original) / np.count_nonzero(a | original) > 0.97
    assert canvas.stack.count() == 2
    canvas.stack.undo()
    canvas.stack.undo()
    np.testing.assert_array_equal(shapes(canvas)[0].points, [[20, 20], [90, 30], [70, 100], [25, 80]])


def test_painted_masks_save_and_reload_pixel_identically(canvas, tmp_path) -> None:
    set_shapes(canvas, [square(20, 20, 40)])
    canvas.set_mode("brush")
    drag(canvas, [(50, 50), (90, 70), (130, 60)])
    canvas.set_mode("eraser")
    drag(canvas, [(30, 10), (30, 80)])
    expected = [pixels(s) for s in shapes(canvas)]
    PIL.Image.fromarray(np.zeros((H, W, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    save_document(canvas.document(), tmp_path / "a.json")
    again = load_document(tmp_path / "a.json")
    assert [s.shape_type for s in again.shapes] == ["mask"]
    for s, e in zip(again.shapes, expected, strict=True):
        np.testing.assert_array_equal(pixels(s), e)


def test_labelme_reads_the_painted_masks(canvas, tmp_path) -> None:
    from tests.ui.window_helpers import labelme_read

    canvas.set_mode("brush")
    drag(canvas, [(50, 50), (90, 70)])
    PIL.Image.fromarray(np.zeros((H, W, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    save_document(canvas.document(), tmp_path / "a.json")
    read = labelme_read(tmp_path / "a.json")
    assert [s["shape_type"] for s in read["shapes"]] == ["mask"]
    np.testing.assert_array_equal(read["shapes"][0]["points"], shapes(canvas)[0].points)


def test_vertex_drag_of_masks_is_not_offered(canvas) -> None:
    mask = np.ones((20, 20), dtype=bool)
    set_shapes(canvas, [Shape("cat", [[50, 50], [69, 69]], shape_type="mask", mask=mask)])
    drag(canvas, [(50, 50), (40, 40)])  # moves the shape, never its bounding-box corner alone
    np.testing.assert_array_equal(shapes(canvas)[0].points, [[40, 40], [59, 59]])


def test_without_a_current_label_the_brush_asks_once_and_the_eraser_cuts_any(canvas) -> None:
    asked = []
    canvas.label_requester = lambda: asked.append(1) or ("dog", None, "")
    canvas.set_current_label("")
    canvas.set_mode("brush")
    drag(canvas, [(20, 20), (40, 20)])
    drag(canvas, [(20, 60), (40, 60)])
    assert asked == [1] and [s.label for s in shapes(canvas)] == ["dog", "dog"]
    set_shapes(canvas, [square(20, 20, 60), square(20, 20, 60, "dog")])
    canvas.set_current_label("")
    canvas.set_mode("eraser")
    drag(canvas, [(50, 10), (50, 90)])
    assert all(not pixels(s)[50, 50] for s in shapes(canvas))


def test_the_size_ring_hides_when_the_cursor_leaves(canvas) -> None:
    from PySide6.QtCore import QEvent

    canvas.set_mode("brush")
    QTest.mouseMove(canvas.viewport(), vp(canvas, 100, 100))
    ring = canvas._tool._ring
    assert ring.isVisible()
    QApplication.sendEvent(canvas.viewport(), QEvent(QEvent.Type.Leave))
    assert not ring.isVisible()


def test_ctrl_click_fills_the_region_of_similar_colour_and_ctrl_click_erases_it(canvas) -> None:
    """The wand: an object's first outline without drawing it; { / } change how alike; the
    background (most of the image) is refused with the reason in the status line."""
    image = np.full((H, W, 3), 200, dtype=np.uint8)
    image[50:90, 100:160] = (40, 90, 40)
    image[60, 110] = (60, 100, 50)  # within the tolerance: part of the object
    canvas.set_image(image)
    messages: list[str] = []
    canvas.message.connect(messages.append)
    canvas.set_mode("brush")
    ctrl = Qt.KeyboardModifier.ControlModifier
    click(canvas, 130, 70, ctrl)
    assert canvas.stack.count() == 1 and label_pixels(canvas)[50:90, 100:160].all()
    assert label_pixels(canvas).sum() == 40 * 60 and "2400 px" in messages[-1]
    click(canvas, 10, 10, ctrl)  # the background
    assert canvas.stack.count() == 1 and "the background?" in messages[-1]
    canvas.set_mode("eraser")
    click(canvas, 130, 70, ctrl)
    assert canvas.stack.count() == 2 and not shapes(canvas)
    canvas.stack.undo()
    assert label_pixels(canvas).sum() == 2400
    key(canvas, Qt.Key.Key_BraceLeft)  # less alike: the odd pixel (20 off) no longer belongs
    assert canvas.fill_tolerance == 16 and "within 16" in messages[-1]
    click(canvas, 130, 70, ctrl)
    assert label_pixels(canvas).sum() == 1 and label_pixels(canvas)[60, 110]
