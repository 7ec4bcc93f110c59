"""Undoable edits as deltas on a Document: do / undo / redo restore exact state, notify once with detail."""

from __future__ import annotations

import numpy as np
import pytest

from segdesk.core.commands import (
    AddShapes,
    InsertVertex,
    Macro,
    MoveShapes,
    MoveVertex,
    RemoveShapes,
    RemoveVertex,
    ReplaceShapes,
    SetShapeProps,
    accept_proposals,
)
from segdesk.core.document import Document, ShapesChange
from segdesk.core.shapes import Shape


def _square(label: str, x: float, *, proposal: bool = False) -> Shape:
    pts = [[x, 0], [x + 10, 0], [x + 10, 10], [x, 10]]
    extra = {"source": "model", "proposal": True} if proposal else {}
    return Shape(label=label, points=pts, extra=extra)


def _doc(n: int = 3) -> Document:
    return Document(
        image_path="a.png",
        image_height=100,
        image_width=100,
        shapes=[_square(f"s{i}", 20 * i) for i in range(n)],
    )


def _snapshot(doc: Document) -> list[Shape]:
    return [s.copy() for s in doc.shapes]


def _same(doc: Document, snap: list[Shape]) -> bool:
    return len(doc.shapes) == len(snap) and all(a.same_as(b) for a, b in zip(doc.shapes, snap, strict=True))


class _Recorder:
    def __init__(self, doc: Document) -> None:
        self.calls: list[tuple[str, object]] = []
        self.plain: list[str] = []
        doc.subscribe(lambda what, detail: self.calls.append((what, detail)), detail=True)
        doc.subscribe(self.plain.append)


def _roundtrip(doc: Document, command) -> tuple[list[Shape], list[Shape]]:
    before = _snapshot(doc)
    command.do(doc)
    after = _snapshot(doc)
    command.undo(doc)
    assert _same(doc, before)
    command.do(doc)
    assert _same(doc, after)
    command.undo(doc)
    assert _same(doc, before)
    return before, after


def test_add_shapes_inserts_at_final_positions_and_undo_removes() -> None:
    doc = _doc(3)
    new = [_square("n0", 100), _square("n1", 200)]
    rec = _Recorder(doc)
    cmd = AddShapes([3, 0], [new[1], new[0]])
    cmd.do(doc)
    assert [s.label for s in doc.shapes] == ["n0", "s0", "s1", "n1", "s2"]
    assert rec.calls == [("shapes", (ShapesChange("added", (0, 3)),))]
    assert rec.plain == ["shapes"]
    cmd.undo(doc)
    assert [s.label for s in doc.shapes] == ["s0", "s1", "s2"]
    assert rec.calls[-1] == ("shapes", (ShapesChange("removed", (0, 3)),))
    _roundtrip(doc, cmd)


def test_add_shapes_rejects_mismatch_and_duplicates() -> None:
    with pytest.raises(ValueError):
        AddShapes([0], [])
    with pytest.raises(ValueError):
        AddShapes([1, 1], [_square("a", 0), _square("b", 0)])


def test_remove_shapes_keeps_removed_and_restores_order() -> None:
    doc = _doc(5)
    rec = _Recorder(doc)
    cmd = RemoveShapes([3, 1, 3])
    cmd.do(doc)
    assert [s.label for s in doc.shapes] == ["s0", "s2", "s4"]
    assert [s.label for s in cmd.removed] == ["s1", "s3"]
    assert rec.calls[-1] == ("shapes", (ShapesChange("removed", (1, 3)),))
    cmd.undo(doc)
    assert [s.label for s in doc.shapes] == ["s0", "s1", "s2", "s3", "s4"]
    _roundtrip(doc, cmd)


def test_move_shapes_and_merge_of_nudges() -> None:
    doc = _doc(2)
    before, after = _roundtrip(doc, MoveShapes([1], 2.5, -1))
    np.testing.assert_allclose(after[1].points - before[1].points, [[2.5, -1]] * 4)
    np.testing.assert_array_equal(after[0].points, before[0].points)
    a, b = MoveShapes([0], 1, 0, mergeable=True), MoveShapes([0], 0, 1, mergeable=True)
    assert a.merge(b) and (a.dx, a.dy) == (1, 1)
    assert not a.merge(MoveShapes([1], 1, 0, mergeable=True))
    assert not MoveShapes([0], 1, 0).merge(MoveShapes([0], 1, 0))


def test_move_vertex_and_merge() -> None:
    doc = _doc(1)
    cmd = MoveVertex(0, 2, (10, 10), (15, 12))
    before, after = _roundtrip(doc, cmd)
    np.testing.assert_array_equal(after[0].points[2], [15, 12])
    a = MoveVertex(0, 2, (10, 10), (11, 10), mergeable=True)
    b = MoveVertex(0, 2, (11, 10), (12, 10), mergeable=True)
    assert a.merge(b)
    a.do(doc)
    np.testing.assert_array_equal(doc.shapes[0].points[2], [12, 10])
    a.undo(doc)
    np.testing.assert_array_equal(doc.shapes[0].points[2], [10, 10])
    assert not a.merge(MoveVertex(0, 1, (0, 0), (1, 1), mergeable=True))


