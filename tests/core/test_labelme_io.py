"""Labelme JSON: every shape type, a lossless round trip, strict and precise errors."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import pytest

from segdesk.core import _labelme_json
from segdesk.core.document import Document
from segdesk.core.errors import AnnotationReadError, AnnotationWriteError, ImageReadError
from segdesk.core.export.masks import export_masks
from segdesk.core.labelme_io import (
    check_image_size,
    document_from_dict,
    document_to_dict,
    load_document,
    load_image_for,
    resolve_image_path,
    save_document,
)
from segdesk.core.rasterize import document_to_class_map
from segdesk.core.review import reviewed_extra
from segdesk.core.shapes import Shape

H, W = 40, 60


def _png_b64(array: np.ndarray, **save_kwargs: Any) -> str:
    buf = io.BytesIO()
    PIL.Image.fromarray(array).save(buf, format="PNG", **save_kwargs)
    return base64.b64encode(buf.getvalue()).decode()


def _image(folder: Path, name: str = "img.png", size: tuple[int, int] = (H, W)) -> Path:
    path = folder / name
    PIL.Image.fromarray(np.full((*size, 3), 90, np.uint8)).save(path)
    return path


def _shape(label: str, points: list, shape_type: str | None, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "label": label,
        "points": points,
        "group_id": None,
        "description": "",
        "shape_type": shape_type,
        "flags": {},
        "mask": None,
    }
    d.update(extra)
    return d


MASK = np.zeros((5, 7), bool)
MASK[1:4, 2:6] = True

ALL_SHAPES = [
    _shape("poly", [[1.5, 2.25], [20.0, 3.0], [10.0, 15.125]], "polygon"),
    _shape("rect", [[2.0, 3.0], [12.5, 9.0]], "rectangle"),
    _shape("orect", [[5, 5], [15, 7], [13, 17], [3, 15]], "oriented_rectangle"),
    _shape("circ", [[30.0, 20.0], [35.0, 20.0]], "circle"),
    _shape("ln", [[1.0, 30.0], [50.0, 35.0]], "line"),
    _shape("strip", [[1.0, 1.0], [5.0, 9.0], [9.0, 1.0]], "linestrip"),
    _shape("pt", [[7.0, 8.0]], "point"),
    _shape("pts", [[1.0, 2.0], [3.0, 4.0]], "points"),
    _shape("msk", [[10.0, 20.0], [16.0, 24.0]], "mask", mask=_png_b64(MASK.astype(np.uint8))),
]


def _file(shapes: list | None = None, **top: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "version": "5.5.0",
        "flags": {},
        "shapes": ALL_SHAPES if shapes is None else shapes,
        "imagePath": "img.png",
        "imageData": None,
        "imageHeight": H,
        "imageWidth": W,
    }
    d.update(top)
    return d


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _shapes_equal(a: Document, b: Document) -> bool:
    return len(a.shapes) == len(b.shapes) and all(
        x.same_as(y) for x, y in zip(a.shapes, b.shapes, strict=True)
    )


# --- reading --------------------------------------------------------------------------------------
def test_reads_every_shape_type(tmp_path: Path) -> None:
    _image(tmp_path)
    doc = load_document(_write(tmp_path / "a.json", _file()))
    assert [s.shape_type for s in doc.shapes] == [s["shape_type"] for s in ALL_SHAPES]
    assert [s.label for s in doc.shapes] == [s["label"] for s in ALL_SHAPES]
    for shape, raw in zip(doc.shapes, ALL_SHAPES, strict=True):
        assert shape.points.dtype == np.float64
        np.testing.assert_array_equal(shape.points, np.array(raw["points"], float))
    np.testing.assert_array_equal(doc.shapes[-1].mask, MASK)
    assert doc.path == tmp_path / "a.json"
    assert (doc.image_height, doc.image_width) == (H, W)


def test_round_trip_is_lossless(tmp_path: Path) -> None:
    _image(tmp_path)
    shapes = [dict(reversed(list(s.items()))) for s in ALL_SHAPES]  # unusual key order
    shapes[0]["score"] = 0.87
    shapes[0]["segdesk"] = {"source": "model", "proposal": True, "confidence": 0.5}
    shapes[1]["flags"] = None
    shapes[1]["description"] = None
    shapes[2]["nested"] = {"a": [1, 2, {"b": None}], "ü": "é"}
    original = {
        "custom_top": {"x": 1},
        **_file(shapes),
        "flags": None,
        "segdesk": {"status": "proposed"},
        "zzz": [1.5, "two"],
    }
    src = _write(tmp_path / "a.json", original)
    doc = load_document(src)
    assert doc.flags is None and doc.extra == {"status": "proposed"}
    assert doc.other == {"custom_top": {"x": 1}, "zzz": [1.5, "two"]}
    assert doc.shapes[0].other == {"score": 0.87} and doc.shapes[0].is_proposal
    save_document(doc, tmp_path / "b.json")
    saved = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    assert saved == original
    assert list(saved) == list(original)
    for s_saved, s_orig in zip(saved["shapes"], original["shapes"], strict=True):
        assert list(s_saved) == list(s_orig)
    assert _shapes_equal(load_document(tmp_path / "b.json"), doc)


def test_coordinates_are_not_rounded_and_ints_stay_ints(tmp_path: Path) -> None:
    _image(tmp_path)
    floats = [[0.1 + 0.2, 1e-7], [123456.78901234567, 2.5e-300], [math.pi, 1 / 3]]
    data = _file([_shape("f", floats, "polygon"), _shape("i", [[1, 2], [30, 4], [5, 39]], "polygon")])
    doc = load_document(_write(tmp_path / "a.json", data))
    save_document(doc, tmp_path / "b.json")
    saved = json.loads((tmp_path / "b.json").read_text())
    assert saved["shapes"][0]["points"] == floats
    assert saved["shapes"][1]["points"] == [[1, 2], [30, 4], [5, 39]]
    assert all(type(v) is int for p in saved["shapes"][1]["points"] for v in p)
    doc.shapes[1].points = doc.shapes[1].points + 0.5  # no longer integers: written as floats
    save_document(doc, tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text())["shapes"][1]["points"][0] == [1.5, 2.5]


def test_missing_shape_type_is_polygon_and_saved_named(tmp_path: Path) -> None:
    _image(tmp_path)
    raw = {"label": "old", "points": [[1, 1], [5, 1], [3, 4]]}
    doc = load_document(_write(tmp_path / "a.json", _file([raw])))
    assert doc.shapes[0].shape_type == "polygon"
    save_document(doc, tmp_path / "b.json")
    assert json.loads((tmp_path / "b.json").read_text())["shapes"][0]["shape_type"] == "polygon"


def test_four_point_rectangle_is_read(tmp_path: Path) -> None:
    corners = [[10, 5], [30, 5], [30, 25], [10, 25]]
    doc = document_from_dict(_file([_shape("r", corners, "rectangle")]))
    assert doc.shapes[0].shape_type == "rectangle"
    np.testing.assert_array_equal(doc.shapes[0].points, [[10, 5], [30, 25]])
    skew = [[10, 5], [30, 8], [28, 25], [9, 22]]
    doc = document_from_dict(_file([_shape("r", skew, "rectangle")]))
    assert doc.shapes[0].shape_type == "polygon"
    np.testing.assert_array_equal(doc.shapes[0].points, skew)


def test_x_anylabeling_rotated_box_is_read_kept_and_drawn_as_its_corners(tmp_path: Path) -> None:
    """X-AnyLabeling's "rotation" shape (4 corners, its angle in "direction", its own keys): the file
    opens (it used to be refused whole: 'unknown shape type'), saves back as written, and the box
    covers the same pixels as the polygon through its corners."""
    _image(tmp_path)
    corners = [[30, 10], [50, 22], [40, 40], [20, 28]]
    raw = _shape("car", corners, "rotation", difficult=False, attributes={}, kie_linking=[], direction=0.54)
    path = _write(tmp_path / "img.json", _file([raw]))
    doc = load_document(path)
    shape = doc.shapes[0]
    assert shape.shape_type == "rotation" and shape.other["direction"] == 0.54
    np.testing.assert_array_equal(shape.points, corners)
    save_document(doc, tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["shapes"] == [raw]
    as_polygon = Document("img.png", H, W, shapes=[Shape("car", corners)])
    names = ["_background_", "car"]
    box = document_to_class_map(doc, names)
    assert box.sum() > 300 and np.array_equal(box, document_to_class_map(as_polygon, names))
    with pytest.raises(AnnotationReadError, match="exactly 4"):
        document_from_dict(_file([_shape("car", corners[:3], "rotation")]))
    save_document(doc, tmp_path / "img.json")  # reviewed (a file from another tool), then exported
    (tmp_path / "polygon").mkdir()
    _image(tmp_path / "polygon")
    save_document(as_polygon, tmp_path / "polygon" / "img.json")
    for folder in (tmp_path, tmp_path / "polygon"):
        export_masks(folder, folder / "coco", fmt="coco", include_unreviewed=True)
    coco = [
        json.loads(next((f / "coco").glob("*.json")).read_text()) for f in (tmp_path, tmp_path / "polygon")
    ]
    assert coco[0]["annotations"][0]["segmentation"] == coco[1]["annotations"][0]["segmentation"]


def test_mask_round_trips_without_reencoding(tmp_path: Path) -> None:
    _image(tmp_path)
    # A PNG written with settings Labelme does not use: re-encoding would change the text.
    odd_b64 = _png_b64(MASK.astype(np.uint8) * 255, compress_level=0)
    doc = load_document(
        _write(tmp_path / "a.json", _file([_shape("m", [[1, 2], [7, 6]], "mask", mask=odd_b64)]))
    )
    save_document(doc, tmp_path / "b.json")
    assert json.loads((tmp_path / "b.json").read_text())["shapes"][0]["mask"] == odd_b64
    doc.shapes[0].mask[0, 0] = True  # edited in place: must be re-encoded
    save_document(doc, tmp_path / "c.json")
    again = load_document(tmp_path / "c.json")
    assert again.shapes[0].mask[0, 0] and again.shapes[0].mask.sum() == MASK.sum() + 1


def test_new_shapes_and_documents_are_written(tmp_path: Path) -> None:
    _image(tmp_path)
    doc = Document(image_path="img.png", image_height=H, image_width=W)
    doc.shapes.append(Shape("cell", [[1, 1], [9, 1], [5, 8]], extra={"source": "person"}))
    doc.shapes.append(Shape("m", [[0, 0], [3, 2]], shape_type="mask", mask=np.ones((3, 4), bool)))
    doc.extra.update(REVIEWED := reviewed_extra("marked", "2026-01-01T00:00:00+00:00"))
    save_document(doc, tmp_path / "img.json")
    back = load_document(tmp_path / "img.json")
    assert _shapes_equal(back, doc)
    assert back.status == "reviewed" and back.extra == REVIEWED
    raw = json.loads((tmp_path / "img.json").read_text())
    assert list(raw)[:7] == [
        "version",
        "flags",
        "shapes",
        "imagePath",
        "imageData",
        "imageHeight",
        "imageWidth",
    ]
    assert list(raw["shapes"][0]) == [
        "label",
        "points",
        "group_id",
        "description",
        "shape_type",
        "flags",
        "mask",
        "segdesk",
    ]
    assert document_to_dict(back) == raw


def test_image_data_keep_embed_strip(tmp_path: Path) -> None:
    img = _image(tmp_path)
    doc = load_document(_write(tmp_path / "a.json", _file([])))
    save_document(doc, tmp_path / "a.json", image_data="embed")
    assert base64.b64decode(json.loads((tmp_path / "a.json").read_text())["imageData"]) == img.read_bytes()
    doc = load_document(tmp_path / "a.json")
    save_document(doc, tmp_path / "a.json")  # keep
    assert json.loads((tmp_path / "a.json").read_text())["imageData"] is not None
    save_document(doc, tmp_path / "a.json", image_data="strip")
    assert json.loads((tmp_path / "a.json").read_text())["imageData"] is None
    assert doc.image_data is None
    with pytest.raises(ValueError):
        save_document(doc, tmp_path / "a.json", image_data="zip")  # type: ignore[arg-type]


def test_embedded_image_is_used_when_file_is_missing(tmp_path: Path) -> None:
    img = _image(tmp_path, "gone.png")
    b64 = base64.b64encode(img.read_bytes()).decode()
    img.unlink()
    doc = load_document(_write(tmp_path / "a.json", _file([], imagePath="gone.png", imageData=b64)))
    loaded = load_image_for(doc)
    assert loaded.shape == (H, W) and loaded.path is None
    doc.image_data = None
    with pytest.raises(ImageReadError, match="gone.png"):
        load_image_for(doc)
    with pytest.raises(AnnotationWriteError, match="imageData"):
        save_document(doc, tmp_path / "b.json", image_data="embed")


def test_image_path_is_relative_to_the_json_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "ann").mkdir()
    img = _image(tmp_path / "images")
    monkeypatch.chdir(tmp_path / "images")  # the working folder must not matter
    doc = load_document(_write(tmp_path / "ann" / "a.json", _file([], imagePath="..\\images\\img.png")))
    assert resolve_image_path(doc) == tmp_path / "ann" / ".." / "images" / "img.png"
    assert load_image_for(doc).path.resolve() == img.resolve()
    # Saved elsewhere, imagePath is rewritten to keep pointing at the image.
    (tmp_path / "other" / "deep").mkdir(parents=True)
    save_document(doc, tmp_path / "other" / "deep" / "a.json")
    assert (
        json.loads((tmp_path / "other" / "deep" / "a.json").read_text())["imagePath"]
        == "../../images/img.png"
    )
    assert resolve_image_path(doc).resolve() == img.resolve()


def test_image_beside_the_json_is_found_when_image_path_is_stale(tmp_path: Path) -> None:
    _image(tmp_path)
    doc = load_document(_write(tmp_path / "a.json", _file([], imagePath="C:\\Users\\x\\data\\img.png")))
    assert resolve_image_path(doc) == tmp_path / "img.png"


def test_image_size_is_checked(tmp_path: Path) -> None:
    _image(tmp_path, size=(H + 1, W))
    with pytest.raises(AnnotationReadError) as info:
        load_document(_write(tmp_path / "a.json", _file([])))
    assert (
        str(info.value) == f"{tmp_path / 'a.json'}: imageHeight: is {H} but the image is {H + 1} pixels high"
    )
    doc = load_document(tmp_path / "a.json", check_image=False)
    check_image_size(doc, (H, W, 3))
    with pytest.raises(AnnotationReadError, match="imageWidth: is 60 but the image is 61 pixels wide"):
        check_image_size(doc, (H, W + 1))
    doc.image_width = None  # unknown sizes are not checked
    check_image_size(doc, (H, W + 1))


def test_lone_surrogates_and_nan_in_unknown_keys_survive(tmp_path: Path) -> None:
    _image(tmp_path)
    text = json.dumps(_file([_shape("a\ud800b", [[1, 1], [2, 2], [3, 1]], "polygon", score=float("nan"))]))
    (tmp_path / "a.json").write_text(text, encoding="utf-8")
    doc = load_document(tmp_path / "a.json")
    assert doc.shapes[0].label == "a\ud800b" and math.isnan(doc.shapes[0].other["score"])
    save_document(doc, tmp_path / "b.json")
    back = load_document(tmp_path / "b.json")
    assert back.shapes[0].label == "a\ud800b" and math.isnan(back.shapes[0].other["score"])


def test_standard_library_path_gives_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _image(tmp_path)
    src = _write(tmp_path / "a.json", _file(extra_top=[1, 2.5]))
    fast = load_document(src)
    save_document(fast, tmp_path / "fast.json")
    monkeypatch.setattr(_labelme_json, "_orjson", None)
    slow = load_document(src)
    save_document(slow, tmp_path / "slow.json")
    assert _shapes_equal(fast, slow) and fast.other == slow.other
    assert json.loads((tmp_path / "fast.json").read_text()) == json.loads(
        (tmp_path / "slow.json").read_text()
    )


def test_invalid_documents_are_not_written(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_text("old", encoding="utf-8")
    bad = Document(image_path="img.png", shapes=[Shape("x", [[0, 0], [np.nan, 1], [2, 2]])])
    with pytest.raises(AnnotationWriteError, match=r"shapes\[0\]\.points\[1\]: coordinate is not a finite"):
        save_document(bad, target)
    bad.shapes[0] = Shape("x", [[0, 0], [1, 1]])
    with pytest.raises(AnnotationWriteError, match="at least 3 points"):
        save_document(bad, target)
    bad.shapes[0] = Shape("x", [[0, 0], [1, 1], [2, 0]], other={"label": "dup"})
    with pytest.raises(AnnotationWriteError, match="standard key"):
        save_document(bad, target)
    bad.shapes[0] = Shape("x", [[0, 0], [1, 1], [2, 0]], other={"thing": object()})
    with pytest.raises(AnnotationWriteError, match="cannot encode"):
        save_document(bad, target)
    assert target.read_text() == "old"


# --- errors ---------------------------------------------------------------------------------------
def _poly(points: Any, **kw: Any) -> dict[str, Any]:
    second = _shape("b", points, "polygon")
    second.update(kw)
    return _file([_shape("a", [[0, 0], [5, 0], [5, 5]], "polygon"), second])


BAD_DOCUMENTS = [
    ([1, 2], None, "expected a JSON object at the top"),
    ({k: v for k, v in _file().items() if k != "shapes"}, "shapes", "missing"),
    (_file(shapes={"a": 1}), "shapes", "expected a list"),
    ({k: v for k, v in _file().items() if k != "imagePath"}, "imagePath", "missing"),
    (_file(imagePath=3), "imagePath", "expected text, got a number"),
    (_file(imageData=5), "imageData", "expected base64 text"),
    (_file(imageHeight="40"), "imageHeight", "whole number"),
    (_file(imageWidth=True), "imageWidth", "whole number"),
    (_file(imageWidth=-3), "imageWidth", "positive"),
    (_file(version=5), "version", "expected text"),
    (_file(flags=[]), "flags", "expected an object"),
    (_file(flags={"x": "yes"}), "flags.x", "true or false"),
    (_file(segdesk=[]), "segdesk", "expected an object"),
    (_file(shapes=[3]), "shapes[0]", "expected an object"),
    (_poly([[0, 0], [1, 1]]), "shapes[1].points", "at least 3 points for a polygon, got 2"),
    (_poly([]), "shapes[1].points", "at least 1 point, got 0"),
    (_poly("0,0"), "shapes[1].points", "list of [x, y] pairs"),
    (_poly([[0, 0], [1, "2"], [3, 3]]), "shapes[1].points", "found text"),
    (_poly([[0, 0], [1, True], [3, 3]]), "shapes[1].points", "found a boolean"),
    (_poly([[0, 0], [1, None], [3, 3]]), "shapes[1].points", "found null"),
    (_poly([[0, 0], [1, 2, 3], [3, 3]]), "shapes[1].points", "list of [x, y] pairs"),
    (_poly([[0, 0], [1], [3, 3]]), "shapes[1].points", "list of [x, y] pairs"),
    (_poly([[0, 0], 7, [3, 3]]), "shapes[1].points", "list of [x, y] pairs"),
    (_poly([[0, 0], [1, float("nan")], [3, 3]]), "shapes[1].points[1]", "not a finite number"),
    (_poly([[0, 0], [1, 1], [float("inf"), 3]]), "shapes[1].points[2]", "not a finite number"),
    (_poly([[0, 0], [10**400, 1], [3, 3]]), "shapes[1].points", "list of [x, y] pairs"),
    (_poly([[0, 0], [1, 1], [3, 3]], label=None), "shapes[1].label", "expected text, got null"),
    (_file([{"points": [[0, 0]]}]), "shapes[0].label", "missing"),
    (_file([{"label": "x"}]), "shapes[0].points", "missing"),
    (_poly([[0, 0], [1, 1], [3, 3]], shape_type="hexagon"), "shapes[1].shape_type", "unknown shape type"),
    (_poly([[0, 0], [1, 1], [3, 3]], shape_type=3), "shapes[1].shape_type", "expected text"),
    (_poly([[0, 0], [1, 1], [3, 3]], shape_type="circle"), "shapes[1].points", "exactly 2 points, got 3"),
    (_poly([[0, 0], [1, 1], [3, 3]], shape_type="point"), "shapes[1].points", "exactly 1 point, got 3"),
    (_poly([[0, 0], [1, 1], [3, 3]], shape_type="rectangle"), "shapes[1].points", "2 points (or 4 corners)"),
    (_poly([[0, 0], [1, 1], [3, 3]], shape_type="oriented_rectangle"), "shapes[1].points", "exactly 4"),
    (_poly([[0, 0]], shape_type="linestrip"), "shapes[1].points", "at least 2 points"),
    (_poly([[0, 0], [1, 1], [3, 3]], group_id="g"), "shapes[1].group_id", "whole number or null"),
    (_poly([[0, 0], [1, 1], [3, 3]], group_id=1.5), "shapes[1].group_id", "whole number or null"),
    (_poly([[0, 0], [1, 1], [3, 3]], description=3), "shapes[1].description", "expected text or null"),
    (_poly([[0, 0], [1, 1], [3, 3]], flags={"a": 1}), "shapes[1].flags.a", "true or false"),
    (_poly([[0, 0], [1, 1], [3, 3]], segdesk="x"), "shapes[1].segdesk", "expected an object"),
    (_poly([[0, 0], [1, 1]], shape_type="mask"), "shapes[1].mask", "needs its mask"),
    (_poly([[0, 0], [1, 1]], shape_type="mask", mask=5), "shapes[1].mask", "base64 PNG as text"),
    (_poly([[0, 0], [1, 1]], shape_type="mask", mask="%%%"), "shapes[1].mask", "cannot decode"),
    (
        _poly([[0, 0], [1, 1]], shape_type="mask", mask=base64.b64encode(b"nope").decode()),
        "shapes[1].mask",
        "cannot decode",
    ),
    (
        _poly([[0, 0], [1, 1]], shape_type="mask", mask=_png_b64(np.zeros((2, 2, 3), np.uint8))),
        "shapes[1].mask",
        "single-channel",
    ),
]


@pytest.mark.parametrize(("data", "place", "message"), BAD_DOCUMENTS)
def test_bad_documents_name_file_and_place(
    tmp_path: Path, data: Any, place: str | None, message: str
) -> None:
    path = _write(tmp_path / "bad.json", data)
    with pytest.raises(AnnotationReadError) as info:
        load_document(path, check_image=False)
    err = info.value
    assert err.path == str(path)
    assert err.place == place
    assert message in err.detail
    assert str(err).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("content", "place", "message"),
    [
        (b"", None, "empty"),
        (b"   \n", None, "empty"),
        (b'{"version": "5.5.0", "shapes": [', "line 1 column 33", "truncated"),
        (
            b'{"imagePath": "\xff\xfe.png", "shapes": []}',
            None,
            "not UTF-8 text (invalid byte 0xff at offset 15)",
        ),
        (b"{'single': 'quotes'}", "line 1 column 2", "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, None, "JSON"),
    ],
)
def test_bad_files_name_file_and_place(
    tmp_path: Path, content: bytes, place: str | None, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(AnnotationReadError) as info:
        load_document(path)
    assert info.value.place == place
    assert message in info.value.detail
    assert str(path) in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(AnnotationReadError, match="file not found"):
        load_document(tmp_path / "none.json")
    with pytest.raises(AnnotationReadError, match="folder"):
        load_document(tmp_path)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_file([])).encode())
    assert load_document(path, check_image=False).shapes == []


def test_embedded_image_size_is_checked_when_file_is_missing(tmp_path: Path) -> None:
    buf = io.BytesIO()
    PIL.Image.fromarray(np.zeros((H, W + 5), np.uint8)).save(buf, format="PNG")
    data = _file([], imagePath="missing.png", imageData=base64.b64encode(buf.getvalue()).decode())
    with pytest.raises(AnnotationReadError, match="imageWidth: is 60 but the image is 65"):
        load_document(_write(tmp_path / "a.json", data))
    with pytest.raises(AnnotationReadError, match=r"b\.json: imageData: "):
        load_document(_write(tmp_path / "b.json", _file([], imagePath="missing.png", imageData="@@@")))
