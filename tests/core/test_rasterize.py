"""segdesk's rasterization against labelme 6.3.1's shapes_to_label (the oracle), pixel for pixel."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segdesk.core.document import Document
from segdesk.core.errors import ProjectError
from segdesk.core.labelme_io import load_document
from segdesk.core.rasterize import (
    class_name_to_value,
    class_names_from_labels,
    document_to_class_map,
    parse_labels_txt,
    shape_to_mask,
    shapes_to_label,
)
from segdesk.core.shapes import Shape

lm_utils = pytest.importorskip("labelme.utils")
LabelFile = pytest.importorskip("labelme").LabelFile

NAMES = {"_background_": 0, "a": 1, "b": 2, "c": 3}


def _b64_png(mask: np.ndarray) -> str:
    buf = io.BytesIO()
    PIL.Image.fromarray(mask.astype(np.uint8) * 255).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _every_type_file(tmp_path: Path, height: int = 60, width: int = 80) -> Path:
    rng = np.random.default_rng(3)
    crop = rng.random((12, 17)) > 0.4
    shapes = [
        ("a", [[3.2, 4.7], [40.5, 8.1], [30.0, 35.5], [6.6, 28.2]], "polygon", None),
        ("b", [[20.4, 10.6], [55.5, 30.5]], "rectangle", 1),
        ("c", [[60, 5], [75, 12], [70, 22], [55, 15]], "oriented_rectangle", None),
        ("a", [[50.3, 40.2], [58.9, 47.7]], "circle", 1),
        ("b", [[0.5, 55.5], [79.2, 40.1]], "line", None),
        ("c", [[10, 50], [25, 42.5], [35.7, 58.2], [45, 45]], "linestrip", 2),
        ("a", [[66.6, 33.3]], "point", None),
        ("b", [[-10.0, -5.0], [30.0, -2.0], [5.0, 20.0]], "polygon", 1),  # partly outside
        ("a", [[70.2, 50.9], [95.0, 70.0]], "circle", None),  # partly outside
    ]
    dicts = [
        {"label": label, "points": pts, "group_id": gid, "description": "", "shape_type": kind, "flags": {}}
        for label, pts, kind, gid in shapes
    ]
    dicts.append(
        {
            "label": "c",
            "points": [[30.0, 20.0], [46.0, 31.0]],
            "group_id": None,
            "description": "",
            "shape_type": "mask",
            "flags": {},
            "mask": _b64_png(crop),
        }
    )
    doc = {
        "version": "5.5.0",
        "flags": {},
        "shapes": dicts,
        "imagePath": "img.png",
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
    }
    PIL.Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(tmp_path / "img.png")
    path = tmp_path / "img.json"
    path.write_text(json.dumps(doc))
    return path


def _to_shape(d: dict) -> Shape:
    return Shape(
        label=d["label"],
        points=np.asarray(d["points"], dtype=np.float64),
        shape_type=d.get("shape_type") or "polygon",
        group_id=d.get("group_id"),
        mask=d.get("mask"),
    )


def _assert_same(img_shape, shapes_dicts, names=NAMES) -> None:
    want_cls, want_ins = lm_utils.shapes_to_label(img_shape, shapes_dicts, names)
    for shapes in (shapes_dicts, [_to_shape(d) for d in shapes_dicts]):
        got_cls, got_ins = shapes_to_label(img_shape, shapes, names)
        assert got_cls.dtype == np.int32 and got_ins.dtype == np.int32
        np.testing.assert_array_equal(got_cls, want_cls)
        np.testing.assert_array_equal(got_ins, want_ins)


def test_every_shape_type_from_a_file_equals_labelme(tmp_path):
    label_file = LabelFile(str(_every_type_file(tmp_path)))
    _assert_same((60, 80, 3), label_file.shapes)
    # Each shape alone too (a later shape cannot hide a wrong pixel of an earlier one).
    for d in label_file.shapes:
        _assert_same((60, 80), [d])


def test_loaded_document_equals_labelme(tmp_path):
    path = _every_type_file(tmp_path)
    want_cls, want_ins = lm_utils.shapes_to_label((60, 80), LabelFile(str(path)).shapes, NAMES)
    cls, ins = shapes_to_label((60, 80), load_document(path).shapes, NAMES)
    np.testing.assert_array_equal(cls, want_cls)
    np.testing.assert_array_equal(ins, want_ins)


def test_shape_to_mask_equals_labelme_per_shape(tmp_path):
    label_file = LabelFile(str(_every_type_file(tmp_path)))
    for d in label_file.shapes:
        if d["shape_type"] == "mask":
            continue
        want = lm_utils.shape_to_mask((60, 80), d["points"], d["shape_type"])
        got = shape_to_mask((60, 80), _to_shape(d))
        assert got.dtype == bool
        np.testing.assert_array_equal(got, want)


def test_points_shape_is_each_point_drawn_as_a_point():
    pts = [[5.5, 5.5], [20.2, 8.9], [30.0, 25.0]]
    want = np.zeros((32, 40), bool)
    for p in pts:
        want |= lm_utils.shape_to_mask((32, 40), [p], "point")
    got = shape_to_mask((32, 40), {"label": "a", "points": pts, "shape_type": "points"})
    np.testing.assert_array_equal(got, want)


def test_shape_without_shape_type_is_a_polygon():
    d = {"label": "a", "points": [[1, 1], [20, 3], [9, 15]]}
    _assert_same((20, 25), [d])


def test_four_point_rectangle_covers_its_corners():
    two = {"label": "a", "points": [[3, 4], [15, 12]], "shape_type": "rectangle"}
    four = {"label": "a", "points": [[3, 4], [15, 4], [15, 12], [3, 12]], "shape_type": "rectangle"}
    np.testing.assert_array_equal(shape_to_mask((20, 20), four), shape_to_mask((20, 20), two))


def test_shapes_outside_the_image_draw_nothing_but_take_an_instance_id():
    shapes = [
        {"label": "a", "points": [[-50, -50], [-40, -45], [-45, -30]], "shape_type": "polygon"},
        {"label": "b", "points": [[2, 2], [10, 2], [6, 9]], "shape_type": "polygon"},
    ]
    _assert_same((12, 12), shapes)
    _, ins = shapes_to_label((12, 12), shapes, NAMES)
    assert set(np.unique(ins)) == {0, 2}


def test_errors_name_the_shape():
    with pytest.raises(ValueError, match=r"shapes\[1\].*at least 3 points"):
        shapes_to_label(
            (10, 10),
            [{"label": "a", "points": [[1, 1], [5, 5], [2, 7]]}, {"label": "a", "points": [[1, 1], [2, 2]]}],
            NAMES,
        )
    with pytest.raises(ValueError, match=r"shapes\[0\]: label 'zzz'"):
        shapes_to_label((10, 10), [{"label": "zzz", "points": [[1, 1], [5, 5], [2, 7]]}], NAMES)
    with pytest.raises(ValueError, match="not supported"):
        shape_to_mask((10, 10), {"label": "a", "points": [[1, 1]], "shape_type": "blob"})
    with pytest.raises(ValueError, match="finite"):
        shape_to_mask((10, 10), {"label": "a", "points": [[1, 1], [np.nan, 2], [3, 3]]})


# --- hypothesis: random shapes, labelme decides ------------------------------------------------------
H, W = 48, 64
coord = st.one_of(
    st.floats(min_value=-20, max_value=90, allow_nan=False, allow_infinity=False),
    st.integers(min_value=-20, max_value=90),  # ints, as JSON gives them to labelme
    st.integers(min_value=-40, max_value=180).map(lambda v: v / 2.0),  # exact .5 ties
)
point = st.tuples(coord, coord).map(list)
labels = st.sampled_from(["a", "b", "c"])
group_ids = st.one_of(st.none(), st.integers(0, 2))


@st.composite
def shape_dicts(draw) -> dict:
    kind = draw(
        st.sampled_from(
            ["polygon", "rectangle", "oriented_rectangle", "circle", "line", "linestrip", "point", "mask"]
        )
    )
    n = {"rectangle": 2, "circle": 2, "line": 2, "point": 1, "oriented_rectangle": 4}.get(kind)
    d = {
        "label": draw(labels),
        "group_id": draw(group_ids),
        "shape_type": kind,
        "description": "",
        "flags": {},
    }
    if kind == "mask":
        # Labelme needs the crop to fit its slice, so the box lies inside the image.
        x1, y1 = draw(st.integers(0, W - 1)), draw(st.integers(0, H - 1))
        w, h = draw(st.integers(1, W - x1)), draw(st.integers(1, H - y1))
        seed = draw(st.integers(0, 2**16))
        d["mask"] = np.random.default_rng(seed).random((h, w)) > 0.5
        d["points"] = [[x1 + draw(st.floats(0, 0.99)), float(y1)], [float(x1 + w - 1), y1 + h - 1 + 0.4]]
        return d
    if n is None:
        n = draw(st.integers(3 if kind == "polygon" else 2, 9))
    d["points"] = draw(st.lists(point, min_size=n, max_size=n))
    return d


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(shape_dicts(), min_size=1, max_size=8))
def test_random_shapes_equal_labelme(shapes):
    _assert_same((H, W), shapes)


# --- documents and labels.txt --------------------------------------------------------------------
def test_document_to_class_map_maps_ignore_and_unknown_labels(tmp_path):
    shapes = [
        Shape("cell", [[2, 2], [30, 2], [30, 20], [2, 20]]),
        Shape("__ignore__", [[10, 5], [15, 5], [15, 10]]),
        Shape("stranger", [[20, 12], [28, 12], [28, 18]]),
        Shape("nucleus", [[4, 4], [8, 4], [8, 8]], extra={"source": "model", "proposal": True}),
    ]
    doc = Document("img.png", image_height=24, image_width=32, shapes=shapes)
    class_names = ["_background_", "cell", "nucleus"]
    cm = document_to_class_map(doc, class_names)
    assert cm.dtype == np.uint8
    cls, _ = lm_utils.shapes_to_label(
        (24, 32),
        [{"label": s.label, "points": s.points.tolist(), "shape_type": "polygon"} for s in shapes],
        {"_background_": 0, "cell": 1, "nucleus": 2, "__ignore__": -1, "stranger": -1},
    )
    np.testing.assert_array_equal(cm, np.where(cls == -1, 255, cls))
    without = document_to_class_map(doc, class_names, include_proposals=False)
    assert not (without == 2).any() and (cm == 2).any()


def test_document_to_class_map_dtype_and_checks():
    doc = Document("x.png", image_height=5, image_width=6, shapes=[Shape("c299", [[0, 0], [5, 0], [5, 4]])])
    names = ["_background_", *[f"c{i}" for i in range(1, 300)]]
    cm = document_to_class_map(doc, names, ignore_value=65535)
    assert cm.dtype == np.uint16 and cm.max() == 299
    with pytest.raises(ValueError, match="collides"):
        document_to_class_map(doc, names)
    with pytest.raises(ValueError, match="size unknown"):
        document_to_class_map(Document("x.png"), ["_background_"])


def test_labels_txt_as_labelme2voc(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("__ignore__\n_background_\ncell\n\nnucleus\n")
    labels = parse_labels_txt(path)
    assert labels == ["__ignore__", "_background_", "cell", "nucleus"]
    # labelme2voc: class_id = line index - 1.
    assert class_name_to_value(labels) == {name: i - 1 for i, name in enumerate(labels)}
    assert class_names_from_labels(labels) == ["_background_", "cell", "nucleus"]
    assert class_name_to_value(["cell", "nucleus"]) == {"_background_": 0, "cell": 1, "nucleus": 2}
    path.write_text("cell\ncell\n")
    with pytest.raises(ProjectError, match=r"labels.txt: line 2: label 'cell' is listed twice"):
        parse_labels_txt(path)
    with pytest.raises(ProjectError, match="cannot read"):
        parse_labels_txt(tmp_path / "missing.txt")
