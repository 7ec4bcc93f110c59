"""Export as YOLO segmentation labels (Ultralytics' layout): the polygons draw the same pixels back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw
import pytest

from segdesk.core.document import Document
from segdesk.core.export.masks import existing_outputs, export_masks
from segdesk.core.labelme_io import save_document
from segdesk.core.rasterize import document_to_class_map
from segdesk.core.review import reviewed_extra
from segdesk.core.shapes import Shape

H, W = 60, 80


def _project(root: Path) -> tuple[Path, Document]:
    root.mkdir()
    crop = np.zeros((12, 16), bool)
    crop[2:10, 1:15] = True
    shapes = [
        Shape("cell", [[3.5, 4.0], [25.0, 5.5], [14.0, 22.0]]),
        Shape("cell", [[30, 3], [40, 3], [40, 12]], group_id=1),
        Shape("cell", [[45, 3], [55, 3], [55, 12]], group_id=1),
        Shape("debris", [[5, 30], [18, 44]], shape_type="rectangle"),
        Shape("debris", [[40, 40], [47, 40]], shape_type="circle"),
        Shape("cell", [[60, 30], [75, 41]], shape_type="mask", mask=crop),
        Shape("debris", [[2, 55], [78, 54]], shape_type="line"),
        Shape("__ignore__", [[20, 50], [30, 50], [30, 58]]),
    ]
    doc = Document("a.png", H, W, shapes=shapes, extra=reviewed_extra())
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)).save(
        root / "a.png"
    )
    save_document(doc, root / "a.json")
    PIL.Image.fromarray(np.zeros((H, W), np.uint8)).save(root / "empty.png")
    save_document(Document("empty.png", H, W, shapes=[], extra=reviewed_extra()), root / "empty.json")
    (root / "labels.txt").write_text("__ignore__\n_background_\ncell\ndebris\n")
    return root, doc


def _draw(lines: list[str]) -> np.ndarray:
    """The class map the label lines draw (class id + 1; 0 = nothing)."""
    image = PIL.Image.new("L", (W, H), 0)
    draw = PIL.ImageDraw.Draw(image)
    for line in lines:
        cid, *coords = line.split()
        xy = np.asarray(coords, dtype=float).reshape(-1, 2) * (W, H)
        draw.polygon([tuple(p) for p in xy], fill=int(cid) + 1, outline=int(cid) + 1)
    return np.asarray(image)


def test_yolo_labels_draw_the_project_back(tmp_path: Path) -> None:
    root, doc = _project(tmp_path / "p")
    out = tmp_path / "yolo"
    report = export_masks(root, out, fmt="yolo")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "data.yaml",
        "images/a.png",
        "images/empty.png",
        "labels/a.txt",
        "labels/empty.txt",
    ]
    assert (out / "labels" / "empty.txt").read_text() == ""  # a background image
    assert any("1 line / point shape(s) left out" in n for n in report.notes)
    lines = (out / "labels" / "a.txt").read_text().splitlines()
    assert (
        len(lines) == 5
    )  # the polygon, the two parts as one object, rectangle, circle, mask (no line, no ignore)
    for line in lines:
        values = [float(v) for v in line.split()[1:]]
        assert all(0.0 <= v <= 1.0 for v in values) and len(values) % 2 == 0 and len(values) >= 6
    truth = document_to_class_map(doc, ["_background_", "cell", "debris"])
    truth[truth < 0] = 0
    drawn = _draw(lines)
    for value in (1, 2):  # cell, debris: the same pixels up to the polygons' rounding at the edges
        a, b = truth == value, drawn == value
        line_px = document_to_class_map(
            Document("a.png", H, W, shapes=[doc.shapes[6]]), ["_background_", "debris"]
        )
        if value == 2:
            a &= line_px != 1  # the line is left out of YOLO's labels
        assert (a & b).sum() / (a | b).sum() > 0.9
    assert np.array_equal(
        np.asarray(PIL.Image.open(out / "images" / "a.png")), np.asarray(PIL.Image.open(root / "a.png"))
    )


def test_data_yaml_names_the_classes_and_the_folder(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    root, _ = _project(tmp_path / "p")
    (root / "labels.txt").write_text('__ignore__\n_background_\ncell\ndebris\nsay "hi": #1\n')
    out = tmp_path / "yolo"
    export_masks(root, out, fmt="yolo")
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == {0: "cell", 1: "debris", 2: 'say "hi": #1'}
    assert Path(data["path"]) == out.absolute() and data["train"] == "images"
    assert {p.name for p in existing_outputs(root, out, fmt="yolo")} == {
        "data.yaml",
        "a.png",
        "empty.png",
        "a.txt",
        "empty.txt",
    }


def test_a_validation_split_is_fixed_by_name(tmp_path: Path) -> None:
    """--val-fraction: images/train and images/val with their labels; which images validate follows
    from their names (a hash), so every export of the same images splits them the same way."""
    from segdesk.core.errors import ExportError
    from segdesk.core.export.yolo import val_stems

    root, _ = _project(tmp_path / "p")
    for i in range(8):
        PIL.Image.fromarray(np.zeros((H, W), np.uint8)).save(root / f"x{i}.png")
        save_document(Document(f"x{i}.png", H, W, shapes=[], extra=reviewed_extra()), root / f"x{i}.json")
    out = tmp_path / "yolo"
    report = export_masks(root, out, fmt="yolo", val_fraction=0.25)
    val = sorted(p.stem for p in (out / "labels" / "val").iterdir())
    train = sorted(p.stem for p in (out / "labels" / "train").iterdir())
    assert len(val) == 2 and len(train) == 8 and not set(val) & set(train)
    assert sorted(p.stem for p in (out / "images" / "val").iterdir()) == val
    assert "train: images/train\nval: images/val\n" in (out / "data.yaml").read_text()
    assert "2 image(s) in val, 8 in train" in report.notes
    stems = [f"x{i}" for i in range(8)] + ["a", "empty"]
    assert set(val_stems(stems, 0.25)) == set(val)
    assert val_stems(list(reversed(stems)), 0.25) == set(val)  # by name, not by listing order
    assert val_stems(["only"], 0.5) == frozenset()  # one image: nothing to validate on
    assert len(val_stems(["a", "b"], 0.9)) == 1  # some image always trains
    assert len(val_stems(stems, 0.01)) == 1  # a share asked for gives at least one
    with pytest.raises(ExportError, match="validation split is written for the yolo format"):
        export_masks(root, tmp_path / "coco", fmt="coco", val_fraction=0.25)


def test_the_parts_of_an_object_become_one_polygon() -> None:
    from segdesk.core.export.yolo import join_pieces

    a = np.array([[10, 10], [30, 10], [30, 30], [10, 30]], float)
    b = np.array([[50, 12], [70, 12], [70, 28], [50, 28]], float)
    joined = join_pieces([a, b])
    assert len(joined) == len(a) + len(b) + 2  # both, entered and left at their nearest vertices
    image = PIL.Image.new("L", (80, 40), 0)
    PIL.ImageDraw.Draw(image).polygon([tuple(p) for p in joined], fill=1)
    drawn = np.asarray(image).astype(bool)
    assert drawn[15:26, 15:26].all() and drawn[15:26, 55:66].all()  # both insides
    assert not drawn[5:9].any() and not drawn[20, 40:48].any()  # nothing beyond, no area between
