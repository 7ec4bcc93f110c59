"""``segdesk import-yolo``: YOLO label files become Labelme JSON beside their images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from segdesk.cli import main as cli_main
from segdesk.core.document import Document
from segdesk.core.errors import ProjectError
from segdesk.core.export.masks import export_masks
from segdesk.core.import_masks import MaskImportError
from segdesk.core.import_yolo import import_yolo, read_names
from segdesk.core.labelme_io import load_document, save_document
from segdesk.core.rasterize import document_to_class_map
from segdesk.core.review import reviewed_extra
from segdesk.core.shapes import Shape

H, W = 50, 70


def _image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(np.random.default_rng(seed).integers(0, 255, (H, W, 3), dtype=np.uint8)).save(path)
    return path


def test_a_yolo_export_imports_back_to_the_same_pixels(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shapes = [
        Shape("cell", [[3, 4], [25, 5], [14, 22]]),
        Shape("cell", [[40.25, 3.5], [61, 3], [61, 19.75], [43, 21]]),
        Shape("debris", [[5, 30], [18, 44]], shape_type="rectangle"),
    ]
    _image(src / "a.png")
    save_document(Document("a.png", H, W, shapes=shapes, extra=reviewed_extra()), src / "a.json")
    (src / "labels.txt").write_text("__ignore__\n_background_\ncell\ndebris\n")
    export_masks(src, tmp_path / "yolo", fmt="yolo")
    dst = tmp_path / "dst"
    _image(dst / "a.png")
    report = import_yolo(tmp_path / "yolo" / "labels", dst, tmp_path / "yolo" / "data.yaml")
    assert [p.name for p in report.json_paths] == ["a.json"] and report.shape_count == 3
    names = ["_background_", "cell", "debris"]
    before = document_to_class_map(load_document(src / "a.json"), names)
    after = load_document(dst / "a.json")
    assert np.array_equal(before, document_to_class_map(after, names))
    assert after.extra["reviewed"]["how"] == "import-yolo"
    assert (dst / "labels.txt").read_text().split() == ["__ignore__", "_background_", "cell", "debris"]


def test_boxes_names_and_what_is_left_out(tmp_path: Path) -> None:
    images, labels = tmp_path / "images", tmp_path / "labels"
    for stem in ("a", "b", "c"):
        _image(images / f"{stem}.jpg")
    labels.mkdir()
    (labels / "a.txt").write_text("1 0.5 0.5 0.2 0.4\n\n0 0.1 0.1 0.3 0.1 0.2 0.3\n1 0.5 0.5 0 0\n")
    (labels / "b.txt").write_text("")  # an image without objects
    (labels / "z.txt").write_text("0 0.1 0.1 0.2 0.1 0.2 0.2\n")  # no image z
    (tmp_path / "data.yaml").write_text("path: ../x\nnames:\n  0: car\n  1: person\n")
    report = import_yolo(labels, images, tmp_path / "data.yaml")
    assert (
        sorted(p.name for p in report.json_paths) == ["a.json", "b.json"] and not (images / "c.json").exists()
    )
    assert report.left_out() == [
        "1 box(es) of zero width or height (no area) left out",
        "1 image(s) without a label file left as they were: c.jpg",
        "1 label file(s) without an image: z",
    ]
    a = load_document(images / "a.json").shapes
    assert [(s.label, s.shape_type) for s in a] == [("person", "rectangle"), ("car", "polygon")]
    np.testing.assert_allclose(a[0].points, [[0.4 * W, 0.3 * H], [0.6 * W, 0.7 * H]])
    assert load_document(images / "b.json").shapes == []
    assert read_names("car, person") == ["car", "person"]
    (tmp_path / "data.yaml").unlink()
    with pytest.raises(ProjectError, match="no data.yaml or classes.txt beside or above it"):
        import_yolo(labels, images, overwrite=True)
    (labels / "classes.txt").write_text("truck\nbike\n\n")  # X-AnyLabeling's / LabelImg's names file
    report = import_yolo(labels, images, overwrite=True)
    assert [s.label for s in load_document(images / "a.json").shapes] == ["bike", "truck"]
    assert "classes" not in " ".join(report.left_out())  # not taken for a label file
    (tmp_path / "list.yaml").write_text("names: [car, person]\n")
    assert read_names(tmp_path / "list.yaml") == ["car", "person"]


def test_problems_name_the_file_and_line_and_nothing_is_written(tmp_path: Path) -> None:
    images, labels = tmp_path / "images", tmp_path / "labels"
    _image(images / "a.png")
    labels.mkdir()
    (labels / "a.txt").write_text(
        "0 0.1 0.1 0.2 0.1 0.2 0.2\n5 0.1 0.1 0.2 0.2\n0 12 30 40 30 40 50\nx y\n0 0.1 0.2 0.3\n"
    )
    with pytest.raises(MaskImportError) as info:
        import_yolo(labels, images, "cell,debris")
    text = "\n".join(info.value.problems)
    assert "a.txt: line 2: class 5 but 2 names are given" in text
    assert "a.txt: line 3: coordinates are fractions" in text  # pixels written where fractions belong
    assert "a.txt: line 4: expected a class id and numbers" in text
    assert "a.txt: line 5: 3 coordinates" in text
    assert not (images / "a.json").exists() and not (images / "labels.txt").exists()


def test_cli_import_yolo(tmp_path: Path, capsys) -> None:
    images, labels = tmp_path / "images", tmp_path / "labels"
    _image(images / "a.png")
    labels.mkdir()
    (labels / "a.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    assert cli_main(["import-yolo", str(labels), str(images), "--names", "cell"]) == 0
    assert "imported 1 images, 1 shapes" in capsys.readouterr().out
    assert cli_main(["import-yolo", str(labels), str(images), "--names", "cell"]) == 1  # a.json exists now
    assert "a.json: exists" in capsys.readouterr().err
    assert cli_main(["import-yolo", str(labels), str(images), "--names", "cell", "--skip-annotated"]) == 0


def test_images_sharing_a_name_are_refused(tmp_path: Path) -> None:
    images, labels = tmp_path / "images", tmp_path / "labels"
    _image(images / "a.png")
    _image(images / "a.jpg")
    labels.mkdir()
    (labels / "a.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    with pytest.raises(MaskImportError, match="share the annotation file a.json"):
        import_yolo(labels, images, "cell")
