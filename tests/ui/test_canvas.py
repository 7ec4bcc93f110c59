"""The canvas driven by real mouse, wheel and key events on its viewport (pytest-qt, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from segdesk.core.document import Document
from segdesk.core.shapes import Shape
from segdesk.ui.canvas import CanvasView
from segdesk.ui.canvas.items import ShapeItem, label_rgb
from segdesk.ui.canvas.layers import TILE
from segdesk.ui.canvas.scene import MANY_SHAPES
from segdesk.ui.convert import (
    points_to_path,
    points_to_paths,
    points_to_polygon,
    polygon_to_points,
    qimage_to_rgb,
    rgb_to_qimage,
)
from segdesk.ui.undo import UNDO_LIMIT, make_undo_stack

W, H = 300, 200
LEFT = Qt.MouseButton.LeftButton
NO_MOD = Qt.KeyboardModifier.NoModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL = Qt.KeyboardModifier.ControlModifier


def _gray(w: int = W, h: int = H, value: int = 128) -> np.ndarray:
    return np.full((h, w, 3), value, dtype=np.uint8)


@pytest.fixture
def canvas(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    qtbot.waitExposed(view)
    stack = make_undo_stack(view)
    view.set_undo_stack(stack)
    view.set_image(_gray())
    view.set_document(Document("a.png", H, W))
    view.set_current_label("cat")
    view.stack = stack  # for the tests
    return view


def vp(view: CanvasView, x: float, y: float) -> QPoint:
    return view.mapFromScene(QPointF(x, y))


def click(view: CanvasView, x: float, y: float, modifier=NO_MOD) -> None:
    QTest.mouseClick(view.viewport(), LEFT, modifier, vp(view, x, y))


def drag(view: CanvasView, path: list[tuple[float, float]], *, button=LEFT, modifier=NO_MOD) -> None:
    QTest.mousePress(view.viewport(), button, modifier, vp(view, *path[0]))
    for x, y in path[1:]:
        QTest.mouseMove(view.viewport(), vp(view, x, y))
    QTest.mouseRelease(view.viewport(), button, modifier, vp(view, *path[-1]))


def key(view: CanvasView, k: Qt.Key, modifier=NO_MOD) -> None:
    QTest.keyClick(view.viewport(), k, modifier)


def shapes(view: CanvasView) -> list[Shape]:
    return view.document().shapes


def set_shapes(view: CanvasView, items: list[Shape]) -> None:
    view.set_document(Document("a.png", H, W, shapes=items))
    view.stack.clear()


def square(x: float = 50, y: float = 50, s: float = 100, label: str = "cat", **extra) -> Shape:
    return Shape(label, [[x, y], [x + s, y], [x + s, y + s], [x, y + s]], extra=dict(extra))


def grab(view: CanvasView) -> QImage:
    QApplication.processEvents()
    return view.viewport().grab().toImage()


def pixel_at(view: CanvasView, image: QImage, x: float, y: float) -> tuple[int, int, int]:
    p = vp(view, x, y)
    c = image.pixelColor(p)
    return (c.red(), c.green(), c.blue())


# --- drawing ----------------------------------------------------------------------------------------
def test_polygon_by_clicks_closes_on_first_vertex_and_undo_redo(canvas, qtbot) -> None:
    canvas.set_mode("polygon")
    pts = [(20, 20), (120, 30), (100, 150)]
    for x, y in pts:
        click(canvas, x, y)
    with qtbot.waitSignal(canvas.shape_created) as created:
        click(canvas, 21, 21)  # on the first vertex
    assert created.args == [0]
    (shape,) = shapes(canvas)
    assert shape.shape_type == "polygon" and shape.label == "cat"
    np.testing.assert_allclose(shape.points, pts, atol=1.0)
    assert shape.extra == {"source": "person"}
    canvas.stack.undo()
    assert shapes(canvas) == [] and canvas.scene_.shape_items == []
    canvas.stack.redo()
    assert len(shapes(canvas)) == 1 and len(canvas.scene_.shape_items) == 1


def test_polygon_backspace_enter_and_escape(canvas) -> None:
    canvas.set_mode("polygon")
    for x, y in [(20, 20), (120, 30), (100, 150), (10, 190)]:
        click(canvas, x, y)
    key(canvas, Qt.Key.Key_Backspace)
    key(canvas, Qt.Key.Key_Return)
    assert len(shapes(canvas)) == 1
    np.testing.assert_allclose(shapes(canvas)[0].points, [(20, 20), (120, 30), (100, 150)], atol=1.0)
    click(canvas, 200, 20)
    click(canvas, 250, 20)
    key(canvas, Qt.Key.Key_Escape)
    key(canvas, Qt.Key.Key_Return)  # nothing left to finish
    assert len(shapes(canvas)) == 1
    assert canvas.scene_.shape_items[0].shape_data is shapes(canvas)[0]


@pytest.mark.parametrize("kind", ["rectangle", "circle", "line"])
def test_two_point_shapes_by_two_clicks_and_by_drag(canvas, kind: str) -> None:
    canvas.set_mode(kind)
    click(canvas, 40, 40)
    click(canvas, 140, 120)
    drag(canvas, [(150, 50), (200, 100), (250, 150)])
    a, b = shapes(canvas)
    assert a.shape_type == b.shape_type == kind
    np.testing.assert_allclose(a.points, [(40, 40), (140, 120)], atol=1.0)
    np.testing.assert_allclose(b.points, [(150, 50), (250, 150)], atol=1.0)
    canvas.stack.undo()
    canvas.stack.undo()
    assert shapes(canvas) == []


def test_linestrip_by_double_click_and_points(canvas) -> None:
    canvas.set_mode("linestrip")
    click(canvas, 10, 10)
    click(canvas, 60, 80)
    QTest.mouseDClick(canvas.viewport(), LEFT, NO_MOD, vp(canvas, 120, 40))
    (strip,) = shapes(canvas)
    assert strip.shape_type == "linestrip"
    np.testing.assert_allclose(strip.points, [(10, 10), (60, 80), (120, 40)], atol=1.0)
    canvas.set_mode("point")
    click(canvas, 200, 150)
    assert shapes(canvas)[1].shape_type == "point"
    np.testing.assert_allclose(shapes(canvas)[1].points, [(200, 150)], atol=1.0)


def test_clicks_outside_the_image_are_clamped(canvas) -> None:
    canvas.set_mode("rectangle")
    click(canvas, 250, 150)
    click(canvas, 290, 199)
    p = vp(canvas, 299, 199) + QPoint(40, 30)  # beyond the image corner, still in the viewport
    canvas.set_mode("point")
    QTest.mouseClick(canvas.viewport(), LEFT, NO_MOD, p)
    np.testing.assert_allclose(shapes(canvas)[-1].points, [(W - 1, H - 1)])


def test_label_requester_sets_label_or_cancels(canvas) -> None:
    answers = [("dog", 3, "big"), None]
    canvas.label_requester = lambda: answers.pop(0)
    canvas.set_mode("point")
    click(canvas, 10, 10)
    click(canvas, 20, 20)
    (shape,) = shapes(canvas)
    assert (shape.label, shape.group_id, shape.description) == ("dog", 3, "big")


# --- editing ----------------------------------------------------------------------------------------
def test_vertex_drag_is_one_undo_step(canvas) -> None:
    set_shapes(canvas, [square()])
    click(canvas, 100, 100)  # select
    assert canvas.selected_indices() == [0]
    drag(canvas, [(150, 150), (160, 155), (170, 160), (180, 170)])
    np.testing.assert_allclose(shapes(canvas)[0].points[2], (180, 170), atol=1.0)
    assert canvas.stack.count() == 1
    canvas.stack.undo()
    np.testing.assert_array_equal(shapes(canvas)[0].points[2], (150, 150))
    item = canvas.scene_.shape_items[0]
    assert item.path().boundingRect().right() == pytest.approx(150)
    canvas.stack.redo()
    np.testing.assert_allclose(shapes(canvas)[0].points[2], (180, 170), atol=1.0)


def test_insert_vertex_by_shift_click_and_double_click_then_delete(canvas) -> None:
    set_shapes(canvas, [square()])
    click(canvas, 100, 100)
    click(canvas, 100, 50, SHIFT)  # on the top edge
    pts = shapes(canvas)[0].points
    assert len(pts) == 5
    np.testing.assert_allclose(pts[1], (100, 50), atol=1.0)
    QTest.mouseDClick(canvas.viewport(), LEFT, NO_MOD, vp(canvas, 150, 100))  # right edge
    assert len(shapes(canvas)[0].points) == 6
    click(canvas, 100, 50, SHIFT)  # shift+click on a vertex deletes it
    assert len(shapes(canvas)[0].points) == 5
    canvas.stack.undo()
    assert len(shapes(canvas)[0].points) == 6
    canvas.stack.undo()
    canvas.stack.undo()
    np.testing.assert_array_equal(shapes(canvas)[0].points, square().points)


def test_delete_key_on_hovered_vertex_and_minimum_kept(canvas) -> None:
    tri = Shape("cat", [[50, 50], [150, 50], [100, 150], [60, 120]])
    set_shapes(canvas, [tri])
    click(canvas, 100, 80)
    QTest.mouseMove(canvas.viewport(), vp(canvas, 60, 120))
    key(canvas, Qt.Key.Key_Delete)
    assert len(shapes(canvas)[0].points) == 3
    QTest.mouseMove(canvas.viewport(), vp(canvas, 150, 50))
    click(canvas, 150, 50, SHIFT)  # three left: refused
    assert len(shapes(canvas)[0].points) == 3 and canvas.stack.count() == 1


def test_move_shape_by_drag_and_undo(canvas) -> None:
    set_shapes(canvas, [square(), square(200, 20, 50, "dog")])
    drag(canvas, [(80, 80), (90, 85), (100, 100)])
    np.testing.assert_allclose(shapes(canvas)[0].points - square().points, [[20, 20]] * 4, atol=1.0)
    np.testing.assert_array_equal(shapes(canvas)[1].points, square(200, 20, 50).points)
    assert canvas.stack.count() == 1
    assert canvas.scene_.shape_items[0].pos() == QPointF(0, 0)
    canvas.stack.undo()
    np.testing.assert_array_equal(shapes(canvas)[0].points, square().points)


def test_keyboard_nudges_merge_into_one_step(canvas) -> None:
    set_shapes(canvas, [square()])
    canvas.select_indices([0])
    for _ in range(5):
        key(canvas, Qt.Key.Key_Right)
    key(canvas, Qt.Key.Key_Down, SHIFT)
    assert canvas.stack.count() == 1
    np.testing.assert_array_equal(shapes(canvas)[0].points[0], (55, 60))
    canvas.edit_selected_props(label="dog")  # another edit ends the run of nudges
    key(canvas, Qt.Key.Key_Left)
    assert canvas.stack.count() == 3
    canvas.stack.undo()
    canvas.stack.undo()
    canvas.stack.undo()
    np.testing.assert_array_equal(shapes(canvas)[0].points[0], (50, 50))


def test_delete_copy_paste_duplicate(canvas) -> None:
    set_shapes(canvas, [square(), square(200, 20, 50, "dog")])
    click(canvas, 220, 40)
    canvas.copy_selected()
    key(canvas, Qt.Key.Key_Delete)
    assert [s.label for s in shapes(canvas)] == ["cat"]
    canvas.paste()
    assert [s.label for s in shapes(canvas)] == ["cat", "dog"] and canvas.selected_indices() == [1]
    canvas.duplicate_selected()
    assert len(shapes(canvas)) == 3 and canvas.selected_indices() == [2]
    np.testing.assert_array_equal(shapes(canvas)[2].points - shapes(canvas)[1].points, [[10, 10]] * 4)
    for _ in range(3):
        canvas.stack.undo()
    assert [s.label for s in shapes(canvas)] == ["cat", "dog"]
    assert len(canvas.scene_.shape_items) == 2


def test_rubber_band_and_ctrl_click_select(canvas, qtbot) -> None:
    set_shapes(canvas, [square(10, 10, 30), square(60, 10, 30, "dog"), square(200, 100, 50)])
    with qtbot.waitSignal(canvas.selection_changed):
        drag(canvas, [(5, 5), (50, 30), (95, 45)])
    assert canvas.selected_indices() == [0, 1]
    click(canvas, 220, 120, CTRL)
    assert canvas.selected_indices() == [0, 1, 2]
    click(canvas, 25, 25, CTRL)
    assert canvas.selected_indices() == [1, 2]
    click(canvas, 280, 20)  # empty space clears
    assert canvas.selected_indices() == []


def test_edit_props_of_selection_is_one_step(canvas) -> None:
    set_shapes(canvas, [square(), square(200, 20, 50, "dog", source="model", proposal=True)])
    canvas.select_indices([0, 1])
    canvas.edit_selected_props(label="cow", group_id=2)
    assert [(s.label, s.group_id) for s in shapes(canvas)] == [("cow", 2), ("cow", 2)]
    assert not shapes(canvas)[1].is_proposal and shapes(canvas)[1].extra["edited"] is True
    canvas.stack.undo()
    assert [s.label for s in shapes(canvas)] == ["cat", "dog"] and shapes(canvas)[1].is_proposal


# --- view -------------------------------------------------------------------------------------------
def _wheel(view: CanvasView, pos: QPoint, steps: int) -> None:
    event = QWheelEvent(
        QPointF(pos),
        QPointF(view.viewport().mapToGlobal(pos)),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        NO_MOD,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)


def test_wheel_zooms_at_the_cursor(canvas, qtbot) -> None:
    before = canvas.zoom_factor()
    anchor = vp(canvas, 60, 40)
    with qtbot.waitSignal(canvas.zoom_changed):
        _wheel(canvas, anchor, 3)
    assert canvas.zoom_factor() == pytest.approx(before * 1.2**3, rel=1e-6)
    under = canvas.mapToScene(anchor)
    assert (under.x(), under.y()) == pytest.approx((60, 40), abs=1.5)
    _wheel(canvas, anchor, -3)
    assert canvas.zoom_factor() == pytest.approx(before, rel=1e-6)
    canvas.zoom_100()
    assert canvas.zoom_factor() == 1.0
    canvas.fit_window()
    assert canvas.zoom_factor() == pytest.approx(before)


def test_middle_button_and_space_drag_pan(canvas) -> None:
    canvas.zoom_100()
    _wheel(canvas, QPoint(320, 240), 8)
    h = canvas.horizontalScrollBar()
    start = h.value()
    QTest.mousePress(canvas.viewport(), Qt.MouseButton.MiddleButton, NO_MOD, QPoint(300, 200))
    QTest.mouseMove(canvas.viewport(), QPoint(250, 200))
    QTest.mouseRelease(canvas.viewport(), Qt.MouseButton.MiddleButton, NO_MOD, QPoint(250, 200))
    assert h.value() == start + 50
    QTest.keyPress(canvas.viewport(), Qt.Key.Key_Space)
    QTest.mousePress(canvas.viewport(), LEFT, NO_MOD, QPoint(300, 200))
    QTest.mouseMove(canvas.viewport(), QPoint(330, 200))
    QTest.mouseRelease(canvas.viewport(), LEFT, NO_MOD, QPoint(330, 200))
    QTest.keyRelease(canvas.viewport(), Qt.Key.Key_Space)
    assert h.value() == start + 20
    assert shapes(canvas) == []


def test_cursor_readout_reports_raw_values(canvas, qtbot) -> None:
    raw = np.arange(W * H, dtype=np.uint16).reshape(H, W)
    canvas.set_image(_gray(), raw=raw)
    with qtbot.waitSignal(canvas.cursor_moved) as moved:
        QTest.mouseMove(canvas.viewport(), vp(canvas, 30.5, 20.5))
    x, y, value = moved.args
    assert (int(x), int(y)) == (30, 20) and value == raw[20, 30]


EVERY_TYPE = [
    Shape("a", [[20, 20], [80, 20], [50, 70]]),
    Shape("b", [[100, 20], [160, 70]], shape_type="rectangle"),
    Shape("c", [[220, 50], [250, 50]], shape_type="circle"),
    Shape("d", [[20, 110], [90, 180]], shape_type="line"),
    Shape("e", [[110, 110], [140, 180], [170, 110]], shape_type="linestrip"),
    Shape("f", [[200, 120]], shape_type="point"),
    Shape("g", [[230, 120], [260, 150]], shape_type="points"),
    Shape("h", [[180, 150], [220, 150], [220, 190], [180, 190]], shape_type="oriented_rectangle"),
    Shape("i", [[240, 160], [289, 189]], shape_type="mask", mask=np.ones((30, 50), dtype=bool)),
]
# A point on each shape's outline (or inside for masks) where its colour must show.
ON_OUTLINE = [
    (50, 20),
    (130, 20),
    (250, 50),
    (55, 145),
    (155, 145),
    (200, 120),
    (230, 120),
    (180, 170),
    (265, 175),
]


def test_every_labelme_shape_type_loads_and_displays(canvas) -> None:
    canvas.set_fill_opacity(0.6)
    set_shapes(canvas, [s.copy() for s in EVERY_TYPE])
    assert len(canvas.scene_.shape_items) == len(EVERY_TYPE)
    image = grab(canvas)
    for shape, (x, y) in zip(EVERY_TYPE, ON_OUTLINE, strict=True):
        rgb = np.array(pixel_at(canvas, image, x, y))
        assert np.abs(rgb - 128).max() > 20, f"{shape.shape_type} not drawn at {(x, y)}: {rgb}"
        target = np.array(label_rgb(shape.label))
        assert np.abs(rgb - target).sum() < np.abs(np.array([128] * 3) - target).sum()
    item = canvas.scene_.shape_items[-1]
    assert isinstance(item, ShapeItem) and item.shape_data.shape_type == "mask"


def test_hide_by_label_and_toggle_all_with_t(canvas) -> None:
    set_shapes(canvas, [square(), square(200, 20, 50, "dog")])
    canvas.set_label_visible("dog", False)
    assert [i.isVisible() for i in canvas.scene_.shape_items] == [True, False]
    key(canvas, Qt.Key.Key_T)
    assert not any(i.isVisible() for i in canvas.scene_.shape_items)
    key(canvas, Qt.Key.Key_T)
    canvas.select_all()
    assert canvas.selected_indices() == [0]  # hidden shapes are not selected
    canvas.set_label_visible("dog", True)
    assert all(i.isVisible() for i in canvas.scene_.shape_items)


def test_label_list_sets_colours(canvas) -> None:
    from segdesk.core.colors import label_color

    set_shapes(canvas, [square(label="dog")])
    canvas.set_label_list(["_background_", "cat", "dog"])
    style = canvas.scene_.styles.style("dog")
    assert style.rgb == label_color("dog", ["_background_", "cat", "dog"]) == (0, 128, 0)
    image = grab(canvas)
    r, g, b = pixel_at(canvas, image, 100, 50)
    assert g > r + 40 and g > b + 40


def test_brightness_contrast_change_the_view_only(canvas) -> None:
    set_shapes(canvas, [square(10, 10, 20)])
    before = pixel_at(canvas, grab(canvas), 200, 150)
    canvas.set_view_adjust(1.5, 1.0)
    after = pixel_at(canvas, grab(canvas), 200, 150)
    assert before == pytest.approx((128, 128, 128), abs=1) and after == pytest.approx((192, 192, 192), abs=1)
    assert canvas.scene_.image.rgb[150, 200].tolist() == [128, 128, 128]


def test_proposals_are_drawn_dashed(canvas) -> None:
    def edge_spread(proposal: bool) -> int:
        extra = {"source": "model", "proposal": True} if proposal else {}
        set_shapes(canvas, [square(50, 50, 100, **extra)])
        image = grab(canvas)
        row = np.array([pixel_at(canvas, image, x, 50) for x in range(55, 145)])
        return int((row.max(axis=0) - row.min(axis=0)).max())

    assert edge_spread(False) < 10  # a solid outline is uniform along the edge
    assert edge_spread(True) > 40  # a dashed one alternates between pen and background


def test_big_image_is_tiled_and_over_qt_limit_does_not_crash(qtbot) -> None:
    view = CanvasView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.set_image(np.zeros((3000, 2 * TILE + 5, 3), dtype=np.uint8))
    assert len(view.scene_.image.tiles) == 3 * 2
    wide = np.zeros((4, 40000, 3), dtype=np.uint8)
    wide[:, 39990:] = 255
    view.set_image(wide)
    assert len(view.scene_.image.tiles) == 20
    view.zoom_100()
    view.centerOn(39995, 2)
    image = grab(view)
    assert not image.isNull()


def test_undo_stack_is_deep(canvas) -> None:
    assert canvas.stack.undoLimit() == 0 or canvas.stack.undoLimit() >= 1000
    assert UNDO_LIMIT >= 1000
    set_shapes(canvas, [square()])
    canvas.select_indices([0])
    for i in range(1200):
        canvas.edit_selected_props(label=f"l{i}")
    assert canvas.stack.count() == 1200
    for _ in range(1200):
        canvas.stack.undo()
    assert shapes(canvas)[0].label == "cat"


def test_modes_and_signals(canvas, qtbot) -> None:
    with qtbot.waitSignal(canvas.mode_changed) as changed:
        canvas.set_mode("rectangle")
    assert changed.args == ["rectangle"] and canvas.mode() == "rectangle"
    with pytest.raises(ValueError):
        canvas.set_mode("lasso")  # type: ignore[arg-type]


def test_many_shapes_use_the_overview_and_edits_redraw_only_what_changed(canvas) -> None:
    grid = [square(10 + 9 * (i % 30), 10 + 9 * (i // 30), 6, label=f"c{i % 3}") for i in range(30 * 14)]
    assert len(grid) > MANY_SHAPES
    set_shapes(canvas, grid)
    canvas.set_fill_opacity(0.0)
    assert canvas.scene_.overview_active
    assert all(i.in_overview for i in canvas.scene_.shape_items)
    k = 12  # first row: free space below the grid to move it to
    x, y = grid[k].points[0]
    on_edge = (x + 3, y)
    before = pixel_at(canvas, grab(canvas), *on_edge)
    assert before != (128, 128, 128)
    canvas.select_indices([k])
    assert not canvas.scene_.shape_items[k].in_overview
    canvas.delete_selected()
    assert pixel_at(canvas, grab(canvas), *on_edge) == (128, 128, 128)
    canvas.stack.undo()
    assert pixel_at(canvas, grab(canvas), *on_edge) == before
    canvas.select_indices([])
    assert canvas.scene_.shape_items[k].in_overview
    drag(canvas, [(x + 3, y + 3), (x + 3, y + 100), (x + 3, y + 163)])
    canvas.select_indices([])
    image = grab(canvas)
    assert pixel_at(canvas, image, *on_edge) == (128, 128, 128)
    assert pixel_at(canvas, image, x + 3, y + 160) != (128, 128, 128)
    assert pixel_at(canvas, grab(canvas), x + 12, y) != (128, 128, 128)  # the neighbour is intact


def test_convert_round_trips(qapp) -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    image = rgb_to_qimage(rgb[:, ::1])
    rgb[0, 0] = 0  # the QImage owns its copy
    back = qimage_to_rgb(image)
    assert back.shape == (7, 5, 3) and back[1:].tolist() == rgb[1:].tolist()
    arrays = [rng.random((n, 2)) * 50 for n in (0, 1, 2, 3, 7, 100)]
    closed = [True, False, True, True, False, True]
    batch = points_to_paths(arrays, closed)
    for pts, c, path in zip(arrays, closed, batch, strict=True):
        assert path == points_to_path(pts, closed=c)
    poly = points_to_polygon(arrays[4])
    np.testing.assert_allclose(polygon_to_points(poly), arrays[4])
    assert batch[5].elementCount() == 101 and batch[4].elementCount() == 7


def test_overview_tiles_render_lazily_when_zoomed_and_panned(canvas) -> None:
    grid = [square(10 + 9 * (i % 30), 10 + 9 * (i // 30), 6, label="c0") for i in range(30 * 14)]
    set_shapes(canvas, grid)
    canvas.zoom_by(8.0)
    assert canvas.scene_.overview_active
    for k in (0, 419):  # far corners of the grid: tiles appear as they are shown
        x, y = grid[k].points[0]
        canvas.centerOn(x + 3, y + 3)
        image = grab(canvas)
        assert pixel_at(canvas, image, x + 3, y) != (128, 128, 128)
        assert pixel_at(canvas, image, x + 3, y + 3) != pixel_at(canvas, image, x + 3, y + 7.5)
    assert 0 < canvas.scene_.overview.tile_count()


def test_dragging_a_vertex_of_an_unselected_shape_moves_only_that_vertex(canvas) -> None:
    """Issue 13, defect 4: as in Labelme, the vertex under the cursor is highlighted and dragged."""
    set_shapes(canvas, [square(), square(200, 20, 50, "dog")])
    assert canvas.selected_indices() == []
    QTest.mouseMove(canvas.viewport(), vp(canvas, 150, 150))
    item = canvas.scene_.shape_items[0]
    assert item.hover_vertex == 2 and not item.in_overview
    image = grab(canvas)
    assert pixel_at(canvas, image, 150, 150) == (255, 80, 0)  # the highlighted handle
    drag(canvas, [(150, 150), (160, 155), (170, 160), (180, 170)])
    pts = shapes(canvas)[0].points
    np.testing.assert_allclose(pts[2], (180, 170), atol=1.0)
    np.testing.assert_array_equal(np.delete(pts, 2, axis=0), np.delete(square().points, 2, axis=0))
    np.testing.assert_array_equal(shapes(canvas)[1].points, square(200, 20, 50).points)
    assert canvas.selected_indices() == [0]
    assert canvas.stack.count() == 1
    canvas.stack.undo()
    np.testing.assert_array_equal(shapes(canvas)[0].points, square().points)


def test_vertex_of_the_topmost_shape_wins(canvas) -> None:
    set_shapes(canvas, [square(), square(150, 150, 40, "dog")])  # the dog's corner sits on the cat's
    drag(canvas, [(150, 150), (140, 140)])
    np.testing.assert_array_equal(shapes(canvas)[0].points, square().points)
    np.testing.assert_allclose(shapes(canvas)[1].points[0], (140, 140), atol=1.0)


def test_a_pyramid_made_beforehand_paints_as_the_tiles_own(qtbot) -> None:
    from segdesk.ui.canvas.layers import make_pyramid

    yy, xx = np.mgrid[0:2600, 0:4100]
    rgb = np.stack([(xx // 7) % 256, (yy // 5) % 256, ((xx + yy) // 11) % 256], axis=-1).astype(np.uint8)
    pyramid = make_pyramid(rgb)
    assert [p.shape[:2] for p in pyramid[:2]] == [(1300, 2050), (650, 1025)]
    grabs = []
    for levels in (None, pyramid):
        view = CanvasView()
        qtbot.addWidget(view)
        view.resize(600, 400)
        view.show()
        qtbot.waitExposed(view)
        view.set_image(rgb, pyramid=levels)
        view.set_document(Document("a.png", 2600, 4100))
        QApplication.processEvents()
        view.viewport().repaint()
        grabs.append(qimage_to_rgb(view.viewport().grab().toImage()).astype(int))
    assert np.abs(grabs[0] - grabs[1]).mean() < 1.0


def test_a_zoom_step_shows_the_last_zoom_scaled_then_renders_sharp_in_slices(canvas, qtbot) -> None:
    grid = [square(10 + 9 * (i % 30), 10 + 9 * (i // 30), 6, label=f"c{i % 3}") for i in range(30 * 14)]
    set_shapes(canvas, grid)
    overview = canvas.scene_.overview
    grab(canvas)
    assert overview.tile_count() > 0 and not overview.refining()
    canvas.zoom_by(1.2)
    stand_in = grab(canvas)
    assert overview.refining()  # nothing rendered at the new zoom during the step itself
    x, y = grid[40].points[0]
    assert pixel_at(canvas, stand_in, x + 3, y) != (128, 128, 128)  # the shapes are there, scaled
    qtbot.waitUntil(lambda: not overview.refining() and not canvas.scene_.image.refining, timeout=5000)
    sharp = grab(canvas)
    overview.invalidate_all()
    canvas.scene_.image.finish_refining()
    fresh = grab(canvas)
    assert qimage_to_rgb(sharp).tolist() == qimage_to_rgb(fresh).tolist()


def test_paths_made_ahead_are_used_unless_the_points_changed(canvas, monkeypatch) -> None:
    from segdesk.ui.canvas import scene as scene_module

    shapes_ = [square(10, 10, 20), square(50, 10, 20), square(90, 10, 20)]
    scene_module.prebuild_paths(shapes_)
    shapes_[1].points = shapes_[1].points + 5  # changed after: its path is made again
    counts: list[int] = []
    real = scene_module.points_to_paths
    monkeypatch.setattr(
        scene_module, "points_to_paths", lambda pts, closed: counts.append(len(pts)) or real(pts, closed)
    )
    canvas.set_document(Document("a.png", H, W, shapes=shapes_))
    assert counts == [1]
    rects = [item.path().boundingRect() for item in canvas.scene_.shape_items]
    assert [(r.left(), r.top()) for r in rects] == [(10, 10), (55, 15), (90, 10)]
