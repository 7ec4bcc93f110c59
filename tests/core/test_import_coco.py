"""``segdesk import-coco``: a COCO instances file becomes Labelme JSON beside its images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from segdesk.cli import main as cli_main
from segdesk.core.document import Document
from segdesk.core.export.coco import rle_decode, rle_encode
from segdesk.core.export.masks import export_masks
from segdesk.core.import_coco import import_coco
from segdesk.core.import_masks import MaskImportError
from segdesk.core.labelme_io import load_document, save_document
from segdesk.core.rasterize import document_to_class_map
from segdesk.core.review import reviewed_extra
from segdesk.core.shapes import Shape

H, W = 48, 64
NAMES = ["_background_", "cell", "debris"]


def _image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(np.random.default_rng(seed).integers(0, 255, (H, W, 3), dtype=np.uint8)).save(path)
    return path


def _source_project(root: Path) -> Path:
    """Every kind of object the COCO export writes: polygons, an object in two parts, a rectangle,
    a circle, a mask shape and a line (both written as RLE)."""
    crop = np.zeros((9, 12), bool)
    crop[2:8, 1:11] = True
    crop[4, 5] = False
    shapes = [
        Shape("cell", [[3.5, 4.0], [20.0, 5.5], [14.0, 18.0]]),
        Shape("cell", [[30, 3], [40, 3], [40, 12]], group_id=7),
        Shape("cell", [[45, 3], [55, 3], [55, 12]], group_id=7),
        Shape("debris", [[5, 25], [18, 40]], shape_type="rectangle"),
        Shape("debris", [[30, 30], [36, 30]], shape_type="circle"),
        Shape("cell", [[44, 30], [55, 38]], shape_type="mask", mask=crop),
        Shape("debris", [[2, 45], [60, 44]], shape_type="line"),
    ]
    for stem, n in (("a", len(shapes)), ("b", 2)):
        _image(root / f"{stem}.png", seed=n)
        doc = Document(f"{stem}.png", H, W, shapes=[s.copy() for s in shapes[:n]], extra=reviewed_extra())
        save_document(doc, root / f"{stem}.json")
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\ndebris\n")
    return root


def test_rle_round_trips_both_forms() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        mask = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 30)))) > rng.random()
        assert np.array_equal(rle_decode(rle_encode(mask)), mask)
        flat = mask.flatten(order="F").astype(int)
        runs = [
            int(r) for r in np.diff(np.concatenate(([0], np.flatnonzero(np.diff(flat)) + 1, [flat.size])))
        ]
        if flat[0]:
            runs.insert(0, 0)
        assert np.array_equal(rle_decode({"size": list(mask.shape), "counts": runs}), mask)
    with pytest.raises(ValueError, match="cover"):
        rle_decode({"size": [2, 2], "counts": [1, 1]})


def test_a_coco_export_imports_back_to_the_same_pixels(tmp_path: Path) -> None:
    src = _source_project(tmp_path / "src")
    export_masks(src, tmp_path / "coco", fmt="coco")
    (coco,) = (tmp_path / "coco").glob("*.json")
    dst = tmp_path / "dst"
    for stem in "ab":
        _image(dst / f"{stem}.png")
    report = import_coco(coco, dst)
    assert sorted(p.name for p in report.json_paths) == ["a.json", "b.json"]
    assert (dst / "labels.txt").read_text().split() == ["__ignore__", "_background_", "cell", "debris"]
    for stem in "ab":
        before, after = load_document(src / f"{stem}.json"), load_document(dst / f"{stem}.json")
        assert after.extra["reviewed"]["how"] == "import-coco"
        a, b = document_to_class_map(before, NAMES), document_to_class_map(after, NAMES)
        ys, xs = np.nonzero(a != b)  # only along the circle: COCO holds labelme2coco's polygon of it
        assert np.all(np.abs(np.hypot(xs - 30, ys - 30) - 6) <= 1.5)
    parts = [s for s in load_document(dst / "a.json").shapes if s.group_id is not None]
    assert len(parts) == 2 and len({s.group_id for s in parts}) == 1  # one object in two parts
    assert {s.shape_type for s in load_document(dst / "a.json").shapes} == {"polygon", "mask"}


def _coco(tmp_path: Path, **changes) -> Path:
    data = {
        "images": [
            {"id": 1, "file_name": "C:\\\\exports\\\\job 3\\\\x.png", "height": H, "width": W},
            {"id": 2, "file_name": "train/elsewhere.png", "height": H, "width": W},
        ],
        "categories": [{"id": 1, "name": "cell"}, {"id": 2, "name": "crowd"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 20, 1, 20, 15, 1, 15]]},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [], "bbox": [30, 5, 10, 8]},
            {
                "id": 3,
                "image_id": 1,
                "category_id": 2,
                "iscrowd": 1,
                "segmentation": {"size": [H, W], "counts": [H * 40, H * 5, H * (W - 45)]},
            },
            {"id": 4, "image_id": 2, "category_id": 1, "segmentation": [[1, 1, 5, 1, 5, 5]]},
            {"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[3, 3, 4, 4]]},  # a sliver
        ],
    }
    data.update(changes)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    return path


def test_another_tools_file_imports_what_the_folder_holds(tmp_path: Path) -> None:
    """CVAT / Roboflow style: paths in file_name, an image of the file not in the folder, a box-only
    object, a crowd region in uncompressed RLE."""
    folder = tmp_path / "images"
    _image(folder / "x.png")
    _image(folder / "unlisted.png")
    report = import_coco(_coco(tmp_path), folder)
    assert [p.name for p in report.json_paths] == ["x.json"] and not (folder / "unlisted.json").exists()
    assert report.left_out() == [
        "1 polygon(s) of fewer than 3 points (no area) left out",
        "1 image(s) of the COCO file are not in the folder: elsewhere.png",
    ]
    shapes = load_document(folder / "x.json").shapes
    assert [(s.label, s.shape_type) for s in shapes] == [
        ("cell", "polygon"),
        ("cell", "rectangle"),
        ("crowd", "mask"),
    ]
    assert shapes[2].flags == {"iscrowd": True} and shapes[2].mask.all() and shapes[2].mask.shape == (H, 5)
    np.testing.assert_array_equal(shapes[1].points, [[30, 5], [40, 13]])
    (folder / "labels.txt").write_text("__ignore__\n_background_\ncell\ncrowd\n")
    export_masks(folder, tmp_path / "again", fmt="coco", include_unreviewed=True)
    again = json.loads((tmp_path / "again" / "annotations.json").read_text())
    assert [a["iscrowd"] for a in again["annotations"]] == [0, 0, 1]  # the crowd region says so again


def test_problems_name_the_field_and_nothing_is_written(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    _image(folder / "x.png")
    bad = _coco(
        tmp_path,
        images=[{"id": 1, "file_name": "x.png", "height": H + 1, "width": W}],
        categories=[{"id": 1, "name": "cell"}, {"id": 2, "name": "bad/label\n"}],
    )
    with pytest.raises(MaskImportError) as info:
        import_coco(bad, folder)
    text = "\n".join(info.value.problems)
    assert "categories[1].name" in text and "images[0]" in text and f"{W}x{H + 1}" in text
    assert not (folder / "x.json").exists() and not (folder / "labels.txt").exists()
    unknown = _coco(tmp_path, annotations=[{"id": 1, "image_id": 1, "category_id": 9, "segmentation": []}])
    with pytest.raises(MaskImportError, match=r"annotations\[0\]\.category_id: 9 is no category"):
        import_coco(unknown, folder)
    (tmp_path / "not.json").write_text('{"images": []}')
    with pytest.raises(Exception, match="annotations: missing or not a list"):
        import_coco(tmp_path / "not.json", folder)


def test_existing_annotations_need_overwrite_or_are_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    _image(folder / "x.png")
    (folder / "x.json").write_text("{}")
    with pytest.raises(MaskImportError, match="x.json: exists"):
        import_coco(_coco(tmp_path), folder)
    report = import_coco(_coco(tmp_path), folder, skip_annotated=True)
    assert report.json_paths == [] and [p.name for p in report.annotated] == ["x.png"]
    assert (folder / "x.json").read_text() == "{}"
    import_coco(_coco(tmp_path), folder, overwrite=True)
    assert len(load_document(folder / "x.json").shapes) == 3


def test_cli_import_coco(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "images"
    _image(folder / "x.png")
    assert cli_main(["import-coco", str(_coco(tmp_path)), str(folder)]) == 0
    assert "imported 1 images, 3 shapes" in capsys.readouterr().out
    assert cli_main(["import-coco", str(tmp_path / "nope.json"), str(folder)]) == 1
    assert "nope.json" in capsys.readouterr().err


def test_labelme_opens_an_imported_file(tmp_path: Path) -> None:
    labelme = pytest.importorskip("labelme")
    folder = tmp_path / "images"
    _image(folder / "x.png")
    import_coco(_coco(tmp_path), folder)
    assert len(labelme.LabelFile(str(folder / "x.json")).shapes) == 3


def test_images_in_a_subfolder_are_pointed_at(tmp_path: Path) -> None:
    """CVAT names its images default/x.png: given the folder above, the message names the folder."""
    _image(tmp_path / "images" / "default" / "x.png")
    coco = _coco(tmp_path, images=[{"id": 1, "file_name": "default/x.png", "height": H, "width": W}])
    with pytest.raises(MaskImportError, match=r"they are in .*images/default .*give that folder"):
        import_coco(coco, tmp_path / "images")
    with pytest.raises(MaskImportError, match=r"the file names them as default/x.png"):
        import_coco(coco, _image(tmp_path / "elsewhere" / "y.png").parent)
    assert [p.name for p in import_coco(coco, tmp_path / "images" / "default").json_paths] == ["x.json"]
