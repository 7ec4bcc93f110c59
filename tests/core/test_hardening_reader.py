"""Issue 14: the reader and check stay in SegdeskError on hostile files (items 1, 2, 6, 8)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from segdesk.core.check import check_folder
from segdesk.core.errors import AnnotationReadError
from segdesk.core.image_source import image_file_for, load_image
from segdesk.core.labelme_io import load_document, save_document


def _write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def _doc(**extra) -> dict:
    data = {"shapes": [{"label": "a", "points": [[1, 1], [5, 1], [5, 5]]}], "imagePath": "a.png"}
    data.update(extra)
    return data


def _png(path: Path, value: int = 0, size: tuple[int, int] = (8, 8)) -> Path:
    PIL.Image.fromarray(np.full(size, value, dtype=np.uint8)).save(path)
    return path


def test_deep_nesting_reads_and_checks(tmp_path: Path) -> None:
    deep = "[" * 1000 + "]" * 1000  # orjson accepts 1,023 levels, more than Python's stack
    text = json.dumps(_doc()).replace('"imagePath"', f'"other": {deep}, "imagePath"')
    (tmp_path / "a.json").write_text(text)
    _png(tmp_path / "a.png")
    document = load_document(tmp_path / "a.json")
    assert len(document.shapes) == 1
    assert check_folder(tmp_path) == []


def test_deep_nesting_in_a_shape_reads(tmp_path: Path) -> None:
    deep = "[" * 1000 + "]" * 1000
    text = json.dumps(_doc()).replace('"label"', f'"x": {deep}, "label"')
    (tmp_path / "a.json").write_text(text)
    assert load_document(tmp_path / "a.json", check_image=False).shapes[0].label == "a"


def test_long_image_path_is_an_annotation_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "b.json", _doc(imagePath="x" * 300 + ".png"))
    with pytest.raises(AnnotationReadError) as info:
        load_document(path)
    assert str(path) in str(info.value) and info.value.place == "imagePath"
    problems = check_folder(tmp_path)
    assert [(p.path, p.place) for p in problems] == [(path, "imagePath")]
    assert "too long" in problems[0].message


def test_long_image_path_with_the_image_beside_is_fine(tmp_path: Path) -> None:
    _png(tmp_path / "b.png")
    path = _write(tmp_path / "b.json", _doc(imagePath="x" * 300 + ".png", imageHeight=8, imageWidth=8))
    assert load_document(path).image_width == 8
    assert check_folder(tmp_path) == []


def test_the_image_beside_the_json_wins(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", value=10)
    _png(tmp_path / "other.png", value=200)
    path = _write(tmp_path / "a.json", _doc(imagePath="other.png"))
    document = load_document(path)
    assert image_file_for(document) == tmp_path / "a.png"
    assert int(load_image(document).data.max()) == 10


def test_image_path_outside_the_folder_is_not_read_for_a_project(tmp_path: Path) -> None:
    (tmp_path / "secret").mkdir()
    _png(tmp_path / "secret" / "s.png", size=(3, 3))
    project = tmp_path / "project"
    project.mkdir()
    path = _write(project / "a.json", _doc(imagePath="../secret/s.png", imageHeight=8, imageWidth=8))
    document = load_document(path)  # the 3x3 image outside is not compared with 8x8
    assert image_file_for(document) is None
    assert image_file_for(document, allow_outside=True) == project / "../secret/s.png"
    assert [p.place for p in check_folder(project)] == ["imagePath"]


def test_training_reads_the_image_beside_not_image_path(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from segdesk.core.project import Project
    from segdesk.ml.data import training_set_from_project

    for name in ("a", "b"):
        _png(tmp_path / f"{name}.png", value=50)
        doc = _doc(imagePath="../../../etc/hostname", imageHeight=8, imageWidth=8)
        doc["segdesk"] = {
            "status": "reviewed",
            "reviewed": {"how": "marked", "at": "2026-01-01T00:00:00+00:00"},
        }
        _write(tmp_path / f"{name}.json", doc)
    project = Project(tmp_path)
    assert len(project.reviewed_entries()) == 2
    training = training_set_from_project(project, val_fraction=0.5)
    assert {s.name for s in training.train + training.val} == {"a.png", "b.png"}


def test_save_round_trip_keeps_deep_values_or_says_why(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.json", _doc(other=[[[1]]]))
    document = load_document(path, check_image=False)
    save_document(document, tmp_path / "b.json")
    assert json.loads((tmp_path / "b.json").read_text())["other"] == [[[1]]]
