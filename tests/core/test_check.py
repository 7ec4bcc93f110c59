"""``segdesk check``: one line per problem, exit status 1 when any file is bad."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import PIL.Image

from segdesk.core.check import Problem, check_folder, run_check
from segdesk.core.document import Document
from segdesk.core.labelme_io import save_document
from segdesk.core.shapes import Shape

H, W = 10, 14


def _img(folder: Path, name: str, size: tuple[int, int] = (H, W)) -> Path:
    path = folder / name
    PIL.Image.fromarray(np.zeros((*size, 3), np.uint8)).save(path)
    return path


def _good(folder: Path, stem: str, label: str = "cell") -> Path:
    _img(folder, f"{stem}.png")
    doc = Document(
        image_path=f"{stem}.png",
        image_height=H,
        image_width=W,
        shapes=[Shape(label, [[1, 1], [5, 1], [3, 4]])],
    )
    save_document(doc, folder / f"{stem}.json")
    return folder / f"{stem}.json"


def _raw(folder: Path, name: str, **changes) -> Path:
    data = {
        "version": "5.5.0",
        "flags": {},
        "shapes": [],
        "imagePath": "1.png",
        "imageData": None,
        "imageHeight": H,
        "imageWidth": W,
    }
    data.update(changes)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def test_good_folder_passes(tmp_path: Path) -> None:
    _good(tmp_path, "1")
    _good(tmp_path, "2")
    _img(tmp_path, "3.png")  # an image without annotation is fine
    out = io.StringIO()
    assert check_folder(tmp_path) == []
    assert run_check(tmp_path, out) == 0
    assert out.getvalue() == ""


def test_each_problem_is_one_line(tmp_path: Path) -> None:
    _good(tmp_path, "1")
    (tmp_path / "10.json").write_text('{"shapes": [', encoding="utf-8")
    bad_points = _raw(
        tmp_path, "2.json", shapes=[{"label": "a", "points": [[0, 0], [1, 1]], "shape_type": "polygon"}]
    )
    _raw(tmp_path, "3.json", imagePath="nowhere.png")
    _img(tmp_path, "4.png", size=(H + 2, W))
    _raw(tmp_path, "4.json", imagePath="4.png")
    out = io.StringIO()
    assert run_check(tmp_path, out) == 1
    lines = out.getvalue().splitlines()
    assert lines == [
        f"{bad_points}: shapes[0].points: expected at least 3 points for a polygon, got 2",
        f"{tmp_path / '3.json'}: imagePath: image not found: 'nowhere.png'",
        f"{tmp_path / '4.json'}: imageHeight: is {H} but the image is {H + 2} pixels high (4.png)",
        f"{tmp_path / '10.json'}: line 1 column 13: invalid JSON: Expecting value (the file ends too early: truncated?)",
    ]


def test_labels_not_in_labels_txt(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\ncell\n")
    _good(tmp_path, "1", label="cell")
    bad = _good(tmp_path, "2", label="dog")
    assert check_folder(tmp_path) == [Problem(bad, "shapes[0].label", "'dog' is not in labels.txt")]


def test_embedded_image_and_mask_box_are_checked(tmp_path: Path) -> None:
    buf = io.BytesIO()
    PIL.Image.fromarray(np.zeros((H, W + 1), np.uint8)).save(buf, format="PNG")
    _img(tmp_path, "1.png")
    mask = {
        "label": "m",
        "points": [[2, 2], [5, 4]],
        "shape_type": "mask",
        "mask": base64.b64encode(_png(np.ones((2, 2), np.uint8))).decode(),
    }
    path = _raw(tmp_path, "1.json", imageData=base64.b64encode(buf.getvalue()).decode(), shapes=[mask])
    problems = check_folder(tmp_path)
    assert [(p.place, p.message) for p in problems] == [
        ("imageWidth", f"is {W} but the image is {W + 1} pixels wide (imageData)"),
        ("shapes[0].mask", "the mask is 2x2 pixels but its box is 4x3"),
    ]
    assert all(p.path == path for p in problems)


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PIL.Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_damaged_image_is_reported(tmp_path: Path) -> None:
    (tmp_path / "1.png").write_bytes(b"not an image")
    _raw(tmp_path, "1.json")
    [problem] = check_folder(tmp_path)
    assert problem.place == "imagePath" and problem.message.startswith("1.png: ")


def test_single_file_recursive_and_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    bad = _raw(tmp_path / "sub", "x.json", shapes=5)
    (tmp_path / ".segdesk").mkdir()
    (tmp_path / ".segdesk" / "model.json").write_text("{}")  # segdesk's own files are not annotations
    assert check_folder(tmp_path) == []
    assert [p.path for p in check_folder(tmp_path, recursive=True)] == [bad]
    assert [p.place for p in check_folder(bad)] == ["shapes"]
    out = io.StringIO()
    assert run_check(tmp_path / "nope", out) == 2
    assert "no such file or folder" in out.getvalue()
    assert str(Problem(bad, None, "boom")) == f"{bad}: boom"


def test_the_projects_settings_files_are_checked_as_training_and_prediction_read_them(tmp_path: Path) -> None:
    """A damaged .segdesk/training.json or proposals.json stops segdesk train / predict; check says
    so before a long job does."""
    _good(tmp_path, "1")
    settings = tmp_path / ".segdesk"
    settings.mkdir()
    (settings / "training.json").write_text('{"minutes": 5, "scale": 0.5}')
    (settings / "proposals.json").write_text('{"min_area": 30}')
    assert check_folder(tmp_path) == []
    (settings / "training.json").write_text('{"depth": 9}')
    (settings / "proposals.json").write_text('{"smooth": 2}')
    (settings / "instances.json").write_text('{"objects": {"cell": "yes"}}')
    out = io.StringIO()
    assert run_check(tmp_path, out) == 1
    assert out.getvalue().splitlines() == [
        f"{settings / 'training.json'}: depth: must be from 1 to 6, not 9",
        f"{settings / 'proposals.json'}: smooth: must be 0 (off) or odd, not 2",
        f"{settings / 'instances.json'}: objects.cell: expected true or false, got 'yes'",
    ]


def test_images_sharing_the_json_files_name_are_reported(tmp_path: Path) -> None:
    path = _good(tmp_path, "a")  # a.png's annotation
    assert check_folder(tmp_path) == []
    _img(tmp_path, "a.jpg")  # another image of the same name: it can never have its own a.json
    (problem,) = check_folder(tmp_path)
    assert problem.path == path and problem.place == "imagePath"
    assert problem.message == (
        "a.jpg and a.png share this file's name; it is a.png's annotation, so a.jpg cannot be labelled until renamed"
    )