def test_insert_and_remove_vertex() -> None:
    doc = _doc(1)
    ins = InsertVertex(0, 1, (5, -1))
    before, after = _roundtrip(doc, ins)
    assert len(after[0].points) == 5 and tuple(after[0].points[1]) == (5, -1)
    rem = RemoveVertex(0, 0)
    before, after = _roundtrip(doc, rem)
    np.testing.assert_array_equal(after[0].points, before[0].points[1:])


def test_remove_vertex_refuses_below_minimum() -> None:
    doc = Document(image_path="a.png", shapes=[Shape("t", [[0, 0], [1, 0], [0, 1]])])
    assert not RemoveVertex.allowed(doc.shapes[0])
    with pytest.raises(ValueError, match=r"shapes\[0\]"):
        RemoveVertex(0, 0).do(doc)
    assert len(doc.shapes[0].points) == 3
    rect = Shape("r", [[0, 0], [5, 5]], shape_type="rectangle")
    assert not RemoveVertex.allowed(rect)


def test_set_shape_props_only_touches_given_fields() -> None:
    doc = _doc(3)
    doc.shapes[0].flags = {"occluded": False}
    rec = _Recorder(doc)
    cmd = SetShapeProps([0, 2], label="cat", flags={"occluded": True})
    cmd.do(doc)
    assert [s.label for s in doc.shapes] == ["cat", "s1", "cat"]
    assert doc.shapes[0].flags == {"occluded": True} and doc.shapes[0].description == ""
    assert rec.calls[-1] == ("shapes", (ShapesChange("changed", (0, 2), geometry=False),))
    cmd.undo(doc)
    assert [s.label for s in doc.shapes] == ["s0", "s1", "s2"] and doc.shapes[0].flags == {"occluded": False}
    _roundtrip(doc, SetShapeProps([1], group_id=4, description="x"))


def test_editing_a_proposal_makes_it_the_persons_and_undo_restores() -> None:
    doc = Document(image_path="a.png", shapes=[_square("p", 0, proposal=True)])
    for cmd in (
        MoveShapes([0], 1, 1),
        MoveVertex(0, 0, (0, 0), (1, 1)),
        InsertVertex(0, 1, (5, 0)),
        RemoveVertex(0, 0),
        SetShapeProps([0], label="q"),
    ):
        cmd.do(doc)
        assert not doc.shapes[0].is_proposal and doc.shapes[0].extra["edited"] is True
        assert doc.shapes[0].is_from_person
        cmd.undo(doc)
        assert doc.shapes[0].is_proposal and "edited" not in doc.shapes[0].extra


def test_replace_and_accept_proposals_macro_notifies_once() -> None:
    doc = Document(image_path="a.png", shapes=[_square("p", 20 * i, proposal=i % 2 == 0) for i in range(6)])
    rec = _Recorder(doc)
    macro = accept_proposals(doc)
    assert macro.text == "accept 3 proposals"
    before, after = _roundtrip(doc, macro)
    assert all(not s.is_proposal for s in after) and sum(s.is_proposal for s in before) == 3
    assert len(rec.calls) == 4 and all(len(d) == 1 for _, d in rec.calls)
    rep = ReplaceShapes([1], [_square("new", 500)])
    _roundtrip(doc, rep)
    with pytest.raises(ValueError):
        ReplaceShapes([1, 2], [_square("a", 0)])


def test_macro_of_mixed_commands_is_one_step() -> None:
    doc = _doc(3)
    rec = _Recorder(doc)
    macro = Macro(
        [RemoveShapes([0]), AddShapes([2], [_square("x", 300)]), SetShapeProps([0], label="y")], text="bulk"
    )
    macro.do(doc)
    assert [s.label for s in doc.shapes] == ["y", "s2", "x"]
    assert len(rec.calls) == 1
    kinds = [c.kind for c in rec.calls[0][1]]
    assert kinds == ["removed", "added", "changed"]
    macro.undo(doc)
    assert [s.label for s in doc.shapes] == ["s0", "s1", "s2"]
    assert [c.kind for c in rec.calls[1][1]] == ["changed", "removed", "added"]
    _roundtrip(doc, macro)


def test_plain_listener_still_gets_one_argument_and_unsubscribe_works() -> None:
    doc = _doc(1)
    seen: list[str] = []
    doc.subscribe(seen.append)
    doc.set_status("reviewed")
    doc.unsubscribe(seen.append)
    MoveShapes([0], 1, 1).do(doc)
    assert seen == ["status"]


def test_thousand_step_history_undoes_exactly() -> None:
    doc = _doc(2)
    before = _snapshot(doc)
    rng = np.random.default_rng(1)
    done = []
    for k in range(1000):
        if k % 2:
            cmd = MoveVertex(k % 2, k % 4, tuple(doc.shapes[k % 2].points[k % 4]), tuple(rng.random(2) * 50))
        else:
            cmd = MoveShapes([0], *rng.normal(size=2))
        cmd.do(doc)
        done.append(cmd)
    for cmd in reversed(done):
        cmd.undo(doc)
    for a, b in zip(doc.shapes, before, strict=True):
        np.testing.assert_allclose(a.points, b.points, atol=1e-9)
