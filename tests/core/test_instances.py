"""Issue 17: objects from shapes, instance targets, splitting touching objects, object-like classes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segdesk.core.instance_metrics import overlap
from segdesk.core.instance_split import SplitSettings, split_instances, split_to_shapes
from segdesk.core.instances import (
    boundary_band,
    class_shape_stats,
    default_object_classes,
    instance_target,
    object_classes,
    shapes_to_instances,
    with_boundary_classes,
)
from segdesk.core.rasterize import shapes_to_label
from segdesk.core.shapes import Shape

NAMES = ["_background_", "nucleus"]
WITH_BOUNDARY = ["_background_", "nucleus", "nucleus::boundary"]
OBJECTS = SplitSettings(object_classes={"nucleus"})


def touching_discs(h: int = 90, w: int = 130) -> np.ndarray:
    """Instance map: two discs that touch along a wide contact (their union is one component)."""
    ins = np.zeros((h, w), np.int32)
    cv2.circle(ins, (42, 45), 22, 1, -1)
    other = np.zeros_like(ins)
    cv2.circle(other, (82, 45), 20, 1, -1)
    ins[other > 0] = 2
    return ins


def best_ious(truth: np.ndarray, pred: np.ndarray) -> list[float]:
    ov = overlap(truth, pred)
    return [float(v) for v in ov.iou.max(axis=1)]


def test_touching_discs_are_one_component_today() -> None:
    ins = touching_discs()
    n, _ = cv2.connectedComponents((ins > 0).astype(np.uint8))
    assert n - 1 == 1  # what connected components propose: one shape


@pytest.mark.parametrize("source", ["probabilities", "class_map"])
def test_learned_boundary_splits_touching_discs(source: str) -> None:
    ins = touching_discs()
    target = instance_target((ins > 0).astype(np.uint8), ins, {1: 2}, width=2)
    if source == "probabilities":
        probs = np.stack([(target == k).astype(np.float32) * 0.8 + 0.1 for k in range(3)])
        split = split_instances(WITH_BOUNDARY, OBJECTS, probabilities=probs)
    else:
        split = split_instances(WITH_BOUNDARY, OBJECTS, class_map=target)
    assert len(split.objects) == 2
    assert min(best_ious(ins, split.instances)) >= 0.9
    assert split.class_names == NAMES  # the boundary class is folded back into its class
    shapes = split_to_shapes(split, {"nucleus"})
    assert [s.label for s in shapes] == ["nucleus", "nucleus"]
    assert all(s.shape_type == "polygon" for s in shapes)
    # Each polygon, rasterized as Labelme does, is its object.
    _, drawn = shapes_to_label(ins.shape, shapes, {"_background_": 0, "nucleus": 1})
    assert min(best_ious(ins, drawn)) >= 0.9


def test_each_object_has_its_own_confidence() -> None:
    ins = touching_discs()
    target = instance_target((ins > 0).astype(np.uint8), ins, {1: 2}, width=2)
    probs = np.stack([(target == k).astype(np.float32) for k in range(3)])
    probs[:, ins == 2] = probs[:, ins == 2] * 0.6 + 0.4 / 3
    split = split_instances(WITH_BOUNDARY, OBJECTS, probabilities=probs)
    by_size = sorted(split.objects, key=lambda o: o.area)
    assert by_size[1].confidence == pytest.approx(1.0)
    assert by_size[0].confidence == pytest.approx(0.6 + 0.4 / 3 * 2, abs=1e-3)  # nucleus + its boundary
    shape = split_to_shapes(split, {"nucleus"})[0]
    assert "confidence" in shape.extra


def test_grow_gives_back_the_outline_a_model_under_reaches() -> None:
    ins = touching_discs()
    shrunk = np.zeros_like(ins)
    for k in (1, 2):  # the model's objects: each disc 1 px short of its outline
        shrunk[cv2.erode((ins == k).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0] = k
    target = instance_target((shrunk > 0).astype(np.uint8), shrunk, {1: 2}, width=2)
    probs = np.stack([(target == k).astype(np.float32) * 0.8 + 0.1 for k in range(3)])
    plain = split_instances(WITH_BOUNDARY, OBJECTS, probabilities=probs)
    grown = split_instances(
        WITH_BOUNDARY, SplitSettings(object_classes={"nucleus"}, grow=1), probabilities=probs
    )
    assert len(plain.objects) == len(grown.objects) == 2
    assert min(best_ious(ins, plain.instances)) < 0.95 <= min(best_ious(ins, grown.instances))
    added = (grown.instances > 0) & (plain.instances == 0)
    assert added.any() and (plain.class_map[added] == 0).all()  # only into the background
    assert not ((grown.instances > 0) & ~cv2.dilate((shrunk > 0).astype(np.uint8), np.ones((3, 3)))).any()
    # a grown pixel counts for its object's confidence with its own (low) class probability
    assert max(o.confidence for o in grown.objects) < max(o.confidence for o in plain.objects)
    # a class that is not split into objects is never grown
    other = split_instances(WITH_BOUNDARY, SplitSettings(object_classes={"x"}, grow=2), probabilities=probs)
    assert sum(o.area for o in other.objects) == int((plain.class_map == 1).sum())


def test_distance_baseline_splits_touching_discs_without_a_boundary_output() -> None:
    ins = touching_discs()
    split = split_instances(NAMES, OBJECTS, class_map=(ins > 0).astype(np.uint8))
    assert len(split.objects) == 2
    assert min(best_ious(ins, split.instances)) >= 0.9


def test_a_class_that_is_not_object_like_is_never_split() -> None:
    ins = touching_discs()
    target = instance_target((ins > 0).astype(np.uint8), ins, {1: 2}, width=2)
    for kwargs in ({"class_map": target}, {"class_map": (ins > 0).astype(np.uint8)}):
        names = WITH_BOUNDARY if kwargs["class_map"].max() == 2 else NAMES
        split = split_instances(names, SplitSettings(object_classes={"other"}), **kwargs)
        assert len(split.objects) == 1
        assert split.objects[0].area == int((ins > 0).sum())
        assert len(split_to_shapes(split, set())) == 1


def test_boundary_band_marks_contacts_and_outlines_only() -> None:
    ins = touching_discs()
    band = boundary_band(ins, 1)
    assert not band[ins == 0].any()
    assert band[45, 62] or band[45, 63]  # the contact line
    assert not band[45, 42]  # a disc centre


def test_instance_target_teaches_the_boundary_only_where_objects_touch() -> None:
    ins = touching_discs()
    t = instance_target((ins > 0).astype(np.uint8), ins, {1: 2}, width=2)
    assert (t == 2).any() and not (t[ins == 0] != 0).any()
    assert ins[45, 61] == 1 and ins[45, 62] == 2  # the contact line
    assert (t[45, 60:64] == 2).all()  # both sides of it, 2 px each
    assert t[45, 59] == 1 and t[45, 66] == 1
    assert (t[45, 20:23] == 1).all() and (t[23:26, 42] == 1).all()  # outlines against background stay nucleus
    # An object alone, or objects of another class, never get a boundary.
    alone = np.where(ins == 1, 1, 0).astype(np.int32)
    assert not (instance_target(alone.astype(np.uint8), alone, {1: 2}, width=2) == 2).any()
    two_classes = np.where(ins == 2, 3, ins).astype(np.uint8)
    t2 = instance_target(two_classes, ins, {1: 2, 3: 4}, width=2)
    assert not np.isin(t2, [2, 4]).any()


def test_instance_target_marks_objects_that_nearly_touch() -> None:
    ins = np.zeros((12, 20), np.int32)
    ins[2:10, 2:9] = 1
    ins[2:10, 10:18] = 2  # a 1-pixel gap (column 9)
    t = instance_target((ins > 0).astype(np.uint8), ins, {1: 2}, width=2)
    assert (t[2:10, 8] == 2).all() and (t[2:10, 10] == 2).all()  # 1 px from the other object
    assert (t[2:10, 7] == 1).all() and (t[2:10, 11] == 1).all()  # 2 px away: the gap pixel counts
    assert (t[:, 9] == 0).all()  # the gap itself stays background


def test_instance_target_keeps_ignore_and_seeds_of_tiny_objects() -> None:
    ins = np.zeros((20, 20), np.int32)
    ins[2:4, 2:4] = 1  # 2x2 beside a larger object: a 2-pixel contact band would swallow it
    ins[2:10, 4:12] = 2
    cls = (ins > 0).astype(np.uint8)
    cls[0, :] = 255
    t = instance_target(cls, ins, {1: 2}, width=2)
    assert (t[0] == 255).all()
    assert (t[2:4, 2] == 1).all() and (t[2:4, 3] == 2).all()  # thinned to 1 pixel: a seed stays
    assert (t[2:4, 4:6] == 2).all() and (t[2:10, 6:12] == 1).all()


def test_group_id_parts_are_one_object_in_targets() -> None:
    left = Shape(label="nucleus", points=np.array([[2, 2], [9, 2], [9, 12], [2, 12]], float), group_id=7)
    right = Shape(label="nucleus", points=np.array([[10, 2], [17, 2], [17, 12], [10, 12]], float), group_id=7)
    cls, ins = shapes_to_instances((16, 20), [left, right], NAMES)
    assert ins.max() == 1 and (cls == 1).sum() == (ins == 1).sum()
    t = instance_target(cls, ins, {1: 2}, width=1)
    assert not (t[5:9, 9:11] == 2).any()  # no boundary between the parts
    alone = [Shape(label="nucleus", points=left.points), Shape(label="nucleus", points=right.points)]
    _, ins2 = shapes_to_instances((16, 20), alone, NAMES)
    assert ins2.max() == 2
    assert (instance_target(cls, ins2, {1: 2}, width=1)[5:9, 9:11] == 2).all()


def test_with_boundary_classes_appends_one_per_object_class() -> None:
    names, mapping = with_boundary_classes(["_background_", "cell", "membrane"], ["cell", "unknown"])
    assert names == ["_background_", "cell", "membrane", "cell::boundary"]
    assert mapping == {1: 3}


def _circle(label: str, x: float, y: float, r: float) -> Shape:
    return Shape(label=label, points=np.array([[x, y], [x + r, y]], float), shape_type="circle")


def test_object_like_default_from_the_data_and_the_per_class_setting() -> None:
    docs = []
    for i in range(3):
        shapes = [_circle("nucleus", 20 + 30 * k, 40 + i, 8) for k in range(6)]
        shapes.append(Shape(label="tissue", points=np.array([[0, 0], [300, 0], [300, 200], [0, 200]], float)))
        shapes.append(Shape(label="membrane", points=np.array([[0, 5], [300, 5]], float), shape_type="line"))
        shapes += [_circle("membrane", 5, 5, 1)] * 3
        docs.append(((200, 300), shapes))
    stats = class_shape_stats(docs)
    assert default_object_classes(stats) == {"nucleus"}
    assert object_classes(stats, {"nucleus": False, "tissue": True}) == {"tissue"}


def test_object_setting_round_trips_and_bad_files_name_the_field(tmp_path) -> None:
    from segdesk.core.errors import ProjectError
    from segdesk.core.instance_settings import read_object_setting, settings_path, write_object_setting

    assert read_object_setting(tmp_path) == {}
    write_object_setting(tmp_path, {"nucleus": True, "membrane": False})
    assert read_object_setting(tmp_path) == {"membrane": False, "nucleus": True}
    settings_path(tmp_path).write_text('{"objects": {"nucleus": "yes"}}', encoding="utf-8")
    with pytest.raises(ProjectError, match=r"objects\.nucleus"):
        read_object_setting(tmp_path)
    settings_path(tmp_path).write_text("{", encoding="utf-8")
    with pytest.raises(ProjectError, match="instances.json"):
        read_object_setting(tmp_path)
    settings_path(tmp_path).write_text('{"objects": {}, "objekts": {}}', encoding="utf-8")
    with pytest.raises(ProjectError, match="objekts: is not one of the settings"):
        read_object_setting(tmp_path)  # the rules of the other settings files (core/settings_file)
    settings_path(tmp_path).write_text('{"objects": ["nucleus"]}', encoding="utf-8")
    with pytest.raises(ProjectError, match=r"objects: expected an object \{label: true/false\}"):
        read_object_setting(tmp_path)


def test_interior_maxima_split_interiors_the_model_left_touching() -> None:
    ins = touching_discs()
    union = (ins > 0).astype(np.uint8)
    # The model found a boundary along the outer outline but none between the two discs.
    target = np.where(boundary_band(union.astype(np.int32), 2), 2, union).astype(np.uint8)
    components = SplitSettings(object_classes={"nucleus"}, interior_maxima=False)
    one = split_instances(WITH_BOUNDARY, components, class_map=target)
    assert len(one.objects) == 1
    two = split_instances(WITH_BOUNDARY, OBJECTS, class_map=target)  # the default: interior maxima
    assert len(two.objects) == 2
    assert min(best_ious(ins, two.instances)) >= 0.85


def test_fold_boundary_mask_gives_back_the_drawn_classes() -> None:
    from segdesk.core.instances import fold_boundary_mask, folded_class_names

    names = ["_background_", "nucleus::boundary", "cell", "nucleus", "other::boundary"]
    assert folded_class_names(names) == ["_background_", "cell", "nucleus", "other::boundary"]
    cm = np.array([[0, 1, 2, 3], [4, 255, 1, 3]], np.uint8)
    folded = fold_boundary_mask(cm, names)
    # the boundary becomes its class (listed before it), an orphan boundary stays a class, ignore stays
    assert folded.tolist() == [[0, 2, 1, 2], [3, 255, 2, 2]] and folded.dtype == np.uint8
    plain = ["_background_", "cell"]
    assert folded_class_names(plain) == plain and fold_boundary_mask(cm, plain) is cm
